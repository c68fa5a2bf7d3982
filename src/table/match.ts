// Host and path matching — the per-request hot path. Matchers are precomputed from compiled
// routes when the table is applied (pathMatcher); matching a request allocates nothing beyond
// the normalised host string and builds no regex.
//
// Path semantics:
//   Route      ''/'/' match everything; '/sub' matches '/sub', '/sub/', '/sub/x' (not '/subpar');
//              '/sub/' matches '/sub/' and '/sub/x' (not '/sub').
//   Exact      the path exactly, case-sensitive.
//   Prefix     by '/'-separated element, trailing '/' of the rule ignored ('/a/b/' matches '/a/b',
//              '/a/b/c', not '/a/bc'); ImplementationSpecific is Prefix.
// The query string is never part of the match.

import type { CompiledRoute } from './types.ts';

export const MATCH_ALL = 0;
export const MATCH_EXACT = 1;
/** `pattern` (no trailing '/') itself, or anything below `pattern/`. */
export const MATCH_ELEMENT = 2;
/** Anything starting with `pattern` (which ends with '/'). */
export const MATCH_DIRECTORY = 3;

export interface PathMatcher {
  kind: number;
  pattern: string;
}

export function pathMatcher(route: Pick<CompiledRoute, 'path' | 'match'>): PathMatcher {
  const p = route.path;
  switch (route.match) {
    case 'exact':
      return { kind: MATCH_EXACT, pattern: p };
    case 'prefix': {
      let end = p.length;
      while (end > 0 && p.charCodeAt(end - 1) === 47) end--;
      return end === 0 ? { kind: MATCH_ALL, pattern: '' } : { kind: MATCH_ELEMENT, pattern: p.slice(0, end) };
    }
    case 'route':
      if (p === '' || p === '/') return { kind: MATCH_ALL, pattern: '' };
      return p.endsWith('/') ? { kind: MATCH_DIRECTORY, pattern: p } : { kind: MATCH_ELEMENT, pattern: p };
  }
}

/** Length of the path part of a request target (up to '?'). */
export function pathEnd(target: string): number {
  const q = target.indexOf('?');
  return q === -1 ? target.length : q;
}

/** Does `target[0, end)` match? `end` is pathEnd(target), computed once per request. */
export function matchesPath(kind: number, pattern: string, target: string, end: number): boolean {
  if (kind === MATCH_ALL) return true;
  const n = pattern.length;
  if (kind === MATCH_EXACT) return end === n && target.startsWith(pattern);
  if (end < n || !target.startsWith(pattern)) return false;
  if (kind === MATCH_DIRECTORY) return true;
  return end === n || target.charCodeAt(n) === 47;
}

/** Host header → table host: lower-case, without `:port` (also `[v6]:port`), one trailing dot dropped. */
export function normalizeHost(hostHeader: string): string {
  let end = hostHeader.length;
  if (hostHeader.charCodeAt(0) === 91) {
    const close = hostHeader.indexOf(']');
    if (close !== -1) end = close + 1;
  } else {
    const colon = hostHeader.lastIndexOf(':');
    if (colon !== -1) end = colon;
  }
  if (end > 0 && hostHeader.charCodeAt(end - 1) === 46) end--;
  const host = end === hostHeader.length ? hostHeader : hostHeader.slice(0, end);
  return host.toLowerCase();
}

/** Parent domain used for the wildcard lookup (`bar.foo.com` → `foo.com`), or '' when none. */
export function parentDomain(host: string): string {
  const dot = host.indexOf('.');
  return dot === -1 ? '' : host.slice(dot + 1);
}
