// RFC 8441 extended CONNECT: how a CONNECT with `:protocol` (WebSocket over HTTP/2) is told
// from a plain CONNECT (refused, error-response.ts), and the HTTP/1.1 Upgrade request it becomes
// for the backend (h2-tunnel-exchange.ts). Apart, so the HTTP/2 servers need nothing else of it.

import type { IncomingHttpHeaders } from 'node:http';

/** An Upgrade token (RFC 9110 §7.8: protocol-name ["/" protocol-version], each a token). */
const PROTOCOL_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:\/[!#$%&'*+\-.^_`|~0-9A-Za-z]+)?$/;

/** The `:protocol` of an RFC 8441 extended CONNECT, or null for anything else (a plain CONNECT). */
export function extendedConnectProtocol(req: { method?: string | undefined; headers: IncomingHttpHeaders }): string | null {
  if (req.method !== 'CONNECT') return null;
  const protocol = req.headers[':protocol'];
  return typeof protocol === 'string' && protocol !== '' ? protocol : null;
}

/** A protocol token the backend can be asked to upgrade to (no header splitting, no spaces). */
export function validUpgradeProtocol(protocol: string): boolean {
  return protocol.length <= 64 && PROTOCOL_TOKEN.test(protocol);
}

/**
 * The request as the backend (and every plugin) sees it: the client's headers with the
 * HTTP/1.1 Upgrade ones an HTTP/1.1 client would have sent. `key`: the Sec-WebSocket-Key the
 * router sends (WebSocket only).
 */
export function upgradeRequestHeaders(headers: IncomingHttpHeaders, protocol: string, key: string | null): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const name in headers) {
    // The pseudo-headers say CONNECT and :protocol: what the backend is sent is a GET Upgrade.
    if (name === ':method' || name === ':protocol') continue;
    out[name] = headers[name];
  }
  out.connection = 'upgrade';
  out.upgrade = protocol;
  if (key !== null) {
    out['sec-websocket-key'] = key;
    out['sec-websocket-version'] ??= '13';
  }
  return out;
}
