// The keep-alive idle timeout of an HTTP/1.1 connection, with one more look before closing.
// Node runs due timers before it reads sockets: after the process was starved (a loaded node, a
// long GC) the keep-alive timer fires while the client's next request already waits in the
// socket, and Node's own rule (destroy at once) loses that request — the client sees its reused
// connection closed ("other side closed"). nginx expires timers after it handles events; here the
// close waits one turn of the loop (setImmediate runs after the poll phase has read what arrived)
// and is dropped when a request came in meanwhile. Sockets whose request (a body still arriving,
// request-entry.ts) or response took the timeout are left to those, as Node does.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/** What Node's HTTP/1.1 server keeps on a socket: the request being read, the response being written. */
export interface Http1Socket extends Duplex {
  parser?: { incoming?: IncomingMessage | null } | null;
  _httpMessage?: ServerResponse | null;
  bytesRead?: number;
}

/** The server's 'timeout' listener for HTTP/1.1 sockets (with a listener, Node leaves the socket to it). */
export function onHttp1Timeout(socket: Http1Socket): void {
  if (socket.destroyed || busy(socket)) return;
  setImmediate(closeIfStillIdle, socket, socket.bytesRead ?? 0);
}

function busy(socket: Http1Socket): boolean {
  const req = socket.parser?.incoming;
  if (req != null && !req.complete && req.listenerCount('timeout') > 0) return true;
  const res = socket._httpMessage;
  return res != null && res.listenerCount('timeout') > 0;
}

function closeIfStillIdle(socket: Http1Socket, bytesReadAtTimeout: number): void {
  if (socket.destroyed) return;
  // Bytes arrived (a request, whole or in part): the connection is in use again, and its timers
  // are Node's once more (the header deadline, then keep-alive after the response).
  if ((socket.bytesRead ?? 0) !== bytesReadAtTimeout || socket.parser?.incoming != null || socket._httpMessage != null) return;
  socket.destroy();
}
