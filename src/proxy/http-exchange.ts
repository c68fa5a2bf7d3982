// An HTTP/1.1 request (Node's IncomingMessage / ServerResponse): the exchange's output written to
// the response object. The body streams both ways with backpressure; a body up to 16 KiB that
// arrives in one piece goes out with the head in one write; trailers follow a chunked body. A gRPC
// call (application/grpc) is answered and ended in gRPC's terms (grpc.ts, request-exchange.ts).
// HTTP/2 streams have their own output (http2-exchange.ts).

import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { ProxyErrorSpec } from '../errors.ts';
import { destroyResponse, sendError } from './error-response.ts';
import type { ExchangeHost } from './exchange.ts';
import { endGrpcCall, grpcStatusForError, grpcStatusForUpstreamFailure, writeGrpcStatus } from './grpc.ts';
import { addClientTrailers, clientResponseHeaders } from './headers.ts';
import { RequestExchange, statusNumber } from './request-exchange.ts';
import type { RouteRuntime } from './route-runtime.ts';
import type { UpstreamHeaders } from './upstream-attempt.ts';


const kExchange = Symbol('switchyard.exchange');
/**
 * A body up to this size that arrives in one piece goes out with the head as one latin1 string:
 * Node then makes one write() instead of a writev() of head and body (~7 % less CPU per request
 * under wrk). Latin1 maps bytes 1:1, so any body survives. Above it the copy costs more than it saves.
 */
const WHOLE_BODY_MAX = 16 * 1024;

function onClientClose(this: ServerResponse): void {
  const exchange = (this as unknown as Record<symbol, HttpExchange | undefined>)[kExchange];
  if (exchange !== undefined && !exchange.ended) exchange.clientGone();
}

function onDrain(this: ServerResponse): void {
  (this as unknown as Record<symbol, HttpExchange | undefined>)[kExchange]?.drained();
}

export class HttpExchange extends RequestExchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** The request the client pipelined behind this one: started when this one ends (router-proxy.ts). */
  pipelined: HttpExchange | null = null;
  /** The whole body in one chunk (its length is the Content-Length): written with the end, in one write. */

  constructor(proxy: ExchangeHost, runtime: RouteRuntime, req: IncomingMessage, res: ServerResponse, secure: boolean, url: string, host: string) {
    const h = req.headers;
    const hasBody = h['transfer-encoding'] !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0');
    super(proxy, runtime, req.socket as Socket, secure, req.method ?? 'GET', url, host, h, req, hasBody);
    this.req = req;
    this.res = res;
    (res as unknown as Record<symbol, HttpExchange>)[kExchange] = this;
    res.on('close', onClientClose);
  }

  override get httpVersion(): string {
    return this.req.httpVersion;
  }

  clientClosed(): boolean {
    return this.res.destroyed;
  }

  protected writeAnswer(): void {
    const res = this.res;
    if (res.headersSent) return;
    const body = this.answerBody;
    const grpc = this.grpcAnswer();
    if (grpc !== null) {
      writeGrpcStatus(res, grpc.status, grpc.message, this.answerHeaders);
      this.grpcStatus = grpc.status;
      return;
    }
    let headers = this.answerHeaders;
    // Never change the plugin's object: it may be a constant shared by every answer.
    if (headers === null) headers = { 'content-length': Buffer.byteLength(body) };
    else if (headers['content-length'] === undefined) headers = { ...headers, 'content-length': Buffer.byteLength(body) };
    res.writeHead(this.answerStatus, headers);
    res.end(body);
  }

  protected writeError(error: ProxyErrorSpec, cause: unknown = null): void {
    if (!this.grpc) {
      sendError(this.res, error, this.errorHeaders());
      return;
    }
    const status = cause instanceof Error ? grpcStatusForUpstreamFailure(cause, error) : grpcStatusForError(error);
    writeGrpcStatus(this.res, status, error.message, this.errorHeaders() ?? null, error.code);
    this.grpcStatus = status;
  }

  protected writeHead(status: number, reason: string | undefined, headers: OutgoingHttpHeaders): boolean {
    const res = this.res;
    try {
      if (reason) res.writeHead(status, reason, headers);
      else res.writeHead(status, headers);
    } catch {
      // Node refuses what it cannot write (a header value it rejects): a 502, not a dropped connection.
      if (!res.headersSent) for (const name of res.getHeaderNames()) res.removeHeader(name);
      return false;
    }
    this.expectWholeBody(headers['content-length'], WHOLE_BODY_MAX);
    return true;
  }

  protected writeBody(chunk: Buffer): boolean {
    const res = this.res;
    // The whole body: the end follows at once (it is written with it, see endBody).
    if (this.holdWholeBody(chunk)) return true;
    const held = this.takeWholeBody();
    if (held !== null) res.write(held);
    if (res.write(chunk)) return true;
    res.once('drain', onDrain);
    return false;
  }

  protected endBody(trailers: UpstreamHeaders | null): void {
    const res = this.res;
    // Trailers (gRPC's grpc-status among them) follow the body; Node sends them only on a chunked
    // response (a response whose length was known has nowhere to put them).
    if (trailers !== null) addClientTrailers(res, trailers);
    // A call's status: in the trailers, or in the headers of a trailers-only response.
    if (this.grpc) this.grpcStatus = statusNumber((trailers?.['grpc-status'] as string | undefined) ?? (this.upstreamResponseHeaders?.['grpc-status'] as string | undefined));
    const whole = this.takeWholeBody();
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

  /**
   * A 1xx before the final response (undici hands these over; 100 it refuses itself, see
   * upstream-failure.ts). 103 Early Hints and 102 are forwarded; the rest are dropped — an
   * interim response is advisory and the final one follows.
   */
  protected override interim(status: number, headers: UpstreamHeaders): void {
    const res = this.res;
    if (res.headersSent) return;
    try {
      if (status === 103 && headers.link !== undefined) res.writeEarlyHints(clientResponseHeaders(headers) as Record<string, string | string[]>);
      else if (status === 102) res.writeProcessing();
    } catch {
      // an interim response we cannot relay is dropped, the final one still goes through
    }
  }
}
