// An HTTP/1.1 or HTTP/2 request (Node's ServerResponse / Http2ServerResponse): the exchange's
// output written to the response object. The body streams both ways with backpressure; a body
// up to 16 KiB that arrives in one piece goes out with the head in one write; trailers follow
// the body. A gRPC call (application/grpc) is answered and ended in gRPC's terms (grpc.ts): every
// answer of the router is a gRPC status, a call cut after its response began ends with its status
// in the trailers, `grpc-timeout` is a deadline, and its status is counted per route.

import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import type { Socket } from 'node:net';
import type { Dispatcher } from 'undici';
import type { ProxyErrorSpec } from '../errors.ts';
import { filterBody, isPromise } from '../pipeline/runner.ts';
import { destroyResponse, sendError, type AnyResponse } from './error-response.ts';
import { Exchange, type ExchangeHost } from './exchange.ts';
import {
  GrpcStatus, endGrpcCall, grpcStatusForError, grpcStatusForHttp, grpcStatusForUpstreamFailure, grpcStatusName, isGrpcContentType,
  parseGrpcTimeout, writeGrpcStatus,
} from './grpc.ts';
import { addClientTrailers, clientAddress, clientResponseHeaders } from './headers.ts';
import { GrpcDeadlineError } from './upstream-failure.ts';
import type { Http1Request } from './http1-forwarder.ts';
import type { RouteRuntime } from './route-runtime.ts';
import type { UpstreamHeaders } from './upstream-attempt.ts';

export type { AnyRequest } from './http-message.ts';
import type { AnyRequest } from './http-message.ts';

const kExchange = Symbol('switchyard.exchange');
/**
 * A body up to this size that arrives in one piece goes out with the head as one latin1 string:
 * Node then makes one write() instead of a writev() of head and body (~7 % less CPU per request
 * under wrk). Latin1 maps bytes 1:1, so any body survives. Above it the copy costs more than it saves.
 */
const WHOLE_BODY_MAX = 16 * 1024;

function onClientClose(this: AnyResponse): void {
  const exchange = (this as unknown as Record<symbol, HttpExchange | undefined>)[kExchange];
  if (exchange !== undefined && !exchange.ended) exchange.clientGone();
}

function onDrain(this: AnyResponse): void {
  (this as unknown as Record<symbol, HttpExchange | undefined>)[kExchange]?.drained();
}

function onDeadline(exchange: HttpExchange): void {
  exchange.deadlinePassed();
}

export class HttpExchange extends Exchange implements Http1Request {
  readonly req: AnyRequest;
  readonly res: AnyResponse;
  readonly hasBody: boolean;
  readonly upgradeProtocol = null;
  /** HTTP/1.1: the whole body in one chunk (its length is the Content-Length): written with the end, in one write. */
  #wholeBodyLength = -1;
  #wholeBody: Buffer | null = null;
  /** A buffered body after the requestBody phases (filtered once: a retry sends the same bytes). */
  #sendBody: Buffer | null = null;
  /** A gRPC call (application/grpc): answered in gRPC statuses, grpc-timeout a deadline. */
  readonly grpc: boolean;
  #deadline: NodeJS.Timeout | null = null;
  /** grpc-status in the response headers (a trailers-only response). */
  #grpcHeaderStatus: string | undefined = undefined;

  constructor(proxy: ExchangeHost, runtime: RouteRuntime, req: AnyRequest, res: AnyResponse, secure: boolean, url: string, host: string) {
    const socket = req.socket as Socket;
    super('http', runtime, proxy, socket, clientAddress(socket.remoteAddress), secure, req.method ?? 'GET', url, host, req.headers, req);
    this.req = req;
    this.res = res;
    const h = req.headers;
    const h2 = (req as Http2ServerRequest).stream;
    this.hasBody = h['transfer-encoding'] !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0') ||
      (h2 !== undefined && !h2.readableEnded && this.method !== 'GET' && this.method !== 'HEAD');
    this.grpc = isGrpcContentType(h['content-type']);
    (res as unknown as Record<symbol, HttpExchange>)[kExchange] = this;
    res.on('close', onClientClose);
  }

  override get httpVersion(): string {
    return this.req.httpVersion;
  }

  clientClosed(): boolean {
    return (this.res as ServerResponse).destroyed;
  }

  protected canResend(): boolean {
    return !this.hasBody || this.body !== null;
  }

