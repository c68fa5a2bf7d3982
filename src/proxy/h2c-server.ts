// HTTP/2 without TLS, by prior knowledge (RFC 9113 §3.3), on the HTTP port: gRPC clients and
// the Gateway API's GRPCRoute conformance speak it to plain-HTTP listeners. A Node `http2`
// server that never listens; its streams go to the same handler as h2 streams, with the same
// session bounds as h2 on the HTTPS port.
//
// HTTP/1.1 connections pay nothing for it: every connection goes to the HTTP/1.1 server as
// before, whose parser (llhttp) stops on the HTTP/2 connection preface with
// HPE_PAUSED_H2_UPGRADE and reports it as a clientError carrying the bytes it read
// (`rawPacket`, `bytesParsed`, both documented). Only then is the connection taken from the
// HTTP/1.1 server — its socket listeners removed and its parser released, as Node itself does
// when it hands a socket to an 'upgrade' listener — and given to the h2c server with the
// preface and whatever followed it.

import http2 from 'node:http2';
import type { Socket } from 'node:net';
import type { RouterConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { StreamHandler } from './request-handler.ts';
import { http2SessionOptions } from './http2-server-options.ts';
import { closeIdleSessions } from './h2-session-tunnels.ts';
import { systemClock } from '../clock.ts';
import type { ClientGlitchLedger } from './tls/glitch-budget.ts';
import { Http2Guard } from './tls/http2-guard.ts';

export const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** The clientError code of Node's HTTP/1.1 parser for the HTTP/2 connection preface. */
export const H2_PREFACE_ERROR = 'HPE_PAUSED_H2_UPGRADE';

export type H2cRequestHandler = StreamHandler;

/** The HTTP/1.1 server's per-connection listeners that read the socket (its 'close' and 'error' ones are harmless). */
const HTTP1_READERS = ['data', 'end', 'drain', 'timeout'] as const;

interface Http1Parser { remove?(): void; finish?(): void }

export interface H2cServerOptions {
  config: Pick<RouterConfig, 'maxHeaderSize' | 'clientTimeout' | 'http2ConnectionGlitches'>;
  /** Per-client HTTP/2 glitch budgets, shared with h2 on the HTTPS port (one client, one budget). */
  glitchLedger: ClientGlitchLedger;
  metrics: Metrics;
  logger: Logger;
}

/** The h2c server and the rapid-reset guard every HTTP/2 way in has (tls/http2-guard.ts). */
export interface H2cServer {
  readonly server: http2.Http2Server;
  readonly guard: Http2Guard;
}

export function createH2cServer(handler: H2cRequestHandler, options: H2cServerOptions): H2cServer {
  const { config, logger } = options;
  const guard = new Http2Guard({
    connectionBudget: config.http2ConnectionGlitches,
    clients: options.glitchLedger,
    clock: systemClock,
    metrics: options.metrics,
    logger,
  }, (stream, headers, rawHeaders) => handler.handleStream(stream, headers, rawHeaders));
  const server = http2.createServer(http2SessionOptions(config));
  // Idle sessions close after the client timeout, as idle HTTP/1.1 keep-alive connections do
  // (not while they carry a WebSocket: h2-session-tunnels.ts).
  closeIdleSessions(server, config.clientTimeout);
  server.on('session', (session: http2.Http2Session) => guard.openSession(session));
  // Streams on the core API (http2-exchange.ts), CONNECT among them: an extended CONNECT (RFC
  // 8441, WebSocket over HTTP/2) is a request like the others, rapid-reset guard included; a plain
  // one is refused by the handler (request-entry.ts).
  server.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => guard.admit(stream, headers, rawHeaders));
  server.on('sessionError', (err: Error) => logger.debug({ err: err.message }, 'h2c session error'));
  return { server, guard };
}

/**
 * Take a connection whose HTTP/1.1 parser stopped on the HTTP/2 preface (`err` is that
 * clientError) from the HTTP/1.1 server and give it to `h2c`.
 */
export function handOverToH2c(h2c: H2cServer, socket: Socket, err: Error & { rawPacket?: Buffer; bytesParsed?: number }): void {
  // A client over its HTTP/2 glitch budget gets no new HTTP/2 connection (as on the HTTPS port).
  if (!h2c.guard.acceptsClient(socket.remoteAddress)) {
    socket.destroy();
    return;
  }
  const raw = err.rawPacket ?? Buffer.alloc(0);
  const parsed = Math.min(Math.max(err.bytesParsed ?? raw.length, 0), raw.length);
  for (const event of HTTP1_READERS) socket.removeAllListeners(event);
  // The HTTP/1.1 server reads the socket's handle natively; a 'data' listener makes it give the
  // handle back (Node's own rule for sockets taken from an HTTP server), then it is not needed.
  socket.on('data', noop);
  socket.removeListener('data', noop);
  const holder = socket as Socket & { parser?: Http1Parser | null };
  const parser = holder.parser;
  if (parser !== null && parser !== undefined) {
    // Out of the server's connection list, or its header timeout would later cut this socket.
    parser.remove?.();
    holder.parser = null;
  }
  // llhttp consumed exactly the preface (bytesParsed); the h2c server must read it, then the rest.
  socket.pause();
  socket.unshift(parsed < raw.length ? Buffer.concat([HTTP2_PREFACE, raw.subarray(parsed)]) : HTTP2_PREFACE);
  h2c.server.emit('connection', socket);
}

function noop(): void {}
