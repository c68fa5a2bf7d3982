// HTTP/2 to one backend endpoint: cleartext by prior knowledge (h2c) or over TLS (ALPN h2, for
// reencrypt routes). A pool of sessions, each multiplexing up to the backend's
// SETTINGS_MAX_CONCURRENT_STREAMS (capped at MAX_STREAMS_PER_SESSION). A session takes streams
// only once the backend's SETTINGS have arrived (the end of its handshake, bounded by the connect
// timeout): a request that finds no session with a free slot waits in the pool, which opens
// sessions until those still handshaking are expected to carry every waiting request — at the
// limit the backend announced last (before any, one session: its SETTINGS tell the rest), as
// Envoy opens connections by expected capacity. Placing streams on a session before its SETTINGS
// would put a burst on one connection whatever the backend allows: Node holds (or the backend
// refuses) those past the limit instead of the pool opening another connection. A later SETTINGS
// that lowers the limit holds new streams off the session until it is below it. A session that
// received GOAWAY takes no new streams and closes when its last stream ends; an idle one closes
// after IDLE_TIMEOUT_MS. Not capped, as the HTTP/1.1 pools are not (endpoint-pool.ts).
//
// It speaks undici's dispatch protocol (`dispatch(options, handler)` with a controller), so the
// forwarder (forward.ts) is the same whatever the backend speaks. Written on node:http2 rather
// than undici's `allowH2`, which (8.12) reports an upstream RST_STREAM after the response
// headers as a normal end, loses the reset code when the request body is a stream, resets
// with NO_ERROR instead of CANCEL on abort, destroys the client's request stream when the
// upstream stream ends first, and sends no request trailers — each of which gRPC depends on.

import http2 from 'node:http2';
import type { Dispatcher } from 'undici';
import { errors } from 'undici';
import { H2UpstreamRequest } from './upstream-h2-request.ts';
import { UpstreamStreamResetError } from './upstream-failure.ts';
import { tlsConnectOptions, type UpstreamTls } from './upstream-tls.ts';

/** Our ceiling on streams per backend connection, whatever the backend advertises (Node's default is 2^32-1). */
export const MAX_STREAMS_PER_SESSION = 100;
/** A session without streams for this long is closed. */
const IDLE_TIMEOUT_MS = 60_000;
/** Connection flow-control window: room for streams to make progress while one is paused. */
const CONNECTION_WINDOW = 1 << 20;

/** What the forwarder needs of a backend connection pool (undici's Pool and Http2UpstreamPool). */
export interface UpstreamDispatcher {
  dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean;
  close(): Promise<void>;
  destroy(): Promise<void>;
}

export interface Http2PoolOptions {
  /** `address:port` (IPv6 bracketed). */
  authority: string;
  connectTimeoutMs: number;
  /** TLS to the endpoint (reencrypt): verified against `ca` (undefined: the system roots) as `servername`. */
  tls?: UpstreamTls;
}

/** One backend connection and what the pool knows of it. */
export class Http2UpstreamSession {
  readonly session: http2.ClientHttp2Session;
  readonly pool: Http2UpstreamPool;
  /** Streams open now. */
  active = 0;
  /** Streams this session may carry at once: none until the backend's SETTINGS say how many. */
  limit = 0;
  connected = false;
  /** The backend's SETTINGS arrived: the handshake is over, `limit` is the backend's. */
  settled = false;
  /** GOAWAY received or closing: no new streams. */
  retiring = false;
  /** Why the session failed (connect timeout, socket error), for its streams' errors. */
  error: Error | null = null;
  #timer: NodeJS.Timeout | null = null;

  constructor(pool: Http2UpstreamPool, session: http2.ClientHttp2Session, connectTimeoutMs: number) {
    this.pool = pool;
    this.session = session;
    (session as unknown as Record<symbol, Http2UpstreamSession>)[kEntry] = this;
    session.on('connect', onConnect);
    session.on('remoteSettings', onRemoteSettings);
    session.on('goaway', onGoaway);
    session.on('error', onSessionError);
    session.on('close', onSessionClose);
    session.on('frameError', ignore);
    if (connectTimeoutMs > 0) this.#timer = setTimeout(onConnectTimeout, connectTimeoutMs, this);
  }

  get usable(): boolean {
    return !this.retiring && this.active < this.limit && !this.session.closed && !this.session.destroyed;
  }

  /** A stream was opened on this session (settled: the timer is the idle one). */
  opened(): void {
    this.active++;
    this.#clearTimer();
  }

  /** A stream of this session closed: its slot goes to a waiting request, if any. */
  released(): void {
    this.active--;
    if (this.pool.waiting && !this.retiring) this.pool.drain();
    if (this.active === 0) {
      if (this.retiring) this.session.close();
      else if (this.settled) this.#armIdle();
    }
  }

  connectedNow(): void {
    // The connect timer runs on until the backend's SETTINGS (settingsNow).
    this.connected = true;
    try {
      this.session.setLocalWindowSize(CONNECTION_WINDOW);
    } catch {
      // best effort: a session closing already
    }
  }

