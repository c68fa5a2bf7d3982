// haproxy.router.openshift.io/rate-limit-connections*: limits per client IP address on one
// route, as OpenShift's stick-table rules (conn_cur, conn_rate(3s), http_req_rate(10s), 100k
// sources). A request over a limit gets 429 (HAProxy silently drops it; a status is kinder to
// clients and to whoever reads the logs). Built once per route when the table changes; per
// request it is a couple of map operations.

import type { Socket } from 'node:net';
import { LRUCache } from 'lru-cache';
/** Limits per client IP address on one route, as OpenShift's stick-table rules (rate-limit.ts). */
export interface RateLimitSpec {
  /** Concurrent connections (here: requests and tunnels in flight) from one address. */
  concurrentTcp: number | null;
  /** New connections from one address per 3 s. */
  rateTcp: number | null;
  /** HTTP requests from one address per 10 s. */
  rateHttp: number | null;
}

const TCP_WINDOW_MS = 3_000;
const HTTP_WINDOW_MS = 10_000;
/** Sources remembered per route and limit (HAProxy's stick-table `size 100k`). */
const MAX_SOURCES = 100_000;

interface Window { start: number; count: number; previous: number }

/** Sliding-window rate per source: the previous fixed window, weighted by overlap, plus this one. */
export class SourceRate {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #windows: LRUCache<string, Window>;

  constructor(limit: number, windowMs: number, maxSources = MAX_SOURCES) {
    this.#limit = limit;
    this.#windowMs = windowMs;
    this.#windows = new LRUCache({ max: maxSources });
  }

  /** Count one event from `source`; false when it would exceed the limit (then it is not counted). */
  allow(source: string, now: number): boolean {
    let w = this.#windows.get(source);
    if (w === undefined) {
      w = { start: now, count: 0, previous: 0 };
      this.#windows.set(source, w);
    }
    const elapsed = now - w.start;
    if (elapsed >= this.#windowMs) {
      w.previous = elapsed >= 2 * this.#windowMs ? 0 : w.count;
      w.start += Math.floor(elapsed / this.#windowMs) * this.#windowMs;
      w.count = 0;
    }
    const overlap = 1 - (now - w.start) / this.#windowMs;
    if (w.previous * overlap + w.count >= this.#limit) return false;
    w.count++;
    return true;
  }
}

/** Requests and tunnels in flight per source. */
export class SourceConcurrency {
  readonly #limit: number;
  readonly #current = new Map<string, number>();

  constructor(limit: number) {
    this.#limit = limit;
  }

  acquire(source: string): boolean {
    const n = this.#current.get(source) ?? 0;
    if (n >= this.#limit) return false;
    this.#current.set(source, n + 1);
    return true;
  }

  release(source: string): void {
    const n = (this.#current.get(source) ?? 0) - 1;
    if (n > 0) this.#current.set(source, n);
    else this.#current.delete(source);
  }
}

/** The limits of one route. `admit` before forwarding; `release` when a held slot ends. */
export class RouteRateLimit {
  readonly #concurrent: SourceConcurrency | null;
  readonly #tcp: SourceRate | null;
  readonly #http: SourceRate | null;
  /** Client connections already counted against rate-tcp on this route. */
  readonly #seen = new WeakSet<Socket>();

  constructor(spec: RateLimitSpec) {
    this.#concurrent = spec.concurrentTcp === null ? null : new SourceConcurrency(spec.concurrentTcp);
    this.#tcp = spec.rateTcp === null ? null : new SourceRate(spec.rateTcp, TCP_WINDOW_MS);
    this.#http = spec.rateHttp === null ? null : new SourceRate(spec.rateHttp, HTTP_WINDOW_MS);
  }

  /** True when admitted; then, if `holdsSlot` is true, release() must follow when the request ends. */
  admit(socket: Socket, source: string, now: number, http = true): boolean {
    if (this.#tcp !== null && !this.#seen.has(socket)) {
      if (!this.#tcp.allow(source, now)) return false;
      this.#seen.add(socket);
    }
    if (http && this.#http !== null && !this.#http.allow(source, now)) return false;
    if (this.#concurrent !== null && !this.#concurrent.acquire(source)) return false;
    return true;
  }

  get holdsSlot(): boolean {
    return this.#concurrent !== null;
  }

  release(source: string): void {
    this.#concurrent?.release(source);
  }
}
