// One proxied request: an undici dispatch handler (methods on the prototype, one object per
// request, no closures per event — the pattern of undici's own handlers). Streams the request
// body up and the response body down with backpressure, retries a failed connect once on
// another endpoint (a reset stale keep-alive socket once on the same one) for idempotent
// requests without a body, maps failures to the error catalogue and feeds passive health.

import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import { Pool, type Dispatcher } from 'undici';
import type { Member } from '../balance/types.ts';
import type { EndpointState } from '../health/endpoint-state.ts';
import type { ProxyErrorSpec } from '../errors.ts';
import { clientResponseHeaders } from './headers.ts';
import type { PluginContext } from '../pipeline/context.ts';
import { abandon, runResponsePhases, RESPONSE_PENDING, type ResponseDriver } from '../pipeline/runner.ts';
import { sendError, destroyResponse, type AnyResponse } from './error-response.ts';
import type { RouteRuntime } from './route-runtime.ts';
import { classifyUpstreamFailure, InvalidUpstreamResponseError, isLastAvailable } from './upstream-failure.ts';

export type AnyRequest = IncomingMessage | Http2ServerRequest;

/** What the exchange needs from the proxy that owns it (one object, shared by all requests). */
export interface ExchangeHost {
  readonly connectTimeoutMs: number;
  recordSuccess(endpoint: EndpointState): void;
  /** `lastHealthy`: no other member of the route is available (panic threshold: never eject it). */
  recordFailure(endpoint: EndpointState, now: number, lastHealthy?: boolean): void;
  dispatcherFor(runtime: RouteRuntime, endpoint: EndpointState): Dispatcher;
  finished(exchange: ProxyExchange): void;
  /** A response phase threw, rejected or timed out: count and log it; returns the error to answer with. */
  middlewareFailed(ctx: PluginContext, link: string, error: unknown, timedOut: boolean): ProxyErrorSpec;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
/** A reason phrase Node will write (no control characters but HTAB). */
const REASON_PHRASE = /^[\t\x20-\x7e\x80-\xff]*$/;

const kExchange = Symbol('switchyard.exchange');
/**
 * A body up to this size that arrives in one piece goes out with the head as one latin1 string:
 * Node then makes one write() instead of a writev() of head and body (~7 % less CPU per request
 * under wrk). Latin1 maps bytes 1:1, so any body survives. Above it the copy costs more than it saves.
 */
const WHOLE_BODY_MAX = 16 * 1024;

function onClientClose(this: AnyResponse): void {
  const exchange = (this as unknown as Record<symbol, ProxyExchange | undefined>)[kExchange];
  if (exchange && !exchange.done) exchange.clientGone();
}

function onDrain(this: AnyResponse): void {
  (this as unknown as Record<symbol, ProxyExchange | undefined>)[kExchange]?.controller?.resume();
}

export class ProxyExchange implements Dispatcher.DispatchHandler, ResponseDriver {
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
  /** The exchange's plugin context (response and log phases). */
  readonly ctx: PluginContext;
  member: Member;
  controller: Dispatcher.DispatchController | null = null;
  attempts = 0;
  status = 0;
  done = false;
  #gone = false;
  #counted = false;
  /**
   * A response phase returned a Promise: the head waits for it (the upstream is paused). Holds
   * the reason phrase; what undici still hands over meanwhile is kept in #held / #endHeld.
   */
  #pendingHead: string | null = null;
  #held: Buffer[] | null = null;
  #pendingHeadReason: string | undefined = undefined;
  #endHeld = false;
  /** HTTP/1.1: the whole body in one chunk (its length is the Content-Length): written with the end, in one write. */
  #wholeBodyLength = -1;
  #wholeBody: Buffer | null = null;

  constructor(
    host: ExchangeHost, req: AnyRequest, res: AnyResponse, runtime: RouteRuntime, member: Member,
    path: string, headers: string[], clientIp: string, ctx: PluginContext,
  ) {
    this.host = host;
    this.req = req;
    this.res = res;
    this.runtime = runtime;
    this.member = member;
    this.path = path;
    this.headers = headers;
    this.clientIp = clientIp;
    this.ctx = ctx;
    this.method = req.method ?? 'GET';
    this.startedAt = ctx.startedAt; // one clock read per request: the context's
    const h = req.headers;
    this.hasBody = h['transfer-encoding'] !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0') ||
      ((req as Http2ServerRequest).stream !== undefined && !(req as Http2ServerRequest).stream.readableEnded && this.method !== 'GET' && this.method !== 'HEAD');
    (res as unknown as Record<symbol, ProxyExchange>)[kExchange] = this;
    res.on('close', onClientClose);
  }

