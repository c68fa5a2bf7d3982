// Route candidates: Routes, Ingress rule paths and HTTPRoute/GRPCRoute rule matches normalised into one
// shape — what the Gateway API evaluation (gateway/) produces beside the Routes and Ingresses,
// what the admission chain (admission/) judges, and what the compiler (controller/) turns into a
// CompiledRoute. Types only, below all three: gateway/ and admission/ are siblings that share
// these and import nothing of each other.

import type { Ingress, Route, RouteTLSConfig } from './objects/types.ts';
import type { GatewayRoute } from './objects/gateway-types.ts';
import type { BackendFilters, BackendTls, CompiledMiddleware, CorsPolicy, HeaderModifier, PathMatch, RedirectSpec, RequestPatterns, RewriteSpec, RouteKind } from './table/types.ts';

/** The annotation attaching Middlewares to a Route or Ingress (and what an HTTPRoute rule's ExtensionRefs become). */
export const MIDDLEWARES_ANNOTATION = 'switchyard.io/middlewares';

/** One backend service of a candidate. */
export interface CandidateBackend {
  /** Service name in the candidate's namespace (or in `namespace`). */
  service: string;
  /** HTTPRoute/GRPCRoute backendRefs only: the Service's namespace when it is not the candidate's (allowed by a ReferenceGrant). */
  namespace?: string;
  /** Route: `kind` of spec.to / alternateBackends (must be Service); Ingress: always Service. */
  kind: string;
  weight: number;
  /** Route: spec.port.targetPort (the endpoint port, by name or number). */
  targetPort?: string | number;
  /** Ingress: backend.service.port (a Service port, by number or name). */
  servicePort?: { name?: string; number?: number };
  /** Ingress backend without `service` (e.g. `resource`): unsupported, rejected by validation. */
  unsupported?: string;
  /** HTTPRoute/GRPCRoute backendRefs only: the ref's own filters (header modifiers). */
  filters?: BackendFilters;
  /** HTTPRoute/GRPCRoute backendRefs only: the BackendTLSPolicy that applies to the Service port. */
  tls?: BackendTls;
}

export interface RouteCandidate {
  /** `Route/ns/name` or `Ingress/ns/name/<rule>/<path>` — the CompiledRoute key. */
  key: string;
  /** `Route/ns/name` or `Ingress/ns/name` — the AdmissionResult key. */
  ownerKey: string;
  kind: RouteKind;
  namespace: string;
  name: string;
  /** The Route, Ingress (or HTTPRoute, GRPCRoute) this candidate comes from (age order, labels, annotations). */
  owner: Route | Ingress | GatewayRoute;
  /** Lower-cased host as declared ('' = none): `www.foo.com` for a wildcard Route, `*.foo.com` for a wildcard Ingress. */
  host: string;
  wildcard: boolean;
  wildcardPolicy: 'None' | 'Subdomain';
  /** Path as written ('' = none); Ingress Prefix paths keep their trailing slash here. */
  path: string;
  match: PathMatch;
  /** The raw Ingress pathType or Route path problems are reported by validation. */
  pathType?: string;
  backends: CandidateBackend[];
  annotations: Readonly<Record<string, string>>;
  /** Route spec.tls, as written. */
  routeTls?: RouteTLSConfig | null;
  /** Ingress: the spec.tls[] entry listing this host (secretName may be absent). */
  ingressTls?: { secretName?: string } | null;
  /** HTTPRoute, GRPCRoute: the rule and match, the listeners it came through (src/gateway/evaluate.ts). */
  gateway?: GatewayCandidateData;
  /** Router-wide and switchyard.io/middlewares Middlewares, resolved and validated by admission. */
  middlewares?: CompiledMiddleware[];
  /**
   * Why its Middlewares could not be resolved (missing, invalid config, unknown plugin): the
   * candidate still claims its host and path, and answers 500 SY_MIDDLEWARE_INVALID (fail closed).
   */
  middlewareError?: string;
}

export interface MatchData {
  path: string;
  match: 'exact' | 'prefix';
  method: string | null;
  headers: Array<[string, string]>;
  query: Array<[string, string]>;
  /** GRPCRoute: regular-expression conditions (gateway/grpc-route-rules.ts); null for HTTPRoute. */
  patterns: RequestPatterns | null;
  /** GRPCRoute: characters of the matched service and method (its precedence); null for HTTPRoute. */
  grpc: { service: number; method: number } | null;
}

export interface RuleData {
  index: number;
  matches: MatchData[];
  backends: CandidateBackend[];
  /** Share of requests that must be refused (invalid backends, or nothing to do): 500, or UNAVAILABLE to gRPC. */
  invalidShare: number;
  requestHeaders: HeaderModifier | null;
  responseHeaders: HeaderModifier | null;
  redirect: RedirectSpec | null;
  rewrite: RewriteSpec | null;
  /** The CORS filter (HTTPRoute; absent: none). */
  cors?: CorsPolicy;
  /** timeouts.request in ms (0 = none), null = the router's default. */
  timeoutMs: number | null;
  /** timeouts.backendRequest in ms (0 = none); absent = not set. */
  backendTimeoutMs?: number;
  /** ExtensionRef filters naming switchyard.io Middlewares (same namespace), in order. */
  middlewares: string[];
  /** HTTPRoute RequestMirror filters whose backendRef resolved (absent: none). */
  mirrors?: MirrorData[];
}

/** A RequestMirror filter: its Service, and the share of requests mirrored (numerator / denominator). */
export interface MirrorData {
  backend: CandidateBackend;
  numerator: number;
  denominator: number;
}

export interface GatewayCandidateData {
  rule: RuleData;
  match: MatchData;
  matchIndex: number;
  /** Attached through a listener on the router's shared HTTP / HTTPS port. */
  http: boolean;
  https: boolean;
  /** Attached through these listeners on Gateways' own addresses (`namespace/gateway/listener`). */
  listeners: string[];
  /** Attached through some HTTP / HTTPS listener, shared or not (the route's TLS follows). */
  viaHttp: boolean;
  viaHttps: boolean;
  /** From the HTTPS (or TLS Terminate) listener the route is attached through. */
  certificate: { cert: string; key: string } | null;
  /** The client certificate its Gateway presents to TLS backends (spec.tls.backend); absent: none. */
  backendClientCertificate?: { cert: string; key: string };
  /** TLSRoute: how its streams are served (the mode of the TLS listeners of this candidate). */
  tlsMode?: 'Passthrough' | 'Terminate';
}