  /** The backend's SETTINGS (the first ends the handshake; a later one may change the limit). */
  settingsNow(maxConcurrentStreams: number | undefined): void {
    this.limit = maxConcurrentStreams === undefined ? MAX_STREAMS_PER_SESSION : Math.min(maxConcurrentStreams, MAX_STREAMS_PER_SESSION);
    const first = !this.settled;
    if (first) {
      this.settled = true;
      this.connected = true;
      this.#clearTimer();
    }
    this.pool.settingsOf(this, first);
    if (first && this.active === 0 && !this.retiring) this.#armIdle();
  }

  connectTimedOut(): void {
    this.#timer = null;
    if (this.settled) return;
    this.fail(new errors.ConnectTimeoutError(`connect timeout to ${this.pool.options.authority}`));
  }

  idleTimedOut(): void {
    this.#timer = null;
    if (this.active === 0) this.retire();
  }

  /** No new streams; closes once the open ones end. */
  retire(): void {
    if (this.retiring) return;
    this.retiring = true;
    this.pool.forget(this);
    if (this.active === 0 && !this.session.closed) this.session.close();
  }

  fail(error: Error): void {
    this.error ??= error;
    this.retiring = true;
    this.pool.forget(this);
    this.#clearTimer();
    if (!this.session.destroyed) this.session.destroy(error);
  }

  closed(): void {
    this.retiring = true;
    this.#clearTimer();
    this.pool.forget(this);
  }

  #armIdle(): void {
    this.#clearTimer();
    this.#timer = setTimeout(onIdleTimeout, IDLE_TIMEOUT_MS, this);
    this.#timer.unref();
  }

  #clearTimer(): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
  }
}

const kEntry = Symbol('switchyard.h2session');

function entryOf(session: http2.ClientHttp2Session): Http2UpstreamSession {
  return (session as unknown as Record<symbol, Http2UpstreamSession>)[kEntry]!;
}

function onConnect(this: http2.ClientHttp2Session): void {
  entryOf(this).connectedNow();
}

function onRemoteSettings(this: http2.ClientHttp2Session, settings: http2.Settings): void {
  entryOf(this).settingsNow(settings.maxConcurrentStreams);
}

function onGoaway(this: http2.ClientHttp2Session): void {
  // Streams above the GOAWAY's last stream id are failed by Node (never processed); the rest finish.
  entryOf(this).retire();
}

function onSessionError(this: http2.ClientHttp2Session, error: Error): void {
  const entry = entryOf(this);
  entry.error ??= error;
  entry.closed();
}

function onSessionClose(this: http2.ClientHttp2Session): void {
  const entry = entryOf(this);
  entry.closed();
  entry.pool.gone(entry);
}

function onConnectTimeout(entry: Http2UpstreamSession): void {
  entry.connectTimedOut();
}

function onIdleTimeout(entry: Http2UpstreamSession): void {
  entry.idleTimedOut();
}

function ignore(): void {}

export class Http2UpstreamPool implements UpstreamDispatcher {
  readonly options: Http2PoolOptions;
  readonly #origin: string;
  readonly #connectOptions: http2.SecureClientSessionOptions;
  /** Sessions that may take new streams (retired ones leave this list), settled or handshaking. */
  #sessions: Http2UpstreamSession[] = [];
  /** Every session not yet closed, retired ones included (close/destroy reach them all). */
  readonly #all = new Set<Http2UpstreamSession>();
  /** Sessions of #sessions whose SETTINGS have not arrived. */
  #handshaking = 0;
  /** The stream limit the backend announced last: what a handshaking session is expected to carry. */
  #expected = MAX_STREAMS_PER_SESSION;
  /** Requests waiting for a stream slot, oldest first from #head (a queue without shift()). */
  #waiting: Array<H2UpstreamRequest | null> = [];
  #head = 0;
  #closed = false;
  /** close() waits for the waiting requests to be placed (they are in flight) before it closes the sessions. */
  #placed: Promise<void> | null = null;
  #onPlaced: (() => void) | null = null;

