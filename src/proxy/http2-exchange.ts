// An HTTP/2 request, served on Node's core stream API (ServerHttp2Stream: respond, write, end,
// sendTrailers) rather than the compatibility request/response objects, which cost two objects,
// a Readable and a dozen listeners per stream, a header copy per write, and an empty DATA frame
// after every response (they always wait for trailers). Here:
//
// - the head is one flat [name, value, …] list handed to respond(); a response without a body
//   (Content-Length 0, 204, 304, HEAD) ends with its HEADERS frame;
// - a body that arrives in one piece (its length is the Content-Length) is written with the end:
//   one DATA frame with END_STREAM; longer bodies stream with backpressure ('drain');
// - trailers are waited for only when they can come: a gRPC call, a client that sent
//   `TE: trailers`, or a backend that announced them (`Trailer`); otherwise the stream ends with
//   its last DATA frame;
// - a gRPC call is answered and ended in gRPC's terms (grpc.ts): a trailers-only response is one
//   HEADERS frame with END_STREAM, a call cut mid-response ends with its status in the trailers.

import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { Http2ServerRequest, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { ProxyErrorSpec } from '../errors.ts';
import { closeStream, sendStreamError } from './error-response.ts';
import type { ExchangeHost } from './exchange.ts';
import { grpcStatusForError, grpcStatusForUpstreamFailure, grpcTrailers, respondGrpcStatus } from './grpc.ts';
import { clientResponseHeaders, clientTrailers, forwardableFields, headerList } from './headers.ts';
import { RequestExchange, statusNumber } from './request-exchange.ts';
import type { RouteRuntime } from './route-runtime.ts';
import type { UpstreamHeaders } from './upstream-attempt.ts';

const kExchange = Symbol('switchyard.h2Exchange');
const RESPOND_STREAMING = Object.freeze({ waitForTrailers: false });
const RESPOND_TRAILERS = Object.freeze({ waitForTrailers: true });
const RESPOND_EMPTY = Object.freeze({ endStream: true });
const NO_RAW_HEADERS: string[] = [];
const NO_FIELDS: OutgoingHttpHeaders = Object.freeze({}) as OutgoingHttpHeaders;

interface ExchangeStream { [kExchange]?: Http2Exchange }

function onStreamClose(this: ServerHttp2Stream): void {
  const exchange = (this as ExchangeStream)[kExchange];
  // A closed stream outlives its exchange: Node keeps it reachable until the next full
  // collection, so each minor one copies and promotes whatever it still points at. Cut here, the
  // exchange (its undici request, header lists, buffers) dies young: half the bytes promoted per
  // scavenge under h2load -m10 (--trace-gc), fewer mark-compacts. Nothing calls it after 'close'.
  (this as ExchangeStream)[kExchange] = undefined;
  if (exchange !== undefined && !exchange.ended) exchange.clientGone();
}

function onStreamDrain(this: ServerHttp2Stream): void {
  (this as ExchangeStream)[kExchange]?.drained();
}

function onWantTrailers(this: ServerHttp2Stream): void {
  (this as ExchangeStream)[kExchange]?.sendTrailers();
}

/** `TE: trailers` (the client reads trailers: gRPC clients always say so). */
function acceptsTrailers(te: string | string[] | undefined): boolean {
  return typeof te === 'string' && te.toLowerCase().includes('trailers');
}

/** A header list (headerList: lower-case names) has the field. */
function listHas(list: unknown[], name: string): boolean {
  for (let i = 2; i < list.length; i += 2) if (list[i] === name) return true;
  return false;
}

export class Http2Exchange extends RequestExchange {
  readonly stream: ServerHttp2Stream;
  /** The response was opened with waitForTrailers: the stream asks for them ('wantTrailers') after the body. */
  #waitsForTrailers = false;
  #trailers: OutgoingHttpHeaders = NO_FIELDS;
  /** A gRPC trailers-only response (grpc-status in the head): held until the end, one HEADERS frame with END_STREAM. */
  #heldHead: unknown[] | null = null;
  /** The whole body in one chunk (its length is the Content-Length): written with the end. */

  constructor(proxy: ExchangeHost, runtime: RouteRuntime, stream: ServerHttp2Stream, headers: IncomingHttpHeaders, secure: boolean, url: string, host: string) {
    const method = headers[':method'] as string;
    const length = headers['content-length'];
    // END_STREAM on the HEADERS frame says there is none (a GET); a GET's or HEAD's body is not forwarded.
    const hasBody = (length !== undefined && length !== '0') ||
      (!stream.endAfterHeaders && !stream.readableEnded && method !== 'GET' && method !== 'HEAD');
    // A body is read through Node's compatibility Readable for the stream: undici destroys a
    // stream body once sent, which must not reset the stream (it carries the response too), and
    // the HTTP/2 upstream pool reads the request's trailers off it. Only requests with a body pay for it.
    const body = hasBody ? new Http2ServerRequest(stream, headers, {}, NO_RAW_HEADERS) : stream;
    super(proxy, runtime, stream.session!.socket as Socket, secure, method, url, host, headers, body, hasBody);
    this.stream = stream;
    (stream as ExchangeStream)[kExchange] = this;
    stream.on('close', onStreamClose);
  }

  override get httpVersion(): string {
    return '2.0';
  }

  /** Without a body the request stream is the stream itself: reading it (a plugin's readBody) must not end the response. */
  protected override requestChunks(): AsyncIterable<Buffer> {
    return this.request === this.stream ? this.stream.iterator({ destroyOnReturn: false }) : super.requestChunks();
  }

  clientClosed(): boolean {
    return this.stream.destroyed;
  }

  protected writeAnswer(): void {
    const stream = this.stream;
    if (stream.headersSent || stream.destroyed) return;
    const body = this.answerBody;
    const grpc = this.grpcAnswer();
    if (grpc !== null) {
      respondGrpcStatus(stream, grpc.status, grpc.message, this.answerHeaders);
      this.grpcStatus = grpc.status;
      return;
    }
    const headers = this.answerHeaders;
    const list = headerList(this.answerStatus, headers ?? NO_FIELDS);
    if (!listHas(list, 'content-length')) list.push('content-length', String(Buffer.byteLength(body)));
    // Throws on a plugin's invalid header before anything is sent: answered 500 instead (exchange.ts).
    stream.respond(list as unknown as OutgoingHttpHeaders, RESPOND_STREAMING);
    stream.end(body);
  }

  protected writeError(error: ProxyErrorSpec, cause: unknown = null): void {
    if (!this.grpc) {
      sendStreamError(this.stream, this.headers, error, this.errorHeaders());
      return;
    }
    const status = cause instanceof Error ? grpcStatusForUpstreamFailure(cause, error) : grpcStatusForError(error);
    if (this.stream.headersSent) this.#endCall(status, error.message);
    else respondGrpcStatus(this.stream, status, error.message, this.errorHeaders() ?? null, error.code);
    this.grpcStatus = status;
  }

  protected writeHead(status: number, _reason: string | undefined, headers: OutgoingHttpHeaders): boolean {
    const stream = this.stream;
    if (stream.destroyed) return true; // the client has gone: its close ends the exchange
    if (stream.headersSent) return false; // answered meanwhile (a stalled body's 408)
    let list: unknown[];
    try {
      list = headerList(status, headers);
    } catch {
      return false; // a field no HTTP/2 client may get: a 502
    }
    if (this.grpc && headers['grpc-status'] !== undefined) {
      // A gRPC Trailers-Only response (its status in the headers): one HEADERS frame with END_STREAM.
      this.#heldHead = list;
      return true;
    }
    const length = headers['content-length'];
    this.#waitsForTrailers = length !== '0' && (this.grpc || acceptsTrailers(this.headers.te) || this.upstreamResponseHeaders?.trailer !== undefined);
    if (!this.#respond(list, length === '0')) return false;
    this.expectWholeBody(length);
    return true;
  }

  /** Send the head; false when Node refuses it (an invalid status or field: a 502). */
  #respond(list: unknown[], empty: boolean): boolean {
    const stream = this.stream;
    try {
      if (this.#waitsForTrailers) stream.once('wantTrailers', onWantTrailers);
      stream.respond(list as unknown as OutgoingHttpHeaders, empty ? RESPOND_EMPTY : this.#waitsForTrailers ? RESPOND_TRAILERS : RESPOND_STREAMING);
      return true;
    } catch {
      if (this.#waitsForTrailers) stream.removeListener('wantTrailers', onWantTrailers);
      this.#waitsForTrailers = false;
      return false;
    }
  }

  /** A held trailers-only head goes out as a normal one (the response turned out to have more). */
  #releaseHead(): boolean {
    const list = this.#heldHead!;
    this.#heldHead = null;
    this.#waitsForTrailers = true;
    return this.#respond(list, false);
  }

  protected writeBody(chunk: Buffer): boolean {
    if (this.#heldHead !== null && !this.#releaseHead()) {
      closeStream(this.stream);
      return true;
    }
    const stream = this.stream;
    if (stream.writableEnded) return true; // a response Node ended with its head (204, 304, HEAD)
    // The whole body: the end follows at once and carries it (one DATA frame with END_STREAM).
    if (this.holdWholeBody(chunk)) return true;
    const held = this.takeWholeBody();
    if (held !== null) stream.write(held);
    if (stream.write(chunk)) return true;
    stream.once('drain', onStreamDrain);
    return false;
  }

  protected endBody(trailers: UpstreamHeaders | null): void {
    const stream = this.stream;
    // A call's status: in the trailers, or in the headers of a trailers-only response.
    if (this.grpc) this.grpcStatus = statusNumber((trailers?.['grpc-status'] as string | undefined) ?? (this.upstreamResponseHeaders?.['grpc-status'] as string | undefined));
    const forwarded = trailers === null ? null : clientTrailers(trailers);
    if (this.#heldHead !== null) {
      if (forwarded === null) {
        const list = this.#heldHead;
        this.#heldHead = null;
        try {
          stream.respond(list as unknown as OutgoingHttpHeaders, RESPOND_EMPTY);
        } catch {
          closeStream(stream);
        }
        return;
      }
      if (!this.#releaseHead()) {
        closeStream(stream);
        return;
      }
    }
    if (forwarded !== null && this.#waitsForTrailers) this.#trailers = forwarded;
    if (stream.writableEnded) return;
    const whole = this.takeWholeBody();
    if (whole !== null) stream.end(whole);
    else stream.end();
  }

  /** The stream asks for its trailers (the response was opened waiting for them): exactly one call. */
  sendTrailers(): void {
    const stream = this.stream;
    if (stream.destroyed || stream.closed) return;
    const trailers = this.#trailers;
    try {
      stream.sendTrailers(trailers);
    } catch {
      // A field Node refuses: send what it accepts (the stream waits for one sendTrailers).
      try { stream.sendTrailers(forwardableFields(trailers)); } catch { closeStream(stream); }
    }
  }

  protected cutResponse(error: ProxyErrorSpec, cause: unknown): void {
    if (!this.grpc) {
      closeStream(this.stream);
      return;
    }
    // A gRPC call ends with a status the client can read, in the trailers.
    const status = cause instanceof Error ? grpcStatusForUpstreamFailure(cause, error) : grpcStatusForError(error);
    this.#endCall(status, error.message);
    this.grpcStatus = status;
  }

  /** End a call whose response began with its status in the trailers (its head was sent waiting for them). */
  #endCall(status: number, message: string): void {
    const stream = this.stream;
    if (this.#heldHead !== null) {
      this.#heldHead = null;
      respondGrpcStatus(stream, status, message, null);
      return;
    }
    if (stream.writableEnded || stream.destroyed) return;
    if (!this.#waitsForTrailers) {
      closeStream(stream);
      return;
    }
    this.#trailers = grpcTrailers(status, message);
    stream.end();
  }

  /**
   * A 1xx before the final response: 103 Early Hints is forwarded; the rest are dropped (HTTP/2
   * has no 102) — an interim response is advisory and the final one follows.
   */
  protected override interim(status: number, headers: UpstreamHeaders): void {
    const stream = this.stream;
    if (status !== 103 || headers.link === undefined || stream.headersSent || stream.destroyed) return;
    try {
      stream.additionalHeaders({ ...clientResponseHeaders(headers), ':status': 103 });
    } catch {
      // an interim response we cannot relay is dropped, the final one still goes through
    }
  }
}
