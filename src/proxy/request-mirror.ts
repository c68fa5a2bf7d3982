// HTTPRoute RequestMirror (Gateway API): a copy of a request sent to each mirror of its rule,
// fire and forget. The copy is the request as it goes to the rule's backend (method, path and
// headers after RequestHeaderModifier and URLRewrite, Host included, so the mirror sees what the
// backend sees); it goes through the same forwarder, pools and HTTP version choice as any
// request (http1-forwarder.ts), to one endpoint of the mirror's Service picked by its balancer
// (unhealthy and ejected endpoints are skipped as for traffic). Its response is read and thrown
// away; its failure is counted, never reported to the client nor held against the endpoint's
// passive health (the primary's traffic decides that).
//
// Bounded, and never in the client's way:
// - at most `maxInFlight` mirrors per proxy thread at once (--max-mirrors-in-flight), a mirror
//   holding its slot from the request's first attempt until its own response ends or fails
//   (each is cut at the route's server timeout, as any attempt); over the limit a mirror is
//   dropped, and counted;
// - request bodies: a buffered body (a requestBody plugin read it) is mirrored as it is; a
//   streamed one is copied while the primary sends it, up to MIRROR_BODY_MAX bytes, and the
//   mirror goes when the body has ended — a larger body, or one that never ends, drops the
//   mirror (counted). The copy never waits: the primary's stream is not held for it.
// - sampling (percent, fraction) draws from an injectable random source (seeded by
//   --mirror-seed for reproducible runs), one draw per mirror and request.
//
// Metric: switchyard_request_mirrors_total{outcome} — completed (the mirror answered), failed
// (connect, reset, timeout), dropped_limit (too many in flight), dropped_body (body too large or
// incomplete), no_endpoint (the mirror's Service had no available endpoint).

import type { Counter, Gauge } from 'prom-client';
import type { Metrics } from '../metrics.ts';
import type { Http1Request } from './http1-forwarder.ts';
import type { MirrorTarget, RouteRuntime } from './route-runtime.ts';
import type { Forwarder, UpstreamAttempt } from './upstream-attempt.ts';

/** The largest request body copied to a mirror (a larger one drops the mirror). */
export const MIRROR_BODY_MAX = 64 * 1024;

export type MirrorOutcome = 'completed' | 'failed' | 'dropped_limit' | 'dropped_body' | 'no_endpoint';

/**
 * mulberry32: a small seeded generator in [0, 1), for --mirror-seed (the same seed draws the
 * same sequence, so which requests are mirrored can be told in advance).
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Whether a draw `r` in [0, 1) falls in the share numerator / denominator. */
export function inShare(r: number, numerator: number, denominator: number): boolean {
  return numerator >= denominator || r * denominator < numerator;
}

export interface MirrorOptions {
  /** Mirrors in flight at most (per proxy thread); over it they are dropped. */
  maxInFlight: number;
  /** Uniform in [0, 1): the sampling source. */
  random?: () => number;
}

/** What a mirror copies of its request, taken when the request's first attempt starts. */
export interface MirrorSource {
  readonly method: string;
  readonly path: string;
  /** The upstream headers without the client's framing (the copy's body frames itself). */
  readonly headers: string[];
  readonly clientAddress: string;
}

/** A copy of what the request sends upstream now (the primary's headers may change after: trace context). */
export function mirrorSource(method: string, path: string, upstreamHeaders: string[] | null, clientAddress: string): MirrorSource {
  const headers: string[] = [];
  if (upstreamHeaders !== null) {
    for (let i = 0; i < upstreamHeaders.length; i += 2) {
      if (upstreamHeaders[i] !== 'content-length') headers.push(upstreamHeaders[i]!, upstreamHeaders[i + 1]!);
    }
  }
  return { method, path, headers, clientAddress };
}

/** The sender of one proxy thread: the in-flight limit, the sampling source, the counters. */
export class RequestMirrors {
  readonly #forwarder: Forwarder<Http1Request>;
  readonly #max: number;
  readonly #random: () => number;
  readonly #outcomes: Record<MirrorOutcome, Counter.Internal>;
  readonly #gauge: Gauge;
  #inFlight = 0;

