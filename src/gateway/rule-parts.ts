// What the rules of HTTPRoute and GRPCRoute share (route-rules.ts, grpc-route-rules.ts): the
// refusal of something this router does not implement, header modifier filters, ExtensionRef
// Middlewares, and backendRefs resolved to Services (kind, ReferenceGrant across namespaces,
// existence, port) with the spec's weights, their own header modifiers, and the ResolvedRefs
// condition that follows.

import type { CandidateBackend } from '../route-candidate.ts';
import { GATEWAY_GROUP, type HTTPBackendRef, type HTTPHeaderFilter, type HTTPRouteFilter } from '../objects/gateway-types.ts';
import type { Service } from '../objects/types.ts';
import type { BackendFilters, HeaderModifier } from '../table/types.ts';
import { condition, type ConditionData } from './conditions.ts';
import { referenceAllowed, type GrantLookup } from './reference-grant.ts';
import type { BackendTlsVerdict } from './backend-tls.ts';

/** Thrown while reading a route's rules: the route is not accepted (Accepted=False with this reason). */
export class Unsupported extends Error {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.reason = reason;
  }
}

export interface RuleInputs {
  grants: GrantLookup;
  service(key: string): Service | undefined;
  /** The BackendTLSPolicy verdict for a Service port (backend-tls.ts); absent: none applies. */
  backendTls?(namespace: string, service: string, port: number): BackendTlsVerdict;
}

const MIDDLEWARE_GROUP = 'switchyard.io';

export function headerModifier(f: HTTPHeaderFilter | undefined, field: string): HeaderModifier {
  if (!f) throw new Unsupported('UnsupportedValue', `${field} is missing`);
  const pairs = (list: HTTPHeaderFilter['set']): Array<[string, string]> => (list ?? []).map((h) => [h.name.toLowerCase(), h.value ?? '']);
  return { set: pairs(f.set), add: pairs(f.add), remove: (f.remove ?? []).map((n) => n.toLowerCase()) };
}

/** An ExtensionRef filter's Middleware name (a configured plugin of the route's namespace), or a refusal. */
export function extensionRefMiddleware(f: HTTPRouteFilter): string {
  // A Middleware runs in the rule's chain; it is resolved and validated by admission like one
  // named in a Route's switchyard.io/middlewares.
  const ref = f.extensionRef;
  if (ref?.group !== MIDDLEWARE_GROUP || ref.kind !== 'Middleware') {
    throw new Unsupported('UnsupportedValue', `ExtensionRef filter ${ref?.group ?? ''}/${ref?.kind ?? ''} ${ref?.name ?? ''} is not supported (only ${MIDDLEWARE_GROUP} Middleware)`);
  }
  return ref.name;
}

/** The parts of a rule the filters every route kind supports write. */
export interface FilteredRule {
  requestHeaders: HeaderModifier | null;
  responseHeaders: HeaderModifier | null;
  middlewares: string[];
}

/**
 * Applies a filter that HTTPRoute and GRPCRoute share (the header modifiers and ExtensionRef
 * Middlewares); false for any other type, which the route kind handles or refuses itself.
 */
export function applySharedFilter(f: HTTPRouteFilter, rule: FilteredRule): boolean {
  switch (f.type) {
    case 'RequestHeaderModifier':
      rule.requestHeaders = headerModifier(f.requestHeaderModifier, 'requestHeaderModifier');
      return true;
    case 'ResponseHeaderModifier':
      rule.responseHeaders = headerModifier(f.responseHeaderModifier, 'responseHeaderModifier');
      return true;
    case 'ExtensionRef':
      rule.middlewares.push(extensionRefMiddleware(f));
      return true;
    default:
      return false;
  }
}

/**
 * A backendRef's filters (HTTPRoute, GRPCRoute): the header modifiers, which then apply only to
 * the requests sent to that backend and its responses. Any other type is refused: the spec
 * leaves them implementation-specific there, and a Middleware or a redirect per backend would
 * run after the backend is chosen, too late for what they decide.
 */
export function backendRefFilters(filters: readonly HTTPRouteFilter[], kind: string): BackendFilters {
  if (kind === 'TLSRoute' || kind === 'TCPRoute' || kind === 'UDPRoute') throw new Unsupported('UnsupportedValue', 'filters on backendRefs are not supported');
  const out: BackendFilters = { requestHeaders: null, responseHeaders: null };
  for (const f of filters) {
    if (f.type === 'RequestHeaderModifier') out.requestHeaders = headerModifier(f.requestHeaderModifier, 'requestHeaderModifier');
    else if (f.type === 'ResponseHeaderModifier') out.responseHeaders = headerModifier(f.responseHeaderModifier, 'responseHeaderModifier');
    else throw new Unsupported('UnsupportedValue', `filter type ${f.type} is not supported on backendRefs (only RequestHeaderModifier and ResponseHeaderModifier)`);
  }
  return out;
}

