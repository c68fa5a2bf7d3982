// The Gateway API as this router sees it, evaluated as a whole from the store: which
// GatewayClasses are ours (spec.controllerName switchyard.io/gateway-controller), the listeners
// of their Gateways (listeners.ts), which HTTPRoutes attach to which listeners (parentRefs,
// sectionName, port, allowedRoutes, hostname intersection), the route candidates that follow
// (one per host × rule × match, fed to the same admission and table as Routes and Ingresses),
// and the status every object should have. Pure: a function of the store and the config.
//
// Gateway objects are few and change rarely, so the evaluation is whole rather than
// incremental; the reconciler runs it only when a Gateway API object (or a Namespace, Secret
// or Service they read) changes, and recompiles only the hosts of routes whose candidates
// changed.

import { MIDDLEWARES_ANNOTATION, type GatewayCandidateData, type RouteCandidate } from '../route-candidate.ts';

export type { GatewayCandidateData } from '../route-candidate.ts';
import type { RouterConfig } from '../config.ts';
import {
  GATEWAY_CONTROLLER_NAME, GATEWAY_GROUP,
  type Gateway, type GatewayClass, type GatewayRoute, type GatewayRouteKind, type ParentReference, type ReferenceGrant,
} from '../objects/gateway-types.ts';
import { creationMillis } from '../objects/types.ts';
import type { ObjectStore } from '../store.ts';
import { condition, namespacesAllow, type ConditionData } from './conditions.ts';
import { normalizeHostname, validHostname } from './hostnames.ts';
import type { GatewayAddresses, AddressAssignment } from './gateway-addresses.ts';
import { evaluateListeners, type ListenerInputs, type ListenerState } from './listeners.ts';
import { evaluateListenerSets, listenerSetsByGateway, type ListenerSetState } from './listener-sets.ts';
import { insecureFallbackConfigured } from './frontend-validation.ts';
import { hostnameSpecificity } from '../table/listener-selection.ts';
import { supportedFeatures } from './supported-features.ts';
import type { GatewayEntryPoint } from '../table/types.ts';
import { evaluateRouteRules, type MatchData, type RouteRulesResult, type RuleData } from './route-rules.ts';
import { evaluateGrpcRouteRules } from './grpc-route-rules.ts';
import { evaluateTlsRouteRules } from './tls-route-rules.ts';
import type { GrantLookup } from './reference-grant.ts';
import { backendClientCertificate } from './backend-client-certificate.ts';
import { BackendTlsPolicies, type PolicyStatusData } from './backend-tls.ts';
import { attachRoute, ListenerClaims, type Attachment, type HostAttachments } from './route-attachment.ts';

export interface ClassStatusData { name: string; generation: number | undefined; conditions: ConditionData[]; supportedFeatures: string[] }

export interface ListenerStatusData {
  name: string;
  supportedKinds: Array<{ group: string; kind: string }>;
  attachedRoutes: number;
  conditions: ConditionData[];
}

export interface GatewayStatusData {
  namespace: string;
  name: string;
  generation: number | undefined;
  addresses: Array<{ type: string; value: string }>;
  conditions: ConditionData[];
  listeners: ListenerStatusData[];
  /** ListenerSets attached (Accepted). */
  attachedListenerSets: number;
}

export interface ListenerSetStatusData {
  namespace: string;
  name: string;
  generation: number | undefined;
  conditions: ConditionData[];
  listeners: ListenerStatusData[];
}

export interface ParentStatusData {
  parentRef: { group: string; kind: string; namespace: string; name: string; sectionName?: string; port?: number };
  controllerName: string;
  conditions: ConditionData[];
}

export interface RouteStatusData { kind: GatewayRouteKind; namespace: string; name: string; generation: number | undefined; parents: ParentStatusData[] }

export interface GatewayEvaluation {
  classes: Map<string, ClassStatusData>;
  gateways: Map<string, GatewayStatusData>;
  /** By owner key (`HTTPRoute/namespace/name`, `GRPCRoute/namespace/name`, `TLSRoute/namespace/name`). */
  routes: Map<string, RouteStatusData>;
  /** Candidates by owner key; only routes attached somewhere. */
  candidates: Map<string, RouteCandidate[]>;
  /** The listeners of Gateways with addresses of their own, by address and port. */
  entryPoints: GatewayEntryPoint[];
  /** BackendTLSPolicies used through Gateways of ours, by `namespace/name`. */
  policies: Map<string, PolicyStatusData>;
  /** ListenerSets naming Gateways of ours, by `namespace/name`. */
  listenerSets: Map<string, ListenerSetStatusData>;
}

