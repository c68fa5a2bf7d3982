// HTTP/2 rapid reset (CVE-2023-44487), bounded as HAProxy does: glitches are counted per
// connection and per client (glitch-budget.ts); past a budget the connection gets GOAWAY
// ENHANCE_YOUR_CALM, and a stream the client has already reset costs no upstream work.
//
// - Requests wait for the frames that came with them: Node hands a stream's request over while
//   nghttp2 is still reading the same buffer, before the RST_STREAM right behind its HEADERS.
//   Requests are queued and handled once the read is done (one setImmediate per batch, not per
//   request); a stream closed by then is dropped — no route lookup, no pool, no backend connection.
// - A glitch: a stream the client closed before its response (reset before the response
//   started, whatever the error code, or reset with an error while it was being sent). Streams
//   the router closes itself (markClosedByRouter) and those of a session going away do not count.

import type { IncomingHttpHeaders } from 'node:http';
import type { Http2Session, ServerHttp2Stream } from 'node:http2';
import type { Counter } from 'prom-client';
import type { Clock } from '../../clock.ts';
import type { Logger } from '../../log.ts';
import type { Metrics } from '../../metrics.ts';
import { clientAddress } from '../headers.ts';
import { GlitchBucket, type ClientGlitchLedger } from './glitch-budget.ts';

const NO_ERROR = 0;
const ENHANCE_YOUR_CALM = 0xb;
/** One log line per reason per interval: an attack must not flood the log. */
const LOG_INTERVAL_MS = 10_000;

const kGlitches = Symbol('switchyard.h2Glitches');
const kClosedByRouter = Symbol('switchyard.closedByRouter');

interface GuardedStream { [kGlitches]?: SessionGlitches; [kClosedByRouter]?: true }
interface GuardedSession { [kGlitches]?: SessionGlitches }

/** The router closes this stream itself (an error mid-response, a stalled body): not the client's glitch. */
export function markClosedByRouter(stream: ServerHttp2Stream): void {
  (stream as unknown as GuardedStream)[kClosedByRouter] = true;
}

export interface Http2GuardOptions {
  /** Glitches one connection may spend (a burst; regained at a tenth per second). */
  connectionBudget: number;
  clients: ClientGlitchLedger;
  clock: Pick<Clock, 'now'>;
  metrics: Metrics;
  logger: Logger;
}

type Reason = 'connection_budget' | 'client_budget' | 'client_refused';

class SessionGlitches {
  readonly guard: Http2Guard;
  readonly session: Http2Session;
  readonly bucket: GlitchBucket;
  calmed = false;

  constructor(guard: Http2Guard, session: Http2Session, budget: number, now: number) {
    this.guard = guard;
    this.session = session;
    this.bucket = new GlitchBucket(budget, now);
  }
}

function onStreamClose(this: ServerHttp2Stream): void {
  const state = (this as unknown as GuardedStream)[kGlitches];
  if (state === undefined || (this as unknown as GuardedStream)[kClosedByRouter] === true) return;
  if (state.session.destroyed || state.session.closed) return;
  if (this.headersSent && this.rstCode === NO_ERROR) return;
  state.guard.glitch(state);
}

/** Stream errors (a reset with an error code) end in 'close', which the exchange follows: no throw. */
function ignoreStreamError(): void {}

/** Where the guard hands a request whose stream is still open. */
export type StreamHandler = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: string[]) => void;

function flushQueue(guard: Http2Guard): void {
  guard.flush();
}

export class Http2Guard {
  readonly #connectionBudget: number;
  readonly #clients: ClientGlitchLedger;
  readonly #clock: Pick<Clock, 'now'>;
  readonly #logger: Logger;
  readonly #deliver: StreamHandler;
  readonly #glitches: Counter.Internal;
  readonly #calm: Record<Reason, Counter.Internal>;
  readonly #logged: Record<Reason, { at: number; suppressed: number }>;
  /** Requests waiting for the end of the read they came in: stream, headers, rawHeaders, … */
  #queue: unknown[] = [];
  #scheduled = false;

