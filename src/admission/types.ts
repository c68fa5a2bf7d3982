// Route candidates: Routes and Ingress rule paths normalised into one shape, the unit the
// admission chain judges and the compiler turns into a CompiledRoute.

import type { RouterConfig } from '../config.ts';
import type { ObjectStore } from '../store.ts';
import { HOSTLESS_HOST_KEY, isGatewayRouteKind, type CompiledMiddleware, type PathMatch, type RouteKind } from '../table/types.ts';
import type { LabelSelector } from './label-selector.ts';
import type { RouteCandidate } from '../route-candidate.ts';

export type { CandidateBackend, RouteCandidate } from '../route-candidate.ts';

export interface AdmissionContext {
  config: RouterConfig;
  store: ObjectStore;
  routeSelector: LabelSelector;
  namespaceSelector: LabelSelector;
  /** Loaded plugins (Middleware configs are validated against them); none when absent. */
  plugins?: PluginCatalog;
}

/** What admission needs of the loaded plugins. */
export interface PluginCatalog {
  validate(plugin: string, config: unknown): { ok: true; value: unknown } | { ok: false; message: string };
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
  // HTTPRoute, GRPCRoute: neither the listener nor the route names a hostname (every host).
  return (candidate.kind === 'Ingress' || isGatewayRouteKind(candidate.kind)) && candidate.host === '';
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
