// HTTP/2 without TLS, by prior knowledge (RFC 9113 §3.3), on the HTTP port: gRPC clients and
// the Gateway API's GRPCRoute conformance speak it to plain-HTTP listeners. A Node `http2`
// server that never listens: the HTTP port's preface sniffer (preface-sniffer.ts) hands it the
// connections that open with the HTTP/2 connection preface. Requests go to the same handler as
// HTTP/1.1 and h2 requests, with the same session bounds as h2 on the HTTPS port.

import http2 from 'node:http2';
import type { Socket } from 'node:net';
import type { RouterConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { refuseConnect, type AnyResponse } from './error-response.ts';
import type { AnyRequest } from './forward.ts';
import { http2SessionOptions } from './http2-server-options.ts';

export interface H2cRequestHandler {
  handleRequest(req: AnyRequest, res: AnyResponse): void;
}

export function createH2cServer(
  handler: H2cRequestHandler, config: Pick<RouterConfig, 'maxHeaderSize' | 'clientTimeout'>, metrics: Metrics, logger: Logger, listener = 'http',
): http2.Http2Server {
  const server = http2.createServer(http2SessionOptions(config));
  // Idle sessions close after the client timeout, as idle HTTP/1.1 keep-alive connections do.
  server.setTimeout(config.clientTimeout);
  server.on('request', (req: AnyRequest, res: AnyResponse) => handler.handleRequest(req, res));
  // CONNECT: no tunnels, as on every way in (error-response.ts).
  server.on('connect', refuseConnect);
  server.on('sessionError', (err: Error) => logger.debug({ err: err.message }, 'h2c session error'));
  const gauge = metrics.connectionsActive.labels(listener);
  server.on('connection', (socket: Socket) => {
    gauge.inc();
    socket.once('close', () => gauge.dec());
  });
  return server;
}