  constructor(options: Http2PoolOptions) {
    this.options = options;
    this.#origin = `${options.tls ? 'https' : 'http'}://${options.authority}`;
    this.#connectOptions = {
      settings: { enablePush: false },
      ...(options.tls ? { ...tlsConnectOptions(options.tls), ALPNProtocols: ['h2'] } : {}),
    };
  }

  get scheme(): 'http' | 'https' {
    return this.options.tls ? 'https' : 'http';
  }

  /** Sessions open now (retiring ones included). */
  get sessions(): number {
    return this.#all.size;
  }

  /** Requests are waiting for a stream slot. */
  get waiting(): boolean {
    return this.#head < this.#waiting.length;
  }

  dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const request = new H2UpstreamRequest(this, options, handler);
    if (this.#closed) {
      request.failEarly(new errors.ClientClosedError());
      return false;
    }
    request.start();
    return true;
  }

  /** The request opens its stream on a session with a free slot, or waits for one. */
  place(request: H2UpstreamRequest): void {
    const entry = this.#free();
    if (entry !== null) {
      request.open(entry);
      return;
    }
    // A replay (REFUSED_STREAM, GOAWAY) after close(): the pool takes nothing new.
    if (this.#closed) {
      request.failWaiting(new errors.ClientClosedError());
      return;
    }
    request.queued = true;
    this.#waiting.push(request);
    this.#grow();
  }

  /** A waiting request ended (aborted): it leaves the queue. */
  unqueue(request: H2UpstreamRequest): void {
    request.queued = false;
    const i = this.#waiting.indexOf(request, this.#head);
    if (i === -1) return;
    this.#waiting.splice(i, 1);
    if (!this.waiting) this.#emptied();
  }

  /** Waiting requests onto free slots, oldest first; sessions opened for the rest. */
  drain(): void {
    // this.#waiting is read afresh: a request that fails as it opens may reach the pool again.
    while (this.#head < this.#waiting.length) {
      const entry = this.#free();
      if (entry === null) break;
      const request = this.#waiting[this.#head]!;
      this.#waiting[this.#head++] = null;
      request.queued = false;
      request.open(entry);
    }
    if (this.#head === this.#waiting.length) {
      this.#waiting.length = 0;
      this.#head = 0;
      this.#emptied();
    } else if (this.#expected === 0 && this.#handshaking === 0) {
      // The backend allows no streams (SETTINGS_MAX_CONCURRENT_STREAMS 0) and no other
      // session is on its way: refused, as RFC 9113 §5.1.2 has a stream above the limit.
      this.#failWaiting(new UpstreamStreamResetError(http2.constants.NGHTTP2_REFUSED_STREAM, false));
    } else {
      this.#grow();
    }
  }

  /** A session's SETTINGS arrived (the first: its handshake is over). */
  settingsOf(entry: Http2UpstreamSession, first: boolean): void {
    this.#expected = entry.limit;
    if (first && !entry.retiring) this.#handshaking--;
    if (this.waiting) this.drain();
  }

  #free(): Http2UpstreamSession | null {
    const sessions = this.#sessions;
    for (let i = 0; i < sessions.length; i++) {
      const entry = sessions[i]!;
      if (entry.usable) return entry;
    }
    return null;
  }

  /** Opens sessions until those handshaking are expected to carry every waiting request. */
  #grow(): void {
    const waiting = this.#waiting.length - this.#head;
    // A backend that announced 0 streams: one session at a time asks again.
    const expected = this.#expected === 0 ? waiting : this.#expected;
    while (this.#handshaking * expected < waiting) this.#connect();
  }

  #connect(): void {
    const session = http2.connect(this.#origin, this.#connectOptions);
    const entry = new Http2UpstreamSession(this, session, this.options.connectTimeoutMs);
    this.#sessions.push(entry);
    this.#all.add(entry);
    this.#handshaking++;
  }

  #failWaiting(error: Error): void {
    const waiting = this.#waiting;
    const head = this.#head;
    this.#waiting = [];
    this.#head = 0;
    for (let i = head; i < waiting.length; i++) {
      const request = waiting[i]!;
      request.queued = false;
      request.failWaiting(error);
    }
    this.#emptied();
  }

  #emptied(): void {
    const placed = this.#onPlaced;
    if (placed === null) return;
    this.#onPlaced = null;
    placed();
  }

  /** The session takes no new streams. */
  forget(entry: Http2UpstreamSession): void {
    const i = this.#sessions.indexOf(entry);
    if (i === -1) return;
    this.#sessions.splice(i, 1);
    if (entry.settled) return;
    // A handshake failed: with none left to wait for, the waiting requests fail as a connect does.
    this.#handshaking--;
    if (this.#handshaking === 0 && this.waiting) {
      this.#failWaiting(entry.error ?? new errors.SocketError('the HTTP/2 connection to the backend closed before its SETTINGS'));
    }
  }

  /** The session closed. */
  gone(entry: Http2UpstreamSession): void {
    this.#all.delete(entry);
  }

  /** Graceful: no new requests; the waiting ones are placed, open streams finish, then the sessions close. */
  close(): Promise<void> {
    this.#closed = true;
    if (!this.waiting) return this.#closeSessions();
    this.#placed ??= new Promise<void>((resolve) => { this.#onPlaced = resolve; });
    return this.#placed.then(() => this.#closeSessions());
  }

  #closeSessions(): Promise<void> {
    const closing: Promise<void>[] = [];
    for (const entry of this.#all) {
      if (entry.session.closed || entry.session.destroyed) continue;
      // Retired, a session closes (GOAWAY) once its last stream ends: not at once, as a GOAWAY
      // right behind a stream's HEADERS gets that stream refused by some backends (Node's).
      closing.push(new Promise((resolve) => entry.session.once('close', resolve)));
      entry.retire();
    }
    this.#sessions = [];
    return Promise.all(closing).then(() => undefined);
  }

  /** Now: every session and stream is destroyed. */
  destroy(): Promise<void> {
    this.#closed = true;
    this.#failWaiting(new errors.ClientDestroyedError());
    for (const entry of this.#all) entry.fail(new errors.ClientDestroyedError());
    this.#all.clear();
    this.#sessions = [];
    return Promise.resolve();
  }
}
