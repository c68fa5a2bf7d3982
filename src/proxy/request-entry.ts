// Where every request enters the proxy, for each listener (HTTP/1.1, HTTPS/1.1, HTTP/2): the
// request-head checks Node's parser does not make, the client body inactivity timeout, and a
// guard that keeps a bug in one request from costing more than that request.
//
// - Host (RFC 9112 §3.2, as OpenShift's router): more than one Host header → 400; a Host that
//   is not a host name or IP literal followed only by `(:[0-9]+)?` (`a.test:@evil.example`,
//   `a.test/x`, spaces) → 400. In an absolute-form request the URI's authority wins over Host
//   (and replaces it upstream); userinfo in it → 400. Over HTTP/2, a Host that differs from
//   :authority → 400. `OPTIONS *` (asterisk-form) → 400: it is about the router, not a route.
// - A `#fragment` in the request target (or `:path`) → 400, as HAProxy since CVE-2023-45539.
// - A request body that stalls (no bytes for --client-timeout) gets 408 and the connection
//   closes, as HAProxy's `timeout client` / nginx's `client_body_timeout` — a client cannot
//   hold an upstream connection by sending a body slowly.
// - A throw out of the proxy is logged with its stack, counted
//   (switchyard_internal_errors_total), answered 500, and whatever in-flight count it left is
//   released so a drain does not wait for a request that will never finish.

import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { Http2ServerRequest, Http2ServerResponse, type ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { Counter } from 'prom-client';
import { ProxyErrors } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { closeStream, destroyResponse, refuseStreamConnect, sendError, sendStreamError, writeRawError } from './error-response.ts';
import { extendedConnectProtocol, validUpgradeProtocol } from './extended-connect.ts';
import type { RouterProxy } from './router-proxy.ts';
import { markClosedByRouter } from './tls/http2-guard.ts';

/** A host name or IPv4 (letters, digits, `-`, `.`, `_`) or an IPv6 literal, then an optional port. */
const HOST = /^(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;

export interface RequestEntryOptions {
  logger: Logger;
  metrics: Metrics;
  /** Longest pause allowed while a request body arrives (ms; 0 = none). */
  bodyIdleTimeoutMs: number;
}

/** Why a request head is refused, or null when it is fine (may rewrite Host and the URL of an absolute-form request). */
export function checkRequestHead(req: IncomingMessage): string | null {
  const raw = req.rawHeaders;
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') hosts++;
  }
  if (hosts > 1) return 'more than one Host header';
  const headers = req.headers;
  const url = req.url ?? '/';
  const target = checkTarget(url);
  if (target !== null) return target;
  if (url.charCodeAt(0) !== 47 /* '/' */) {
    // absolute-form: the authority of the URI is the target host (RFC 9112 §3.2.2)
    const scheme = url.indexOf('://');
    if (scheme === -1) return 'invalid request target';
    let end = scheme + 3;
    while (end < url.length && url[end] !== '/' && url[end] !== '?' && url[end] !== '#') end++;
    const authority = url.slice(scheme + 3, end);
    if (!HOST.test(authority)) return 'invalid authority in the request target';
    headers.host = authority;
    const rest = url.slice(end);
    req.url = rest === '' ? '/' : rest.charCodeAt(0) === 47 ? rest : `/${rest}`;
    return null;
  }
  const host = headers.host;
  if (host !== undefined && host !== '' && !HOST.test(host)) return 'invalid Host header';
  return null;
}

/** The same for an HTTP/2 request (its `rawHeaders`: names lower-case, as HTTP/2 requires). */
export function checkStreamHead(headers: IncomingHttpHeaders, rawHeaders: readonly string[]): string | null {
  let hosts = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i] === 'host') hosts++;
  if (hosts > 1) return 'more than one Host header';
  const target = checkTarget((headers[':path'] as string | undefined) ?? '/');
  if (target !== null) return target;
  const authority = headers[':authority'];
  if (typeof authority === 'string' && authority !== '' && !HOST.test(authority)) return 'invalid :authority';
  const host = headers.host;
  if (host !== undefined && authority !== undefined && host.toLowerCase() !== String(authority).toLowerCase()) return 'Host differs from :authority';
  if (host !== undefined && host !== '' && !HOST.test(host)) return 'invalid Host header';
  return null;
}