interface GatewayState {
  gateway: Gateway;
  key: string;
  namespace: string;
  listeners: ListenerState[];
  accepted: boolean;
  /** Addresses of its own (--gateway-addresses) when programmed; null: the router's shared ports. */
  ownAddresses: string[] | null;
  /** What it presents to TLS backends (spec.tls.backend); null: nothing. */
  clientCertificate: { cert: string; key: string } | null;
  programmed: boolean;
  /** Its listeners can be served now (false while an address of its own is pending). */
  served: boolean;
  /** The ListenerSets naming it, in precedence order (listener-sets.ts). */
  listenerSets: ListenerSetState[];
  /** What its listeners were evaluated with (ListenerSets' listeners are evaluated alike). */
  inputs: ListenerInputs;
}

function grantLookup(store: ObjectStore): GrantLookup {
  let byNamespace: Map<string, ReferenceGrant[]> | null = null;
  return {
    grantsIn(namespace) {
      if (byNamespace === null) {
        byNamespace = new Map();
        for (const g of store.list('ReferenceGrant')) {
          const ns = g.metadata.namespace ?? 'default';
          let list = byNamespace.get(ns);
          if (!list) byNamespace.set(ns, (list = []));
          list.push(g);
        }
      }
      return byNamespace.get(namespace) ?? [];
    },
  };
}

/** Addresses the router publishes: --publish-status-address, else --canonical-hostname. */
export function publishedAddresses(config: RouterConfig): Array<{ type: string; value: string }> {
  if (config.publishStatusAddress.length > 0) return config.publishStatusAddress.map((value) => ({ type: 'IPAddress', value }));
  return config.canonicalHostname ? [{ type: 'Hostname', value: config.canonicalHostname }] : [];
}

function ourClass(c: GatewayClass | undefined): boolean {
  return c !== undefined && c.spec?.controllerName === GATEWAY_CONTROLLER_NAME;
}

function evaluateGateway(
  gateway: Gateway, store: ObjectStore, config: RouterConfig, grants: GrantLookup, now: number, assignment: AddressAssignment | undefined,
): { state: GatewayState; status: GatewayStatusData } {
  const namespace = gateway.metadata.namespace ?? 'default';
  const key = `${namespace}/${gateway.metadata.name}`;
  const inputs: ListenerInputs = {
    ports: assignment !== undefined ? null : { http: config.httpPort, https: config.httpsPort },
    grpc: !config.disableHttp2,
    grants,
    secret: (secretKey) => store.get('Secret', secretKey),
    configMap: (configMapKey) => store.get('ConfigMap', configMapKey),
    now,
  };
  const listeners = evaluateListeners(gateway, inputs, key);
  const valid = listeners.filter((l) => l.usable).length;
  let accepted: ConditionData;
  if (assignment !== undefined && !assignment.ok && !assignment.accepted) accepted = condition('Accepted', false, assignment.reason, assignment.message);
  else if (listeners.length > 0 && valid === listeners.length) accepted = condition('Accepted', true, 'Accepted', 'accepted by switchyard');
  else if (valid > 0) accepted = condition('Accepted', true, 'ListenersNotValid', 'some listeners are not valid; the others are served');
  else accepted = condition('Accepted', false, 'ListenersNotValid', 'no listener is valid');
  let addresses: Array<{ type: string; value: string }>;
  let addressProblem: ConditionData | null = null;
  if (assignment === undefined) {
    // No pool: every Gateway is served on the router's shared ports and published addresses.
    addresses = publishedAddresses(config);
    const unassigned = (gateway.spec?.addresses ?? []).filter((a) => !addresses.some((p) => p.value === a.value));
    if (unassigned.length > 0) {
      addressProblem = condition('Programmed', false, 'AddressNotAssigned', `address ${unassigned.map((a) => a.value ?? '(any)').join(', ')} is not one this router publishes (it has no --gateway-addresses pool)`);
    }
  } else if (assignment.ok) addresses = assignment.addresses.map((value) => ({ type: 'IPAddress', value }));
  else {
    addresses = [];
    if (assignment.accepted) addressProblem = condition('Programmed', false, assignment.reason, assignment.message);
  }
  let programmed: ConditionData;
  if (accepted.status !== 'True') programmed = condition('Programmed', false, 'Invalid', accepted.message);
  else if (addressProblem !== null) programmed = addressProblem;
  else programmed = condition('Programmed', true, 'Programmed', 'served by the router');
  const ownAddresses = assignment?.ok === true && programmed.status === 'True' ? assignment.addresses : null;
  if (assignment !== undefined && ownAddresses === null) {
    // Nothing is served for a Gateway without its address: its listeners say so too.
    for (const l of listeners) {
      if (!l.usable) continue;
      l.usable = false;
      l.conditions = l.conditions.map((c) => (c.type === 'Programmed' ? condition('Programmed', false, 'Pending', programmed.message) : c));
    }
  }
  const client = backendClientCertificate(gateway, { grants, secret: (secretKey) => store.get('Secret', secretKey) });
  const state: GatewayState = {
    gateway, key, namespace, listeners, accepted: accepted.status === 'True', ownAddresses, clientCertificate: client.certificate,
    programmed: programmed.status === 'True', served: assignment === undefined || ownAddresses !== null, listenerSets: [], inputs,
  };
  const status: GatewayStatusData = {
    namespace, name: gateway.metadata.name, generation: gateway.metadata.generation,
    addresses, conditions: client.resolvedRefs === null ? [accepted, programmed] : [accepted, programmed, client.resolvedRefs], listeners: [],
    attachedListenerSets: 0,
  };
  // The spec's warning that some port lets clients in without a valid certificate; gone once none does.
  if (insecureFallbackConfigured(gateway)) {
    status.conditions.push(condition('InsecureFrontendValidationMode', true, 'ConfigurationChanged',
      'client certificate validation is AllowInsecureFallback: clients without a valid certificate are let in'));
  }
  return { state, status };
}

