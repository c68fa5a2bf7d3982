// One exchange, whatever way it came in (HTTP/1.1, HTTP/2, Upgrade, TLS passthrough): the one
// lifecycle
//
//   match → phases → answer | fail | forward (attempt → [failure → retry]) → response → end
//
// written once. Each way in is a small subclass that writes to its client (a ServerResponse, a
// raw socket, a TLS connection it never decrypts); each backend protocol is a Forwarder making
// attempts (upstream-attempt.ts). Metrics, durations, outcomes, passive health, the log phases
// and the access log are recorded here, the same for every way in.

import type { Duplex } from 'node:stream';
import { errors } from 'undici';
import type { Member } from '../balance/types.ts';
import type { ProxyErrorSpec } from '../errors.ts';
import { ProxyErrors } from '../errors.ts';
import type { EndpointState } from '../health/endpoint-state.ts';
import type { ExchangeKind, Outcome } from '../pipeline/context.ts';
import { PhaseRun, STAGE_SELECT, type ChainOwner } from '../pipeline/phase-run.ts';
import { BodyPhaseError, abandon, filterBody, isPromise, runFailurePhases, runLogPhases, runPhases, runResponsePhases, RESPONSE_PENDING } from '../pipeline/runner.ts';
import type { FailureInfo } from '../pipeline/types.ts';
import { clientResponseHeaders } from './headers.ts';
import { modifyRequestHeaders, modifyResponseHeaders } from '../gateway/filters.ts';
import { corsErrorHeaders } from '../gateway/cors.ts';
import type { MiddlewareFailures } from './middleware-failures.ts';
import type { RequestMirrors } from './request-mirror.ts';
import type { RouteRuntime } from './route-runtime.ts';
import type { Forwarder, UpstreamAttempt, UpstreamEvents, UpstreamHeaders } from './upstream-attempt.ts';
import { classifyUpstreamFailure, InvalidUpstreamResponseError, isLastAvailable } from './upstream-failure.ts';
import type { ExchangeTrace } from '../tracing/exchange-trace.ts';
import type { Tracing } from '../tracing/tracing.ts';
import { ATTR_ANSWERED_BY, ATTR_ENDPOINT } from '../tracing/span-attributes.ts';
import { beginHttpTrace, traceAttempt, traceConnectionAttempt } from './exchange-tracing.ts';
import { PluginTraceView } from '../tracing/plugin-trace-view.ts';
import { NO_TRACE, type TraceView } from '../pipeline/views.ts';

/** Attempts per exchange at most (the first and two retries), as HAProxy's `retries`. */
export const MAX_ATTEMPTS = 3;

/** What exchanges need from the proxy that owns them (one object, shared by all). */
export interface ExchangeHost {
  readonly failures: MiddlewareFailures;
  recordSuccess(endpoint: EndpointState): void;
  /** `lastHealthy`: no other member of the route is available (panic threshold: never eject it). */
  recordFailure(endpoint: EndpointState, now: number, lastHealthy: boolean): void;
  /** The forwarder for this exchange's backend protocol. */
  forwarderFor(exchange: Exchange): Forwarder<Exchange>;
  /** The exchange is over (in-flight accounting, access log). */
  finished(exchange: Exchange): void;
  /** This process's tracing, null when off (one check per exchange). */
  readonly tracing: Tracing | null;
  /** The proxy thread's RequestMirror sender (a route's targets: RouteRuntime.mirrors). */
  readonly mirrors: RequestMirrors;
}

/** Phase names by stage (pipeline/phase-run.ts), for the span event of a failed phase. */
const PHASES = ['connection', 'request', 'selectEndpoint', 'upstreamRequest', 'forward', 'response', 'failure', 'log'] as const;

/** Reasons the response stream is paused: the client is slow, the head waits for a phase, a body filter works. */
const PAUSE_DRAIN = 1;
const PAUSE_HEAD = 2;
const PAUSE_FILTER = 4;

const EMPTY = Buffer.alloc(0);
const NO_TRAILERS: UpstreamHeaders = Object.freeze({}) as UpstreamHeaders;
const CLIENT_GONE = new Error('client closed the connection');
const DROPPED = new Error('the exchange no longer follows this attempt');

interface QueuedChunk { chunk: Buffer; end: boolean; trailers: UpstreamHeaders | null }

