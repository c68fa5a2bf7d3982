// Client HTTP/2 sessions that carry tunnels (WebSocket over HTTP/2, h2-tunnel-exchange.ts).
// An HTTP/2 server closes a session whose connection was idle for --client-timeout; a WebSocket
// may be quiet much longer than that and still be wanted (the route's tunnel timeout, default
// 1 h, is its bound, as for HTTP/1.1 tunnels). So the session stays while it has a tunnel open;
// the idle check comes again with the next frame (a tunnel closing is one).

import type { Http2Server, Http2SecureServer, Http2Session } from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

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

/** What Node's HTTP/1.1 server keeps on a socket (allowHTTP1): the request being read, the response being written. */
interface Http1Socket extends Duplex {
  parser?: { incoming?: IncomingMessage | null } | null;
  _httpMessage?: ServerResponse | null;
}

/**
 * Idle for the server's timeout. A session: closed unless it carries a tunnel — gracefully: GOAWAY,
 * and the streams it has open run to their end under their own bounds (a slow answer: the route
 * timeout; a stalled body: its 408 after --client-timeout). Node's default, destroy(), cut them:
 * a quiet session lost a request in flight, and a stalled body got REFUSED_STREAM or its 408
 * depending on which of two equal timers fired first. Without open streams close() ends it at once.
 * With allowHTTP1 an HTTP/1.1 socket comes here too, and gets Node's own rule: destroyed unless
 * its request (a body still arriving, request-entry.ts) or its response took the timeout.
 */
function onIdle(idle: Http2Session | Http1Socket): void {
  if (idle.destroyed) return;
  if (typeof (idle as Http2Session).goaway === 'function') {
    if (!sessionHasTunnels(idle as Http2Session)) (idle as Http2Session).close();
    return;
  }
  const socket = idle as Http1Socket;
  const req = socket.parser?.incoming;
  if (req != null && !req.complete && req.listenerCount('timeout') > 0) return;
  const res = socket._httpMessage;
  if (res != null && res.listenerCount('timeout') > 0) return;
  socket.destroy();
}

/** Idle sessions close after `ms` (the client timeout), those with tunnels open excepted. */
export function closeIdleSessions(server: Http2Server | Http2SecureServer, ms: number): void {
  server.setTimeout(ms);
  // With a listener, Node leaves the idle session to it instead of destroying it.
  server.on('timeout', onIdle);
}