  /** `deliver` handles a request whose stream is still open. */
  constructor(options: Http2GuardOptions, deliver: StreamHandler) {
    this.#connectionBudget = options.connectionBudget;
    this.#clients = options.clients;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#deliver = deliver;
    this.#glitches = options.metrics.http2Glitches.labels();
    const calm = options.metrics.http2Calm;
    this.#calm = { connection_budget: calm.labels('connection_budget'), client_budget: calm.labels('client_budget'), client_refused: calm.labels('client_refused') };
    this.#logged = { connection_budget: { at: -Infinity, suppressed: 0 }, client_budget: { at: -Infinity, suppressed: 0 }, client_refused: { at: -Infinity, suppressed: 0 } };
  }

  /** A new HTTP/2 connection: give it its budget. */
  openSession(session: Http2Session): void {
    (session as unknown as GuardedSession)[kGlitches] = new SessionGlitches(this, session, this.#connectionBudget, this.#clock.now());
  }

  /** A new connection from `remote`: false (refuse it) while its client has no budget left. */
  acceptsClient(remote: string | undefined): boolean {
    const client = clientAddress(remote);
    if (client === '' || !this.#clients.exhausted(client)) return true;
    this.#note('client_refused', client);
    return false;
  }

  /** An HTTP/2 request: watched for glitches, handled once the frames read with it are processed. */
  admit(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: string[]): void {
    stream.on('error', ignoreStreamError);
    const state = (stream.session as unknown as GuardedSession | undefined)?.[kGlitches];
    if (state !== undefined) {
      (stream as unknown as GuardedStream)[kGlitches] = state;
      stream.once('close', onStreamClose);
    }
    this.#queue.push(stream, headers, rawHeaders);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(flushQueue, this);
    }
  }

  flush(): void {
    const queue = this.#queue;
    this.#queue = [];
    this.#scheduled = false;
    for (let i = 0; i < queue.length; i += 3) {
      const stream = queue[i] as ServerHttp2Stream;
      // Reset (or its connection gone) before its turn: nothing to do; onStreamClose counted it.
      if (stream.destroyed || stream.closed) continue;
      try {
        this.#deliver(stream, queue[i + 1] as IncomingHttpHeaders, queue[i + 2] as string[]);
      } catch (err) {
        // The handler guards its own requests (request-entry.ts); this keeps the rest of the batch.
        this.#logger.error({ err }, 'internal error while handing over an HTTP/2 request');
        markClosedByRouter(stream);
        stream.close(0x2 /* INTERNAL_ERROR */);
      }
    }
  }

  /** One glitch on `state`'s connection: past the connection's or the client's budget, GOAWAY. */
  glitch(state: SessionGlitches): void {
    this.#glitches.inc();
    if (state.calmed) return;
    const client = clientAddress(state.session.socket?.remoteAddress);
    const clientOk = client === '' || this.#clients.spend(client);
    const connectionOk = state.bucket.spend(this.#clock.now());
    if (connectionOk && clientOk) return;
    state.calmed = true;
    this.#note(connectionOk ? 'client_budget' : 'connection_budget', client);
    // GOAWAY ENHANCE_YOUR_CALM, then the connection closes; its open streams are cancelled.
    state.session.destroy(new Error('over its HTTP/2 glitch budget'), ENHANCE_YOUR_CALM);
  }

  #note(reason: Reason, client: string): void {
    this.#calm[reason].inc();
    const now = this.#clock.now();
    const logged = this.#logged[reason];
    if (now - logged.at < LOG_INTERVAL_MS) {
      logged.suppressed++;
      return;
    }
    const suppressed = logged.suppressed;
    logged.at = now;
    logged.suppressed = 0;
    this.#logger.warn({ client, reason, ...(suppressed > 0 ? { suppressed } : {}) },
      reason === 'client_refused'
        ? 'HTTPS connection refused: its client is over its HTTP/2 glitch budget'
        : 'HTTP/2 connection over its glitch budget (streams reset before their response): GOAWAY ENHANCE_YOUR_CALM');
  }
}
