// Route candidates: Routes and Ingress rule paths normalised into one shape, the unit the
// admission chain judges and the compiler turns into a CompiledRoute.

import type { RouterConfig } from '../config.ts';
import type { Ingress, Route, RouteTLSConfig } from '../objects/types.ts';
import type { ObjectStore } from '../store.ts';
import { HOSTLESS_HOST_KEY, type CompiledMiddleware, type PathMatch, type RouteKind } from '../table/types.ts';
import type { LabelSelector } from './label-selector.ts';
import type { HTTPRoute } from '../objects/gateway-types.ts';
import type { GatewayCandidateData } from '../gateway/evaluate.ts';

/** One backend service of a candidate. */
export interface CandidateBackend {
  /** Service name in the candidate's namespace (or in `namespace`). */
  service: string;
  /** HTTPRoute backendRefs only: the Service's namespace when it is not the candidate's (allowed by a ReferenceGrant). */
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
}

export interface RouteCandidate {
  /** `Route/ns/name` or `Ingress/ns/name/<rule>/<path>` — the CompiledRoute key. */
  key: string;
  /** `Route/ns/name` or `Ingress/ns/name` — the AdmissionResult key. */
  ownerKey: string;
  kind: RouteKind;
  namespace: string;
  name: string;
  /** The Route, Ingress (or HTTPRoute) this candidate comes from (age order, labels, annotations). */
  owner: Route | Ingress | HTTPRoute;
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
  /** HTTPRoute: the rule and match, the listeners it came through (src/gateway/evaluate.ts). */
  gateway?: GatewayCandidateData;
  /** Router-wide and switchyard.io/middlewares Middlewares, resolved and validated by admission. */
  middlewares?: CompiledMiddleware[];
  /**
   * Why its Middlewares could not be resolved (missing, invalid config, unknown plugin): the
   * candidate still claims its host and path, and answers 500 SY_MIDDLEWARE_INVALID (fail closed).
   */
  middlewareError?: string;
}

export interface AdmissionContext {
  config: RouterConfig;
  store: ObjectStore;
  routeSelector: LabelSelector;
  namespaceSelector: LabelSelector;
  /** Loaded plugins (Middleware configs are validated against them); none when absent. */
  plugins?: import('./middlewares.ts').PluginCatalog;
}

export interface Rejection {
  admitted: false;
  reason: string;
  message: string;
}

export type Verdict = { admitted: true } | Rejection;

/** One step of the admission chain: judge a candidate on its own. */
export type AdmissionStep = (candidate: RouteCandidate, context: AdmissionContext) => Verdict;

export const ADMITTED: Verdict = Object.freeze({ admitted: true });

/** Shard selection's verdict for candidates that are not ours: no status, not served. */
export const NOT_SELECTED = 'NotSelected';

export const Reasons = Object.freeze({
  invalidHost: 'InvalidHost',
  noHostValue: 'NoHostValue',
  hostAlreadyClaimed: 'HostAlreadyClaimed',
  routeNotAdmitted: 'RouteNotAdmitted',
  invalidAnnotation: 'InvalidAnnotation',
  extendedValidationFailed: 'ExtendedValidationFailed',
  invalidMiddleware: 'InvalidMiddleware',
});

export function reject(reason: string, message: string): Rejection {
  return { admitted: false, reason, message };
}

/** Served domain of a wildcard candidate (`foo.com` for `www.foo.com`/Subdomain or `*.foo.com`). */
export function wildcardDomain(candidate: RouteCandidate): string {
  const h = candidate.host;
  if (h.startsWith('*.')) return h.slice(2);
  const dot = h.indexOf('.');
  return dot === -1 ? '' : h.slice(dot + 1);
}

/**
 * An Ingress rule without `host`: Kubernetes applies it to every Host. It skips host
 * validation, domain and wildcard steps, and lands in the HOSTLESS_HOST_KEY entry. (A Route
 * without host stays a NoHostValue rejection, as in OpenShift.)
 */
export function isHostless(candidate: RouteCandidate): boolean {
  // HTTPRoute: neither the listener nor the route names a hostname (every host).
  return (candidate.kind === 'Ingress' || candidate.kind === 'HTTPRoute') && candidate.host === '';
}

/** Table key of the host entry the candidate lands in: `foo.com`, `*.foo.com` or HOSTLESS_HOST_KEY. */
export function hostKeyOf(candidate: RouteCandidate): string {
  if (isHostless(candidate)) return HOSTLESS_HOST_KEY;
  return candidate.wildcard ? `*.${wildcardDomain(candidate)}` : candidate.host;
}

/**
 * Host-ownership group: plain hosts by their parent domain, a wildcard `*.foo.com` in `foo.com`,
 * so a wildcard and the exact hosts it would cover are judged together.
 */
export function domainGroupOf(candidate: RouteCandidate): string {
  if (isHostless(candidate)) return HOSTLESS_HOST_KEY;
  if (candidate.wildcard) return wildcardDomain(candidate);
  const dot = candidate.host.indexOf('.');
  return dot === -1 ? candidate.host : candidate.host.slice(dot + 1);
}

/** Domain group of a table host key (`*.foo.com` → `foo.com`, `bar.foo.com` → `foo.com`; HOSTLESS_HOST_KEY is its own group). */
export function domainGroupOfHostKey(hostKey: string): string {
  if (hostKey.startsWith('*.')) return hostKey.slice(2);
  const dot = hostKey.indexOf('.');
  return dot === -1 ? hostKey : hostKey.slice(dot + 1);
}
