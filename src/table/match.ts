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

import type { CompiledRoute, RequestConditions } from './types.ts';

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

// ---- HTTPRoute request conditions (Gateway API) ------------------------------------------------
// Checked only for routes that carry them (HostSlot keeps null for every other route, so a
// Route or Ingress costs one null check). No regex, no allocation unless a query parameter is
// percent-encoded.

/** The request as conditions see it: Node's IncomingMessage / Http2ServerRequest satisfy it. */
export interface MatchRequest {
  readonly method?: string | undefined;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

/**
 * Does the request meet an HTTPRoute match's method, header, query and listener conditions?
 * `listener`: the Gateway listener (own address) it arrived on, or null for the shared ports.
 */
export function matchesConditions(c: RequestConditions, req: MatchRequest | undefined, secure: boolean, target: string, end: number, listener: string | null = null): boolean {
  if (listener !== null) {
    if (c.listeners === null || !c.listeners.includes(listener)) return false;
  } else if (secure ? !c.https : !c.http) return false;
  if (c.method !== null && (req === undefined || req.method !== c.method)) return false;
  const headers = c.headers;
  for (let i = 0; i < headers.length; i++) {
    const [name, value] = headers[i]!;
    const actual = req?.headers[name];
    if (actual === undefined || (typeof actual === 'string' ? actual !== value : !actual.includes(value))) return false;
  }
  const query = c.query;
  for (let i = 0; i < query.length; i++) {
    if (!queryHas(target, end, query[i]![0], query[i]![1])) return false;
  }
  return true;
}

/** Does the query string after `end` (the '?') carry `name=value` as its first `name` parameter? */
function queryHas(target: string, end: number, name: string, value: string): boolean {
  let i = end + 1;
  const n = target.length;
  while (i < n) {
    let amp = target.indexOf('&', i);
    if (amp === -1) amp = n;
    const eq = target.indexOf('=', i);
    const nameEnd = eq === -1 || eq > amp ? amp : eq;
    if (decodedEquals(target, i, nameEnd, name)) {
      const valueStart = nameEnd === amp ? amp : nameEnd + 1;
      return decodedEquals(target, valueStart, amp, value);
    }
    i = amp + 1;
  }
  return false;
}

function decodedEquals(target: string, start: number, stop: number, expected: string): boolean {
  const length = stop - start;
  if (length === expected.length && target.startsWith(expected, start)) return true;
  const raw = target.slice(start, stop);
  if (raw.indexOf('%') === -1 && raw.indexOf('+') === -1) return false;
  try {
    return decodeURIComponent(raw.replaceAll('+', ' ')) === expected;
  } catch {
    return false;
  }
}