  constructor(forwarder: Forwarder<Http1Request>, metrics: Metrics, options: MirrorOptions) {
    this.#forwarder = forwarder;
    this.#max = options.maxInFlight;
    this.#random = options.random ?? Math.random;
    const c = metrics.requestMirrors;
    this.#outcomes = {
      completed: c.labels('completed'), failed: c.labels('failed'), dropped_limit: c.labels('dropped_limit'),
      dropped_body: c.labels('dropped_body'), no_endpoint: c.labels('no_endpoint'),
    };
    this.#gauge = metrics.requestMirrorsInFlight;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * The targets this request is mirrored to, each holding a slot from now on (sampled, and
   * within the limit; the others counted as dropped); null when none.
   */
  begin(targets: readonly MirrorTarget[]): MirrorTarget[] | null {
    let out: MirrorTarget[] | null = null;
    for (const t of targets) {
      if (!inShare(t.numerator >= t.denominator ? 0 : this.#random(), t.numerator, t.denominator)) continue;
      if (this.#inFlight >= this.#max) {
        this.#outcomes.dropped_limit.inc();
        continue;
      }
      this.#inFlight++;
      (out ??= []).push(t);
    }
    if (out !== null) this.#gauge.set(this.#inFlight);
    return out;
  }

  /** Send the copies (`body`: the whole request body, or null for none); each slot is given back when its mirror ends. */
  send(targets: readonly MirrorTarget[], source: MirrorSource, body: Buffer | null): void {
    const now = Date.now();
    for (const t of targets) {
      const member = t.runtime.balancer.pick(source.clientAddress, now);
      if (member === null) {
        this.end('no_endpoint');
        continue;
      }
      const request = new MirrorRequest(this, t.runtime, source.method, source.path, source.headers, body);
      this.#forwarder.attempt(request, member, 1).start();
    }
  }

  /** Give back `count` slots taken by begin() whose mirrors will not be sent. */
  drop(count: number, outcome: MirrorOutcome): void {
    for (let i = 0; i < count; i++) this.end(outcome);
  }

  end(outcome: MirrorOutcome): void {
    this.#inFlight--;
    this.#gauge.set(this.#inFlight);
    this.#outcomes[outcome].inc();
  }
}

/** One mirrored request: an Http1Request whose response is read and dropped. */
class MirrorRequest implements Http1Request {
  readonly runtime: RouteRuntime;
  readonly method: string;
  readonly path: string;
  readonly upstreamHeaders: string[];
  readonly upgradeProtocol = null;
  readonly #body: Buffer | null;
  readonly #owner: RequestMirrors;
  #ended = false;

  constructor(owner: RequestMirrors, runtime: RouteRuntime, method: string, path: string, headers: string[], body: Buffer | null) {
    this.#owner = owner;
    this.runtime = runtime;
    this.method = method;
    this.path = path;
    this.upstreamHeaders = headers;
    this.#body = body;
  }

  upstreamBody(): Buffer | null {
    return this.#body;
  }

  upstreamHead(): void {}
  upstreamData(): void {}

  upstreamEnd(): void {
    this.#end('completed');
  }

  upstreamOpen(_attempt: UpstreamAttempt, _status: number, _headers: unknown, socket: import('node:stream').Duplex): void {
    socket.destroy(); // never asked for (no Upgrade is mirrored)
    this.#end('completed');
  }

  attemptFailed(): void {
    this.#end('failed');
  }

  #end(outcome: MirrorOutcome): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#owner.end(outcome);
  }
}

/**
 * A streamed request body copied for the mirrors while the primary sends it: up to
 * MIRROR_BODY_MAX bytes, then given up (the mirrors dropped). The primary's chunks pass through
 * untouched and unheld.
 */
export class MirrorBodyCopy {
  readonly #mirrors: RequestMirrors;
  readonly #targets: MirrorTarget[];
  readonly #source: MirrorSource;
  #chunks: Buffer[] | null = [];
  #length = 0;

  constructor(mirrors: RequestMirrors, targets: MirrorTarget[], source: MirrorSource) {
    this.#mirrors = mirrors;
    this.#targets = targets;
    this.#source = source;
  }

  add(chunk: Buffer): void {
    const chunks = this.#chunks;
    if (chunks === null) return;
    this.#length += chunk.length;
    if (this.#length > MIRROR_BODY_MAX) {
      this.abandon();
      return;
    }
    chunks.push(chunk);
  }

  /** The body has ended: send the copies. */
  complete(): void {
    const chunks = this.#chunks;
    if (chunks === null) return;
    this.#chunks = null;
    this.#mirrors.send(this.#targets, this.#source, Buffer.concat(chunks, this.#length));
  }

  /** The body will not be complete (too large, or the exchange ended first): the mirrors are dropped. */
  abandon(): void {
    if (this.#chunks === null) return;
    this.#chunks = null;
    this.#mirrors.drop(this.#targets.length, 'dropped_body');
  }

  /** The primary's body, passing each chunk on as it is and copying it. */
  async *tee(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of source) {
      this.add(chunk);
      yield chunk;
    }
    this.complete();
  }
}
