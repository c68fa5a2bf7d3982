// One attempt of an exchange over the native HTTP/1.1 client (http1-connection.ts): the request
// head written as one latin1 string, the body after it with backpressure, the response reported
// to the exchange. It frames and validates the request as undici does (the same head: host first,
// `connection: keep-alive`, the exchange's headers; Content-Length from the body or the client's
// header, else chunked; the same refusals for a header or path undici would not send), so a
// request reaches the backend the same whichever client carries it.

import type { Readable } from 'node:stream';
import { errors } from 'undici';
import type { Member } from '../balance/types.ts';
import type { Http1Connection, Http1Job } from './http1-connection.ts';
import type { Http1ConnectionPool } from './http1-connection-pool.ts';
import type { RouteRuntime } from './route-runtime.ts';
import type { UpstreamAttempt, UpstreamEvents, UpstreamHeaders } from './upstream-attempt.ts';

/** What a native attempt needs of its exchange (http1-forwarder.ts's Http1Request has it all). */
export interface NativeRequest extends UpstreamEvents {
  readonly runtime: RouteRuntime;
  readonly method: string;
  readonly path: string;
  readonly upstreamHeaders: string[] | null;
  upstreamBody(): unknown;
}

/** RFC 9110 token (a method, a header name). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A header value undici would send (no CR, LF, NUL or other controls but HTAB). */
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
/** A request target undici would send. */
const INVALID_PATH = /[^\u0021-\u00ff]/;

/** Methods whose requests carry a body by definition: an empty one is sent as `content-length: 0`. */
function expectsPayload(method: string): boolean {
  return method === 'POST' || method === 'PUT' || method === 'PATCH' || method === 'QUERY' || method === 'PROPFIND' || method === 'PROPPATCH';
}

const EMPTY = Buffer.alloc(0);

/**
 * A request stream that has ended with all of its bytes still buffered. Node has no public flag
 * for "ended but not yet read" (`readableEnded` waits for the 'end' event); undici reads the same
 * internal state for the same purpose.
 */
function isReceived(body: unknown): boolean {
  const state = (body as { _readableState?: { ended?: boolean; objectMode?: boolean; length?: number } })._readableState;
  return state !== undefined && state.ended === true && state.objectMode === false && typeof (body as Readable).read === 'function';
}

const kAttempt = Symbol('switchyard.nativeAttempt');
type BodyStream = Readable & { [kAttempt]?: NativeAttempt | null };

/** The request head up to (not including) its framing lines; throws undici's errors for what it cannot send. */
function requestHead(method: string, path: string, headers: string[] | null): { head: string; contentLength: number } {
  if (!TOKEN.test(method)) throw new errors.InvalidArgumentError('invalid request method');
  if (path.charCodeAt(0) !== 47 /* / */ && !path.startsWith('http://') && !path.startsWith('https://')) {
    throw new errors.InvalidArgumentError('path must be an absolute URL or start with a slash');
  }
  if (INVALID_PATH.test(path)) throw new errors.InvalidArgumentError('invalid request path');
  let host: string | null = null;
  let contentLength = -1;
  let rest = '';
  if (headers !== null) {
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!;
      const value = headers[i + 1]!;
      if (!TOKEN.test(name)) throw new errors.InvalidArgumentError('invalid header key');
      if (INVALID_VALUE.test(value)) throw new errors.InvalidArgumentError(`invalid ${name} header`);
      const key = name.toLowerCase();
      if (key === 'host') {
        if (host !== null) throw new errors.InvalidArgumentError('duplicate host header');
        host = value;
      } else if (key === 'content-length') {
        if (contentLength !== -1) throw new errors.InvalidArgumentError('duplicate content-length header');
        if (!/^\d+$/.test(value)) throw new errors.InvalidArgumentError('invalid content-length header');
        contentLength = parseInt(value, 10);
      } else if (key === 'transfer-encoding' || key === 'keep-alive' || key === 'upgrade' || key === 'connection') {
        // Hop-by-hop (headers.ts drops them): the connection's own framing and persistence are ours.
        throw new errors.InvalidArgumentError(`invalid ${key} header`);
      } else if (key === 'expect') {
        throw new errors.NotSupportedError('expect header not supported');
      } else {
        rest += `${name}: ${value}\r\n`;
      }
    }
  }
  const hostLine = host === null ? '' : `host: ${host}\r\n`;
  return { head: `${method} ${path} HTTP/1.1\r\n${hostLine}connection: keep-alive\r\n${rest}`, contentLength };
}

export class NativeAttempt implements UpstreamAttempt, Http1Job {
  readonly exchange: NativeRequest;
  readonly member: Member;
  readonly number: number;
  readonly startedAt: number;
  readonly skipBody: boolean;
  readonly #pool: Http1ConnectionPool;
  #connection: Http1Connection | null = null;
  /** The request body being written (a stream or an async iterable), null when none is. */
  #body: BodyStream | AsyncIterable<Buffer> | null = null;
  /** Bytes the head announced (-1: chunked) and bytes written. */
  #length = -1;
  #written = 0;
  #resumeBody: (() => void) | null = null;
  #reading = false;
  /** The head of a streamed request, until its first chunk (or end) goes with it. */
  #head: string | null = null;
  #payload = false;
  #done = false;

