// The compiled route table: plain, serialisable data (posted from the main thread to the proxy
// worker threads, printed by /debug/routes). Built by controller/compile.ts from the store and the
// admission results; read by the proxy, which builds its runtime objects (balancers, pools,
// metric children) from it once per table change — never per request.

// Imports nothing: every module may depend on it, it depends on no module.

/** Balance algorithms (haproxy.router.openshift.io/balance, ROUTER_LOAD_BALANCE_ALGORITHM). */
export const BALANCE_ALGORITHMS = ['random', 'roundrobin', 'leastconn', 'source'] as const;
export type Balance = typeof BALANCE_ALGORITHMS[number];
/** X-Forwarded-* / Forwarded policies (set-forwarded-headers, ROUTER_SET_FORWARDED_HEADERS). */
export const FORWARDED_POLICIES = ['append', 'replace', 'if-none', 'never'] as const;
export type ForwardedPolicy = typeof FORWARDED_POLICIES[number];
/** The kinds of object a served route comes from. */
export type RouteKind = 'Route' | 'Ingress' | 'HTTPRoute' | 'GRPCRoute' | 'TLSRoute' | 'TCPRoute' | 'UDPRoute';

/** The Gateway API route kinds (src/gateway/): they share hosts by the spec's precedence, not by namespace. */
export function isGatewayRouteKind(kind: RouteKind): kind is 'HTTPRoute' | 'GRPCRoute' | 'TLSRoute' | 'TCPRoute' | 'UDPRoute' {
  return kind === 'HTTPRoute' || kind === 'GRPCRoute' || kind === 'TLSRoute' || kind === 'TCPRoute' || kind === 'UDPRoute';
}
export type PathMatch = 'route' | 'exact' | 'prefix';
export type Termination = 'edge' | 'passthrough' | 'reencrypt';
export type InsecurePolicy = 'None' | 'Allow' | 'Redirect';

export interface CompiledEndpoint {
  /** Opaque, stable id of address:port (used in sticky cookies; never reveals the pod IP). */
  id: string;
  address: string;
  port: number;
  /** Effective weight: the service's weight divided evenly over its usable endpoints. */
  weight: number;
  /** false for `serving && terminating` endpoints: they finish in-flight work, get no new sessions. */
  acceptsNew: boolean;
  /**
   * The Pod behind it, when the slice says so: its name, or `namespace/name` when it is in
   * another namespace than the Service (endpointPod() gives `namespace/name` either way).
   */
  pod?: string;
  nodeName?: string;
}

/** `namespace/name` of the Pod behind an endpoint of `service`, when the slice says so. */
export function endpointPod(service: CompiledService, endpoint: CompiledEndpoint): string | undefined {
  const pod = endpoint.pod;
  if (pod === undefined || pod.includes('/')) return pod;
  const slash = service.name.indexOf('/');
  return `${service.name.slice(0, slash)}/${pod}`;
}

export interface CompiledService {
  /** `namespace/name` */
  name: string;
  weight: number;
  endpoints: CompiledEndpoint[];
  /**
   * The backend speaks HTTP/2 (table/backend-protocol.ts), or `alpn`: a reencrypt route's
   * endpoint that was declared nothing chooses by ALPN (h2 or http/1.1); absent: HTTP/1.1.
   */
  protocol?: 'http2' | 'alpn';
  /** A BackendTLSPolicy applies (Gateway API backendRefs): TLS to every endpoint. */
  tls?: BackendTls;
}

/**
 * TLS to a Service's endpoints as a BackendTLSPolicy asks (gateway/backend-tls.ts): trusted CAs,
 * the SNI and, unless subjectAltNames are given, the name verified; else one of those names.
 */
export interface BackendTls {
  /** `namespace/name` of the policy. */
  policy: string;
  /** PEM bundle; null = the system's well-known roots. */
  ca: string | null;
  serverName: string;
  subjectAltNames: Array<{ type: 'Hostname' | 'URI'; value: string }>;
  /** The Gateway's spec.tls.backend client certificate, presented to the endpoints (PEM). */
  clientCertificate?: { cert: string; key: string };
}