/** allowedRoutes.namespaces of `listener`, declared in `ownerNamespace` (its Gateway's or ListenerSet's). */
function namespaceAllowed(listener: ListenerState, ownerNamespace: string, routeNamespace: string, store: ObjectStore): boolean {
  return namespacesAllow(listener.namespaces, ownerNamespace, routeNamespace, (ns) => store.get('Namespace', ns)?.metadata.labels);
}

function parentRefOut(ref: ParentReference, routeNamespace: string): ParentStatusData['parentRef'] {
  const out: ParentStatusData['parentRef'] = { group: ref.group ?? GATEWAY_GROUP, kind: ref.kind ?? 'Gateway', namespace: ref.namespace ?? routeNamespace, name: ref.name };
  if (ref.sectionName !== undefined) out.sectionName = ref.sectionName;
  if (ref.port !== undefined) out.port = ref.port;
  return out;
}

/**
 * `addresses`: the router's address pool (--gateway-addresses), kept by the caller across
 * evaluations so that Gateways keep their addresses; without it every Gateway shares the
 * router's ports.
 */
export function evaluateGateways(store: ObjectStore, config: RouterConfig, now = Date.now(), addresses: GatewayAddresses | null = null): GatewayEvaluation {
  const grants = grantLookup(store);
  const result: GatewayEvaluation = {
    classes: new Map(), gateways: new Map(), routes: new Map(), candidates: new Map(), entryPoints: [], policies: new Map(), listenerSets: new Map(),
  };
  const policies = new BackendTlsPolicies(store);
  const features = supportedFeatures(addresses !== null, !config.disableHttp2);
  for (const c of store.list('GatewayClass')) {
    if (!ourClass(c)) continue;
    result.classes.set(c.metadata.name, {
      name: c.metadata.name, generation: c.metadata.generation,
      conditions: [condition('Accepted', true, 'Accepted', 'handled by switchyard')],
      supportedFeatures: features,
    });
  }
  const ours = [...store.list('Gateway')].filter((g) => result.classes.has(g.spec?.gatewayClassName));
  const assignments = addresses?.assign(ours) ?? null;
  const gateways = new Map<string, GatewayState>();
  for (const g of ours) {
    const key = `${g.metadata.namespace ?? 'default'}/${g.metadata.name}`;
    const { state, status } = evaluateGateway(g, store, config, grants, now, assignments?.get(key));
    gateways.set(state.key, state);
    result.gateways.set(state.key, status);
  }
  // ListenerSets: their listeners join their Gateway's; routes attach to them by naming the ListenerSet.
  const listenerSets = new Map<string, ListenerSetState>();
  for (const [gatewayKey, sets] of listenerSetsByGateway(store.list('ListenerSet'))) {
    const state = gateways.get(gatewayKey);
    if (!state) continue; // not a Gateway of ours: another controller reports on them
    state.listenerSets = evaluateListenerSets(state, sets, state.inputs, (ns) => store.get('Namespace', ns)?.metadata.labels);
    for (const set of state.listenerSets) listenerSets.set(set.key, set);
    result.gateways.get(gatewayKey)!.attachedListenerSets = state.listenerSets.filter((set) => set.accepted).length;
  }
  // Oldest first: where an HTTPRoute and a GRPCRoute want the same hostnames on a listener, the older keeps them.
  const routes: GatewayRoute[] = [...store.list('HTTPRoute'), ...store.list('GRPCRoute'), ...store.list('TLSRoute'), ...store.list('TCPRoute'), ...store.list('UDPRoute')].sort(compareRouteAge);
  const claims = new ListenerClaims();
  for (const route of routes) evaluateRoute(route, gateways, listenerSets, store, grants, claims, result, policies);
  result.policies = policies.statuses();
  for (const [key, state] of gateways) {
    result.gateways.get(key)!.listeners = state.listeners.map(listenerStatus);
    for (const set of state.listenerSets) {
      result.listenerSets.set(set.key, {
        namespace: set.namespace, name: set.name, generation: set.generation, conditions: set.conditions, listeners: set.listeners.map(listenerStatus),
      });
    }
  }
  result.entryPoints = gatewayEntryPoints([...gateways.values()]);
  return result;
}

