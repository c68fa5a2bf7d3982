// Forwarding through undici's dispatch protocol: one dispatch per attempt, its handler a small
// object whose methods live on the prototype (undici's own handler pattern: no closure per
// event) and report to the exchange. The pool is the endpoint's: undici's HTTP/1.1 Pool, or the
// HTTP/2 pool (upstream-h2-pool.ts) that speaks the same protocol. An Upgrade request is the same
// dispatch with `upgrade` set, always over HTTP/1.1: a 101 hands over the upstream socket
// (upstreamOpen), any other answer is relayed like a response.

import type { IncomingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { UpstreamDispatcher } from './upstream-h2-pool.ts';
import type { UpstreamTls } from './upstream-tls.ts';
import type { Member } from '../balance/types.ts';
import type { EndpointState } from '../health/endpoint-state.ts';
import type { Forwarder, UpstreamAttempt, UpstreamEvents, UpstreamHeaders } from './upstream-attempt.ts';
import { InvalidUpstreamResponseError } from './upstream-failure.ts';
import { EndpointPool } from './endpoint-pool.ts';
import type { Http1ConnectionPool } from './http1-connection-pool.ts';
import { NativeAttempt } from './native-attempt.ts';
import type { RouteRuntime } from './route-runtime.ts';

/** A reason phrase Node will write (no control characters but HTAB). */
const REASON_PHRASE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** What an HTTP/1.1 attempt sends: the exchange decided it. */
export interface Http1Request extends UpstreamEvents {
  readonly runtime: RouteRuntime;
  readonly method: string;
  readonly path: string;
  readonly upstreamHeaders: string[] | null;
  /** The body to send (a stream, a buffer, filtered chunks) or null. */
  upstreamBody(): Dispatcher.DispatchOptions['body'] | null;
  /** The Upgrade protocol the client asked for (Upgrade exchanges), else null. */
  readonly upgradeProtocol: string | null;
}

export interface DispatcherSource {
  /** The endpoint's pool for the route: HTTP/1.1 (undici) or HTTP/2 (upstream-h2-pool.ts, the same dispatch protocol); `upgrade`: HTTP/1.1 always. */
  dispatcherFor(runtime: RouteRuntime, endpoint: EndpointState, upgrade?: boolean): UpstreamDispatcher;
  /** The endpoint's connections for the native client; null when Node's parser is unavailable. */
  connectionsFor(endpoint: EndpointState): Http1ConnectionPool | null;
}

export class Http1Forwarder implements Forwarder<Http1Request> {
  readonly #source: DispatcherSource;
  constructor(source: DispatcherSource) {
    this.#source = source;
  }

  attempt(exchange: Http1Request, member: Member, number: number): UpstreamAttempt {
    // Cleartext HTTP/1.1 without Upgrade: the native client (native-attempt.ts). Upgrades,
    // reencrypt (TLS) and HTTP/2 backends: undici and the HTTP/2 pools.
    const runtime = exchange.runtime;
    const endpoint = member.endpoint;
    if (exchange.upgradeProtocol === null && !runtime.reencrypt && (runtime.backendTls === null || !runtime.backendTls.has(endpoint))
      && (runtime.http2 === null || !runtime.http2.has(endpoint))) {
      const connections = this.#source.connectionsFor(endpoint);
      if (connections !== null) return new NativeAttempt(exchange, member, number, connections);
    }
    return new UndiciAttempt(exchange, member, number, this.#source);
  }
}

class UndiciAttempt implements UpstreamAttempt, Dispatcher.DispatchHandler {
  readonly exchange: Http1Request;
  readonly member: Member;
  readonly number: number;
  readonly startedAt: number;
  readonly #source: DispatcherSource;
  controller: Dispatcher.DispatchController | null = null;
  #abortReason: Error | null = null;

  constructor(exchange: Http1Request, member: Member, number: number, source: DispatcherSource) {
    this.exchange = exchange;
    this.member = member;
    this.number = number;
    this.#source = source;
    this.startedAt = performance.now();
  }

  start(): void {
    const x = this.exchange;
    const runtime = x.runtime;
    const policy = runtime.route.policy;
    const upgrade = x.upgradeProtocol;
    // An upgrade waits for the backend's answer as long as connect + server timeouts allow.
    const attemptMs = runtime.attemptTimeoutMs;
    const timeout = upgrade === null ? attemptMs : policy.connectTimeoutMs + attemptMs;
    this.#source.dispatcherFor(runtime, this.member.endpoint, upgrade !== null).dispatch({
      path: x.path,
      method: x.method,
      headers: x.upstreamHeaders ?? [],
      body: x.upstreamBody(),
      headersTimeout: timeout,
      bodyTimeout: attemptMs,
      idempotent: false, // never let undici pipeline or replay behind our back
      upgrade,
      // Reencrypt: verify the endpoint as <service>.<namespace>.svc (a BackendTLSPolicy: as its
      // hostname). undici would otherwise take the TLS server name from the Host header (the public host).
      servername: runtime.backendTls?.get(this.member.endpoint)?.servername ?? runtime.serverName,
    } as Dispatcher.DispatchOptions, this);
  }

  pause(): void {
    this.controller?.pause();
  }

  resume(): void {
    const c = this.controller;
    if (c !== null && !c.aborted) c.resume();
  }

  abort(reason: Error): void {
    const c = this.controller;
    if (c === null) this.#abortReason = reason;
    else if (!c.aborted) c.abort(reason);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.#abortReason !== null) controller.abort(this.#abortReason);
  }

  onRequestUpgrade(_controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders, socket: Duplex): void {
    this.exchange.upstreamOpen(this, statusCode, headers as UpstreamHeaders, socket);
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders, statusMessage?: string): void {
    if (statusCode < 100 || statusCode > 999 || (statusMessage !== undefined && !REASON_PHRASE.test(statusMessage))) {
      controller.abort(new InvalidUpstreamResponseError(`invalid status line: ${statusCode}`));
      return;
    }
    this.exchange.upstreamHead(this, statusCode, headers as UpstreamHeaders, statusMessage === '' ? undefined : statusMessage);
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.exchange.upstreamData(this, chunk);
  }

  onResponseEnd(_controller: Dispatcher.DispatchController, trailers: IncomingHttpHeaders): void {
    this.exchange.upstreamEnd(this, trailers as UpstreamHeaders);
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, error: Error): void {
    this.exchange.attemptFailed(this, error);
  }
}

/**
 * Connection pool for one endpoint (plain HTTP/1.1, keep-alive below typical backend idle
 * timeouts; endpoint-pool.ts). Not capped: a cap shared by every route and client of the
 * endpoint is one a single client can fill (130 stalled uploads made every other request to the
 * endpoint queue behind them). What bounds upstream connections is what bounds client requests:
 * --max-connections, HTTP/2 streams per connection, and the body inactivity timeout — as nginx,
 * which opens an upstream connection per request and keeps only idle ones. HTTP/1.1 only:
 * undici 8 offers ALPN `h2` by default (allowH2) and then speaks HTTP/2 with its own client,
 * which gRPC and our stream handling cannot rely on (upstream-h2-pool.ts): HTTP/2 to a backend
 * is always the router's HTTP/2 pool, declared or chosen by ALPN (upstream-alpn-pool.ts).
 */
export function createPool(origin: string, connectTimeoutMs: number, tls?: UpstreamTls): EndpointPool {
  return new EndpointPool(origin, { connectTimeoutMs, tls });
}