export interface HealthCheckSpec {
  type: 'tcp' | 'http';
  /** HTTP checks only */
  path?: string;
  intervalMs: number;
  timeoutMs: number;
  rise: number;
  fall: number;
  /** HTTP checks only: status classes ('2xx') or codes ('204') that count as healthy. */
  expect?: string[];
  /**
   * HTTP checks of reencrypt and passthrough routes speak TLS to the endpoint, verifying it as
   * the route does: reencrypt against its destination CA (null: the router's default) and
   * server name; passthrough without verification (the router never sees that certificate).
   */
  tls?: { servername: string; ca: string | null; verify: boolean };
}

/** How a route forwards: the balance algorithm, timeouts, the active health check. */
export interface RoutePolicy {
  balance: Balance;
  connectTimeoutMs: number;
  serverTimeoutMs: number;
  tunnelTimeoutMs: number;
  /** Active health check; null when none applies (single endpoint, no HTTP check configured). */
  healthCheck: HealthCheckSpec | null;
  /** switchyard.io/trace-sampling: 'always' records every exchange, 'never' none (trace headers pass untouched). */
  traceSampling: TraceSampling;
}

/**
 * A built-in policy on a route (plugins/policies.ts): the plugin's name and its config — plain
 * data, read from the route when it was compiled.
 */
export interface RoutePlugin {
  plugin: string;
  config: unknown;
}

export const TRACE_SAMPLING = ['default', 'always', 'never'] as const;
export type TraceSampling = typeof TRACE_SAMPLING[number];

/** One piece of a header value: literal text, or a header of the request or the response. */
export type ValuePart = string | { from: 'req' | 'res'; header: string; lower: boolean; base64: boolean };

export interface HeaderAction {
  /** Lower-case header name. */
  name: string;
  type: 'set' | 'delete';
  /** For set. */
  value?: ValuePart[];
}

export interface HeaderActions {
  request: HeaderAction[];
  response: HeaderAction[];
}

/** A Middleware attached to a route, resolved and validated at admission. */
export interface CompiledMiddleware {
  /** `namespace/name` of the Middleware object. */
  name: string;
  /** Name of the loaded plugin it configures. */
  plugin: string;
  /** spec.config, validated against the plugin's schema (defaults applied), frozen, shared by every route naming it. */
  config: unknown;
  /** Identity of the config (a digest of the plugin and spec.config): what fingerprints, instance reuse and the worker IPC compare. */
  version: string;
}

export interface CompiledTls {
  termination: Termination;
  insecurePolicy: InsecurePolicy;
  /** PEM chain + key served for this host; null = the default certificate. */
  certificate: { cert: string; key: string; ca?: string } | null;
  /** reencrypt only: CA bundle that verifies the endpoint; null = the default destination CA. */
  destinationCA: string | null;
  /** reencrypt only: TLS server name sent to and verified on the endpoint. */
  serverName?: string;
}

export interface CompiledRoute {
  /** Unique key: `Route/ns/name` or `Ingress/ns/name/<rule>/<path>` (or `.../default`), `HTTPRoute/ns/name/<rule>/<match>@<host>` (GRPCRoute alike). */
  key: string;
  kind: RouteKind;
  namespace: string;
  name: string;
  /** Lower-case host; for wildcard routes the served domain's parent, e.g. `foo.com` for `*.foo.com`; '' for an Ingress rule without host. */
  host: string;
  wildcard: boolean;
  /** The path as written ('' = no path); match semantics depend on `match`. */
  path: string;
  match: PathMatch;
  services: CompiledService[];
  policy: RoutePolicy;
  /** The built-in policies that apply, with their configs, in chain order (plugins/policies.ts). */
  plugins: RoutePlugin[];
  tls: CompiledTls | null;
  /** The owner's annotations (plugins read them through ctx.route.annotations). */
  annotations: Record<string, string>;
  /** Router-wide then the route's own Middlewares (switchyard.io/middlewares), in order. */
  middlewares: CompiledMiddleware[];
  /** Its Middlewares could not be resolved (why): every request is answered 500 SY_MIDDLEWARE_INVALID. */
  middlewareError?: string;
  /** Diagnostics: e.g. endpoints skipped because their pod lacks the target-port annotation. */
  notes?: string[];
  /** HTTPRoute and GRPCRoute only: request conditions beyond host and path, precedence and filters. */
  gateway?: GatewayRouteData;
}

// ---- Gateway API (HTTPRoute and GRPCRoute rules) -----------------------------------------------

