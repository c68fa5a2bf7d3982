// What an HTTP request exchange is whatever protocol the client speaks (HTTP/1.1: http-exchange.ts,
// HTTP/2 streams: http2-exchange.ts): its request body (streamed, buffered, or through the
// requestBody phases, so a retry sends the same bytes), and gRPC's terms (application/grpc): a
// `grpc-timeout` deadline, a call status counted per route. Each way in writes its own output.

import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { filterBody, isPromise } from '../pipeline/runner.ts';
import { Exchange, type ExchangeHost } from './exchange.ts';
import { GrpcStatus, grpcStatusForHttp, grpcStatusName, isGrpcContentType, parseGrpcTimeout } from './grpc.ts';
import { clientAddress } from './headers.ts';
import type { Http1Request } from './http1-forwarder.ts';
import type { RouteRuntime } from './route-runtime.ts';
import { GrpcDeadlineError } from './upstream-failure.ts';
import { MIRROR_BODY_MAX, MirrorBodyCopy, mirrorSource } from './request-mirror.ts';

function onDeadline(exchange: RequestExchange): void {
  exchange.deadlinePassed();
}

export abstract class RequestExchange extends Exchange implements Http1Request {
  readonly hasBody: boolean;
  readonly upgradeProtocol = null;
  /** A gRPC call (application/grpc): answered in gRPC statuses, grpc-timeout a deadline. */
  readonly grpc: boolean;
  /** A buffered body after the requestBody phases (filtered once: a retry sends the same bytes). */
  #sendBody: Buffer | null = null;
  #deadline: NodeJS.Timeout | null = null;
  /** The length the response head announced, while a body in one chunk of it is still possible; else -1. */
  #wholeBodyLength = -1;
  /** That one chunk, held for the end to carry (one write, one DATA frame with END_STREAM). */
  #wholeBody: Buffer | null = null;
  /** A streamed body being copied for the request's mirrors (request-mirror.ts); null when none. */
  #mirrorCopy: MirrorBodyCopy | null = null;
  #mirrorTeed = false;

  /** `body`: the request body stream; `hasBody`: whether the request has one to forward. */
  constructor(proxy: ExchangeHost, runtime: RouteRuntime, socket: Socket, secure: boolean, method: string, url: string, host: string,
    headers: IncomingHttpHeaders, body: Readable, hasBody: boolean) {
    super('http', runtime, proxy, socket, clientAddress(socket.remoteAddress), secure, method, url, host, headers, body);
    this.hasBody = hasBody;
    this.grpc = isGrpcContentType(headers['content-type']);
  }

  /**
   * From the response head: a body of `contentLength` bytes (the header's value) that arrives in
   * one chunk is held for the end to carry. Not when responseBody phases may change it, nor
   * above `max` bytes.
   */
  protected expectWholeBody(contentLength: string | string[] | number | undefined, max = Infinity): void {
    if (this.chain.responseBody !== null || typeof contentLength !== 'string') return;
    const n = Number(contentLength);
    if (n > 0 && n <= max) this.#wholeBodyLength = n;
  }

  /** A body chunk: true when it is the whole body, now held; else write `takeWholeBody()` first, then it. */
  protected holdWholeBody(chunk: Buffer): boolean {
    if (this.#wholeBodyLength === chunk.length && this.#wholeBody === null) {
      this.#wholeBody = chunk;
      return true;
    }
    this.#wholeBodyLength = -1;
    return false;
  }

  /** The held whole body (once), or null. */
  protected takeWholeBody(): Buffer | null {
    const whole = this.#wholeBody;
    this.#wholeBody = null;
    return whole;
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
    const copy = this.#mirrorCopy;
    if (copy !== null && !this.#mirrorTeed) {
      // Once: a retry cannot resend a streamed body anyway.
      this.#mirrorTeed = true;
      const source = this.chain.requestBody === null ? this.requestChunks() : filteredStream(this, this.requestChunks());
      return copy.tee(source) as unknown as Dispatcher.DispatchOptions['body'];
    }
    if (this.chain.requestBody === null) return this.request as Dispatcher.DispatchOptions['body'];
    // undici sends any async iterable (its types name only streams).
    return filteredStream(this, this.requestChunks()) as unknown as Dispatcher.DispatchOptions['body'];
  }

  /**
   * HTTPRoute RequestMirror: the copies go now (no body, or a buffered one), or once the
   * streamed body has passed (copied on its way to the primary's backend).
   */
  #mirror(): void {
    const sender = this.proxy.mirrors;
    const targets = sender.begin(this.runtime.mirrors!);
    if (targets === null) return;
    const source = mirrorSource(this.method, this.path, this.upstreamHeaders, this.clientAddress);
    if (!this.hasBody) {
      sender.send(targets, source, null);
      return;
    }
    if (this.body !== null) {
      const body = this.#sendBody ?? this.body;
      if (body.length > MIRROR_BODY_MAX) sender.drop(targets.length, 'dropped_body');
      else sender.send(targets, source, body);
      return;
    }
    this.#mirrorCopy = new MirrorBodyCopy(sender, targets, source);
  }


  /** grpc-timeout: the call is cut at its deadline (DEADLINE_EXCEEDED), whatever the route timeout. */
  /**
   * A phase's answer to a gRPC call, as the call's status and message; null when the answer is
   * written as it is (not a gRPC call, or a plugin that speaks gRPC itself: application/grpc).
   */
  protected grpcAnswer(): { status: number; message: string } | null {
    if (!this.grpc || isGrpcContentType(this.answerHeaders?.['content-type'] as string | undefined)) return null;
    const body = this.answerBody;
    return { status: grpcStatusForHttp(this.answerStatus), message: (typeof body === 'string' ? body : body.toString('utf8')).trim().slice(0, 1024) };
  }

  protected override firstAttempt(): void {
    if (this.runtime.mirrors !== null) this.#mirror();
    if (!this.grpc) return;
    const ms = parseGrpcTimeout(this.headers['grpc-timeout']);
    if (ms !== null) this.#deadline = setTimeout(onDeadline, ms, this);
  }

  deadlinePassed(): void {
    this.#deadline = null;
    if (!this.ended) this.attempt?.abort(new GrpcDeadlineError());
  }

  protected override onEnded(): void {
    // A body that did not reach its end (the attempt failed or never read it): the mirrors are
    // dropped (a no-op when the copies went).
    this.#mirrorCopy?.abandon();
    this.#mirrorCopy = null;
    if (this.#deadline !== null) {
      clearTimeout(this.#deadline);
      this.#deadline = null;
    }
    if (!this.grpc) return;
    // The call's status, counted per route and seen by the log phase: CANCELLED when the client left.
    if (this.outcome === 'client-closed') this.grpcStatus = GrpcStatus.CANCELLED;
    this.runtime.countGrpc(grpcStatusName(this.grpcStatus));
  }
}

/** A grpc-status value as a number (null when absent or not an integer: counted as UNKNOWN). */
export function statusNumber(value: string | undefined): number | null {
  const n = value === undefined ? NaN : Number(value);
  return Number.isInteger(n) ? n : null;
}

/** A buffered body through the requestBody phases (as one chunk, then the end). */
async function filterBuffered(x: RequestExchange, body: Buffer): Promise<Buffer> {
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
async function* filteredStream(x: RequestExchange, source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
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
