// A candidate backend → the ready endpoints of its Service, as Kubernetes resolves them:
// EndpointSlices labelled with the Service name; an endpoint counts when `ready` is true or
// unset, or (serving && terminating) with acceptsNew false. The port comes from the Route's
// targetPort (slice port by name, or the number), from the Ingress's Service port (its name is
// the slice port name), or — with the autoport annotation — from the Pod's annotation.

import { hash } from 'node:crypto';
import type { CandidateBackend } from '../admission/types.ts';
import type { EndpointSlice, Service } from '../objects/types.ts';
import type { ObjectStore } from '../store.ts';
import type { CompiledEndpoint } from '../table/types.ts';
import { joined } from '../flat-string.ts';

/** Objects a compiled host depends on (keys `namespace/name`): a change to one recompiles it. */
export interface CompileDeps {
  services: Set<string>;
  pods: Set<string>;
  secrets: Set<string>;
}

/** Per-route diagnostics collected while compiling. */
export interface CompileDiagnostics {
  notes: string[];
  /** Skipped endpoints by reason. */
  skipped: Map<string, number>;
}

export function newDeps(): CompileDeps {
  return { services: new Set(), pods: new Set(), secrets: new Set() };
}

/** What a compiled host keeps of its CompileDeps (the reconciler holds one per host): arrays, not Sets. */
export interface HostDeps {
  readonly services: readonly string[];
  readonly pods: readonly string[];
  readonly secrets: readonly string[];
}

const NONE: readonly string[] = Object.freeze([]);

/**
 * The collected deps as exact arrays (an empty Set is ~180 bytes; three per host entry added up
 * to ~550 bytes per route); most hosts read no Pod and no Secret and share one frozen empty array.
 */
export function compactDeps(deps: CompileDeps): HostDeps {
  const list = (set: Set<string>): readonly string[] => (set.size === 0 ? NONE : [...set]);
  return { services: list(deps.services), pods: list(deps.pods), secrets: list(deps.secrets) };
}

/**
 * Opaque, stable across replicas, and does not reveal the address. Hex of the first 8 bytes
 * rather than a slice of the whole hex digest: a slice of 13+ characters is a view that keeps
 * the 64-character parent alive (about 100 bytes more per endpoint of every route).
 */
export function endpointId(address: string, port: number): string {
  // One-shot: a Hash object keeps its native context until a collection (30,000 at 10k routes).
  return hash('sha256', `${address}:${port}`, 'buffer').toString('hex', 0, 8);
}

/**
 * An endpoint with its optional fields in the literal: a property added to an object after it
 * is made goes to a separate properties array (~40 bytes more per endpoint, 30,000 endpoints at
 * 10k routes), and absent fields stay absent (the compiled data is compared and printed).
 */
function compiledEndpoint(id: string, address: string, port: number, acceptsNew: boolean, pod: string | undefined, nodeName: string | undefined): CompiledEndpoint {
  if (pod !== undefined && nodeName !== undefined) return { id, address, port, weight: 0, acceptsNew, pod, nodeName };
  if (pod !== undefined) return { id, address, port, weight: 0, acceptsNew, pod };
  if (nodeName !== undefined) return { id, address, port, weight: 0, acceptsNew, nodeName };
  return { id, address, port, weight: 0, acceptsNew };
}

type PortRule =
  | { by: 'name'; name: string }
  | { by: 'number'; port: number }
  | { by: 'first' }
  | { by: 'only' }
  | { by: 'service-port'; name: string; targetPort: number | null; appProtocol: string | null }
  | { by: 'none'; why: string };

function routePortRule(targetPort: string | number | undefined): PortRule {
  if (targetPort === undefined) return { by: 'first' };
  if (typeof targetPort === 'number') return { by: 'number', port: targetPort };
  // A numeric string ("8080") is a number, as OpenShift's IntOrString reads it.
  return /^\d+$/.test(targetPort) ? { by: 'number', port: Number(targetPort) } : { by: 'name', name: targetPort };
}

function ingressPortRule(service: Service | undefined, port: { name?: string; number?: number }): PortRule {
  if (!service) {
    if (port.name) return { by: 'name', name: port.name };
    return { by: 'only' }; // no Service to map the port number: only a single-port slice is unambiguous
  }
  const ports = service.spec?.ports ?? [];
  const entry = port.number !== undefined ? ports.find((p) => p.port === port.number) : ports.find((p) => p.name === port.name);
  if (!entry) return { by: 'none', why: `service ${service.metadata.name} has no port ${port.number ?? port.name}` };
  const unnamedSingle = ports.length === 1 && !entry.name;
  return { by: 'service-port', name: entry.name ?? '', targetPort: unnamedSingle && typeof entry.targetPort === 'number' ? entry.targetPort : null, appProtocol: entry.appProtocol ?? null };
}

function slicePort(slice: EndpointSlice, rule: PortRule): number | null {
  const ports = slice.ports ?? [];
  switch (rule.by) {
    case 'number': return rule.port;
    case 'name': return ports.find((p) => p.name === rule.name)?.port ?? null;
    case 'first': return ports[0]?.port ?? null;
    case 'only': return ports.length === 1 ? ports[0]!.port ?? null : null;
    case 'service-port': return ports.find((p) => (p.name ?? '') === rule.name)?.port ?? rule.targetPort;
    case 'none': return null;
  }
}

