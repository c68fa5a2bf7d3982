// One request on an HTTP/2 backend stream, driven through undici's handler protocol (the
// forwarder's ProxyExchange is the handler; this object is its controller). What it keeps that
// gRPC needs:
// - the request body streams as it arrives, with backpressure both ways, and is never destroyed
//   here: when the backend answers before the body ends, the rest is left to the client side;
// - request trailers go up when the request announced them (a Trailer header, RFC 9110 §6.6.2);
//   response trailers come back to the handler's onResponseEnd;
// - abort (the client went away, a deadline) resets the stream with CANCEL;
// - a stream the backend resets — before or after the response headers — is an error carrying
//   the HTTP/2 code (UpstreamStreamResetError), never a normal end;
// - the route timeout runs until the response headers and then between data (not while the
//   client's backpressure holds the stream paused), as for HTTP/1.1 backends.
// A request refused before the backend processed anything (REFUSED_STREAM, or above a GOAWAY's
// last stream id) is sent once more on another session when its body can be replayed.

import http2 from 'node:http2';
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { errors, type Dispatcher } from 'undici';
import { UpstreamStreamResetError } from './upstream-failure.ts';

/** What a request needs of its pool (H2RequestPool): declared here so the two modules do not import each other. */
export interface H2RequestPool {
  readonly scheme: 'http' | 'https';
  readonly options: { readonly authority: string };
  /** Opens the request on a session with a free slot now (open()), or once one has one. */
  place(request: H2UpstreamRequest): void;
  /** The request, waiting for a slot, ended. */
  unqueue(request: H2UpstreamRequest): void;
}

/** What a request needs of the session it runs on (H2RequestSession). */
export interface H2RequestSession {
  readonly session: http2.ClientHttp2Session;
  /** The session's error, once it failed. */
  readonly error: Error | null;
  readonly connected: boolean;
  opened(): void;
  released(): void;
  retire(): void;
}

const {
  NGHTTP2_CANCEL,
  NGHTTP2_NO_ERROR,
  NGHTTP2_REFUSED_STREAM,
} = http2.constants;

/** Connection-specific fields HTTP/2 forbids (RFC 9113 §8.2.2); `te` passes only as "trailers". */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings', 'host']);

const kRequest = Symbol('switchyard.h2request');

type Body = Buffer | Readable | null;

export class H2UpstreamRequest implements Dispatcher.DispatchController {
  readonly #pool: H2RequestPool;
  readonly #options: Dispatcher.DispatchOptions;
  readonly #handler: Dispatcher.DispatchHandler;
  readonly #body: Body;
  readonly #headersTimeout: number;
  readonly #bodyTimeout: number;
  #entry: H2RequestSession | null = null;
  #stream: http2.ClientHttp2Stream | null = null;
  #aborted = false;
  #reason: Error | null = null;
  #paused = false;
  /** The handler has been told the end (onResponseEnd or onResponseError). */
  #done = false;
  #responseStarted = false;
  /** The backend's side ended (END_STREAM, or a reset that closed() will report). */
  #ended = false;
  #trailers: IncomingHttpHeaders | null = null;
  #streamError: Error | null = null;
  /** Bytes of the request body handed to the stream (a request with none written may be replayed). */
  #written = 0;
  #retried = false;
  #bodyAttached = false;
  /** Waiting in the pool for a stream slot (set and cleared by the pool). */
  queued = false;

  constructor(pool: H2RequestPool, options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler) {
    this.#pool = pool;
    this.#options = options;
    this.#handler = handler;
    const body = options.body;
    this.#body = body === undefined || body === null ? null : typeof body === 'string' ? Buffer.from(body) : body as Buffer | Readable;
    this.#headersTimeout = options.headersTimeout ?? 0;
    this.#bodyTimeout = options.bodyTimeout ?? 0;
  }

  // ---- DispatchController

  get aborted(): boolean {
    return this.#aborted;
  }

  get paused(): boolean {
    return this.#paused;
  }

  get reason(): Error | null {
    return this.#reason;
  }