/** Conditions of one HTTPRoute or GRPCRoute match beyond host and path; names lower-case, values exact. */
export interface RequestConditions {
  /** Upper-case method, or null for any. */
  method: string | null;
  headers: Array<[name: string, value: string]>;
  query: Array<[name: string, value: string]>;
  /** Which of the router's shared listeners (--http-port, --https-port) the route is attached through. */
  http: boolean;
  https: boolean;
  /**
   * Keys (`namespace/gateway/listener`) of the listeners on Gateways' own addresses the route is
   * attached through (GatewayEntryPoint); null when none.
   */
  listeners: string[] | null;
  /** Regular-expression conditions (GRPCRoute); null when none. */
  patterns: RequestPatterns | null;
}

/**
 * Conditions a path prefix cannot say, as RE2 patterns that must match the whole value
 * (compiled once when the table is applied, table/request-patterns.ts; linear-time matching, so
 * a tenant's pattern cannot stall the router).
 */
export interface RequestPatterns {
  /** The gRPC service (the path's first segment, `/service/method`); null = any. */
  service: string | null;
  /** The gRPC method (the path's second segment); null = any. */
  method: string | null;
  /** Header values by lower-case name. */
  headers: Array<[name: string, pattern: string]>;
}

export interface HeaderModifier {
  /** Lower-case names. */
  set: Array<[name: string, value: string]>;
  add: Array<[name: string, value: string]>;
  remove: string[];
}

/**
 * The filters of one HTTPRoute or GRPCRoute backendRef: they apply only to the requests sent to
 * that backend (after the rule's own) and to its responses (before the rule's).
 */
export interface BackendFilters {
  requestHeaders: HeaderModifier | null;
  responseHeaders: HeaderModifier | null;
}

export interface PathModifier { type: 'ReplaceFullPath' | 'ReplacePrefixMatch'; value: string }

export interface RedirectSpec {
  scheme: string | null;
  hostname: string | null;
  /** null = derived from the scheme (or the request's port when neither is set). */
  port: number | null;
  path: PathModifier | null;
  statusCode: number;
}

export interface RewriteSpec { hostname: string | null; path: PathModifier | null }

/** An HTTPRoute rule's CORS filter, validated and normalised (gateway/cors.ts answers and decorates with it). */
export interface CorsPolicy {
  /** allowOrigins is `*`: any origin. */
  anyOrigin: boolean;
  /** The allowed origins otherwise (none: no origin is allowed). */
  origins: CorsOriginPattern[];
  credentials: boolean;
  /** allowMethods as written (`['*']`: the requested method). */
  methods: string[];
  /** allowHeaders as written (`['*']`: the requested headers). */
  headers: string[];
  /** exposeHeaders as written (may hold `*`). */
  expose: string[];
  /** Seconds (Access-Control-Max-Age). */
  maxAge: number;
}

/** One allowed origin: scheme, port (the scheme's default when not written) and host. */
export interface CorsOriginPattern {
  scheme: string;
  /** Lower-case host; for a wildcard what must follow the `*` (`.bar.com`, or '' for a host of `*` alone). */
  host: string;
  wildcard: boolean;
  port: number;
}

export interface GatewayRouteData {
  conditions: RequestConditions;
  /** Tie-breakers after path, method, header and query counts: age (ms, oldest first), `ns/name`, rule, match. */
  age: number;
  owner: string;
  rule: number;
  matchIndex: number;
  requestHeaders: HeaderModifier | null;
  responseHeaders: HeaderModifier | null;
  redirect: RedirectSpec | null;
  rewrite: RewriteSpec | null;
  /** The rule's CORS filter (absent: none). */
  cors?: CorsPolicy;
  /** Share (0..1) of requests answered 500 for invalid backendRefs (1 = all backends invalid, or none and no filter). */
  invalidShare: number;
  /** HTTPRoute RequestMirror filters (src/proxy/request-mirror.ts); absent when none. */
  mirrors?: CompiledMirror[];
  /** The filters of each of the route's `services` (same order, null: none); absent when no backendRef has any. */
  backendFilters?: Array<BackendFilters | null>;
  /**
   * timeouts.backendRequest in ms when it bounds an attempt more tightly than the route's server
   * timeout (policy.serverTimeoutMs, which carries timeouts.request); absent otherwise.
   */
  backendTimeoutMs?: number;
  /** GRPCRoute: the precedence keys after the hostname (characters of the matched service, then of the method). */
  grpc?: { service: number; method: number };
  /**
   * TLSRoute: where its streams come in, chosen by SNI (RouteTable.matchStream) — never by an
   * HTTP request, whose conditions (http, https, listeners) are all off for it.
   */
  stream?: StreamEntry;
}

