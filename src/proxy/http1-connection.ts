// One keep-alive HTTP/1.1 connection to a cleartext endpoint: a socket, Node's llhttp parser
// (native-http-parser.ts) and at most one request at a time (no pipelining). The request is an
// Http1Job (native-attempt.ts) that writes its own head and body; the connection parses the
// response and reports it to the job, runs the connect / headers / body-inactivity / idle timers
// (one Timeout per connection, refreshed, not re-made per request), and decides whether the
// connection may carry another request. Anything it cannot vouch for closes it: a parse error,
// bytes after a complete response (never delivered as the next request's answer), a response
// that ended before the request body was sent, `Connection: close`, a short Keep-Alive hint.
// Errors are undici's classes (and Node's socket errors), so upstream-failure.ts maps them to
// 502/503/504 and passive health exactly as on the undici path.

import net from 'node:net';
import { errors } from 'undici';
import type { UpstreamHeaders } from './upstream-attempt.ts';
import { InvalidUpstreamResponseError } from './upstream-failure.ts';
import type { NativeParser, NativeParserClass } from './native-http-parser.ts';

/** What a connection reports to the request it carries. */
export interface Http1Job {
  /** The request is a HEAD: its response has no body, whatever its head says. */
  readonly skipBody: boolean;
  /** A response head (1xx included). */
  responseHead(status: number, headers: UpstreamHeaders, reason: string): void;
  responseData(chunk: Buffer): void;
  responseEnd(trailers: UpstreamHeaders | null): void;
  /** The request failed; the connection is closed already. */
  failed(error: Error): void;
  /** The socket can take more request body. */
  drained(): void;
  /** The connection is established (a job that began on a new connection). */
  connected(): void;
  /** The connection is done with this request (stop writing the body). */
  detach(): void;
}

export interface Http1ConnectionOwner {
  readonly host: string;
  readonly port: number;
  readonly connectTimeoutMs: number;
  readonly parserClass: NativeParserClass;
  /** The connection may take another request. */
  released(connection: Http1Connection): void;
  /** The connection closed (or will): forget it. */
  removed(connection: Http1Connection): void;
}

/** Backends commonly close idle connections after 5 s (Node's default): stay below it (undici's 4 s). */
export const IDLE_TIMEOUT_MS = 4_000;
/** A Keep-Alive `timeout=` hint is followed minus this margin (as undici's threshold), capped below. */
const KEEP_ALIVE_MARGIN_MS = 1_000;
const KEEP_ALIVE_MAX_MS = 60_000;
/** Interim (1xx) responses before the final one, at most: a backend sending more is broken or hostile. */
export const MAX_INTERIM = 16;
/** Trailer section size at most (the parser bounds the header section itself: 16 KiB). */
const MAX_TRAILER_BYTES = 16 * 1024;

const TIMER_NONE = 0;
const TIMER_CONNECT = 1;
const TIMER_HEADERS = 2;
const TIMER_BODY = 3;

/** A reason phrase Node will write (no control characters but HTAB). */
const REASON_PHRASE = /^[\t\x20-\x7e\x80-\xff]*$/;

// Responses are read into one buffer shared by every connection of this thread (net's `onread`)
// and parsed straight out of it: a read makes no Buffer of its own and does not go through the
// socket's Readable (push, 'data', the maybeReadMore tick). Safe to share: the parser consumes a
// read synchronously, gives header fields as strings and copies each body chunk out
// (Buffer::Copy in Node's parser), and nothing keeps the chunk. 64 KiB is what libuv reads at most.
const READ_BUFFER_BYTES = 64 * 1024;
let readBuffer: Buffer | null = null;

function sharedReadBuffer(): Buffer {
  return (readBuffer ??= Buffer.allocUnsafeSlow(READ_BUFFER_BYTES));
}

export class Http1Connection {
  readonly owner: Http1ConnectionOwner;
  readonly socket: net.Socket;
  readonly parser: NativeParser;
  /** The request on the connection; null while idle. */
  job: Http1Job | null = null;
  /** On the owner's idle stack. */
  idle = false;
  connected = false;
  /** May carry another request after this one. */
  reusable = true;
  /** The job's request body is still being written. */
  writing = false;
  /** The response is paused (the client is slow): the body timeout waits. */
  paused = false;
  /** How long it may sit idle (a Keep-Alive hint shortens it). */
  idleMs = IDLE_TIMEOUT_MS;
  headersTimeoutMs = 0;
  bodyTimeoutMs = 0;
  /** The final response head arrived for the current request. */
  #responding = false;
  #interims = 0;
  /** The current response completed inside this execute(). */
  #complete = false;
  /** Bytes arrived that belong to no request: close once the parser returns. */
  #poisoned = false;
  /** Header pairs handed over before the head completed (long heads), then trailers. */
  #pending: string[] | null = null;
  /** The request's timer (connect, headers, body inactivity): kept between requests, refreshed. */
  #timer: NodeJS.Timeout | null = null;
  #timerType = TIMER_NONE;
  #timerMs = 0;
  /** The idle timer, refreshed each time the connection goes idle (it ignores a busy connection). */
  #idleTimer: NodeJS.Timeout | null = null;
  #idleTimerMs = 0;
  #closed = false;

