// Admitted candidates → compiled routes and host entries (plain data, see types.ts).

import type { Route } from '../objects/types.ts';
import type { RouterConfig } from '../config.ts';
import { hostKeyOf, wildcardDomain, type RouteCandidate } from '../admission/types.ts';
import { buildRoutePolicy, parseRouteAnnotations } from '../route-annotations.ts';
import { policyRouteOf, routePlugins } from '../plugins/policies.ts';
import type { ObjectStore } from '../store.ts';
import { compactDeps, newDeps, resolveEndpoints, type CompileDeps, type CompileDiagnostics, type HostDeps } from './compile-endpoints.ts';
import { compileTls } from './compile-tls.ts';
import { protocolOfAppProtocol, type BackendProtocol } from '../table/backend-protocol.ts';
import type { MirrorData } from '../route-candidate.ts';
import { HOSTLESS_HOST_KEY, type BackendTls, type CompiledMirror, type RoutePlugin, type CompiledMiddleware, type CompiledRoute, type CompiledService, type HostEntry, type PathMatch, type RoutePolicy } from '../table/types.ts';
import { compareGatewayPrecedence, compareGrpcPrecedence, gatewayRouteData, gatewayTls } from '../gateway/compile-route.ts';
import type { GatewayCandidateData } from '../gateway/evaluate.ts';
import { joined } from '../flat-string.ts';

/**
 * Shared by every compiled route without annotations or Middlewares (most of them): one frozen
 * object instead of one per route. Compiled routes are read-only data; the freeze makes that so.
 */
const NO_ANNOTATIONS: Record<string, string> = Object.freeze({}) as Record<string, string>;
const NO_MIDDLEWARES: CompiledMiddleware[] = Object.freeze([]) as unknown as CompiledMiddleware[];
const NO_PLUGINS: RoutePlugin[] = Object.freeze([]) as unknown as RoutePlugin[];

export interface CompiledRouteResult {
  route: CompiledRoute;
  /** Skipped endpoints by reason (for switchyard_endpoints_skipped). */
  skipped: Map<string, number>;
}