function listenerStatus(l: ListenerState): ListenerStatusData {
  return { name: l.name, supportedKinds: l.supportedKinds, attachedRoutes: l.attachedRoutes, conditions: l.conditions };
}

/** The sockets Gateways with addresses of their own need: per address and port, their usable listeners (their ListenerSets' too). */
function gatewayEntryPoints(gateways: readonly GatewayState[]): GatewayEntryPoint[] {
  const points = new Map<string, GatewayEntryPoint>();
  for (const g of gateways) {
    if (g.ownAddresses === null) continue;
    for (const l of [...g.listeners, ...g.listenerSets.flatMap((set) => (set.accepted ? set.listeners : []))]) {
      if (!l.usable) continue;
      for (const address of g.ownAddresses) {
        // A UDP listener's socket is not a TCP one: the same port number is another entry point.
        const id = l.protocol === 'UDP' ? `${address}|${l.port}|udp` : `${address}|${l.port}`;
        let point = points.get(id);
        // One Gateway per address, one validation per port of it (frontend-validation.ts).
        if (!point) points.set(id, (point = { address, port: l.port, protocol: l.protocol as GatewayEntryPoint['protocol'], listeners: [], clientValidation: l.clientValidation }));
        point.listeners.push({ key: l.key, hostname: l.hostname, certificate: l.certificate });
      }
    }
  }
  for (const point of points.values()) point.listeners.sort((a, b) => hostnameSpecificity(b.hostname) - hostnameSpecificity(a.hostname));
  return [...points.values()].sort((a, b) => (a.address === b.address ? a.port - b.port : a.address < b.address ? -1 : 1));
}