  constructor(owner: Http1ConnectionOwner) {
    this.owner = owner;
    const Parser = owner.parserClass;
    const parser = new Parser();
    parser.initialize(Parser.RESPONSE, {}, 0, Parser.kLenientNone);
    parser[Parser.kOnMessageBegin] = onMessageBegin;
    parser[Parser.kOnHeaders] = onHeaders;
    parser[Parser.kOnHeadersComplete] = onHeadersComplete;
    parser[Parser.kOnBody] = onBody;
    parser[Parser.kOnMessageComplete] = onMessageComplete;
    (parser as unknown as { connection: Http1Connection }).connection = this;
    this.parser = parser;
    const socket = net.connect({ host: owner.host, port: owner.port, noDelay: true, keepAlive: true, keepAliveInitialDelay: 60_000,
      onread: { buffer: sharedReadBuffer(), callback: onRead as unknown as (bytes: number, buffer: Uint8Array) => boolean } });
    (socket as unknown as { connection: Http1Connection }).connection = this;
    socket.on('connect', onConnect).on('end', onEnd).on('error', onError).on('close', onClose).on('drain', onDrain);
    this.socket = socket;
    this.#arm(TIMER_CONNECT, owner.connectTimeoutMs);
  }

  /** Carry `job` (its head is written by the job right after). */
  begin(job: Http1Job, headersTimeoutMs: number, bodyTimeoutMs: number): void {
    this.job = job;
    this.headersTimeoutMs = headersTimeoutMs;
    this.bodyTimeoutMs = bodyTimeoutMs;
    this.#responding = false;
    this.#interims = 0;
    this.#pending = null;
    this.paused = false;
    this.idle = false;
    if (this.connected) this.#arm(TIMER_HEADERS, headersTimeoutMs);
    else if (this.#timerType !== TIMER_CONNECT) this.#arm(TIMER_CONNECT, this.owner.connectTimeoutMs);
  }

  pause(): void {
    if (this.paused || this.job === null) return;
    this.paused = true;
    this.socket.pause();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (this.#timerType === TIMER_BODY) this.#timer?.refresh();
    this.socket.resume();
  }

  /** The request body ended while the response goes on (or is done): the connection may be reused. */
  bodySent(): void {
    this.writing = false;
  }

  /** Give the connection up (an abort, a body that failed): it closes, and the job hears nothing more. */
  abandon(): void {
    const job = this.job;
    this.job = null;
    job?.detach();
    this.close();
  }

  /** Fail the current request with `error` and close. */
  fail(error: Error): void {
    const job = this.job;
    this.job = null;
    this.close();
    if (job !== null) {
      job.detach();
      job.failed(error);
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.reusable = false;
    this.#clearTimer();
    if (this.#idleTimer !== null) clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
    this.owner.removed(this);
    this.socket.destroy();
  }

  get closed(): boolean {
    return this.#closed;
  }

  // ---- timers: one Timeout per connection, re-armed only when the duration changes

  #arm(type: number, ms: number): void {
    this.#timerType = type;
    if (ms <= 0) {
      this.#clearTimer();
      return;
    }
    if (this.#timer !== null && this.#timerMs === ms) {
      this.#timer.refresh();
      return;
    }
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timerMs = ms;
    this.#timer = setTimeout(onTimer, ms, this);
    this.#timer.unref();
  }

  #clearTimer(): void {
    this.#timerType = TIMER_NONE;
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
      this.#timerMs = 0;
    }
  }

  #armIdle(ms: number): void {
    if (this.#idleTimer !== null && this.#idleTimerMs === ms) {
      this.#idleTimer.refresh();
      return;
    }
    if (this.#idleTimer !== null) clearTimeout(this.#idleTimer);
    this.#idleTimerMs = ms;
    this.#idleTimer = setTimeout(onIdleTimer, ms, this);
    this.#idleTimer.unref();
  }

  /** The idle timer fired (module function onIdleTimer): close unless a request took the connection since. */
  idleTimedOut(): void {
    if (this.job === null && this.idle) this.close();
  }

  /** The timer fired (module function onTimer). */
  timedOut(): void {
    switch (this.#timerType) {
      case TIMER_CONNECT:
        this.fail(new errors.ConnectTimeoutError(`connect timeout to ${this.owner.host}:${this.owner.port}`));
        return;
      case TIMER_HEADERS:
        // Still sending the body and the backend reads it: it cannot answer yet (as undici).
        if (this.writing && !this.socket.writableNeedDrain) this.#timer?.refresh();
        else this.fail(new errors.HeadersTimeoutError());
        return;
      case TIMER_BODY:
        // A paused response waits for the client, not for the backend.
        if (this.paused) this.#timer?.refresh();
        else this.fail(new errors.BodyTimeoutError());
        return;
      default: // no request: a timer left armed from the last one
    }
  }

  // ---- socket events

  connectedNow(): void {
    this.connected = true;
    const job = this.job;
    if (job === null) {
      this.#clearTimer();
      return;
    }
    this.#arm(TIMER_HEADERS, this.headersTimeoutMs);
    job.connected();
  }

  received(chunk: Buffer): void {
    if (this.job === null) {
      // Bytes nobody asked for (an idle connection): they could only be taken for the next
      // request's response.
      this.close();
      return;
    }
    let result: number | Error;
    try {
      result = this.parser.execute(chunk);
    } catch (err) {
      // Thrown by a callback (the exchange): the request cannot go on.
      this.fail(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    this.#afterParse(result);
  }

  ended(): void {
    this.reusable = false;
    if (this.job !== null) {
      // A close-delimited body ends here (the parser completes it); anything else is cut short.
      try {
        this.parser.finish();
      } catch {
        // a callback threw: the request fails below
      }
      this.#complete = false;
      if (this.job !== null) this.fail(new errors.SocketError('other side closed'));
    }
    this.close();
  }

  errored(error: Error): void {
    if (this.job !== null) this.fail(error);
    else this.close();
  }

  closedNow(): void {
    this.close();
    if (this.job !== null) this.fail(new errors.SocketError('closed'));
    this.parser.close();
  }

  #afterParse(result: number | Error): void {
    if (typeof result !== 'number' && !this.#complete) {
      if (this.job !== null) this.fail(parseFailure(result));
      else this.close();
      return;
    }
    if (!this.#complete) return;
    this.#complete = false;
    if (this.#poisoned || typeof result !== 'number' || this.writing || !this.reusable || this.#closed) {
      this.close();
      return;
    }
    if (this.paused) {
      // Idle, it must see the backend's close.
      this.paused = false;
      this.socket.resume();
    }
    this.idle = true;
    this.#armIdle(this.idleMs);
    this.owner.released(this);
  }

  // ---- parser callbacks (module functions below forward here)

  messageBegin(): void {
    if (this.job === null || this.#complete) this.#poisoned = true;
    this.#pending = null;
  }

  headerPairs(pairs: string[]): void {
    if (this.job === null || this.#poisoned) return;
    const pending = this.#pending;
    if (pending === null) this.#pending = pairs;
    else for (const p of pairs) pending.push(p);
    if (this.#responding && byteSize(this.#pending!) > MAX_TRAILER_BYTES) this.fail(new errors.HeadersOverflowError());
  }

  headersComplete(pairs: string[] | undefined, status: number, reason: string, upgrade: boolean, keepAlive: boolean): number {
    const job = this.job;
    if (job === null || this.#poisoned) return 0;
    if (pairs === undefined) pairs = this.#pending ?? [];
    this.#pending = null;
    if (status === 100) {
      // Nothing asked for it (the router never forwards Expect): as undici, an invalid response.
      this.fail(new errors.SocketError('bad response'));
      return 0;
    }
    if (upgrade || status === 101) {
      this.fail(new errors.SocketError('bad upgrade'));
      return 0;
    }
    if (status < 100 || status > 999 || !REASON_PHRASE.test(reason)) {
      this.fail(new InvalidUpstreamResponseError(`invalid status line: ${status}`));
      return 0;
    }
    const headers = headerObject(pairs);
    if (status < 200) {
      if (++this.#interims > MAX_INTERIM) {
        this.fail(new InvalidUpstreamResponseError(`more than ${MAX_INTERIM} interim responses`));
        return 0;
      }
      this.#timer?.refresh();
      job.responseHead(status, headers, reason);
      return 0;
    }
    this.#responding = true;
    const noBody = job.skipBody || status === 204 || status === 304;
    if (!keepAlive) this.reusable = false;
    else if (noBody && !job.skipBody && (headers['transfer-encoding'] !== undefined || Number(headers['content-length'] ?? 0) > 0)) {
      // A 204/304 that announces content may have sent some: it would be read as the next response.
      this.reusable = false;
    } else {
      const hint = headers['keep-alive'];
      this.idleMs = hint === undefined ? IDLE_TIMEOUT_MS : keepAliveTimeout(hint);
      if (this.idleMs <= 0) this.reusable = false;
    }
    this.#arm(TIMER_BODY, this.bodyTimeoutMs);
    job.responseHead(status, headers, reason);
    return noBody ? 1 : 0;
  }

  body(chunk: Buffer): void {
    const job = this.job;
    if (job === null || this.#poisoned) return;
    if (this.#timerType === TIMER_BODY) this.#timer?.refresh();
    job.responseData(chunk);
  }

  messageComplete(): void {
    const job = this.job;
    if (job === null || this.#poisoned) return;
    if (!this.#responding) return; // an interim response ended; the final one follows
    const trailers = this.#pending;
    this.#pending = null;
    this.job = null;
    this.#complete = true;
    this.#timerType = TIMER_NONE;
    job.detach();
    job.responseEnd(trailers === null || trailers.length === 0 ? null : headerObject(trailers));
  }
}

function parseFailure(error: Error): Error {
  const code = (error as { code?: unknown }).code;
  if (code === 'HPE_HEADER_OVERFLOW') return new errors.HeadersOverflowError();
  const reason = (error as { reason?: unknown }).reason;
  const e = new Error(`invalid response from the backend: ${typeof reason === 'string' ? reason : error.message}`) as Error & { code: unknown };
  e.code = typeof code === 'string' ? code : 'HPE_INVALID';
  return e;
}

/** Pairs as undici hands them over: lower-case names, a repeated name's values in an array. */
function headerObject(pairs: string[]): UpstreamHeaders {
  const out: UpstreamHeaders = {};
  for (let i = 0; i < pairs.length; i += 2) {
    const name = pairs[i]!.toLowerCase();
    const value = pairs[i + 1]!;
    const prior = out[name];
    if (prior === undefined) out[name] = value;
    else if (typeof prior === 'string') out[name] = [prior, value];
    else prior.push(value);
  }
  return out;
}

function byteSize(pairs: string[]): number {
  let n = 0;
  for (const p of pairs) n += p.length + 2;
  return n;
}

/** The idle time a Keep-Alive header allows: its `timeout=` minus the margin (≤ 0: do not reuse). */
export function keepAliveTimeout(value: string | string[]): number {
  const text = Array.isArray(value) ? value.join(',') : value;
  const m = /(?:^|[,;\s])timeout\s*=\s*(\d+)/i.exec(text);
  if (m === null) return IDLE_TIMEOUT_MS;
  return Math.min(Number(m[1]) * 1000 - KEEP_ALIVE_MARGIN_MS, KEEP_ALIVE_MAX_MS);
}

// Socket and parser callbacks: module functions reading the connection off `this` (no closures per connection).
type WithConnection = { connection: Http1Connection };

function onConnect(this: WithConnection): void {
  this.connection.connectedNow();
}

/** A read (net's `onread`, called on the socket): the bytes are `buffer`'s first `bytes`, until this returns. */
function onRead(this: WithConnection, bytes: number, buffer: Buffer): void {
  this.connection.received(buffer.subarray(0, bytes));
}

function onEnd(this: WithConnection): void {
  this.connection.ended();
}

function onError(this: WithConnection, error: Error): void {
  this.connection.errored(error);
}

function onClose(this: WithConnection): void {
  this.connection.closedNow();
}

function onDrain(this: WithConnection): void {
  this.connection.job?.drained();
}

function onTimer(connection: Http1Connection): void {
  connection.timedOut();
}

function onIdleTimer(connection: Http1Connection): void {
  connection.idleTimedOut();
}

function onMessageBegin(this: WithConnection): number {
  this.connection.messageBegin();
  return 0;
}

function onHeaders(this: WithConnection, pairs: string[]): void {
  this.connection.headerPairs(pairs);
}

function onHeadersComplete(this: WithConnection, _major: number, _minor: number, pairs: string[] | undefined, _method: unknown, _url: unknown,
  status: number, reason: string, upgrade: boolean, keepAlive: boolean): number {
  return this.connection.headersComplete(pairs, status, reason ?? '', upgrade, keepAlive);
}

function onBody(this: WithConnection, chunk: Buffer): void {
  this.connection.body(chunk);
}

function onMessageComplete(this: WithConnection): void {
  this.connection.messageComplete();
}
