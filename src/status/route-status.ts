// Route status as OpenShift routers write it: `status.ingress[]` holds one entry per router,
// keyed by routerName. We compute only our entry and keep every other router's entry as is.
// Pure functions: the writer (status-writer.ts) fetches, compares and writes.

import type { RouteIngress, RouteIngressCondition } from '../objects/types.ts';
import type { AdmissionResult } from '../table/types.ts';

export interface RouteStatusIdentity {
  routerName: string;
  /** '' = leave routerCanonicalHostname out */
  canonicalHostname: string;
}

export interface StatusChange<T> {
  value: T;
  /** false when the new value equals the old one (lastTransitionTime aside): nothing to write. */
  changed: boolean;
}

/** RFC 3339 without fractional seconds, as Kubernetes serialises metav1.Time. */
export function statusTime(date = new Date()): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z');
}

/** Our `status.ingress[]` entry for an admission result. */
export function routeIngressEntry(result: AdmissionResult, identity: RouteStatusIdentity,
  previous: RouteIngress | undefined, now: string): RouteIngress {
  const status = result.admitted ? 'True' : 'False';
  const previousAdmitted = previous?.conditions?.find((c) => c.type === 'Admitted');
  // Keep the old transition time unless the condition actually flipped.
  const lastTransitionTime = previousAdmitted?.status === status && previousAdmitted.lastTransitionTime
    ? previousAdmitted.lastTransitionTime : now;
  const condition: RouteIngressCondition = { type: 'Admitted', status, lastTransitionTime };
  if (!result.admitted) {
    condition.reason = result.reason ?? 'RouteNotAdmitted';
    if (result.message) condition.message = result.message;
  }
  const entry: RouteIngress = { host: result.host, routerName: identity.routerName };
  if (identity.canonicalHostname) entry.routerCanonicalHostname = identity.canonicalHostname;
  entry.wildcardPolicy = result.wildcardPolicy;
  entry.conditions = [condition];
  return entry;
}

/** The whole `status.ingress[]` with our entry set; other routers' entries keep their place. */
export function desiredRouteIngress(existing: RouteIngress[] | undefined, result: AdmissionResult,
  identity: RouteStatusIdentity, now = statusTime()): StatusChange<RouteIngress[]> {
  const list = existing ?? [];
  const index = list.findIndex((entry) => entry.routerName === identity.routerName);
  const previous = index === -1 ? undefined : list[index];
  const entry = routeIngressEntry(result, identity, previous, now);
  const changed = previous === undefined || !sameEntry(previous, entry);
  if (!changed) return { value: list, changed: false };
  const value = index === -1 ? [...list, entry] : list.map((e, i) => (i === index ? entry : e));
  return { value, changed: true };
}

/** `status.ingress[]` without our entry (the route left our shard or lost its host). */
export function withoutRouterEntry(existing: RouteIngress[] | undefined, routerName: string): StatusChange<RouteIngress[]> {
  const list = existing ?? [];
  const value = list.filter((entry) => entry.routerName !== routerName);
  return { value, changed: value.length !== list.length };
}

/** Equal ignoring lastTransitionTime (and key order). */
function sameEntry(a: RouteIngress, b: RouteIngress): boolean {
  return comparable(a) === comparable(b);
}

function comparable(entry: RouteIngress): string {
  const conditions = (entry.conditions ?? []).map((c) => [c.type, c.status, c.reason ?? '', c.message ?? '']);
  return JSON.stringify([entry.host ?? '', entry.routerName ?? '', entry.routerCanonicalHostname ?? '', entry.wildcardPolicy ?? '', conditions]);
}
