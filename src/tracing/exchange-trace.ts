// The trace of one exchange (a request, an upgrade, a passthrough connection): its server span
// and one client span per upstream attempt, each attempt's context injected into the request
// that attempt sends. A sampled exchange records OpenTelemetry spans; an unsampled one creates
// none and only propagates: a fresh span id per attempt, flags 00, so the upstream continues
// the trace id without recording (head sampling decides the whole trace).
//
// Every time given to a span (starts, ends, events) is read here from one clock, spanTime():
// left to itself the SDK mixes clocks — a span given its start ends at Date.now() (whole
// milliseconds), a span without one starts at Date.now() and ends by performance.now() — so a
// client span could end up to a millisecond after its server span, outside its parent.

import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type AttributeValue, type Context, type HrTime, type Span, type Tracer } from '@opentelemetry/api';
import { hrTime } from '@opentelemetry/core';
import { ATTR_ERROR_TYPE, ATTR_HTTP_REQUEST_RESEND_COUNT, ATTR_HTTP_RESPONSE_STATUS_CODE } from '@opentelemetry/semantic-conventions';
import type { ExchangeIds } from './exchange-ids.ts';
import type { Propagation } from './propagation.ts';
import { SAMPLED_FLAG, type RemoteParent } from './trace-context.ts';

/** Wall-clock time of `performanceNow` (default: now), as timeOrigin + the monotonic clock. */
const spanTime = (performanceNow?: number): HrTime => hrTime(performanceNow);

/** What an exchange trace needs from the process's tracing (one object, shared). */
export interface TraceHost {
  readonly tracer: Tracer;
  readonly ids: ExchangeIds;
  readonly propagation: Propagation;
}

export class ExchangeTrace {
  readonly traceId: string;
  readonly sampled: boolean;
  /** The client's context, or null when this exchange started the trace. */
  readonly parent: RemoteParent | null;
  readonly #host: TraceHost;
  /** The server span (sampled exchanges, once started). */
  #server: Span | null = null;
  #serverContext: Context | null = null;
  /** The current upstream attempt's client span (sampled exchanges). */
  #attempt: Span | null = null;
  /** The span id the current upstream attempt propagates. */
  attemptSpanId = '';
  attempts = 0;
  /** What went wrong, for error.type at the end (a catalogue code, an upstream failure reason). */
  errorType: string | null = null;
  /** The response was cut after it started: an error whatever its status. */
  cut = false;

  /** The upstream header list holds trace headers to remove before injecting (the client's, or an earlier attempt's). */
  #stale: boolean;

  constructor(host: TraceHost, traceId: string, sampled: boolean, parent: RemoteParent | null, clientSentHeaders: boolean) {
    this.#host = host;
    this.traceId = traceId;
    this.sampled = sampled;
    this.parent = parent;
    this.#stale = clientSentHeaders;
  }

  /** The server span's id ('' when unsampled: no span exists). */
  spanId = '';

  get recording(): boolean {
    return this.#server !== null;
  }

  /** Start the server span (sampled exchanges; a no-op otherwise). `startTime`: performance.now() at the exchange's start. */
  startServer(name: string, kind: SpanKind, attributes: Attributes, startTime: number): void {
    if (!this.sampled || this.#server !== null) return;
    const host = this.#host;
    let context = ROOT_CONTEXT;
    if (this.parent !== null) context = trace.setSpanContext(ROOT_CONTEXT, this.parent);
    else host.ids.useTraceId(this.traceId);
    this.#server = host.tracer.startSpan(name, { kind, attributes, startTime: spanTime(startTime) }, context);
    this.spanId = this.#server.spanContext().spanId;
  }

  /** Rename the server span (once the route is known, say). */
  updateName(name: string): void {
    this.#server?.updateName(name);
  }

  setAttribute(key: string, value: AttributeValue): void {
    this.#server?.setAttribute(key, value);
  }

  setAttributes(attributes: Attributes): void {
    this.#server?.setAttributes(attributes);
  }

  addEvent(name: string, attributes?: Attributes): void {
    this.#server?.addEvent(name, attributes, spanTime());
  }

  /**
   * A new upstream attempt: its client span (sampled), and its context written into `headers`
   * (a flat [name, value, …] list: what the client sent in the propagated formats is replaced).
   * A retry is a sibling attempt under the same server span, with http.request.resend_count.
   */
  startAttempt(name: string, attributes: Attributes, headers: string[] | null): void {
    this.#attempt?.end(spanTime()); // an attempt not ended by its driver ends where the next begins
    this.attempts++;
    const host = this.#host;
    let flags = 0;
    if (this.#server !== null) {
      this.#serverContext ??= trace.setSpan(ROOT_CONTEXT, this.#server);
      const span = host.tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes, startTime: spanTime() }, this.#serverContext);
      if (this.attempts > 1) span.setAttribute(ATTR_HTTP_REQUEST_RESEND_COUNT, this.attempts - 1);
      this.#attempt = span;
      this.attemptSpanId = span.spanContext().spanId;
      flags = SAMPLED_FLAG;
    } else {
      this.#attempt = null;
      this.attemptSpanId = host.ids.generateSpanId();
    }
    if (headers !== null) {
      // Most requests carry no trace header and this is their first attempt: nothing to strip.
      if (this.#stale || this.attempts > 1) host.propagation.strip(headers);
      host.propagation.inject(headers, this.traceId, this.attemptSpanId, flags, this.parent?.traceState);
    }
  }

  /** The attempt got a response (`status`) or failed (`errorType`, status 0). */
  endAttempt(status: number, errorType: string | null): void {
    const span = this.#attempt;
    if (span === null) return;
    this.#attempt = null;
    if (status > 0) span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
    // Client spans: a 4xx is an error too (semantic conventions).
    const error = errorType ?? (status >= 400 ? String(status) : null);
    if (error !== null) {
      span.setAttribute(ATTR_ERROR_TYPE, error);
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end(spanTime());
  }

  /**
   * A phase of `link` failed (threw, rejected, timed out): an `exception` event on the server
   * span, and `code` (the catalogue error answered) as the exchange's error.type.
   */
  recordFailure(phase: string, link: string, error: unknown, timedOut: boolean, code: string | null): void {
    if (code !== null) this.errorType = code;
    const span = this.#server;
    if (span === null) return;
    const err = error instanceof Error ? error : null;
    span.addEvent('exception', {
      'exception.type': timedOut ? 'Timeout' : (err?.name ?? typeof error),
      'exception.message': timedOut ? `${phase} phase did not finish in time` : (err?.message ?? String(error)),
      'switchyard.phase': phase,
      'switchyard.middleware': link,
    }, spanTime());
  }

  /**
   * The exchange ended: `status` answered to the client (0: none, e.g. a passthrough connection
   * or a cut one). Server spans: a 5xx (error.type: errorType, else the status) or, without a
   * status, an errorType is an error; a 4xx is not (the client's fault).
   */
  end(status: number): void {
    if (this.#attempt !== null) this.endAttempt(0, this.errorType ?? 'aborted');
    const span = this.#server;
    if (span === null) return;
    this.#server = null;
    if (status > 0) span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
    const error = status >= 500 ? (this.errorType ?? String(status)) : status === 0 || this.cut ? this.errorType : null;
    if (error !== null) {
      span.setAttribute(ATTR_ERROR_TYPE, error);
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end(spanTime());
  }
}