export function compileRoute(c: RouteCandidate, store: ObjectStore, config: RouterConfig, deps: CompileDeps): CompiledRouteResult {
  const diag: CompileDiagnostics = { notes: [], skipped: new Map() };
  const parsed = parseRouteAnnotations(c.annotations);
  // Validation rejects invalid annotations before compile; this guards direct callers.
  if (!parsed.ok) throw new Error(`${c.key}: ${parsed.message}`);
  // Sized up front (not grown by push, which leaves room for 17 per route).
  const services = new Array<CompiledService>(c.backends.length);
  /** What each service's port (or the route's annotation) says of the HTTP version, null: nothing. */
  const declared = new Array<BackendProtocol | null>(c.backends.length);
  let endpointCount = 0;
  for (let i = 0; i < c.backends.length; i++) {
    const backend = c.backends[i]!;
    const namespace = backend.namespace ?? c.namespace; // HTTPRoute backendRefs may cross namespaces
    const { endpoints, appProtocol } = resolveEndpoints(store, namespace, backend, parsed.value.targetPortAnnotation, deps, diag);
    const share = endpoints.length > 0 ? backend.weight / endpoints.length : 0;
    for (const e of endpoints) e.weight = share;
    endpointCount += endpoints.length;
    services[i] = { name: joined([namespace, backend.service], '/'), weight: backend.weight, endpoints };
    if (backend.tls !== undefined) services[i]!.tls = backendTls(backend.tls, c.gateway?.backendClientCertificate);
    declared[i] = parsed.value.backendProtocol ?? protocolOfAppProtocol(appProtocol);
  }
  const tls = c.gateway ? gatewayTls(c.gateway) : compileTls(c, store, deps, diag);
  const reencrypt = tls?.termination === 'reencrypt';
  for (let i = 0; i < services.length; i++) {
    const protocol = declared[i] ?? defaultProtocol(c, reencrypt);
    if (protocol !== 'http1') services[i]!.protocol = protocol;
  }
  const route: CompiledRoute = {
    key: c.key,
    kind: c.kind,
    namespace: c.namespace,
    name: c.name,
    host: c.wildcard ? wildcardDomain(c) : c.host,
    wildcard: c.wildcard,
    path: c.path,
    match: c.match,
    services,
    policy: buildRoutePolicy(parsed.value, { endpointCount, config }),
    plugins: NO_PLUGINS,
    tls,
    // The owner's own (narrowed, never mutated) annotations object: no copy per route.
    annotations: hasKeys(c.annotations) ? c.annotations : NO_ANNOTATIONS,
    middlewares: c.middlewares !== undefined && c.middlewares.length > 0 ? c.middlewares : NO_MIDDLEWARES,
  };
  if (c.middlewareError !== undefined) route.middlewareError = c.middlewareError;
  const check = route.policy.healthCheck;
  if (check !== null && check.type === 'http' && tls !== null) {
    if (tls.termination === 'reencrypt') check.tls = { servername: tls.serverName!, ca: tls.destinationCA, verify: true };
    else if (tls.termination === 'passthrough') check.tls = { servername: route.host, ca: null, verify: false };
  }
  if (c.gateway) {
    route.gateway = gatewayRouteData(c as RouteCandidate & { gateway: GatewayCandidateData });
    const mirrors = c.gateway.rule.mirrors;
    if (mirrors !== undefined) route.gateway.mirrors = mirrors.map((m) => compileMirror(m, store, deps, diag, c.gateway!.backendClientCertificate));
    if (c.gateway.rule.timeoutMs !== null) route.policy.serverTimeoutMs = c.gateway.rule.timeoutMs;
    // A TCPRoute's streams live long: power-of-two-choices would send new ones to the backend
    // holding fewer, bending the split its weights ask for. Smooth weighted round robin keeps it.
    // A UDPRoute's sessions likewise: each is pinned to the endpoint it was given.
    if (c.kind === 'TCPRoute' || c.kind === 'UDPRoute') route.policy.balance = 'roundrobin';
    // A TCP connect says nothing of a UDP port (it is refused where the UDP port serves): a
    // UDPRoute's endpoints have passive health only (a refused datagram, gateway-udp-listeners.ts).
    if (c.kind === 'UDPRoute') route.policy.healthCheck = null;
    // timeouts.backendRequest bounds each attempt when it is tighter than the server timeout
    // (RouteRuntime.attemptTimeoutMs); the route's other bounds keep the server timeout.
    const backendMs = c.gateway.rule.backendTimeoutMs;
    const serverMs = route.policy.serverTimeoutMs;
    if (backendMs !== undefined && backendMs > 0 && (serverMs === 0 || backendMs < serverMs)) route.gateway.backendTimeoutMs = backendMs;
  }
  route.policy = sharedPolicy(route.policy);
  // The built-in policies, read from the compiled route (its TLS and Gateway rule known now).
  const plugins = routePlugins(policyRouteOf(c, route, config));
  if (plugins.length > 0) route.plugins = plugins;
  if (diag.notes.length > 0) route.notes = diag.notes;
  return { route, skipped: diag.skipped };
}

/** A BackendTLSPolicy's TLS, with the client certificate of the route's Gateway (spec.tls.backend) when it has one. */
function backendTls(tls: BackendTls, client: { cert: string; key: string } | undefined): BackendTls {
  return client === undefined ? tls : { ...tls, clientCertificate: client };
}

/** A RequestMirror's Service: its endpoints (weight 1 each: one is picked per mirrored request), its HTTP version by appProtocol. */
function compileMirror(m: MirrorData, store: ObjectStore, deps: CompileDeps, diag: CompileDiagnostics, client: { cert: string; key: string } | undefined): CompiledMirror {
  const namespace = m.backend.namespace!;
  const { endpoints, appProtocol } = resolveEndpoints(store, namespace, m.backend, null, deps, diag);
  for (const e of endpoints) e.weight = 1;
  const service: CompiledService = { name: joined([namespace, m.backend.service], '/'), weight: 1, endpoints };
  if (m.backend.tls !== undefined) service.tls = backendTls(m.backend.tls, client);
  const protocol = protocolOfAppProtocol(appProtocol);
  if (protocol !== null && protocol !== 'http1') service.protocol = protocol;
  return { service, numerator: m.numerator, denominator: m.denominator };
}

/**
 * Without an annotation or appProtocol: HTTP/2 for a GRPCRoute's backends (gRPC needs it); on a
 * reencrypt route, what the endpoint chooses by ALPN (h2 or http/1.1, as OpenShift's router);
 * else HTTP/1.1 (cleartext has no negotiation to ask with).
 */
function defaultProtocol(c: RouteCandidate, reencrypt: boolean): BackendProtocol | 'alpn' {
  if (c.kind === 'GRPCRoute') return 'http2';
  return reencrypt ? 'alpn' : 'http1';
}

/**
 * Policies are the same for nearly every route (the router's defaults, a common timeout): one
 * frozen policy per distinct content is shared by the routes that have it (~70 bytes per route),
 * when its health check is a shared one or none (an HTTP check is per route). Bounded: past the
 * limit a route keeps its own, which only costs sharing.
 */
