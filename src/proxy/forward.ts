// One proxied request: an undici dispatch handler (methods on the prototype, one object per
// request, no closures per event — the pattern of undici's own handlers). Streams the request
// body up and the response body down with backpressure, retries a failed connect once on
// another endpoint (a reset stale keep-alive socket once on the same one) for idempotent
// requests without a body, maps failures to the error catalogue and feeds passive health.

import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import { Pool, type Dispatcher } from 'undici';
import type { Member } from '../balance/types.ts';
import { ProxyErrors, type ProxyErrorSpec } from '../errors.ts';
import type { EndpointState } from '../health/endpoint-state.ts';
import { clientResponseHeaders } from './headers.ts';
import { applyActions } from '../policies/header-actions.ts';
import { modifyResponseHeaders } from '../gateway/filters.ts';
import { sendError, destroyResponse, type AnyResponse } from './error-response.ts';
import type { RouteRuntime } from './route-runtime.ts';

export type AnyRequest = IncomingMessage | Http2ServerRequest;

/** What the exchange needs from the proxy that owns it (one object, shared by all requests). */
export interface ExchangeHost {
  readonly connectTimeoutMs: number;
  recordSuccess(endpoint: EndpointState): void;
  recordFailure(endpoint: EndpointState, now: number): void;
  dispatcherFor(runtime: RouteRuntime, endpoint: EndpointState): Dispatcher;
  finished(exchange: ProxyExchange): void;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT', 'ENOTFOUND', 'EAI_AGAIN']);
const TLS_ERROR = /^(ERR_TLS_|ERR_SSL_|UNABLE_TO_|CERT_|DEPTH_ZERO|SELF_SIGNED|ERR_OSSL)/;

const kExchange = Symbol('switchyard.exchange');

function onClientClose(this: AnyResponse): void {
  const exchange = (this as unknown as Record<symbol, ProxyExchange | undefined>)[kExchange];
  if (exchange && !exchange.done) exchange.clientGone();
}

function onDrain(this: AnyResponse): void {
  (this as unknown as Record<symbol, ProxyExchange | undefined>)[kExchange]?.controller?.resume();
}

export class ProxyExchange implements Dispatcher.DispatchHandler {
  readonly req: AnyRequest;
  readonly res: AnyResponse;
  readonly runtime: RouteRuntime;
  readonly host: ExchangeHost;
  readonly clientIp: string;
  readonly startedAt: number;
  readonly method: string;
  readonly path: string;
  readonly headers: string[];
  readonly hasBody: boolean;
  /** Set-Cookie value for stickiness, or null. */
  readonly stickyCookie: string | null;
  /** Strict-Transport-Security value, or null. */
  readonly hsts: string | null;
  member: Member;
  controller: Dispatcher.DispatchController | null = null;
  attempts = 0;
  status = 0;
  /** A rate-limit concurrency slot to give back when the exchange ends. */
  holdsRateSlot = false;
  done = false;
  #gone = false;
  #counted = false;

  constructor(
    host: ExchangeHost, req: AnyRequest, res: AnyResponse, runtime: RouteRuntime, member: Member,
    path: string, headers: string[], clientIp: string, stickyCookie: string | null, hsts: string | null,
  ) {
    this.host = host;
    this.req = req;
    this.res = res;
    this.runtime = runtime;
    this.member = member;
    this.path = path;
    this.headers = headers;
    this.clientIp = clientIp;
    this.stickyCookie = stickyCookie;
    this.hsts = hsts;
    this.method = req.method ?? 'GET';
    this.startedAt = performance.now();
    const h = req.headers;
    this.hasBody = h['transfer-encoding'] !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0') ||
      ((req as Http2ServerRequest).stream !== undefined && !(req as Http2ServerRequest).stream.readableEnded && this.method !== 'GET' && this.method !== 'HEAD');
    (res as unknown as Record<symbol, ProxyExchange>)[kExchange] = this;
    res.on('close', onClientClose);
  }

  start(): void {
    this.attempts++;
    this.member.endpoint.active++;
    const dispatcher = this.host.dispatcherFor(this.runtime, this.member.endpoint);
    const timeout = this.runtime.route.policy.serverTimeoutMs;
    dispatcher.dispatch({
      path: this.path,
      method: this.method,
      headers: this.headers,
      body: this.hasBody ? (this.req as IncomingMessage) : null,
      headersTimeout: timeout,
      bodyTimeout: timeout,
      idempotent: false, // never let undici pipeline or replay behind our back
      // Reencrypt: verify the endpoint as <service>.<namespace>.svc. undici would otherwise take
      // the TLS server name from the Host header (the public host).
      servername: this.runtime.serverName,
    } as Dispatcher.DispatchOptions, this);
  }