export abstract class Exchange extends PhaseRun implements UpstreamEvents {
  readonly runtime: RouteRuntime;
  readonly proxy: ExchangeHost;
  /** The attempt the exchange follows; null between attempts and after the last. */
  attempt: UpstreamAttempt | null = null;
  /** The client went away. */
  gone = false;
  /** The response head went to the client (or the tunnel opened): nothing can be answered or retried any more. */
  responseStarted = false;
  /** Reason phrase of the upstream response. */
  reason: string | undefined = undefined;
  /** This exchange's trace (tracing on, the route traced), else null. */
  trace: ExchangeTrace | null = null;
  #traceView: TraceView | null = null;
  /** The member whose endpoint counts this exchange in flight (released when the attempt is dropped or the exchange ends). */
  #holding: Member | null = null;
  #ended = false;
  #counted = false;
  #pauses = 0;
  /** The head waits for a response phase: what arrived meanwhile, and whether (with what trailers) it ended. */
  #held: Buffer[] | null = null;
  #endHeld: UpstreamHeaders | null = null;
  /** An opened upstream (101 or raw) waiting for the response phases. */
  #opening: Duplex | null = null;
  /** Body filters: a Promise is pending; what arrived meanwhile. */
  #filtering = false;
  #queue: QueuedChunk[] | null = null;
  /** The catalogue error for the last failure (written unless a plugin answers or retries), and its cause. */
  #failureError: ProxyErrorSpec | null = null;
  #failureCause: unknown = null;
  /** A route with backendRef filters: the upstream headers before them (an attempt on another backend starts again from these). */
  #ruleHeaders: string[] | null = null;
  /** timeouts.backendRequest: the rest of the attempt's time once its response head is in (routes that set it only). */
  #backendDeadline: NodeJS.Timeout | null = null;

  constructor(
    kind: ExchangeKind, runtime: RouteRuntime, proxy: ExchangeHost, socket: import('node:net').Socket, clientAddress: string, secure: boolean,
    method: string, url: string, host: string, headers: import('node:http').IncomingHttpHeaders, request: import('node:stream').Readable | null,
  ) {
    super(kind, runtime as ChainOwner, socket, clientAddress, secure, method, url, host, headers, request);
    this.runtime = runtime;
    this.proxy = proxy;
  }

  // ---- what a way in provides

  /** The client has gone (checked before forwarding). */
  abstract clientClosed(): boolean;
  /** Write the answer a phase decided (answerStatus, answerBody, answerHeaders); may throw on a plugin's invalid header. */
  protected abstract writeAnswer(): void;
  /** Write a catalogue error (safe in any state); `cause`: the upstream failure behind it, if any. */
  protected abstract writeError(error: ProxyErrorSpec, cause?: unknown): void;
  /** Write the response head; false when it cannot be written (a 502 follows). */
  protected abstract writeHead(status: number, reason: string | undefined, headers: import('node:http').OutgoingHttpHeaders): boolean;
  /** Write a body chunk; false asks to wait: the way in calls drained() when the client can take more. */
  protected abstract writeBody(chunk: Buffer): boolean;
  protected abstract endBody(trailers: UpstreamHeaders | null): void;
  /** Cut a response that has started (the client sees it is incomplete): `error` and `cause` say why. */
  protected abstract cutResponse(error: ProxyErrorSpec, cause: unknown): void;
  /** A 1xx before the final response. */
  protected interim(_status: number, _headers: UpstreamHeaders): void {}
  /** The upstream opened (101 or a raw connection) and its head is written: join the two sides. */
  protected openTunnel(_upstream: Duplex): void {
    throw new Error(`${this.kind} exchanges do not open tunnels`);
  }
  /** The request body can be sent again (none, or buffered by readBody). */
  protected abstract canResend(): boolean;
  /** Work on the request body before the first attempt (a Promise: the attempt waits for it). */
  protected prepareBody(): Promise<void> | null {
    return null;
  }
  /** The first upstream attempt is about to start (a way in may arm a deadline). */
  protected firstAttempt(): void {}
  /** The exchange has ended (status and outcome are set), before the log phases. */
  protected onEnded(): void {}

  /**
   * Headers every catalogue error of this exchange carries (each way in's writeError adds them):
   * the CORS headers of the rule's CORS filter, if any (gateway/cors.ts), so that a browser can
   * read the router's own answers as it reads the backend's; undefined for nearly every route.
   */
  protected errorHeaders(): Record<string, string> | undefined {
    const gateway = this.runtime.route.gateway;
    return gateway === undefined ? undefined : corsErrorHeaders(gateway.cors, this.headers.origin);
  }

