// Listener isolation: a request that arrives on a Gateway's own address and port belongs to the
// most specific listener there whose hostname matches its host — an exact hostname before any
// wildcard, a longer wildcard before a shorter one (`*.foo.example.com` before `*.example.com`),
// and the listener without hostname last — and is matched only against the routes attached to
// that listener. Per request: a scan of the few listeners of one port, no allocation.

import type { GatewayListenerEntry } from './types.ts';

/** Higher is more specific (sort listeners by it, descending, once per table change). */
export function hostnameSpecificity(hostname: string): number {
  if (hostname === '') return -1;
  return hostname.startsWith('*.') ? hostname.length : 1_000_000 + hostname.length;
}

/** Does a listener hostname ('' = any; `*.d` = any name below d, at any depth) cover `host`? */
export function listenerHostMatches(hostname: string, host: string): boolean {
  if (hostname === '') return true;
  if (hostname.charCodeAt(0) !== 42 /* '*' */) return hostname === host;
  // `*.example.com` (suffix `.example.com`) covers `a.example.com` and `a.b.example.com`.
  const offset = host.length - hostname.length;
  if (offset < 0) return false;
  for (let i = 1; i < hostname.length; i++) if (host.charCodeAt(offset + i) !== hostname.charCodeAt(i)) return false;
  return true;
}

/** The listener a request for `host` (normalised) belongs to, or null; `listeners` most specific first. */
export function selectListener(listeners: readonly GatewayListenerEntry[], host: string): GatewayListenerEntry | null {
  for (let i = 0; i < listeners.length; i++) {
    if (listenerHostMatches(listeners[i]!.hostname, host)) return listeners[i]!;
  }
  return null;
}