const POLICIES = new Map<string, RoutePolicy>();
const POLICIES_LIMIT = 4096;

function sharedPolicy(policy: RoutePolicy): RoutePolicy {
  const check = policy.healthCheck;
  if (check !== null && (check.type !== 'tcp' || !Object.isFrozen(check))) return policy;
  const key = `${policy.balance}\n${policy.connectTimeoutMs}\n${policy.serverTimeoutMs}\n${policy.tunnelTimeoutMs}\n${policy.traceSampling}\n${check === null ? '' : `${check.intervalMs}/${check.timeoutMs}`}`;
  const known = POLICIES.get(key);
  if (known !== undefined && known.healthCheck === check && Object.keys(known).length === Object.keys(policy).length) return known;
  if (POLICIES.size < POLICIES_LIMIT) POLICIES.set(key, Object.freeze(policy));
  return policy;
}

function hasKeys(o: object): boolean {
  for (const _ in o) return true;
  return false;
}


/** The path length that decides specificity: an Ingress Prefix's trailing '/' does not count. */
export function effectivePathLength(path: string, match: PathMatch): number {
  if (match === 'prefix' && path.length > 1 && path.endsWith('/')) return path.length - 1;
  return path.length;
}

const MATCH_RANK: Record<PathMatch, number> = { exact: 0, prefix: 1, route: 2 };

/**
 * Most specific first: longer path, then Exact before Prefix before Route-style; then (Gateway
 * API precedence, HTTPRoutes only) a method match, more header matches, more query matches,
 * the oldest route, `namespace/name`, rule and match order; then key.
 *
 * GRPCRoutes come before every other route of the host (in practice they share a host only
 * with routes of disjoint conditions: an HTTPRoute on another listener, see route-attachment.ts)
 * and among themselves follow the GRPCRoute spec's own precedence (service, method, headers),
 * which a path length cannot express. Keeping them apart keeps the order total.
 */
export function compareRouteSpecificity(a: CompiledRoute, b: CompiledRoute): number {
  const aGrpc = a.kind === 'GRPCRoute';
  if (aGrpc !== (b.kind === 'GRPCRoute')) return aGrpc ? -1 : 1;
  if (aGrpc) {
    const byGrpc = compareGrpcPrecedence(a.gateway!, b.gateway!);
    if (byGrpc !== 0) return byGrpc;
    return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
  }
  const byLength = effectivePathLength(b.path, b.match) - effectivePathLength(a.path, a.match);
  if (byLength !== 0) return byLength;
  const byMatch = MATCH_RANK[a.match] - MATCH_RANK[b.match];
  if (byMatch !== 0) return byMatch;
  if (a.gateway !== undefined || b.gateway !== undefined) {
    const byGateway = compareGatewayPrecedence(a.gateway, b.gateway);
    if (byGateway !== 0) return byGateway;
  }
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

export interface CompiledHostResult {
  /** null when no admitted candidate is left for the host. */
  entry: HostEntry | null;
  /** What the entry read (kept by the reconciler's dependency index while the entry is served). */
  deps: HostDeps;
  skipped: Map<string, Map<string, number>>;
}

/** Compile all admitted candidates of one host key (`foo.com` or `*.foo.com`). */
export function compileHostEntry(hostKey: string, candidates: Iterable<RouteCandidate>, store: ObjectStore, config: RouterConfig): CompiledHostResult {
  const deps = newDeps();
  const skipped = new Map<string, Map<string, number>>();
  const routes: CompiledRoute[] = [];
  for (const c of candidates) {
    if (hostKeyOf(c) !== hostKey) throw new Error(`candidate ${c.key} does not belong to host ${hostKey}`);
    const result = compileRoute(c, store, config, deps);
    routes.push(result.route);
    if (result.skipped.size > 0) skipped.set(c.key, result.skipped);
  }
  routes.sort(compareRouteSpecificity);
  if (routes.length === 0) return { entry: null, deps: compactDeps(deps), skipped };
  // A copy of exactly its length: the table keeps it, and push left room for 17.
  const entry: HostEntry = { key: hostKey, routes: routes.slice() };
  // Admission already keeps one namespace per host when the check is on.
  if (!config.disableNamespaceOwnershipCheck && hostKey !== HOSTLESS_HOST_KEY && routes.every((r) => r.namespace === routes[0]!.namespace)) {
    entry.ownerNamespace = routes[0]!.namespace;
  }
  return { entry, deps: compactDeps(deps), skipped };
}
