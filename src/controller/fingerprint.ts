// Telling whether a recompiled host entry or admission result differs from the last one, and a
// short, fixed-size stand-in for the default backend's compiled route (the one value kept by
// fingerprint: keeping the JSON itself cost more than the route; a SHA-256 of it is 44
// characters; crypto.hash is the one-shot form, no Hash object per call).

import { hash } from 'node:crypto';
import type { AdmissionResult, CompiledRoute, HostEntry } from '../table/types.ts';

export function fingerprintOf(value: unknown): string {
  return hash('sha256', JSON.stringify(value) ?? '', 'base64');
}

/** A compiled route's Middlewares count by their version, not by their config (which may be large). */
function withoutConfigs(route: CompiledRoute): unknown {
  return route.middlewares.length === 0 ? route : { ...route, middlewares: route.middlewares.map((m) => `${m.name}@${m.version}`) };
}

export function routeFingerprint(route: CompiledRoute): string {
  return fingerprintOf(withoutConfigs(route));
}

function entryForm(entry: HostEntry): unknown {
  return entry.routes.some((r) => r.middlewares.length > 0) ? { ...entry, routes: entry.routes.map(withoutConfigs) } : entry;
}

/**
 * Whether a recompiled host entry serves as the one before (Middlewares by version): compared as
 * JSON, nothing kept. A fingerprint kept per host, to compare with the next compile, was one more
 * string and map entry for every host that had ever been recompiled (~110 bytes per route once
 * endpoints have churned).
 */
export function sameEntry(a: HostEntry, b: HostEntry): boolean {
  return JSON.stringify(entryForm(a)) === JSON.stringify(entryForm(b));
}

/** Whether two admission results report the same (their fields are strings and booleans). */
export function sameResult(a: AdmissionResult, b: AdmissionResult): boolean {
  return a.key === b.key && a.kind === b.kind && a.namespace === b.namespace && a.name === b.name && a.host === b.host
    && a.wildcardPolicy === b.wildcardPolicy && a.admitted === b.admitted && a.reason === b.reason && a.message === b.message;
}