/** The slice port a rule picked (undefined for a bare number no slice port names). */
function slicePortEntry(slice: EndpointSlice, rule: PortRule, port: number): { appProtocol?: string } | undefined {
  const ports = slice.ports ?? [];
  switch (rule.by) {
    case 'name': return ports.find((p) => p.name === rule.name);
    case 'service-port': return ports.find((p) => (p.name ?? '') === rule.name);
    default: return ports.find((p) => p.port === port);
  }
}

function count(diag: CompileDiagnostics, reason: string, note: string): void {
  diag.skipped.set(reason, (diag.skipped.get(reason) ?? 0) + 1);
  if (diag.notes.length < 20) diag.notes.push(note);
}

function autoPort(store: ObjectStore, namespace: string, ref: EndpointSlice['endpoints'] extends (infer E)[] | null | undefined ? E : never, annotation: string, deps: CompileDeps, diag: CompileDiagnostics): number | null {
  const target = ref.targetRef;
  if (!target || target.kind !== 'Pod' || !target.name) {
    count(diag, 'pod-missing', `endpoint without a Pod targetRef skipped (${annotation} needs the pod)`);
    return null;
  }
  const podKey = `${target.namespace ?? namespace}/${target.name}`;
  deps.pods.add(podKey);
  const pod = store.get('Pod', podKey);
  if (!pod) {
    count(diag, 'pod-missing', `pod ${podKey} not found; endpoint skipped`);
    return null;
  }
  const raw = pod.metadata.annotations?.[annotation];
  if (raw === undefined) {
    count(diag, 'annotation-missing', `pod ${podKey} has no annotation ${annotation}; endpoint skipped`);
    return null;
  }
  if (!/^\d{1,5}$/.test(raw.trim()) || Number(raw) < 1 || Number(raw) > 65535) {
    count(diag, 'annotation-invalid', `pod ${podKey} annotation ${annotation}="${raw}" is not a port; endpoint skipped`);
    return null;
  }
  return Number(raw);
}

export interface ResolvedBackend {
  endpoints: CompiledEndpoint[];
  /**
   * The port's `appProtocol` (the EndpointSlice port's, which the EndpointSlice controller
   * copies from the Service port; else the Service port's), null when none is set.
   */
  appProtocol: string | null;
}

/**
 * Usable endpoints of one backend service (weights not yet assigned: the caller splits the
 * service weight over them) and its port's appProtocol. Dependencies are recorded in `deps`,
 * skipped endpoints in `diag`.
 */
export function resolveEndpoints(
  store: ObjectStore, namespace: string, backend: CandidateBackend, portAnnotation: string | null,
  deps: CompileDeps, diag: CompileDiagnostics,
): ResolvedBackend {
  const serviceKey = `${namespace}/${backend.service}`;
  deps.services.add(serviceKey);
  let rule: PortRule;
  if (backend.servicePort) rule = ingressPortRule(store.get('Service', serviceKey), backend.servicePort);
  else rule = routePortRule(backend.targetPort);
  const out = new Map<string, CompiledEndpoint>();
  let appProtocol: string | null = null;
  for (const slice of store.slicesOf(serviceKey)) {
    if (slice.addressType === 'FQDN') {
      if (diag.notes.length < 20) diag.notes.push(`EndpointSlice ${slice.metadata.name}: FQDN endpoints are not supported`);
      continue;
    }
    const port = portAnnotation === null ? slicePort(slice, rule) : null;
    if (portAnnotation === null && port === null) {
      const why = rule.by === 'none' ? rule.why : `EndpointSlice ${slice.metadata.name} has no matching port`;
      for (let i = 0; i < (slice.endpoints?.length ?? 0); i++) count(diag, 'port-not-found', why);
      continue;
    }
    if (appProtocol === null && port !== null) appProtocol = slicePortEntry(slice, rule, port)?.appProtocol ?? null;
    for (const ep of slice.endpoints ?? []) {
      const address = ep.addresses?.[0];
      if (!address) continue;
      const c = ep.conditions ?? {};
      let acceptsNew: boolean;
      if (c.ready !== false) acceptsNew = c.terminating !== true;
      else if (c.serving === true && c.terminating === true) acceptsNew = false;
      else continue;
      const epPort = portAnnotation === null ? port! : autoPort(store, namespace, ep, portAnnotation, deps, diag);
      if (epPort === null) continue;
      const id = endpointId(address, epPort);
      const existing = out.get(id);
      if (existing) { existing.acceptsNew ||= acceptsNew; continue; }
      // The slice's own name string when the Pod is in the Service's namespace (always, in practice): no `namespace/name` string per endpoint.
      const podNamespace = ep.targetRef?.namespace ?? namespace;
      const pod = ep.targetRef?.kind === 'Pod' && ep.targetRef.name ? (podNamespace === namespace ? ep.targetRef.name : joined([podNamespace, ep.targetRef.name], '/')) : undefined;
      out.set(id, compiledEndpoint(id, address, epPort, acceptsNew, pod, ep.nodeName || undefined));
    }
  }
  if (appProtocol === null && rule.by === 'service-port') appProtocol = rule.appProtocol;
  return { endpoints: [...out.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)), appProtocol };
}
