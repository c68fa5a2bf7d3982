// Writing the catalogue's short plain-text error responses (src/errors.ts) — never a stack trace.

import type { ServerResponse } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import type { Http2ServerResponse, ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import { STATUS_CODES } from 'node:http';
import { ProxyErrors, type ProxyErrorSpec } from '../errors.ts';
import { markClosedByRouter } from './tls/http2-guard.ts';
import { grpcStatusForError, isGrpcContentType, isGrpcResponse, respondGrpcStatus, writeGrpcError } from './grpc.ts';

export type { AnyResponse } from './http-message.ts';
import type { AnyResponse } from './http-message.ts';

/** Answer a request with a catalogue error. Safe to call whatever state the response is in. */
export function sendError(res: AnyResponse, error: ProxyErrorSpec, extraHeaders?: Record<string, string>): void {
  // A gRPC client reads grpc-status, not a body (grpc.ts).
  if (isGrpcResponse(res)) {
    writeGrpcError(res, error, extraHeaders ?? null);
    return;
  }
  if (res.headersSent) {
    // Too late for a status: cut the response so the client sees it is incomplete.
    destroyResponse(res);
    return;
  }
  const body = `${error.message}\n`;
  const headers: Record<string, string | number> = {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-switchyard-error': error.code,
    ...extraHeaders,
  };
  (res as ServerResponse).writeHead(error.status, headers);
  res.end(body);
}

/**
 * The same on an HTTP/2 stream (core API); `requestHeaders` say whether it is a gRPC call. Safe
 * to call whatever state the stream is in.
 */
export function sendStreamError(stream: ServerHttp2Stream, requestHeaders: IncomingHttpHeaders, error: ProxyErrorSpec, extraHeaders?: Record<string, string>): void {
  if (stream.destroyed || stream.closed) return;
  if (isGrpcContentType(requestHeaders['content-type'])) {
    if (stream.headersSent) closeStream(stream);
    else respondGrpcStatus(stream, grpcStatusForError(error), error.message, extraHeaders ?? null, error.code);
    return;
  }
  if (stream.headersSent) {
    closeStream(stream);
    return;
  }
  const body = `${error.message}\n`;
  stream.respond({
    ':status': error.status,
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-switchyard-error': error.code,
    ...extraHeaders,
  });
  stream.end(body);
}

/** Cut an HTTP/2 stream (RST_STREAM INTERNAL_ERROR): the router's doing, not the client's glitch. */
export function closeStream(stream: ServerHttp2Stream): void {
  markClosedByRouter(stream);
  stream.close(0x2 /* INTERNAL_ERROR */);
}

/** A CONNECT on an HTTP/2 stream that is not an extended CONNECT: 405, as on every way in. */
export function refuseStreamConnect(stream: ServerHttp2Stream, requestHeaders: IncomingHttpHeaders): void {
  sendStreamError(stream, requestHeaders, ProxyErrors.METHOD_NOT_ALLOWED, ALLOW);
}

export function destroyResponse(res: AnyResponse): void {
  const stream = (res as Http2ServerResponse).stream;
  if (stream !== undefined) closeStream(stream);
  else (res as ServerResponse).destroy();
}

/** A raw HTTP/1.1 error on a socket we own (client errors before a request exists, failed upgrades). */
export function writeRawError(socket: Duplex, error: ProxyErrorSpec, extraHeaders?: Record<string, string>): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = `${error.message}\n`;
  let extra = '';
  if (extraHeaders !== undefined) for (const name in extraHeaders) extra += `${name}: ${extraHeaders[name]}\r\n`;
  socket.end(
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? ''}\r\n` +
      'Content-Type: text/plain; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      `X-Switchyard-Error: ${error.code}\r\n` +
      extra +
      'Connection: close\r\n\r\n' +
      body,
  );
}

/** What a 405 must name (RFC 9110 §15.5.6): the methods routes are forwarded with. */
const ALLOW = { allow: 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS' };

/**
 * CONNECT (a forward-proxy tunnel) is not something an edge router offers: 405 on both
 * protocols. Over HTTP/1.1 Node hands the socket over (answer raw, close); over HTTP/2 the
 * compatibility layer hands a request and a response — the answer must be a real response
 * status, since a 2xx to CONNECT means the tunnel is open (RFC 9113 §8.5).
 */
export function refuseConnect(_req: unknown, target: Duplex | AnyResponse): void {
  if ('writeHead' in target) sendError(target, ProxyErrors.METHOD_NOT_ALLOWED, ALLOW);
  else writeRawError(target, ProxyErrors.METHOD_NOT_ALLOWED, ALLOW);
}
