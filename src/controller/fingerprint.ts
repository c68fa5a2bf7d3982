// A short, fixed-size stand-in for a compiled value, used to tell whether a recompiled host
// entry or admission result differs from the last one. Keeping the JSON itself cost more than
// the entry (kilobytes per route); a SHA-256 of it costs 44 characters. crypto.hash is the
// one-shot form (no Hash object per call: this runs once per host at start-up).

import { hash } from 'node:crypto';
import type { CompiledRoute, HostEntry } from '../table/types.ts';

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

export function entryFingerprint(entry: HostEntry): string {
  if (!entry.routes.some((r) => r.middlewares.length > 0)) return fingerprintOf(entry);
  return fingerprintOf({ ...entry, routes: entry.routes.map(withoutConfigs) });
}