  start(): void {
    this.attempts++;
    this.member.endpoint.started();
    const dispatcher = this.host.dispatcherFor(this.runtime, this.member.endpoint);
    const timeout = this.runtime.route.policy.serverTimeoutMs;
    dispatcher.dispatch({
      path: this.path,
      method: this.method,
      headers: this.headers,
      body: this.ctx.body ?? (this.hasBody ? (this.req as IncomingMessage) : null),
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
    if (statusCode < 100 || statusCode > 999 || (statusMessage !== undefined && !REASON_PHRASE.test(statusMessage))) {
      controller.abort(new InvalidUpstreamResponseError(`invalid status line: ${statusCode}`));
      return;
    }
    if (statusCode < 200) {
      this.#interim(statusCode, headers);
      return;
    }
    this.status = statusCode;
    const out: OutgoingHttpHeaders = clientResponseHeaders(headers);
    const ctx = this.ctx;
    if (ctx.chain.response !== null) {
      ctx.status = statusCode;
      ctx.responseHeaders = out;
      ctx.upstreamResponseHeaders = headers;
      ctx.endpoint = this.member;
      const failure = runResponsePhases(ctx, this);
      if (failure === RESPONSE_PENDING) {
        // The slow path: hold the body until the head can be written (responseReady/Failed).
        this.#pendingHead = statusMessage ?? '';
        controller.pause();
        return;
      }
      if (failure !== null) {
        this.#responseFailed(controller, failure.link, failure.error, false);
        return;
      }
    }
    if (this.#writeHead(controller, statusCode, statusMessage, out)) this.#noteWholeBody(headers);
  }

  #noteWholeBody(headers: Record<string, string | string[] | undefined>): void {
    const length = headers['content-length'];
    if (typeof length === 'string' && (this.res as { stream?: unknown }).stream === undefined) {
      const n = Number(length);
      if (n > 0 && n <= WHOLE_BODY_MAX) this.#wholeBodyLength = n;
    }
  }

  /** False when Node refused the head (the exchange is then aborted: a 502). */
  #writeHead(controller: Dispatcher.DispatchController, statusCode: number, statusMessage: string | undefined, out: OutgoingHttpHeaders): boolean {
    const res = this.res;
    try {
      if ((res as { stream?: unknown }).stream === undefined && statusMessage) {
        (res as import('node:http').ServerResponse).writeHead(statusCode, statusMessage, out);
      } else {
        (res as import('node:http').ServerResponse).writeHead(statusCode, out);
      }
    } catch (err) {
      // Node refuses what it cannot write (a header value it rejects): a 502, not a dropped connection.
      this.status = 0;
      controller.abort(new InvalidUpstreamResponseError(`response not forwardable: ${(err as Error).message}`));
      return false;
    }
    return true;
  }

  /** A response phase failed: the client gets a 500 (504 on timeout), not a half-rewritten response. */
  #responseFailed(controller: Dispatcher.DispatchController, link: string, error: unknown, timedOut: boolean): void {
    const ctx = this.ctx;
    const spec = this.host.middlewareFailed(ctx, link, error, timedOut);
    this.#gone = true;
    ctx.outcome = 'error';
    sendError(this.res, spec);
    this.#count(spec.status);
    if (!this.#endHeld) controller.abort(new Error('response phase failed'));
  }

  // ---- ResponseDriver: a response phase that returned a Promise has settled

  responseReady(ctx: PluginContext): void {
    const controller = this.#leavePendingHead();
    if (controller === null) return;
    if (this.#writeHead(controller, this.status, this.#pendingHeadReason, ctx.responseHeaders!)) {
      this.#releaseHeld(controller);
      return;
    }
    // The head was refused: what was held is dropped. If undici had already ended the response,
    // the abort reaches no handler, so the failure is reported here.
    this.#held = null;
    if (this.#endHeld) {
      this.#endHeld = false;
      this.onResponseError(controller, new InvalidUpstreamResponseError('response not forwardable'));
    }
  }

  responseFailed(_ctx: PluginContext, link: string, error: unknown, timedOut: boolean): void {
    const controller = this.#leavePendingHead();
    if (controller === null) return;
    this.#responseFailed(controller, link, error, timedOut);
    if (this.#endHeld) this.onResponseEnd();
  }

  /** Leave the pending-head state; null when the exchange already ended (client gone, upstream error). */
  #leavePendingHead(): Dispatcher.DispatchController | null {
    if (this.#pendingHead === null || this.done) return null;
    this.#pendingHeadReason = this.#pendingHead === '' ? undefined : this.#pendingHead;
    this.#pendingHead = null;
    if (this.#gone) {
      // The client went away meanwhile: its abort finishes the exchange, unless undici had ended it.
      this.#held = null;
      if (this.#endHeld) this.onResponseEnd();
      return null;
    }
    return this.controller;
  }

  /** After a held head is written: what undici delivered meanwhile, then the stream resumes. */
  #releaseHeld(controller: Dispatcher.DispatchController): void {
    const held = this.#held;
    this.#held = null;
    if (held !== null) for (const chunk of held) this.onResponseData(controller, chunk);
    if (this.#endHeld) this.onResponseEnd();
    else if (!controller.aborted) controller.resume();
  }

  /**
   * A 1xx before the final response (undici hands these over; 100 it refuses itself, see
   * upstream-failure.ts). 103 Early Hints is forwarded; 102 to HTTP/1.1 clients; the rest are
   * dropped — an interim response is advisory and the final one follows.
   */
  #interim(statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    const res = this.res as import('node:http').ServerResponse;
    if (res.headersSent) return;
    try {
      if (statusCode === 103 && headers.link !== undefined) {
        const hints = clientResponseHeaders(headers);
        res.writeEarlyHints(hints as Record<string, string | string[]>);
      } else if (statusCode === 102 && (this.res as { stream?: unknown }).stream === undefined) {
        res.writeProcessing();
      }
    } catch {
      // an interim response we cannot relay is dropped, the final one still goes through
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#gone) return;
    if (this.#pendingHead !== null) {
      (this.#held ??= []).push(chunk);
      return;
    }
    if (this.#wholeBodyLength === chunk.length && this.#wholeBody === null) {
      // The whole body: the end follows at once (it is written with it, see onResponseEnd).
      this.#wholeBody = chunk;
      return;
    }
    if (this.#wholeBody !== null) {
      (this.res as import('node:http').ServerResponse).write(this.#wholeBody);
      this.#wholeBody = null;
    }
    this.#wholeBodyLength = -1;
    if (!(this.res as import('node:http').ServerResponse).write(chunk)) {
      controller.pause();
      this.res.once('drain', onDrain);
    }
  }

  onResponseEnd(): void {
    if (this.#pendingHead !== null) {
      this.#endHeld = true; // ends once the held head is written
      return;
    }
    this.#release();
    // Any status the backend answers, 5xx included, proves the endpoint is up (see upstream-failure.ts).
    this.host.recordSuccess(this.member.endpoint);
    if (!this.#gone) {
      const whole = this.#wholeBody;
      // Node prepends the head to a string body: one write (WHOLE_BODY_MAX).
      if (whole !== null) (this.res as import('node:http').ServerResponse).end(whole.toString('latin1'), 'latin1');
      else this.res.end();
    }
    this.#count(this.status);
    this.#finish();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    if (this.done) return; // already reported (a held response that had ended, see responseReady)
    this.#release();
    const headHeld = this.#pendingHead !== null;
    if (headHeld) {
      // Nothing was written to the client yet: stop the pending response phase.
      this.#pendingHead = null;
      this.#held = null;
      abandon(this.ctx);
    }
    if (this.#gone) {
      // The client went away: not the endpoint's fault, nothing to answer.
      this.#count(499);
      this.#finish();
      return;
    }
    const failure = classifyUpstreamFailure(error);
    const started = this.status !== 0;
    if (!started && failure.endpointFault) {
      const now = Date.now();
      this.host.recordFailure(this.member.endpoint, now, isLastAvailable(this.runtime.members, this.member.endpoint, now));
    }
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
    if (started && !headHeld) {
      destroyResponse(this.res);
      this.#count(this.status);
    } else {
      sendError(this.res, failure.error);
      this.#count(failure.error.status);
    }
    this.#finish();
  }

  #release(): void {
    this.member.endpoint.ended();
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


/**
 * Connection pool for one endpoint (plain HTTP/1.1, keep-alive below typical backend idle
 * timeouts). Not capped: a cap shared by every route and client of the endpoint is one a single
 * client can fill (130 stalled uploads made every other request to the endpoint queue behind
 * them). What bounds upstream connections is what bounds client requests: --max-connections,
 * HTTP/2 streams per connection, and the body inactivity timeout — as nginx, which opens an
 * upstream connection per request and keeps only idle ones.
 */
export function createPool(origin: string, connectTimeoutMs: number, tls?: { ca?: string; servername?: string }): Pool {
  return new Pool(origin, {
    connections: null,
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