  constructor(exchange: NativeRequest, member: Member, number: number, pool: Http1ConnectionPool) {
    this.exchange = exchange;
    this.member = member;
    this.number = number;
    this.#pool = pool;
    this.skipBody = exchange.method === 'HEAD';
    this.startedAt = performance.now();
  }

  start(): void {
    const x = this.exchange;
    let framed: { head: string; contentLength: number };
    try {
      framed = requestHead(x.method, x.path, x.upstreamHeaders);
    } catch (err) {
      this.#done = true;
      x.attemptFailed(this, err);
      return;
    }
    const body = x.upstreamBody() as Buffer | BodyStream | AsyncIterable<Buffer> | string | null;
    if (body === null || typeof body === 'string' || Buffer.isBuffer(body)) {
      this.#send(framed, body);
      return;
    }
    // A stream may end in this very turn (its bytes came with the head, and the server's parser
    // is still reading them): as undici, look again a microtask later, so a body that is all
    // here goes with its head in one write, framed by its length.
    queueMicrotask(() => this.sendNow(framed, body));
  }

  /** The deferred start of a request with a body stream (sendLater). */
  sendNow(framed: { head: string; contentLength: number }, body: BodyStream | AsyncIterable<Buffer>): void {
    if (!this.#done) this.#send(framed, body);
  }

  #send(framed: { head: string; contentLength: number }, body: Buffer | BodyStream | AsyncIterable<Buffer> | string | null): void {
    const x = this.exchange;
    // A read of nothing lets the stream take in what its source already holds (undici does the same).
    if (body !== null && typeof (body as Readable).read === 'function') (body as Readable).read(0);
    if (body !== null && isReceived(body)) {
      // The whole body is already here: sent as a buffer, as undici does (util.bodyLength) —
      // the head and body in one write, framed by its length.
      body = ((body as Readable).read() as Buffer | null) ?? EMPTY;
    }
    const payload = expectsPayload(x.method);
    let { head } = framed;
    const declared = framed.contentLength;
    const connection = this.#pool.acquire();
    this.#connection = connection;
    const timeoutMs = x.runtime.attemptTimeoutMs;
    connection.begin(this, timeoutMs, timeoutMs);
    const socket = connection.socket;
    if (body === null || (typeof body === 'string' || Buffer.isBuffer(body)) && body.length === 0) {
      socket.write(payload ? `${head}content-length: 0\r\n\r\n` : `${head}\r\n`, 'latin1');
      return;
    }
    if (typeof body === 'string' || Buffer.isBuffer(body)) {
      const bytes = typeof body === 'string' ? Buffer.from(body) : body;
      if (declared > 0 && declared !== bytes.length && x.method !== 'GET' && x.method !== 'HEAD' && x.method !== 'OPTIONS' && x.method !== 'TRACE' && x.method !== 'CONNECT') {
        this.#fail(new errors.RequestContentLengthMismatchError());
        return;
      }
      if (!payload) connection.reusable = false; // a body on a GET: as undici, do not trust the connection after it
      if (bytes.length <= 16 * 1024) {
        // One write: the body rides in the same string as the head (latin1 maps bytes 1:1).
        socket.write(`${head}content-length: ${bytes.length}\r\n\r\n${bytes.toString('latin1')}`, 'latin1');
      } else {
        socket.cork();
        socket.write(`${head}content-length: ${bytes.length}\r\n\r\n`, 'latin1');
        socket.write(bytes);
        socket.uncork();
      }
      return;
    }
    // A stream: as undici, the head goes with the first chunk (or the end), one write, and the
    // body is read once the connection is up — a connecting socket would buffer it all, and a
    // pipelined request parsed after this one must not overtake it to the backend.
    this.#length = declared;
    this.#head = head;
    this.#payload = payload;
    if (!payload) connection.reusable = false;
    connection.writing = true;
    this.#body = body as BodyStream | AsyncIterable<Buffer>;
    if (connection.connected) this.#readBody();
  }

  // ---- the request body

  connected(): void {
    if (this.#body !== null && !this.#reading) this.#readBody();
  }

  #readBody(): void {
    const body = this.#body!;
    this.#reading = true;
    if (typeof (body as Readable).on === 'function' && typeof (body as Readable).pause === 'function') this.#streamBody(body as BodyStream);
    else void this.#iterateBody(body as AsyncIterable<Buffer>);
  }

