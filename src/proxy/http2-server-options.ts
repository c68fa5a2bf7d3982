// The HTTP/2 server settings every client-facing HTTP/2 session gets, whichever way it came in:
// h2 negotiated by ALPN on the HTTPS port (tls/tls-terminator.ts) or h2c by prior knowledge on
// the HTTP port (h2c-server.ts). One place, so both ways in carry the same bounds.

import type { ServerOptions } from 'node:http2';

/** HTTP/2 streams one client connection may have open at once (HAProxy 100, nginx 128). */
export const MAX_CONCURRENT_STREAMS = 100;

export interface Http2Limits {
  /** Largest request header block in bytes (--max-header-size). */
  maxHeaderSize: number;
}

/** Session options shared by the h2 and h2c servers. */
export function http2SessionOptions(limits: Http2Limits): Pick<ServerOptions, 'maxSessionMemory' | 'maxSessionInvalidFrames' | 'maxSessionRejectedStreams' | 'settings'> {
  return {
    maxSessionMemory: 32,
    // Node's defaults are 1,000 invalid frames and 100 refused streams before it gives up on a
    // session; the first is a flood's allowance. 100 of each, as the glitch budget (tls/http2-guard.ts).
    maxSessionInvalidFrames: 100,
    maxSessionRejectedStreams: 100,
    // Node advertises 2^32-1 concurrent streams by default: one connection could open any
    // number of requests.
    // enableConnectProtocol: SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441), so browsers open
    // WebSockets on their HTTP/2 connection (h2-tunnel-exchange.ts).
    settings: { maxHeaderListSize: limits.maxHeaderSize, maxConcurrentStreams: MAX_CONCURRENT_STREAMS, enableConnectProtocol: true },
  };
}