/** The first of duplicate names counts (header names compare case-insensitively, so they arrive lower-cased). */
export function dedupe<T extends [string, ...unknown[]]>(list: T[]): T[] {
  const seen = new Set<string>();
  return list.filter(([n]) => (seen.has(n) ? false : (seen.add(n), true)));
}

/** ResolvedRefs of one route: True until the first reference that cannot be used. */
export class ResolvedRefs {
  condition: ConditionData = condition('ResolvedRefs', true, 'ResolvedRefs', 'all references resolved');
  /** `namespace/name` of every Service referenced (existing or not). */
  readonly services = new Set<string>();

  unresolved(reason: string, message: string): void {
    if (this.condition.status === 'True') this.condition = condition('ResolvedRefs', false, reason, message);
  }
}

export interface ResolvedBackends {
  backends: CandidateBackend[];
  /** Share (0..1) of requests that must be refused: weight of invalid refs over all weight, 1 when there is none at all. */
  invalidShare: number;
}

/**
 * A rule's backendRefs → usable Services with their weights. `from`: the route's kind and
 * namespace (what a ReferenceGrant must name). `filtersOnly`: the rule does something without
 * a backend (a redirect), so no backendRefs at all is not an error.
 */
export function resolveBackendRefs(
  refs: readonly HTTPBackendRef[], from: { kind: string; namespace: string }, inputs: RuleInputs, refsState: ResolvedRefs, filtersOnly = false,
): ResolvedBackends {
  const backends: CandidateBackend[] = [];
  let total = 0;
  let invalid = 0;
  for (const ref of refs) {
    const weight = ref.weight ?? 1;
    total += weight;
    const filters = ref.filters !== undefined && ref.filters.length > 0 ? backendRefFilters(ref.filters, from.kind) : null;
    const target = resolveServiceRef(ref, from, inputs, refsState, 'backendRef');
    if (target === null) {
      invalid += weight;
      continue;
    }
    // TLSRoute, TCPRoute and UDPRoute traffic is passed through as it is: a BackendTLSPolicy is for HTTP routes.
    const tls = from.kind === 'TLSRoute' || from.kind === 'TCPRoute' || from.kind === 'UDPRoute' ? null : inputs.backendTls?.(target.namespace, target.name, target.port) ?? null;
    if (tls !== null && 'refused' in tls) {
      // The spec: connections through an invalid policy fail with a 5xx (this ref's share answers 500).
      refsState.unresolved('InvalidBackendTLSPolicy', tls.refused);
      invalid += weight;
      continue;
    }
    const backend: CandidateBackend = { service: target.name, namespace: target.namespace, kind: 'Service', weight, servicePort: { number: target.port } };
    if (tls !== null) backend.tls = tls.tls;
    if (filters !== null && (filters.requestHeaders !== null || filters.responseHeaders !== null)) backend.filters = filters;
    backends.push(backend);
  }
  let invalidShare = 0;
  if (total > 0) invalidShare = invalid / total;
  else if (invalid > 0 || (!filtersOnly && refs.length === 0)) invalidShare = 1;
  return { backends, invalidShare };
}

/** A reference to a Service (a backendRef, a RequestMirror's backendRef), as far as a route can name one. */
export interface ServiceRef { group?: string; kind?: string; name: string; namespace?: string; port?: number }

/**
 * One Service reference checked as the spec asks of every backendRef: only Services, a
 * ReferenceGrant across namespaces, the Service exists, a port is given. Null when it cannot be
 * used; `refsState` then says why (ResolvedRefs=False with the first reason). `what` names the
 * field in the message.
 */
export function resolveServiceRef(
  ref: ServiceRef, from: { kind: string; namespace: string }, inputs: RuleInputs, refsState: ResolvedRefs, what: string,
): { name: string; namespace: string; port: number } | null {
  const group = ref.group ?? '';
  const kind = ref.kind ?? 'Service';
  const ns = ref.namespace ?? from.namespace;
  if ((group !== '' && group !== 'core') || kind !== 'Service') {
    refsState.unresolved('InvalidKind', `${what} ${group === '' ? '' : `${group}/`}${kind} ${ref.name}: only Services are supported`);
    return null;
  }
  if (!referenceAllowed(inputs.grants, { group: GATEWAY_GROUP, kind: from.kind, namespace: from.namespace }, { group: '', kind: 'Service', namespace: ns, name: ref.name })) {
    refsState.unresolved('RefNotPermitted', `${what} Service ${ns}/${ref.name} is in another namespace and no ReferenceGrant there allows it`);
    return null;
  }
  refsState.services.add(`${ns}/${ref.name}`);
  if (!inputs.service(`${ns}/${ref.name}`)) {
    refsState.unresolved('BackendNotFound', `Service ${ns}/${ref.name} not found`);
    return null;
  }
  if (ref.port === undefined) {
    refsState.unresolved('UnsupportedValue', `${what} Service ${ns}/${ref.name} has no port`);
    return null;
  }
  return { name: ref.name, namespace: ns, port: ref.port };
}