  clientGone(): void {
    this.#gone = true;
    if (this.controller && !this.controller.aborted) this.controller.abort(new Error('client closed the connection'));
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.#gone) controller.abort(new Error('client closed the connection'));
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>, statusMessage?: string): void {
    if (this.#gone) return;
    this.status = statusCode;
    const out: OutgoingHttpHeaders = clientResponseHeaders(headers);
    const actions = this.runtime.route.policy.headerActions;
    if (actions !== null && actions.response.length > 0) applyActions(out, actions.response, this.req.headers, headers);
    if (this.stickyCookie !== null) {
      const existing = out['set-cookie'];
      out['set-cookie'] = existing === undefined ? this.stickyCookie
        : Array.isArray(existing) ? [...existing, this.stickyCookie] : [String(existing), this.stickyCookie];
    }
    if (this.hsts !== null) out['strict-transport-security'] = this.hsts;
    // Gateway API hook: HTTPRoute ResponseHeaderModifier (src/gateway/filters.ts).
    const gateway = this.runtime.route.gateway;
    if (gateway !== undefined && gateway.responseHeaders !== null) modifyResponseHeaders(out, gateway.responseHeaders);
    const res = this.res;
    if ((res as { stream?: unknown }).stream === undefined && statusMessage) {
      (res as import('node:http').ServerResponse).writeHead(statusCode, statusMessage, out);
    } else {
      (res as import('node:http').ServerResponse).writeHead(statusCode, out);
    }
    void controller;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#gone) return;
    if (!(this.res as import('node:http').ServerResponse).write(chunk)) {
      controller.pause();
      this.res.once('drain', onDrain);
    }
  }

  onResponseEnd(): void {
    this.#release();
    if (this.status >= 500) this.host.recordFailure(this.member.endpoint, Date.now());
    else this.host.recordSuccess(this.member.endpoint);
    if (!this.#gone) this.res.end();
    this.#count(this.status);
    this.#finish();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.#release();
    if (this.#gone) {
      // The client went away: not the endpoint's fault, nothing to answer.
      this.#count(499);
      this.#finish();
      return;
    }
    const code = (error as { code?: string }).code ?? '';
    const failure = classify(code, error);
    const started = this.status !== 0;
    if (!started && failure.endpointFault) this.host.recordFailure(this.member.endpoint, Date.now());
    this.runtime.countUpstreamError(failure.reason);
    if (!started && this.attempts < 2 && !this.hasBody && IDEMPOTENT.has(this.method)) {
      if (failure.reason === 'connect') {
        const next = this.runtime.balancer.pick(this.clientIp, Date.now(), this.member);
        if (next !== null) { this.member = next; this.start(); return; }
      } else if (failure.reason === 'reset') {
        this.start(); // a stale keep-alive socket: one more try on the same endpoint
        return;
      }
    }
    if (started) destroyResponse(this.res);
    else sendError(this.res, failure.error);
    this.#count(started ? this.status : failure.error.status);
    this.#finish();
  }

  #release(): void {
    this.member.endpoint.active--;
  }

  #count(status: number): void {
    if (this.#counted) return;
    this.#counted = true;
    this.status = status;
    this.runtime.countResponse(status, (performance.now() - this.startedAt) / 1000);
  }

  #finish(): void {
    this.done = true;
    this.controller = null;
    this.host.finished(this);
  }
}

interface Failure { reason: string; error: ProxyErrorSpec; endpointFault: boolean }

function classify(code: string, error: Error): Failure {
  if (CONNECT_ERRORS.has(code)) return { reason: 'connect', error: ProxyErrors.UPSTREAM_CONNECT, endpointFault: true };
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return { reason: 'timeout', error: ProxyErrors.UPSTREAM_TIMEOUT, endpointFault: true };
  if (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE') return { reason: 'reset', error: ProxyErrors.UPSTREAM_RESET, endpointFault: true };
  if (TLS_ERROR.test(code) || /certificate|self.signed|altnames/i.test(error.message)) return { reason: 'tls', error: ProxyErrors.UPSTREAM_TLS, endpointFault: true };
  if (code.startsWith('HPE_') || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' || code === 'UND_ERR_HEADERS_OVERFLOW') return { reason: 'protocol', error: ProxyErrors.UPSTREAM_PROTOCOL, endpointFault: true };
  if (code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH' || code === 'UND_ERR_ABORTED' || code === 'UND_ERR_ABORT') return { reason: 'client', error: ProxyErrors.BAD_REQUEST, endpointFault: false };
  return { reason: 'other', error: ProxyErrors.UPSTREAM_RESET, endpointFault: true };
}

/** Connection pool for one endpoint (plain HTTP/1.1, keep-alive below typical backend idle timeouts). */
export function createPool(origin: string, connectTimeoutMs: number, tls?: { ca?: string; servername?: string }): Pool {
  return new Pool(origin, {
    connections: 128,
    pipelining: 1,
    connectTimeout: connectTimeoutMs,
    // Backends commonly close idle connections after 5 s (Node's default); stay below it and
    // follow a shorter Keep-Alive hint minus a safety margin.
    keepAliveTimeout: 4_000,
    keepAliveMaxTimeout: 60_000,
    keepAliveTimeoutThreshold: 1_000,
    headersTimeout: 0,
    bodyTimeout: 0,
    connect: tls ? { ca: tls.ca, servername: tls.servername, rejectUnauthorized: true } : undefined,
  });
}