  // ---- the lifecycle

  override get traceView(): TraceView {
    const trace = this.trace;
    return trace === null ? NO_TRACE : (this.#traceView ??= new PluginTraceView(trace));
  }

  /** The HTTP version of the client's request (span attribute). */
  get httpVersion(): string {
    return '1.1';
  }

  /** Run the phases; the runner reports back (proceed / answer / failed). */
  start(): void {
    const tracing = this.proxy.tracing;
    if (tracing !== null) this.trace = this.beginTrace(tracing);
    runPhases(this);
  }

  /** This exchange's trace: HTTP and Upgrade continue the request's context (passthrough overrides). */
  protected beginTrace(tracing: Tracing): ExchangeTrace | null {
    const route = this.runtime.route;
    return beginHttpTrace(tracing, this.kind === 'upgrade' ? 'upgrade' : 'http', this, this.headers, this.httpVersion, route, route.policy.traceSampling);
  }

  proceed(): void {
    if (this.gone || this.clientClosed()) {
      this.end(499, 'client-closed');
      return;
    }
    if (this.member === null) {
      // Choosing again after a failure found no endpoint left: the failure stands.
      this.#writeFailure(this.#failureError ?? ProxyErrors.NO_ENDPOINT);
      return;
    }
    const preparing = this.prepareBody();
    if (preparing === null) {
      this.#startAttempt();
      return;
    }
    preparing.then(() => {
      if (this.#ended) return;
      if (this.gone || this.clientClosed()) this.end(499, 'client-closed');
      else this.#startAttempt();
    }, (err: unknown) => this.#bodyPhaseFailed(err));
  }

  answer(): void {
    if (this.gone || this.clientClosed()) {
      this.end(499, 'client-closed');
      return;
    }
    const trace = this.trace;
    if (trace !== null) {
      // The link whose phase answered (a redirect, a denial, a rate limit…).
      trace.setAttribute(ATTR_ANSWERED_BY, this.chain.links[this.current]?.name ?? '');
      if (this.answerError !== null) trace.errorType = this.answerError.code;
    }
    const error = this.answerError;
    if (error !== null) {
      this.writeError(error);
      this.end(error.status, 'answered');
      return;
    }
    try {
      this.writeAnswer();
    } catch (err) {
      // A plugin's invalid header name or value: answer 500 instead.
      this.failed('respond', err, false);
      return;
    }
    this.end(this.answerStatus, 'answered');
  }

  failed(link: string, error: unknown, timedOut: boolean): void {
    const spec = this.proxy.failures.record(this.owner.info.key, link, error, timedOut);
    this.trace?.recordFailure(PHASES[this.stage] ?? 'request', link, error, timedOut, spec.code);
    this.answerStatus = spec.status;
    this.writeError(spec);
    this.end(spec.status, 'error');
  }

  phaseFailed(link: string, error: unknown): void {
    this.proxy.failures.record(this.owner.info.key, link, error, false);
    this.trace?.recordFailure(PHASES[this.stage] ?? 'log', link, error, false, null);
  }

  /** The client went away: stop whatever is pending and end the exchange. */
  clientGone(): void {
    if (this.#ended) return;
    this.gone = true;
    const attempt = this.attempt;
    if (attempt !== null) {
      this.attempt = null;
      attempt.abort(CLIENT_GONE);
    }
    this.#opening?.destroy();
    this.#opening = null;
    // The status sent, or 499 (nginx's "client closed request") when none was.
    this.end(this.responseStarted ? this.status : 499, 'client-closed');
  }

  #startAttempt(): void {
    if (this.attempts === 0) this.firstAttempt();
    const member = this.member!;
    if (this.runtime.backendFilters !== null) this.#backendRequestHeaders(member);
    member.endpoint.started();
    this.#holding = member;
    this.outcome = 'forwarded';
    const attempt = this.proxy.forwarderFor(this).attempt(this, member, ++this.attempts);
    this.attempt = attempt;
    const trace = this.trace;
    if (trace !== null) {
      // The attempt's span, and its context into the headers it sends (a retry: a sibling span).
      const endpoint = member.endpoint;
      if (this.kind === 'passthrough') traceConnectionAttempt(trace, endpoint.address, endpoint.port);
      else traceAttempt(trace, this.method, this.path, this.runtime.reencrypt, endpoint.address, endpoint.port, this.upstreamHeaders);
    }
    attempt.start();
  }

  /**
   * The chosen backendRef's RequestHeaderModifier, after the rule's filters (the upstreamRequest
   * phases ran once, before the first attempt): per attempt, because a retry may go to another
   * backendRef of the rule.
   */
  #backendRequestHeaders(member: Member): void {
    const base = (this.#ruleHeaders ??= this.upstreamHeaders);
    if (base === null) return;
    const mod = this.runtime.backendFilters!.get(member)?.requestHeaders ?? null;
    this.upstreamHeaders = mod === null ? base : modifyRequestHeaders(base.slice(), mod);
  }

  /** Stop following the current attempt (its endpoint no longer counts this exchange). */
  #dropAttempt(reason: Error | null): void {
    const attempt = this.attempt;
    this.attempt = null;
    this.#release();
    if (attempt !== null && reason !== null) attempt.abort(reason);
  }

  #release(): void {
    if (this.#holding !== null) {
      this.#holding.endpoint.ended();
      this.#holding = null;
    }
  }

  // ---- failures of an attempt

  attemptFailed(attempt: UpstreamAttempt, error: unknown): void {
    if (attempt !== this.attempt || this.#ended) return;
    this.attempt = null;
    this.#release();
    this.#opening = null;
    if ((this.#pauses & PAUSE_HEAD) !== 0) {
      // Nothing was written yet: stop the pending response phase.
      abandon(this);
      this.#held = null;
      this.#pauses &= ~PAUSE_HEAD;
    }
    if (this.gone) {
      this.end(this.responseStarted ? this.status : 499, 'client-closed');
      return;
    }
    if (error instanceof BodyPhaseError) {
      this.#bodyPhaseFailed(error);
      return;
    }
    const failure = classifyUpstreamFailure(error);
    this.trace?.endAttempt(this.responseStarted ? this.status : 0, failure.reason);
    if (!this.responseStarted && failure.endpointFault) {
      const now = Date.now();
      this.proxy.recordFailure(attempt.member.endpoint, now, isLastAvailable(this.runtime.members, attempt.member.endpoint, now));
    }
    this.runtime.countUpstreamError(failure.reason);
    this.#failureCause = error;
    if (failure.reason === 'client' || failure.reason === 'router') {
      // Not the backend's failure (the client's body was short, undici refused the request): no failure phase.
      this.#writeFailure(failure.error);
      return;
    }
    (this.tried ??= []).push(attempt.member);
    this.#failureError = failure.error;
    this.failure = this.#failureInfo(failure.reason, failure.error, error, attempt);
    this.retryAsked = false;
    this.retrySame = false;
    if (this.chain.failure !== null) runFailurePhases(this);
    else this.failureDone();
  }

  #failureInfo(reason: FailureInfo['reason'], spec: ProxyErrorSpec, error: unknown, attempt: UpstreamAttempt): FailureInfo {
    const members = this.runtime.members;
    const at = members.indexOf(attempt.member);
    return Object.freeze({
      reason, code: spec.code, status: spec.status,
      message: error instanceof Error ? error.message : String(error),
      endpoint: this.runtime.candidates[at]!,
      attempt: attempt.number,
      responseStarted: this.responseStarted,
      canRetry: this.canRetry() && this.#untriedLeft(),
    });
  }

  canRetry(): boolean {
    return !this.responseStarted && !this.gone && !this.#ended && this.attempts < MAX_ATTEMPTS && this.canResend();
  }

  override retry(): boolean {
    return this.#untriedLeft() && super.retry();
  }

  /** A member not tried yet could take the request now. */
  #untriedLeft(): boolean {
    const now = Date.now();
    const tried = this.tried;
    for (const m of this.runtime.members) {
      if (m.weight > 0 && m.acceptsNew && m.endpoint.available(now) && (tried === null || !tried.includes(m))) return true;
    }
    return false;
  }

  failureDone(): void {
    if (this.#ended) return;
    if (this.gone) {
      this.end(499, 'client-closed');
      return;
    }
    if (this.responseStarted) {
      this.cutResponse(this.#failureError ?? ProxyErrors.UPSTREAM_PROTOCOL, this.#failureCause);
      this.end(this.status, 'error');
      return;
    }
    if (this.answerStatus !== 0) {
      this.answer();
      return;
    }
    if (this.retryAsked) {
      this.retryAsked = false;
      // Choose again (selectEndpoint, without the endpoints tried), then forward.
      this.member = null;
      this.stage = STAGE_SELECT;
      this.lastStage = STAGE_SELECT;
      this.index = 0;
      runPhases(this);
      return;
    }
    if (this.retrySame) {
      this.retrySame = false;
      this.#startAttempt();
      return;
    }
    this.#writeFailure(this.#failureError ?? ProxyErrors.UPSTREAM_PROTOCOL);
  }

  #writeFailure(spec: ProxyErrorSpec): void {
    const trace = this.trace;
    if (this.responseStarted) {
      if (trace !== null) {
        trace.cut = true;
        trace.errorType = this.failure?.reason ?? spec.code;
      }
      this.cutResponse(spec, this.#failureCause);
      this.end(this.status, 'error');
      return;
    }
    if (trace !== null) trace.errorType = spec.code;
    this.writeError(spec, this.#failureCause);
    this.end(spec.status, 'error');
  }

  // ---- the response

  upstreamHead(attempt: UpstreamAttempt, status: number, headers: UpstreamHeaders, reason: string | undefined): void {
    if (attempt !== this.attempt || this.gone) return;
    if (status < 200) {
      this.interim(status, headers);
      return;
    }
    this.#head(status, headers, reason);
  }

  upstreamOpen(attempt: UpstreamAttempt, status: number, headers: UpstreamHeaders, socket: Duplex): void {
    if (attempt !== this.attempt || this.gone) {
      socket.destroy();
      return;
    }
    this.#opening = socket;
    if (this.kind === 'passthrough') {
      this.#open();
      return;
    }
    this.#head(status, headers, undefined);
  }

  #head(status: number, headers: UpstreamHeaders, reason: string | undefined): void {
    this.status = status;
    this.reason = reason;
    this.upstreamResponseHeaders = headers;
    this.responseHeaders = clientResponseHeaders(headers);
    const backendMs = this.runtime.route.gateway?.backendTimeoutMs;
    if (backendMs !== undefined && this.#opening === null) this.#armBackendDeadline(backendMs);
    const backendFilters = this.runtime.backendFilters;
    if (backendFilters !== null) {
      // The backendRef's ResponseHeaderModifier first: the response meets the rule's filters after.
      const mod = backendFilters.get(this.attempt!.member)?.responseHeaders ?? null;
      if (mod !== null) modifyResponseHeaders(this.responseHeaders, mod);
    }
    if (this.chain.response !== null) {
      const failure = runResponsePhases(this);
      if (failure === RESPONSE_PENDING) {
        this.#pause(PAUSE_HEAD);
        return;
      }
      if (failure !== null) {
        this.responseFailed(failure.link, failure.error, false);
        return;
      }
      if (this.answerStatus !== 0) {
        this.#replaceResponse();
        return;
      }
    }
    this.#sendHead();
  }

  /**
   * timeouts.backendRequest covers the attempt until its response is complete: the connection's
   * own timer bounded the wait for the head (RouteRuntime.attemptTimeoutMs); what is left of the
   * time bounds the body, whose gaps alone that timer sees. Cleared when the exchange ends.
   */
  #armBackendDeadline(ms: number): void {
    const attempt = this.attempt!;
    if (this.#backendDeadline !== null) clearTimeout(this.#backendDeadline);
    const left = ms - (performance.now() - attempt.startedAt);
    this.#backendDeadline = setTimeout(onBackendDeadline, left > 0 ? left : 0, this, attempt);
  }

  /** The backendRequest time of `attempt` is over (module function onBackendDeadline). */
  backendDeadlinePassed(attempt: UpstreamAttempt): void {
    this.#backendDeadline = null;
    // A failed attempt (a 504, or a cut response if the head went out) unless it already ended.
    if (attempt === this.attempt && !this.#ended) attempt.abort(new errors.BodyTimeoutError('the backend did not complete its response within timeouts.backendRequest'));
  }

  responseReady(): void {
    if (this.#ended || this.attempt === null) return;
    if (this.answerStatus !== 0) {
      this.#replaceResponse();
      return;
    }
    if (!this.#sendHead()) return;
    if (this.#opening !== null) return;
    const held = this.#held;
    this.#held = null;
    const ended = this.#endHeld;
    this.#endHeld = null;
    // The head is out: what was held goes now (with the bit still set it would be held again
    // and lost — a backend whose body came in the same read as its head).
    const paused = (this.#pauses & PAUSE_HEAD) !== 0;
    this.#pauses &= ~PAUSE_HEAD;
    if (held !== null) for (const chunk of held) this.#deliver(chunk);
    if (ended !== null) this.#ending(ended);
    if (paused && this.#pauses === 0) this.attempt?.resume();
  }

  responseFailed(link: string, error: unknown, timedOut: boolean): void {
    if (this.#ended) return;
    const spec = this.proxy.failures.record(this.owner.info.key, link, error, timedOut);
    this.trace?.endAttempt(this.status, null);
    this.trace?.recordFailure('response', link, error, timedOut, spec.code);
    this.#dropAttempt(this.#endHeld === null ? new Error('response phase failed') : null);
    this.#opening?.destroy();
    this.#opening = null;
    this.#held = null;
    this.writeError(spec);
    this.end(spec.status, 'error');
  }

  /** A response phase answered: the endpoint's response is dropped and the answer written instead. */
  #replaceResponse(): void {
    const member = this.attempt!.member;
    this.proxy.recordSuccess(member.endpoint); // the endpoint answered
    this.trace?.endAttempt(this.status, null);
    this.#dropAttempt(this.#endHeld === null && this.#opening === null ? new Error('response replaced by a plugin') : null);
    this.#opening?.destroy();
    this.#opening = null;
    this.#held = null;
    this.answer();
  }

  /** Write the head; on a refusal the attempt fails as an invalid response (502). */
  #sendHead(): boolean {
    const attempt = this.attempt!;
    if (!this.writeHead(this.status, this.reason, this.responseHeaders!)) {
      this.status = 0;
      const error = new InvalidUpstreamResponseError('response not forwardable');
      if (this.#endHeld !== null || this.#opening !== null) {
        // undici is done with this request: the abort would reach no one.
        this.#opening?.destroy();
        this.#endHeld = null;
        this.attemptFailed(attempt, error);
      } else {
        attempt.abort(error);
      }
      return false;
    }
    this.responseStarted = true;
    if (this.#opening !== null) this.#open();
    return true;
  }

  /** The tunnel opens: the attempt succeeded; the exchange ends when the tunnel closes. */
  #open(): void {
    const upstream = this.#opening!;
    const attempt = this.attempt!;
    this.#opening = null;
    this.attempt = null; // the attempt is over; #holding keeps the endpoint counted until the end
    this.responseStarted = true;
    this.proxy.recordSuccess(attempt.member.endpoint);
    this.trace?.endAttempt(this.status, null); // the connection is made (a passthrough's has no status)
    if (this.kind !== 'passthrough') this.#count(this.status, 'forwarded');
    this.openTunnel(upstream);
  }

  upstreamData(attempt: UpstreamAttempt, chunk: Buffer): void {
    // undici hands over an empty piece of a Content-Length body each time it resumes its paused
    // parser before more bytes were read. Passed on, an async body phase pauses the parser again
    // and resumes it in microtasks only: the event loop would never run again.
    if (attempt !== this.attempt || this.gone || chunk.length === 0) return;
    this.#deliver(chunk);
  }

  upstreamEnd(attempt: UpstreamAttempt, trailers: UpstreamHeaders | null): void {
    if (attempt !== this.attempt) return;
    if ((this.#pauses & PAUSE_HEAD) !== 0) {
      this.#endHeld = trailers ?? NO_TRAILERS;
      return;
    }
    this.#ending(trailers);
  }

  #deliver(chunk: Buffer): void {
    if ((this.#pauses & PAUSE_HEAD) !== 0) {
      (this.#held ??= []).push(chunk);
      return;
    }
    if (this.chain.responseBody !== null) this.#filter(chunk, false, null);
    else this.#write(chunk);
  }

  #ending(trailers: UpstreamHeaders | null): void {
    if (this.chain.responseBody !== null) this.#filter(EMPTY, true, trailers);
    else this.#complete(trailers);
  }

  #write(chunk: Buffer): void {
    if (!this.writeBody(chunk)) this.#pause(PAUSE_DRAIN);
  }

  /** The client can take more (after writeBody returned false). */
  drained(): void {
    this.#unpause(PAUSE_DRAIN);
  }

  #complete(trailers: UpstreamHeaders | null): void {
    const attempt = this.attempt;
    if (attempt === null || this.#ended) return;
    this.attempt = null;
    this.trace?.endAttempt(this.status, null);
    // Any status the backend answers, 5xx included, proves the endpoint is up (see upstream-failure.ts).
    this.proxy.recordSuccess(attempt.member.endpoint);
    if (!this.gone) this.endBody(trailers === null || trailers === NO_TRAILERS ? null : trailers);
    this.end(this.status, 'forwarded');
  }

  // ---- response body filters (only for routes with a responseBody phase)

  #filter(chunk: Buffer, end: boolean, trailers: UpstreamHeaders | null): void {
    if (this.#filtering) {
      (this.#queue ??= []).push({ chunk, end, trailers });
      return;
    }
    let out: Buffer | null | Promise<Buffer | null>;
    try {
      out = filterBody(this, this.chain.responseBody!, chunk, end, true);
    } catch (err) {
      this.#bodyPhaseFailed(err);
      return;
    }
    if (isPromise(out)) {
      this.#filtering = true;
      this.#pause(PAUSE_FILTER);
      out.then((value) => this.#filtered(value, end, trailers), (err: unknown) => this.#bodyPhaseFailed(err));
      return;
    }
    this.#emit(out, end, trailers);
  }

  #filtered(out: Buffer | null, end: boolean, trailers: UpstreamHeaders | null): void {
    if (this.#ended) return;
    this.#filtering = false;
    this.#emit(out, end, trailers);
    const queue = this.#queue;
    while (queue !== null && queue.length > 0 && !this.#filtering && !this.#ended) {
      const next = queue.shift()!;
      this.#filter(next.chunk, next.end, next.trailers);
    }
    if (!this.#filtering) this.#unpause(PAUSE_FILTER);
  }

  #emit(out: Buffer | null, end: boolean, trailers: UpstreamHeaders | null): void {
    if (out !== null && out.length > 0 && !this.gone) this.#write(out);
    if (end) this.#complete(trailers);
  }

  #bodyPhaseFailed(error: unknown): void {
    if (this.#ended) return;
    const e = error instanceof BodyPhaseError ? error : new BodyPhaseError('body', error);
    const spec = this.proxy.failures.record(this.owner.info.key, e.link, e.cause, e.timedOut);
    this.trace?.recordFailure(this.responseStarted ? 'responseBody' : 'requestBody', e.link, e.cause, e.timedOut, spec.code);
    this.#failureCause = null;
    this.#dropAttempt(new Error('body phase failed'));
    this.#writeFailure(spec);
  }

  #pause(bit: number): void {
    const before = this.#pauses;
    this.#pauses |= bit;
    if (before === 0) this.attempt?.pause();
  }

  #unpause(bit: number): void {
    if ((this.#pauses & bit) === 0) return;
    this.#pauses &= ~bit;
    if (this.#pauses === 0) this.attempt?.resume();
  }

  // ---- the end

  /** Record the response: metrics by way in (an Upgrade when its tunnel opens, the rest when they end). */
  #count(status: number, outcome: Outcome): void {
    this.#counted = true;
    // A sampled trace is the duration bucket's exemplar (OpenMetrics).
    const trace = this.trace;
    this.runtime.countExchange(this.kind, status, outcome, (performance.now() - this.startedAt) / 1000, trace !== null && trace.recording ? trace : null);
  }

  /** The exchange is over: once, whatever way it ends. */
  end(status: number, outcome: Outcome): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#backendDeadline !== null) {
      clearTimeout(this.#backendDeadline);
      this.#backendDeadline = null;
    }
    abandon(this);
    if (this.attempt !== null) this.#dropAttempt(DROPPED);
    this.#release();
    this.status = status;
    this.outcome = outcome;
    this.durationMs = performance.now() - this.startedAt;
    if (!this.#counted) this.#count(status, outcome);
    const trace = this.trace;
    if (trace !== null) {
      if (this.member !== null && outcome === 'forwarded') trace.setAttribute(ATTR_ENDPOINT, this.member.endpoint.name);
      trace.end(status);
    }
    this.onEnded();
    if (this.chain.log !== null) runLogPhases(this);
    this.proxy.finished(this);
  }

  get ended(): boolean {
    return this.#ended;
  }
}

function onBackendDeadline(exchange: Exchange, attempt: UpstreamAttempt): void {
  exchange.backendDeadlinePassed(attempt);
}
