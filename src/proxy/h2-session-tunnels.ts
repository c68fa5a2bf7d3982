// Client HTTP/2 sessions that carry tunnels (WebSocket over HTTP/2, h2-tunnel-exchange.ts).
// An HTTP/2 server closes a session whose connection was idle for --client-timeout; a WebSocket
// may be quiet much longer than that and still be wanted (the route's tunnel timeout, default
// 1 h, is its bound, as for HTTP/1.1 tunnels). So the session stays while it has a tunnel open;
// the idle check comes again with the next frame (a tunnel closing is one).

import type { Http2Server, Http2SecureServer, Http2Session } from 'node:http2';
import { onHttp1Timeout, type Http1Socket } from './keep-alive-idle.ts';

const kTunnels = Symbol('switchyard.h2Tunnels');

interface TunnelCount { [kTunnels]?: number }

export function sessionTunnelOpened(session: Http2Session): void {
  const s = session as unknown as TunnelCount;
  s[kTunnels] = (s[kTunnels] ?? 0) + 1;
}

export function sessionTunnelClosed(session: Http2Session): void {
  const s = session as unknown as TunnelCount;
  s[kTunnels] = (s[kTunnels] ?? 1) - 1;
}

export function sessionHasTunnels(session: Http2Session): boolean {
  return ((session as unknown as TunnelCount)[kTunnels] ?? 0) > 0;
}

/**
 * Idle for the server's timeout. A session: closed unless it carries a tunnel — gracefully: GOAWAY,
 * and the streams it has open run to their end under their own bounds (a slow answer: the route
 * timeout; a stalled body: its 408 after --client-timeout). Node's default, destroy(), cut them:
 * a quiet session lost a request in flight, and a stalled body got REFUSED_STREAM or its 408
 * depending on which of two equal timers fired first. Without open streams close() ends it at once.
 * With allowHTTP1 an HTTP/1.1 socket comes here too, and gets the plain listener's rule
 * (keep-alive-idle.ts: Node's, with one more look for a request that already arrived).
 */
function onIdle(idle: Http2Session | Http1Socket): void {
  if (idle.destroyed) return;
  if (typeof (idle as Http2Session).goaway === 'function') {
    if (!sessionHasTunnels(idle as Http2Session)) (idle as Http2Session).close();
    return;
  }
  onHttp1Timeout(idle as Http1Socket);
}

/** Idle sessions close after `ms` (the client timeout), those with tunnels open excepted. */
export function closeIdleSessions(server: Http2Server | Http2SecureServer, ms: number): void {
  server.setTimeout(ms);
  // With a listener, Node leaves the idle session to it instead of destroying it.
  server.on('timeout', onIdle);
}