  abort(reason: Error): void {
    if (this.#done || this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    if (this.queued) this.#pool.unqueue(this);
    this.#closeStream(NGHTTP2_CANCEL);
    this.#fail(reason);
  }

  pause(): void {
    const stream = this.#stream;
    this.#paused = true;
    if (stream === null) return;
    stream.pause();
    // The backend cannot send while we hold it: no body timeout meanwhile.
    if (this.#bodyTimeout > 0) stream.setTimeout(0);
  }

  resume(): void {
    const stream = this.#stream;
    this.#paused = false;
    if (stream === null) return;
    if (this.#bodyTimeout > 0 && this.#responseStarted) stream.setTimeout(this.#bodyTimeout);
    stream.resume();
  }

  // ---- driven by the pool

  /** The pool is closed: the handler hears the error at once. */
  failEarly(error: Error): void {
    this.#handler.onRequestStart?.(this, null);
    if (!this.#aborted) this.#fail(error);
  }

  start(): void {
    this.#handler.onRequestStart?.(this, null);
    if (this.#aborted) return;
    this.#pool.place(this);
  }

  /** The pool's pick: a settled session with a free slot (nothing, when the request ended while it waited). */
  open(entry: H2RequestSession): void {
    if (!this.#done) this.#open(entry);
  }

  /** The request waited for a session that never came (its handshake failed, the pool closed). */
  failWaiting(error: Error): void {
    this.#fail(error);
  }

  #open(entry: H2RequestSession): void {
    const body = this.#body;
    const hasBody = body !== null && !(Buffer.isBuffer(body) && body.length === 0);
    const sendTrailers = hasBody && !Buffer.isBuffer(body) && (body as { headers?: IncomingHttpHeaders }).headers?.trailer !== undefined;
    let stream: http2.ClientHttp2Stream;
    try {
      stream = entry.session.request(this.#requestHeaders(), { endStream: !hasBody, waitForTrailers: sendTrailers });
    } catch (err) {
      const code = (err as { code?: string }).code;
      if ((code === 'ERR_HTTP2_INVALID_SESSION' || code === 'ERR_HTTP2_GOAWAY_SESSION') && !this.#retried) {
        // The session went away between the pick and the request: another one.
        this.#retried = true;
        entry.retire();
        this.#pool.place(this);
        return;
      }
      // A header Node refuses to send is the router's doing, not the endpoint's.
      this.#fail(new errors.InvalidArgumentError((err as Error).message));
      return;
    }
    this.#entry = entry;
    this.#stream = stream;
    entry.opened();
    (stream as unknown as Record<symbol, H2UpstreamRequest>)[kRequest] = this;
    stream.on('response', onResponse);
    stream.on('headers', onInterim);
    stream.on('data', onData);
    stream.on('trailers', onTrailers);
    stream.on('end', onEnd);
    stream.on('error', onStreamError);
    stream.on('close', onClose);
    if (sendTrailers) stream.on('wantTrailers', onWantTrailers);
    if (this.#headersTimeout > 0) {
      stream.setTimeout(this.#headersTimeout);
      stream.on('timeout', onTimeout);
    }
    if (this.#paused) stream.pause();
    if (!hasBody) return;
    if (Buffer.isBuffer(body)) {
      this.#written = body.length;
      stream.end(body);
    } else if (!this.#bodyAttached) {
      this.#attachBody(body as Readable);
    }
  }

  /** Pseudo-headers first; the client's Host becomes :authority; fields HTTP/2 forbids are dropped. */
  #requestHeaders(): http2.OutgoingHttpHeaders {
    const out: http2.OutgoingHttpHeaders = {
      ':method': this.#options.method,
      ':scheme': this.#pool.scheme,
      ':path': this.#options.path,
    };
    let authority: string | undefined;
    const headers = this.#options.headers;
    if (Array.isArray(headers)) {
      for (let i = 0; i < headers.length; i += 2) {
        const name = String(headers[i]).toLowerCase();
        const value = String(headers[i + 1]);
        if (name === 'host') { authority ??= value; continue; }
        addHeader(out, name, value);
      }
    } else if (headers !== null && headers !== undefined) {
      for (const [key, raw] of Object.entries(headers as Record<string, string | string[] | undefined>)) {
        if (raw === undefined) continue;
        const name = key.toLowerCase();
        if (name === 'host') { authority ??= String(raw); continue; }
        for (const value of Array.isArray(raw) ? raw : [raw]) addHeader(out, name, String(value));
      }
    }
    out[':authority'] = authority ?? this.#pool.options.authority;
    return out;
  }

  // ---- the request body

  #attachBody(body: Readable): void {
    this.#bodyAttached = true;
    (body as unknown as Record<symbol, H2UpstreamRequest>)[kRequest] = this;
    body.on('data', onBodyData);
    body.on('end', onBodyEnd);
    body.on('error', onBodyError);
  }

  #detachBody(): void {
    const body = this.#body;
    if (!this.#bodyAttached || body === null || Buffer.isBuffer(body)) return;
    this.#bodyAttached = false;
    const readable = body as Readable;
    readable.off('data', onBodyData);
    readable.off('end', onBodyEnd);
    readable.off('error', onBodyError);
    // What the client still sends is read and dropped (never destroyed here: the client's
    // stream also carries the response).
    if (!readable.readableEnded) readable.resume();
  }

  bodyData(chunk: Buffer): void {
    const stream = this.#stream;
    if (stream === null || stream.destroyed || stream.writableEnded) return;
    this.#written += chunk.length;
    if (!stream.write(chunk)) {
      (this.#body as Readable).pause();
      stream.once('drain', onStreamDrain);
    }
  }

  bodyDrained(): void {
    if (this.#bodyAttached) (this.#body as Readable).resume();
  }

  bodyEnd(): void {
    const stream = this.#stream;
    if (stream !== null && !stream.destroyed && !stream.writableEnded) stream.end();
  }

  bodyError(): void {
    // The client's request failed mid-body: the backend must not see a short body as complete.
    this.abort(new errors.RequestAbortedError());
  }

  wantTrailers(): void {
    const stream = this.#stream!;
    const source = (this.#body as { trailers?: IncomingHttpHeaders }).trailers ?? {};
    const trailers: http2.OutgoingHttpHeaders = {};
    for (const name in source) {
      if (name.charCodeAt(0) === 58 /* ':' */ || CONNECTION_SPECIFIC.has(name) || name === 'te') continue;
      const value = source[name];
      if (value !== undefined) trailers[name] = value;
    }
    try {
      stream.sendTrailers(trailers);
    } catch {
      stream.close(NGHTTP2_CANCEL);
    }
  }

  // ---- the response

  response(headers: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader): void {
    if (this.#done) return;
    const status = Number(headers[':status']);
    delete headers[':status'];
    this.#responseStarted = true;
    const stream = this.#stream!;
    if (this.#headersTimeout > 0 || this.#bodyTimeout > 0) {
      stream.setTimeout(this.#paused ? 0 : this.#bodyTimeout);
      if (this.#headersTimeout === 0) stream.on('timeout', onTimeout);
    }
    this.#handler.onResponseStart?.(this, status, headers, '');
  }

  interim(headers: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader): void {
    if (this.#done || this.#responseStarted) return;
    const status = Number(headers[':status']);
    if (!(status >= 100 && status < 200)) return;
    delete headers[':status'];
    this.#handler.onResponseStart?.(this, status, headers, '');
  }

  data(chunk: Buffer): void {
    if (this.#done) return;
    this.#handler.onResponseData?.(this, chunk);
  }

  trailers(headers: IncomingHttpHeaders): void {
    this.#trailers = headers;
  }

  /**
   * The backend's side ended. Node reports an RST_STREAM by ending the readable side too (before
   * the stream's close says why), so the response is complete only when the stream then closes
   * without an error code (closed()). Our side is ended now — gracefully, not reset: a backend
   * that answered before the request body ended does not need the rest.
   */
  end(): void {
    if (this.#done || !this.#responseStarted) return;
    this.#ended = true;
    this.#detachBody();
    // Not now: ending our side here would close the stream with NO_ERROR before Node reports
    // the backend's RST_STREAM code, which arrives in the same read (closed() needs it).
    const stream = this.#stream!;
    if (!stream.writableEnded && !stream.destroyed) setImmediate(endWritable, stream);
  }

  streamError(error: Error): void {
    this.#streamError ??= error;
  }

  timedOut(): void {
    if (this.#done) return;
    const error = this.#responseStarted
      ? new errors.BodyTimeoutError('HTTP/2 backend sent no data in time')
      : new errors.HeadersTimeoutError('HTTP/2 backend sent no response headers in time');
    this.#closeStream(NGHTTP2_CANCEL);
    this.#fail(error);
  }

  closed(): void {
    const stream = this.#stream!;
    this.#entry!.released();
    if (this.#done) return;
    const code = stream.rstCode ?? 0;
    if (this.#ended && code === NGHTTP2_NO_ERROR && this.#entry!.error === null) {
      this.#done = true;
      this.#handler.onResponseEnd?.(this, this.#trailers ?? {});
      return;
    }
    const sessionError = this.#entry!.error;
    if (!this.#responseStarted && this.#entry!.connected && this.#replayable() && (code === NGHTTP2_REFUSED_STREAM || isGoawayRefusal(this.#streamError))) {
      // Never processed by the backend (RFC 9113 §8.7): once more, on another session.
      this.#retried = true;
      this.#stream = null;
      this.#streamError = null;
      this.#ended = false;
      if (code === NGHTTP2_REFUSED_STREAM) this.#entry!.retire();
      this.#pool.place(this);
      return;
    }
    const session = this.#entry!.session;
    let error: Error;
    if (sessionError !== null) error = sessionError;
    // Never connected (refused, unreachable): the socket's error, which the stream carries.
    else if (!this.#entry!.connected && this.#streamError !== null) error = causeOf(this.#streamError);
    // The connection went away (a crash, a reset socket): Node closes its streams with CANCEL
    // itself, which is not the backend cancelling this one.
    else if (session.destroyed) error = new errors.SocketError('the HTTP/2 connection to the backend closed');
    else if (code !== NGHTTP2_NO_ERROR) error = new UpstreamStreamResetError(code, this.#responseStarted);
    else error = this.#streamError ?? new errors.SocketError('HTTP/2 stream closed before the response was complete');
    this.#fail(error);
  }

  #replayable(): boolean {
    return !this.#retried && this.#written === 0 && (this.#body === null || Buffer.isBuffer(this.#body));
  }

  #closeStream(code: number): void {
    const stream = this.#stream;
    if (stream !== null && !stream.closed && !stream.destroyed) stream.close(code);
  }

  #fail(error: Error): void {
    if (this.#done) return;
    this.#done = true;
    this.#detachBody();
    this.#handler.onResponseError?.(this, error);
  }
}

function addHeader(out: http2.OutgoingHttpHeaders, name: string, value: string): void {
  if (name.charCodeAt(0) === 58 /* ':' */ || CONNECTION_SPECIFIC.has(name)) return;
  if (name === 'te' && value.trim().toLowerCase() !== 'trailers') return;
  const prior = out[name];
  if (prior === undefined) out[name] = value;
  else if (Array.isArray(prior)) prior.push(value);
  else out[name] = [String(prior), value];
}

/** Node cancels the streams of a session that failed to connect with an error whose cause is the socket's. */
function causeOf(error: Error): Error {
  const cause = (error as { cause?: unknown }).cause;
  return (error as { code?: string }).code === 'ERR_HTTP2_STREAM_CANCEL' && cause instanceof Error ? cause : error;
}

function isGoawayRefusal(error: Error | null): boolean {
  const code = (error as { code?: string } | null)?.code;
  return code === 'ERR_HTTP2_GOAWAY_SESSION' || code === 'ERR_HTTP2_STREAM_CANCEL';
}

function endWritable(stream: http2.ClientHttp2Stream): void {
  if (!stream.writableEnded && !stream.destroyed && !stream.closed) stream.end();
}

function requestOf(emitter: object): H2UpstreamRequest {
  return (emitter as Record<symbol, H2UpstreamRequest>)[kRequest]!;
}

function onResponse(this: http2.ClientHttp2Stream, headers: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader): void {
  requestOf(this).response(headers);
}

function onInterim(this: http2.ClientHttp2Stream, headers: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader): void {
  requestOf(this).interim(headers);
}

function onData(this: http2.ClientHttp2Stream, chunk: Buffer): void {
  requestOf(this).data(chunk);
}

function onTrailers(this: http2.ClientHttp2Stream, headers: IncomingHttpHeaders): void {
  requestOf(this).trailers(headers);
}

function onEnd(this: http2.ClientHttp2Stream): void {
  requestOf(this).end();
}

function onStreamError(this: http2.ClientHttp2Stream, error: Error): void {
  requestOf(this).streamError(error);
}

function onClose(this: http2.ClientHttp2Stream): void {
  requestOf(this).closed();
}

function onTimeout(this: http2.ClientHttp2Stream): void {
  requestOf(this).timedOut();
}

function onWantTrailers(this: http2.ClientHttp2Stream): void {
  requestOf(this).wantTrailers();
}

function onStreamDrain(this: http2.ClientHttp2Stream): void {
  requestOf(this).bodyDrained();
}

function onBodyData(this: Readable, chunk: Buffer): void {
  requestOf(this).bodyData(chunk);
}

function onBodyEnd(this: Readable): void {
  requestOf(this).bodyEnd();
}

function onBodyError(this: Readable): void {
  requestOf(this).bodyError();
}