function checkTarget(url: string): string | null {
  // `OPTIONS *` asks about the server, not a route: nothing to forward it to (undici cannot send it).
  if (url === '*') return 'asterisk-form request target';
  // No request target has a fragment (RFC 9112 §3.2, RFC 9113 §8.3.1): routed on the raw path,
  // `/admin#x` would miss a policy on /admin, and many backends read it as /admin.
  if (url.includes('#')) return 'fragment in the request target';
  return null;
}

export class RequestEntry {
  readonly #proxy: RouterProxy;
  readonly #logger: Logger;
  readonly #bodyIdleTimeoutMs: number;
  readonly #refused: Counter.Internal;
  readonly #internalErrors: Counter.Internal;

  constructor(proxy: RouterProxy, options: RequestEntryOptions) {
    this.#proxy = proxy;
    this.#logger = options.logger;
    this.#bodyIdleTimeoutMs = options.bodyIdleTimeoutMs;
    this.#refused = options.metrics.requests.labels('', '4xx');
    this.#internalErrors = options.metrics.internalErrors.labels('request');
  }

  handleRequest(req: IncomingMessage, res: ServerResponse): void {
    const refusal = checkRequestHead(req);
    if (refusal !== null) {
      this.#refuse(refusal);
      res.shouldKeepAlive = false;
      sendError(res, ProxyErrors.BAD_REQUEST);
      return;
    }
    if (this.#bodyIdleTimeoutMs > 0 && expectsBody(req)) watchBody(req, res, this.#bodyIdleTimeoutMs);
    const before = this.#proxy.inFlight;
    try {
      this.#proxy.handleRequest(req, res);
    } catch (err) {
      this.#internalError(err, this.#proxy.inFlight - before);
      if (!res.headersSent) sendError(res, ProxyErrors.INTERNAL);
      else destroyResponse(res);
    }
  }

  /**
   * An HTTP/2 request (core stream API). `Expect: 100-continue` is answered 100 at once (as Node's
   * servers do when nobody listens for it), another expectation 417.
   */
  handleStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: string[]): void {
    const refusal = checkStreamHead(headers, rawHeaders);
    if (refusal !== null) {
      this.#refuse(refusal);
      sendStreamError(stream, headers, ProxyErrors.BAD_REQUEST);
      return;
    }
    if (headers[':method'] === 'CONNECT') {
      this.#connect(stream, headers, rawHeaders);
      return;
    }
    const expect = headers.expect;
    if (expect !== undefined) {
      if (expect.toLowerCase() !== '100-continue') {
        stream.respond({ ':status': 417 }, { endStream: true });
        return;
      }
      stream.additionalHeaders({ ':status': 100 });
    }
    if (this.#bodyIdleTimeoutMs > 0 && !stream.endAfterHeaders && !stream.readableEnded) watchStreamBody(stream, headers, this.#bodyIdleTimeoutMs);
    const before = this.#proxy.inFlight;
    try {
      this.#proxy.handleStream(stream, headers);
    } catch (err) {
      this.#internalError(err, this.#proxy.inFlight - before);
      sendStreamError(stream, headers, ProxyErrors.INTERNAL);
    }
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const refusal = checkRequestHead(req);
    if (refusal !== null) {
      this.#refused.inc();
      writeRawError(socket, ProxyErrors.BAD_REQUEST);
      return;
    }
    const before = this.#proxy.inFlight;
    try {
      this.#proxy.handleUpgrade(req, socket, head);
    } catch (err) {
      this.#internalError(err, this.#proxy.inFlight - before);
      writeRawError(socket, ProxyErrors.INTERNAL);
    }
  }

  #refuse(reason: string): void {
    this.#refused.inc();
    this.#logger.debug({ reason }, 'request refused');
  }