  /** A buffered body goes through the requestBody phases once, before the first attempt. */
  protected override prepareBody(): Promise<void> | null {
    if (this.body === null || this.chain.requestBody === null || this.#sendBody !== null) return null;
    return filterBuffered(this, this.body).then((filtered) => { this.#sendBody = filtered; });
  }

  /** The body dispatched upstream: the buffered one, the request stream, or the stream through the requestBody phases. */
  upstreamBody(): Dispatcher.DispatchOptions['body'] | null {
    if (this.body !== null) return this.#sendBody ?? this.body;
    if (!this.hasBody) return null;
    if (this.chain.requestBody === null) return this.req as IncomingMessage;
    // undici sends any async iterable (its types name only streams).
    return filteredStream(this, this.req as AsyncIterable<Buffer>) as unknown as Dispatcher.DispatchOptions['body'];
  }

  protected writeAnswer(): void {
    const res = this.res;
    if (res.headersSent) return;
    const body = this.answerBody;
    if (this.grpc && !isGrpcContentType(this.answerHeaders?.['content-type'] as string | undefined)) {
      // A plugin's answer to a gRPC call, as the call's status (a plugin that speaks gRPC itself,
      // content-type application/grpc, is passed through as written).
      const status = grpcStatusForHttp(this.answerStatus);
      writeGrpcStatus(res, status, (typeof body === 'string' ? body : body.toString('utf8')).trim().slice(0, 1024), this.answerHeaders);
      this.grpcStatus = status;
      return;
    }
    let headers = this.answerHeaders;
    // Never change the plugin's object: it may be a constant shared by every answer.
    if (headers === null) headers = { 'content-length': Buffer.byteLength(body) };
    else if (headers['content-length'] === undefined) headers = { ...headers, 'content-length': Buffer.byteLength(body) };
    (res as ServerResponse).writeHead(this.answerStatus, headers);
    res.end(body);
  }

  protected writeError(error: ProxyErrorSpec, cause: unknown = null): void {
    if (!this.grpc) {
      sendError(this.res, error);
      return;
    }
    const status = cause instanceof Error ? grpcStatusForUpstreamFailure(cause, error) : grpcStatusForError(error);
    writeGrpcStatus(this.res, status, error.message, null, error.code);
    this.grpcStatus = status;
  }

  protected writeHead(status: number, reason: string | undefined, headers: OutgoingHttpHeaders): boolean {
    const res = this.res as ServerResponse;
    const h1 = (this.res as { stream?: unknown }).stream === undefined;
    if (this.grpc) this.#grpcHeaderStatus = this.upstreamResponseHeaders?.['grpc-status'] as string | undefined;
    try {
      if (this.grpc && !h1 && headers['grpc-status'] !== undefined) {
        // A gRPC Trailers-Only response (its status in the headers): it must stay one HEADERS
        // frame with END_STREAM. writeHead() would send the HEADERS at once and END_STREAM in
        // an empty DATA frame after them, and gRPC clients then read the status as initial
        // metadata and the call as ended without status. Set, the head goes out with the end.
        res.statusCode = status;
        for (const name in headers) res.setHeader(name, headers[name]!);
      } else if (h1 && reason) {
        res.writeHead(status, reason, headers);
      } else {
        res.writeHead(status, headers);
      }
    } catch {
      // Node refuses what it cannot write (a header value it rejects): a 502, not a dropped connection.
      if (!res.headersSent) for (const name of res.getHeaderNames()) res.removeHeader(name);
      return false;
    }
    const length = headers['content-length'];
    if (h1 && this.chain.responseBody === null && typeof length === 'string') {
      const n = Number(length);
      if (n > 0 && n <= WHOLE_BODY_MAX) this.#wholeBodyLength = n;
    }
    return true;
  }

  protected writeBody(chunk: Buffer): boolean {
    const res = this.res as ServerResponse;
    if (this.#wholeBodyLength === chunk.length && this.#wholeBody === null) {
      // The whole body: the end follows at once (it is written with it, see endBody).
      this.#wholeBody = chunk;
      return true;
    }
    if (this.#wholeBody !== null) {
      res.write(this.#wholeBody);
      this.#wholeBody = null;
    }
    this.#wholeBodyLength = -1;
    if (res.write(chunk)) return true;
    res.once('drain', onDrain);
    return false;
  }

  protected endBody(trailers: UpstreamHeaders | null): void {
    const res = this.res as ServerResponse;
    // Trailers (gRPC's grpc-status among them) follow the body; over HTTP/1.1 Node sends them
    // only on a chunked response (a response whose length was known has nowhere to put them).
    if (trailers !== null) addClientTrailers(res, trailers);
    // A call's status: in the trailers, or in the headers of a trailers-only response.
    if (this.grpc) this.grpcStatus = statusNumber((trailers?.['grpc-status'] as string | undefined) ?? this.#grpcHeaderStatus);
    const whole = this.#wholeBody;
    // Node prepends the head to a string body: one write (WHOLE_BODY_MAX).
    if (whole !== null) res.end(whole.toString('latin1'), 'latin1');
    else res.end();
  }

  protected cutResponse(error: ProxyErrorSpec, cause: unknown): void {
    if (!this.grpc) {
      destroyResponse(this.res);
      return;
    }
    // A gRPC call ends with a status the client can read, in the trailers.
    const status = cause instanceof Error ? grpcStatusForUpstreamFailure(cause, error) : grpcStatusForError(error);
    endGrpcCall(this.res, status, error.message);
    this.grpcStatus = status;
  }

  /** grpc-timeout: the call is cut at its deadline (DEADLINE_EXCEEDED), whatever the route timeout. */
  protected override firstAttempt(): void {
    if (!this.grpc) return;
    const ms = parseGrpcTimeout(this.req.headers['grpc-timeout']);
    if (ms !== null) this.#deadline = setTimeout(onDeadline, ms, this);
  }

  deadlinePassed(): void {
    this.#deadline = null;
    if (!this.ended) this.attempt?.abort(new GrpcDeadlineError());
  }

  protected override onEnded(): void {
    if (this.#deadline !== null) {
      clearTimeout(this.#deadline);
      this.#deadline = null;
    }
    if (!this.grpc) return;
    // The call's status, counted per route and seen by the log phase: CANCELLED when the client left.
    if (this.outcome === 'client-closed') this.grpcStatus = GrpcStatus.CANCELLED;
    this.runtime.countGrpc(grpcStatusName(this.grpcStatus));
  }

  /**
   * A 1xx before the final response (undici hands these over; 100 it refuses itself, see
   * upstream-failure.ts). 103 Early Hints is forwarded; 102 to HTTP/1.1 clients; the rest are
   * dropped — an interim response is advisory and the final one follows.
   */
  protected override interim(status: number, headers: UpstreamHeaders): void {
    const res = this.res as ServerResponse;
    if (res.headersSent) return;
    try {
      if (status === 103 && headers.link !== undefined) {
        res.writeEarlyHints(clientResponseHeaders(headers) as Record<string, string | string[]>);
      } else if (status === 102 && (this.res as { stream?: unknown }).stream === undefined) {
        res.writeProcessing();
      }
    } catch {
      // an interim response we cannot relay is dropped, the final one still goes through
    }
  }
}

/** A grpc-status value as a number (null when absent or not an integer: counted as UNKNOWN). */
function statusNumber(value: string | undefined): number | null {
  const n = value === undefined ? NaN : Number(value);
  return Number.isInteger(n) ? n : null;
}

/** A buffered body through the requestBody phases (as one chunk, then the end). */
async function filterBuffered(x: HttpExchange, body: Buffer): Promise<Buffer> {
  const links = x.chain.requestBody!;
  const parts: Buffer[] = [];
  let out = filterBody(x, links, body, false, false);
  if (isPromise(out)) out = await out;
  if (out !== null) parts.push(out);
  let tail = filterBody(x, links, Buffer.alloc(0), true, false);
  if (isPromise(tail)) tail = await tail;
  if (tail !== null) parts.push(tail);
  return Buffer.concat(parts);
}

/** The request stream through the requestBody phases: pulled by undici, so backpressure holds. */
async function* filteredStream(x: HttpExchange, source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const links = x.chain.requestBody!;
  for await (const chunk of source) {
    let out = filterBody(x, links, chunk, false, false);
    if (isPromise(out)) out = await out;
    if (out !== null && out.length > 0) yield out;
  }
  let tail = filterBody(x, links, Buffer.alloc(0), true, false);
  if (isPromise(tail)) tail = await tail;
  if (tail !== null && tail.length > 0) yield tail;
}