function evaluateRoute(
  route: GatewayRoute, gateways: Map<string, GatewayState>, listenerSets: Map<string, ListenerSetState>, store: ObjectStore, grants: GrantLookup, claims: ListenerClaims, result: GatewayEvaluation,
  policies: BackendTlsPolicies,
): void {
  const kind = route.kind;
  const namespace = route.metadata.namespace ?? 'default';
  const ownerKey = `${kind}/${namespace}/${route.metadata.name}`;
  // A TCPRoute or UDPRoute has no hostnames: its listener (no hostname either) alone chooses it.
  const hostnames = route.kind === 'TCPRoute' || route.kind === 'UDPRoute' ? [] : (route.spec?.hostnames ?? []).map(normalizeHostname);
  const usedPolicies = new Set<string>();
  const inputs = {
    grants, service: (key: string) => store.get('Service', key),
    backendTls: (ns: string, service: string, port: number) => policies.forBackend(ns, service, port, usedPolicies),
  };
  const rules: RouteRulesResult = route.kind === 'GRPCRoute' ? evaluateGrpcRouteRules(route, inputs)
    : route.kind === 'TLSRoute' || route.kind === 'TCPRoute' || route.kind === 'UDPRoute' ? evaluateTlsRouteRules(route, inputs) : evaluateRouteRules(route, inputs);
  const invalidHostname = hostnames.find((h) => !validHostname(h));
  const toAttach = {
    kind, namespace, name: route.metadata.name, hostnames,
    refusal: rules.unsupported ?? (invalidHostname !== undefined ? condition('Accepted', false, 'UnsupportedValue', 'a hostname is not a valid DNS name or wildcard') : null),
  };
  const parents: ParentStatusData[] = [];
  const attachments: HostAttachments = { hosts: new Map<string, Attachment>(), terminated: new Map<string, Attachment>() };
  /** The first Gateway it is accepted by that presents a client certificate to TLS backends. */
  let clientCertificate: { cert: string; key: string } | null = null;
  for (const ref of route.spec?.parentRefs ?? []) {
    const parentKind = ref.kind ?? 'Gateway';
    if ((ref.group ?? GATEWAY_GROUP) !== GATEWAY_GROUP || (parentKind !== 'Gateway' && parentKind !== 'ListenerSet')) continue;
    const refKey = `${ref.namespace ?? namespace}/${ref.name}`;
    // A ListenerSet parent: only its listeners, `Same` meaning its namespace (listener-sets.ts).
    const set = parentKind === 'ListenerSet' ? listenerSets.get(refKey) : undefined;
    const gateway = gateways.get(set !== undefined ? set.gatewayKey : refKey);
    if (!gateway || (parentKind === 'ListenerSet' && set === undefined)) continue; // not ours: another controller reports on it
    const parent: ParentStatusData = { parentRef: parentRefOut(ref, namespace), controllerName: GATEWAY_CONTROLLER_NAME, conditions: [] };
    parents.push(parent);
    let accepted: ConditionData;
    if (set !== undefined && !set.accepted) {
      accepted = condition('Accepted', false, 'NotAllowedByListeners', `ListenerSet ${set.key} is not attached to its Gateway: ${set.refusal}`);
    } else {
      const target = set !== undefined
        ? { key: set.key, kind: 'ListenerSet', namespace: set.namespace, listeners: set.listeners, ownAddresses: gateway.ownAddresses }
        : gateway;
      accepted = attachRoute(ref, toAttach, target, (l) => namespaceAllowed(l, target.namespace, namespace, store), claims, attachments);
    }
    parent.conditions = [accepted, rules.resolvedRefs];
    if (accepted.status === 'True' && clientCertificate === null) clientCertificate = gateway.clientCertificate;
    if (usedPolicies.size > 0) policies.addAncestors(usedPolicies, [gateway.key]);
  }
  if (parents.length === 0) return;
  result.routes.set(ownerKey, { kind, namespace, name: route.metadata.name, generation: route.metadata.generation, parents });
  if (attachments.hosts.size === 0 && attachments.terminated.size === 0) return;
  if (route.kind === 'TLSRoute') {
    result.candidates.set(ownerKey, streamCandidates(route, ownerKey, rules.rules, attachments));
    return;
  }
  if (route.kind === 'TCPRoute' || route.kind === 'UDPRoute') {
    result.candidates.set(ownerKey, tcpCandidates(route, ownerKey, rules.rules, attachments));
    return;
  }
  const candidates: RouteCandidate[] = [];
  for (const [host, attachment] of attachments.hosts) {
    for (const rule of rules.rules) {
      rule.matches.forEach((match, matchIndex) => {
        candidates.push({
          key: `${ownerKey}/${rule.index}/${matchIndex}@${host === '' ? '*' : host}`,
          ownerKey, kind, namespace, name: route.metadata.name, owner: route,
          host, wildcard: host.startsWith('*.'), wildcardPolicy: host.startsWith('*.') ? 'Subdomain' : 'None',
          path: match.path, match: match.match, backends: rule.backends,
          // ExtensionRef Middlewares travel as the annotation admission resolves for Routes.
          annotations: rule.middlewares.length > 0 ? { [MIDDLEWARES_ANNOTATION]: rule.middlewares.join(',') } : {},
          gateway: {
            rule, match, matchIndex, http: attachment.http, https: attachment.https, listeners: attachment.listeners,
            viaHttp: attachment.viaHttp, viaHttps: attachment.viaHttps, certificate: attachment.certificate,
            ...(clientCertificate !== null ? { backendClientCertificate: clientCertificate } : {}),
          },
        });
      });
    }
  }
  result.candidates.set(ownerKey, candidates);
}