  /**
   * An HTTP/2 CONNECT: an extended CONNECT (RFC 8441) opens a WebSocket (or another Upgrade
   * protocol) to the route's backend; a plain one is refused (405). The tunnel is served through
   * Node's compatibility request/response pair (h2-tunnel-exchange.ts), made here for this
   * stream only: a tunnel's cost is its lifetime, not its head.
   */
  #connect(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: string[]): void {
    const protocol = extendedConnectProtocol({ method: 'CONNECT', headers });
    if (protocol === null) {
      refuseStreamConnect(stream, headers);
      return;
    }
    if (!validUpgradeProtocol(protocol)) {
      this.#refused.inc();
      sendStreamError(stream, headers, ProxyErrors.BAD_REQUEST);
      return;
    }
    const req = new Http2ServerRequest(stream, headers, {}, rawHeaders);
    const res = new Http2ServerResponse(stream);
    const before = this.#proxy.inFlight;
    try {
      this.#proxy.handleExtendedConnect(req, res, protocol);
    } catch (err) {
      this.#internalError(err, this.#proxy.inFlight - before);
      if (!res.headersSent) sendError(res, ProxyErrors.INTERNAL);
      else destroyResponse(res);
    }
  }

  /** A bug: log it with its stack, count it, and give back the in-flight slot the request took. */
  #internalError(err: unknown, leaked: number): void {
    this.#internalErrors.inc();
    this.#logger.error({ err }, 'internal error while handling a request');
    // handleRequest runs synchronously: nothing else changed the count meanwhile.
    if (leaked > 0) this.#proxy.abandon(leaked);
  }
}

function expectsBody(req: IncomingMessage): boolean {
  const h = req.headers;
  return h['transfer-encoding'] !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0');
}

// Inactivity while the body arrives: the request's idle timer (the socket's for HTTP/1.1, the
// stream's for HTTP/2), cleared once the body has been read; Node's keep-alive timer takes over
// after the response. A listener on the request keeps Node from destroying the socket silently.
const kBody = Symbol('switchyard.body');
interface BodyWatch { req: IncomingMessage; res: ServerResponse }

function watchBody(req: IncomingMessage, res: ServerResponse, ms: number): void {
  const watch: BodyWatch = { req, res };
  (req as unknown as Record<symbol, BodyWatch>)[kBody] = watch;
  req.setTimeout(ms, onBodyTimeout);
  req.once('end', clearBodyTimer);
}

function clearBodyTimer(this: IncomingMessage): void {
  // After the response, Node has armed the connection's keep-alive timer on the same socket:
  // leave it alone (a body read to its end after an early answer must not disarm it).
  const watch = (this as unknown as Record<symbol, BodyWatch | undefined>)[kBody];
  if (watch !== undefined && watch.res.writableFinished) return;
  this.setTimeout(0);
}

function onBodyTimeout(this: IncomingMessage): void {
  const watch = (this as unknown as Record<symbol, BodyWatch | undefined>)[kBody];
  if (watch === undefined) return;
  const { req, res } = watch;
  if (req.readableEnded) return;
  if (!res.headersSent) {
    res.shouldKeepAlive = false;
    sendError(res, ProxyErrors.BODY_TIMEOUT);
    // The rest of the body will never come: close rather than wait for it.
    res.once('finish', () => req.socket.destroy());
  } else {
    destroyResponse(res);
  }
}

// HTTP/2: the stream's own idle timer, cleared when its body has been read.
const kStreamBody = Symbol('switchyard.streamBody');
interface WatchedStream { [kStreamBody]?: IncomingHttpHeaders }

function watchStreamBody(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, ms: number): void {
  (stream as unknown as WatchedStream)[kStreamBody] = headers;
  stream.setTimeout(ms, onStreamBodyTimeout);
  stream.once('end', clearStreamBodyTimer);
}

function clearStreamBodyTimer(this: ServerHttp2Stream): void {
  this.setTimeout(0);
}

function onStreamBodyTimeout(this: ServerHttp2Stream): void {
  const headers = (this as unknown as WatchedStream)[kStreamBody];
  if (headers === undefined || this.readableEnded || this.destroyed) return;
  this.setTimeout(0);
  if (this.headersSent) {
    closeStream(this);
    return;
  }
  sendStreamError(this, headers, ProxyErrors.BODY_TIMEOUT);
  // The rest of the body will never come: cancel the stream once the answer is out.
  if (!this.destroyed) this.once('finish', cancelStream);
}

function cancelStream(this: ServerHttp2Stream): void {
  markClosedByRouter(this);
  this.close(0x8 /* CANCEL */);
}
