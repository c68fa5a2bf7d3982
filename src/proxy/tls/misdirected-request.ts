// RFC 9110 §15.5.20 421 Misdirected Request: a connection whose SNI selected a host's own
// certificate may only carry requests for that same host entry. Without this check a client
// reusing the connection (HTTP/2 coalescing, or a Host header that disagrees with SNI) would
// reach a host under a certificate that was never presented for it.

import type { TlsRouteLookup } from './sni-route.ts';

/** `Host`/`:authority` without port and trailing dot, lower-cased. */
export function normalizeHostHeader(host: string): string {
  let end = host.length;
  if (host.charCodeAt(0) === 91 /* '[' */) {
    const close = host.indexOf(']');
    end = close === -1 ? host.length : close + 1;
  } else {
    const colon = host.lastIndexOf(':');
    if (colon !== -1) end = colon;
  }
  if (end > 0 && host.charCodeAt(end - 1) === 46 /* '.' */) end--;
  return host.slice(0, end).toLowerCase();
}

/**
 * True when a request for `hostHeader` must be refused with 421 on a connection whose SNI was
 * `sni` and selected the certificate of host entry `sniEntryKey` (null = default certificate:
 * anything goes, routing is by Host alone).
 */
export function isMisdirectedRequest(lookup: TlsRouteLookup, sni: string, sniEntryKey: string | null, hostHeader: string): boolean {
  if (sniEntryKey === null) return false;
  const host = normalizeHostHeader(hostHeader);
  if (host === sni) return false;
  const entry = lookup.lookupHost(host);
  return entry === null || entry.key !== sniEntryKey;
}