/**
 * A TLSRoute's candidates: one per host and TLS mode (a route may reach a host through a
 * Passthrough and a Terminate listener alike), keyed `TLSRoute/ns/name/<rule>/<mode>@<host>`.
 */
function streamCandidates(route: GatewayRoute, ownerKey: string, rules: readonly RuleData[], attachments: HostAttachments): RouteCandidate[] {
  const namespace = route.metadata.namespace ?? 'default';
  const candidates: RouteCandidate[] = [];
  const modes = [['Passthrough', attachments.hosts], ['Terminate', attachments.terminated]] as const;
  for (const [mode, hosts] of modes) {
    for (const [host, attachment] of hosts) {
      for (const rule of rules) {
        candidates.push({
          key: `${ownerKey}/${rule.index}/${mode.toLowerCase()}@${host === '' ? '*' : host}`,
          ownerKey, kind: 'TLSRoute', namespace, name: route.metadata.name, owner: route,
          host, wildcard: host.startsWith('*.'), wildcardPolicy: host.startsWith('*.') ? 'Subdomain' : 'None',
          path: '', match: 'prefix', backends: rule.backends, annotations: {},
          gateway: {
            rule, match: rule.matches[0]!, matchIndex: 0, http: false, https: attachment.https, listeners: attachment.listeners,
            viaHttp: false, viaHttps: true, certificate: mode === 'Terminate' ? attachment.certificate : null, tlsMode: mode,
          },
        });
      }
    }
  }
  return candidates;
}

/**
 * A TCPRoute's candidates: one per rule, without host (HOSTLESS_HOST_KEY), reached through the
 * TCP listeners it is attached to (on Gateways' own addresses: TCP listeners exist only there),
 * keyed `TCPRoute/ns/name/<rule>/tcp@*`. Where several TCPRoutes attach to one listener, the
 * table's precedence (oldest first) gives its streams to the oldest. A UDPRoute's the same,
 * through UDP listeners (`UDPRoute/ns/name/<rule>/udp@*`).
 */
function tcpCandidates(route: GatewayRoute, ownerKey: string, rules: readonly RuleData[], attachments: HostAttachments): RouteCandidate[] {
  const attachment = attachments.hosts.get('');
  if (attachment === undefined || attachment.listeners.length === 0) return [];
  const namespace = route.metadata.namespace ?? 'default';
  return rules.map((rule) => ({
    key: `${ownerKey}/${rule.index}/${route.kind === 'UDPRoute' ? 'udp' : 'tcp'}@*`,
    ownerKey, kind: route.kind === 'UDPRoute' ? 'UDPRoute' : 'TCPRoute', namespace, name: route.metadata.name, owner: route,
    host: '', wildcard: false, wildcardPolicy: 'None', path: '', match: 'prefix', backends: rule.backends, annotations: {},
    gateway: {
      rule, match: rule.matches[0]!, matchIndex: 0, http: false, https: false, listeners: attachment.listeners,
      viaHttp: false, viaHttps: false, certificate: null,
    },
  }));
}

/** Oldest first (creationTimestamp), for match precedence across routes; files without one sort last. */
export function routeAge(route: GatewayRoute): number {
  return creationMillis(route.metadata) ?? Number.MAX_SAFE_INTEGER;
}

/** The spec's order between routes: oldest, then `namespace/name` (then kind, for a total order). */
function compareRouteAge(a: GatewayRoute, b: GatewayRoute): number {
  const age = routeAge(a) - routeAge(b);
  if (age !== 0) return age;
  const an = `${a.metadata.namespace ?? 'default'}/${a.metadata.name}`;
  const bn = `${b.metadata.namespace ?? 'default'}/${b.metadata.name}`;
  if (an !== bn) return an < bn ? -1 : 1;
  return a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0;
}