/**
 * A RequestMirror target: its Service's endpoints (one is picked per mirrored request) and the
 * share of requests mirrored, numerator / denominator (1 / 1: every request).
 */
export interface CompiledMirror {
  service: CompiledService;
  numerator: number;
  denominator: number;
}

/** The TLS listeners a TLSRoute is attached through. */
export interface StreamEntry {
  /** Through a TLS listener on the router's shared HTTPS port. */
  shared: boolean;
  /** Through these TLS listeners on Gateways' own addresses (`namespace/gateway/listener`). */
  listeners: string[];
}

/**
 * Host key of the entry holding the Ingress rules without a host (they serve any Host, after
 * the exact and wildcard entries). A lone `*` is neither a DNS-1123 host nor a `*.domain` key,
 * so it cannot collide with either.
 */
export const HOSTLESS_HOST_KEY = '*';

export interface HostEntry {
  /** Table key: `foo.com` for an exact host, `*.foo.com` for a wildcard, HOSTLESS_HOST_KEY for rules without host. */
  key: string;
  /** Routes in match order: most specific path first, Exact before Prefix on a tie. */
  routes: CompiledRoute[];
  /**
   * The namespace that owns this host (or wildcard domain) under the namespace ownership check:
   * rules without host and the default backend of other namespaces never serve its requests.
   * Absent when the check is disabled (or for HOSTLESS_HOST_KEY).
   */
  ownerNamespace?: string;
}

/** A Gateway listener served on its Gateway's own address (--gateway-addresses). */
export interface GatewayListenerEntry {
  /** `namespace/gateway/listener`: what the conditions of the routes attached to it name. */
  key: string;
  /** Normalised hostname; '' = any host. */
  hostname: string;
  /** HTTPS, and TLS in mode Terminate: the certificate of the listener. */
  certificate: { cert: string; key: string } | null;
}

/**
 * An address and port the router listens on for Gateways: one of a Gateway's own addresses and
 * the port of some of its listeners (one protocol per port). A request that arrives there is
 * matched only against the routes attached to the most specific of these listeners that matches
 * its host (listener isolation).
 */
export interface GatewayEntryPoint {
  address: string;
  port: number;
  /**
   * TLS: streams chosen by SNI among the TLSRoutes of its listeners (passthrough, or terminated
   * with the listener's certificate). TCP: every stream to the oldest TCPRoute of its one listener.
   * UDP: every client's datagrams (a session per client address) to the oldest UDPRoute of its one listener.
   */
  protocol: 'HTTP' | 'HTTPS' | 'TLS' | 'TCP' | 'UDP';
  /** Most specific first: exact hostnames, then wildcards by length, then the listener without hostname. */
  listeners: GatewayListenerEntry[];
  /**
   * HTTPS: the client certificates every connection to this port is checked against (the
   * Gateway's spec.tls.frontend for the port, src/gateway/frontend-validation.ts); null = none.
   */
  clientValidation?: ClientValidation | null;
}

/** What the TLS terminator of a Gateway port checks client certificates against. */
export interface ClientValidation {
  /** PEM CA certificates that client certificates must chain to. */
  ca: string;
  /** AllowValidOnly: no valid certificate, no connection. AllowInsecureFallback: asked for, not required. */
  mode: 'AllowValidOnly' | 'AllowInsecureFallback';
}

/** An incremental change to the table. The reconciler emits one per batch of store changes. */
export interface TableDelta {
  version: number;
  /** Host entries to add or replace whole. */
  upsert: HostEntry[];
  /** Host keys to remove. */
  remove: string[];
  /** Present when the Ingress default backend changed (null = none). */
  defaultBackend?: CompiledRoute | null;
  /** The whole table (a resync): every host entry not in `upsert` is dropped. */
  reset?: boolean;
  /** Present when the Gateways' own listeners changed: the whole set. */
  entryPoints?: GatewayEntryPoint[];
}

export interface AdmissionResult {
  /** `Route/ns/name` or `Ingress/ns/name` */
  key: string;
  kind: 'Route' | 'Ingress';
  namespace: string;
  name: string;
  host: string;
  wildcardPolicy: 'None' | 'Subdomain';
  admitted: boolean;
  /** OpenShift reason when rejected: InvalidHost, NoHostValue, HostAlreadyClaimed, RouteNotAdmitted, ExtendedValidationFailed. */
  reason?: string;
  message?: string;
}