  #streamBody(body: BodyStream): void {
    body[kAttempt] = this;
    body.on('data', onBodyData).on('end', onBodyEnd).on('error', onBodyError).on('close', onBodyClose);
    body.resume();
  }

  async #iterateBody(body: AsyncIterable<Buffer>): Promise<void> {
    try {
      for await (const chunk of body) {
        if (this.#body !== body) return;
        if (!this.writeBody(chunk)) await new Promise<void>((resolve) => { this.#resumeBody = resolve; });
        if (this.#body !== body) return;
      }
      if (this.#body === body) this.endBody();
    } catch (err) {
      if (this.#body === body) this.bodyFailed(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** A body chunk; false: wait for drained(). */
  writeBody(chunk: Buffer): boolean {
    const connection = this.#connection;
    if (connection === null || connection.job !== this || chunk.length === 0) return true;
    const length = this.#length;
    if (length !== -1 && this.#written + chunk.length > length) {
      // Never past the declared length: the rest would be read as another request (smuggling).
      this.#fail(new errors.RequestContentLengthMismatchError());
      return true;
    }
    this.#written += chunk.length;
    const socket = connection.socket;
    const head = this.#head;
    this.#head = null;
    if (length !== -1) {
      if (head === null) return socket.write(chunk);
      socket.cork();
      socket.write(`${head}content-length: ${length}\r\n\r\n`, 'latin1');
      const more = socket.write(chunk);
      socket.uncork();
      return more;
    }
    socket.cork();
    socket.write(head === null ? `${chunk.length.toString(16)}\r\n` : `${head}transfer-encoding: chunked\r\n\r\n${chunk.length.toString(16)}\r\n`, 'latin1');
    socket.write(chunk);
    const more = socket.write('\r\n', 'latin1');
    socket.uncork();
    return more;
  }

  endBody(): void {
    const connection = this.#connection;
    this.#detachBody();
    if (connection === null || connection.job !== this) {
      // The response came first and the connection was given up: nothing to finish.
      return;
    }
    if (this.#length !== -1 && this.#written !== this.#length) {
      this.#fail(new errors.RequestContentLengthMismatchError());
      return;
    }
    const head = this.#head;
    this.#head = null;
    if (head !== null) {
      // An empty body (a declared length other than 0 failed above): framed as undici frames one.
      connection.socket.write(this.#length === 0 || this.#payload ? `${head}content-length: 0\r\n\r\n` : `${head}\r\n`, 'latin1');
    } else if (this.#length === -1) {
      connection.socket.write('0\r\n\r\n', 'latin1');
    }
    connection.bodySent();
  }

  bodyFailed(error: Error): void {
    this.#detachBody();
    this.#fail(error);
  }

  drained(): void {
    const body = this.#body;
    if (body === null) return;
    const resume = this.#resumeBody;
    if (resume !== null) {
      this.#resumeBody = null;
      resume();
    } else if (typeof (body as Readable).resume === 'function') {
      (body as Readable).resume();
    }
  }

  detach(): void {
    this.#detachBody();
  }

  #detachBody(): void {
    const body = this.#body;
    if (body === null) return;
    this.#body = null;
    if (typeof (body as Readable).off === 'function') {
      const stream = body as BodyStream;
      stream[kAttempt] = null;
      stream.off('data', onBodyData).off('end', onBodyEnd).off('error', onBodyError).off('close', onBodyClose);
    }
    const resume = this.#resumeBody;
    this.#resumeBody = null;
    resume?.();
  }

  #fail(error: Error): void {
    const connection = this.#connection;
    if (connection !== null && connection.job === this) connection.fail(error);
    else if (!this.#done) this.failed(error);
  }

  // ---- UpstreamAttempt

  pause(): void {
    const c = this.#connection;
    if (c !== null && c.job === this) c.pause();
  }

  resume(): void {
    const c = this.#connection;
    if (c !== null && c.job === this) c.resume();
  }

  abort(reason: Error): void {
    const c = this.#connection;
    if (this.#done) return;
    if (c !== null && c.job === this) c.abandon();
    this.#done = true;
    this.#detachBody();
    this.exchange.attemptFailed(this, reason);
  }

  // ---- Http1Job: what the connection reports

  responseHead(status: number, headers: UpstreamHeaders, reason: string): void {
    this.exchange.upstreamHead(this, status, headers, reason === '' ? undefined : reason);
  }

  responseData(chunk: Buffer): void {
    if (chunk.length > 0) this.exchange.upstreamData(this, chunk);
  }

  responseEnd(trailers: UpstreamHeaders | null): void {
    this.#done = true;
    this.exchange.upstreamEnd(this, trailers);
  }

  failed(error: Error): void {
    if (this.#done) return;
    this.#done = true;
    this.exchange.attemptFailed(this, error);
  }
}

// Body stream listeners shared by every request (`this` is the stream): no closures per request.
function onBodyData(this: BodyStream, chunk: Buffer): void {
  const attempt = this[kAttempt];
  if (attempt != null && !attempt.writeBody(chunk)) this.pause();
}

function onBodyEnd(this: BodyStream): void {
  this[kAttempt]?.endBody();
}

function onBodyError(this: BodyStream, error: Error): void {
  this[kAttempt]?.bodyFailed(error);
}

function onBodyClose(this: BodyStream): void {
  // Closed without its end: the client went away mid-upload (as undici: the request was aborted).
  if (!this.readableEnded) this[kAttempt]?.bodyFailed(new errors.RequestAbortedError());
}
