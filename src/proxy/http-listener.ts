// The plain-HTTP listener: Node's HTTP/1.1 server configured as an edge should be — header
// read deadline (slowloris), header size cap (431), keep-alive idle timeout, connection cap —
// and a clientError handler that answers malformed requests with a short 4xx and closes.
// Node's parser already rejects the request-smuggling shapes (duplicate Content-Length,
// Content-Length with Transfer-Encoding, bad chunk framing).

import http from 'node:http';
import type { Socket } from 'node:net';
import type { RouterConfig } from '../config.ts';
import { ProxyErrors } from '../errors.ts';
import type { Metrics } from '../metrics.ts';
import { refuseConnect, writeRawError } from './error-response.ts';
import type { RequestHandler } from './request-handler.ts';
import { H2_PREFACE_ERROR, handOverToH2c, type H2cServer } from './h2c-server.ts';
import { onHttp1Timeout } from './keep-alive-idle.ts';

/**
 * Node ≥ 24.12: a request without Content-Length or Transfer-Encoding (no body, RFC 9112 §6.3)
 * starts as an ended stream that emits no 'end' or 'close': what a GET costs Node's Readable
 * machinery is saved (the router reads no such body; an empty one reads as empty). Older Node
 * ignores the option. Shared with the HTTPS listener's HTTP/1.1 side.
 */
export const EMPTY_REQUESTS = { optimizeEmptyRequests: true } as const;

/**
 * `proxy` handles the requests and upgrades (the serving layer, or a RouterProxy directly);
 * connections that open with the HTTP/2 preface go to `h2c` when given (h2c-server.ts).
 */
export function createHttpListener(proxy: RequestHandler, config: RouterConfig, metrics: Metrics, listener = 'http', h2c: H2cServer | null = null): http.Server {
  const server = http.createServer({
    maxHeaderSize: config.maxHeaderSize,
    headersTimeout: config.headerTimeout,
    requestTimeout: 0, // bodies may stream for as long as the route's timeouts allow
    keepAliveTimeout: config.clientTimeout,
    connectionsCheckingInterval: Math.min(1000, config.headerTimeout),
    requireHostHeader: true,
    joinDuplicateHeaders: false,
    ...EMPTY_REQUESTS,
    // Upgrade requests other than WebSocket are refused in handleUpgrade.
  });
  if (config.maxConnections > 0) server.maxConnections = config.maxConnections;
  // The keep-alive idle close looks once more at the socket first (keep-alive-idle.ts).
  server.on('timeout', onHttp1Timeout);
  server.on('request', (req, res) => proxy.handleRequest(req, res));
  server.on('upgrade', (req, socket, head) => proxy.handleUpgrade(req, socket, head));
  if (h2c === null) server.on('clientError', onClientError);
  else server.on('clientError', (err: Error & { code?: string }, socket: Socket) => (err.code === H2_PREFACE_ERROR ? handOverToH2c(h2c, socket, err) : onClientError(err, socket)));
  // CONNECT: 405 and close, rather than Node's silent reset (error-response.ts).
  server.on('connect', refuseConnect);
  const gauge = metrics.connectionsActive.labels(listener);
  server.on('connection', (socket: Socket) => {
    gauge.inc();
    socket.once('close', () => gauge.dec());
  });
  return server;
}

/** Malformed requests: a short 4xx and close (shared with the HTTPS listener's HTTP/1.1 side). */
export function onClientError(err: Error & { code?: string }, socket: Socket): void {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      writeRawError(socket, ProxyErrors.HEADERS_TOO_LARGE);
      return;
    case 'ERR_HTTP_REQUEST_TIMEOUT':
    case 'HPE_HEADERS_TIMEOUT':
      writeRawError(socket, ProxyErrors.REQUEST_TIMEOUT);
      return;
    case 'ECONNRESET':
    case 'EPIPE':
      socket.destroy();
      return;
    default:
      writeRawError(socket, ProxyErrors.BAD_REQUEST);
  }
}
