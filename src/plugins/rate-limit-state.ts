// haproxy.router.openshift.io/rate-limit-connections*: limits per client IP address on one
// route, as OpenShift's stick-table rules (conn_cur, conn_rate(3s), http_req_rate(10s)). A
// request over a limit gets 429 (HAProxy silently drops it; a status is kinder to clients and to
// whoever reads the logs). The counters live in the router's shared limit table
// (shared-memory/limit-table.ts), keyed by route, limit and source: every worker thread counts
// against the same ones, and a rebuilt runtime of the route finds its windows where they were.

import type { Socket } from 'node:net';
import { keyPrefix, type KeyPrefix } from '../shared-memory/key-hash.ts';
import { HELD_SLOT, REFUSED, type LimitTable } from '../shared-memory/limit-table.ts';

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

/** admit() results. */
export const REFUSE = 0;
export const ADMIT = 1;
/** Admitted holding a concurrency slot: release() when the exchange ends. */
export const ADMIT_HOLDING = 2;

/** The limits of one route. `admit` before forwarding; `release` when a held slot ends. */
export class RouteRateLimit {
  readonly #table: LimitTable;
  readonly #spec: RateLimitSpec;
  readonly #concurrent: KeyPrefix | null;
  readonly #tcp: KeyPrefix | null;
  readonly #http: KeyPrefix | null;
  /** Client connections already counted against rate-tcp on this route (this thread's sockets). */
  readonly #seen = new WeakSet<Socket>();

  constructor(spec: RateLimitSpec, table: LimitTable, routeKey: string) {
    this.#table = table;
    this.#spec = spec;
    this.#concurrent = spec.concurrentTcp === null ? null : keyPrefix(`${routeKey}\0concurrent-tcp\0${spec.concurrentTcp}`);
    this.#tcp = spec.rateTcp === null ? null : keyPrefix(`${routeKey}\0rate-tcp\0${spec.rateTcp}`);
    this.#http = spec.rateHttp === null ? null : keyPrefix(`${routeKey}\0rate-http\0${spec.rateHttp}`);
  }

  /** REFUSE, ADMIT, or ADMIT_HOLDING (then release() must follow when the exchange ends). */
  admit(socket: Socket, source: string, now: number, http = true): number {
    const table = this.#table;
    if (this.#tcp !== null && !this.#seen.has(socket)) {
      if (!table.allowRate(this.#tcp, source, this.#spec.rateTcp!, TCP_WINDOW_MS, now)) return REFUSE;
      this.#seen.add(socket);
    }
    if (http && this.#http !== null && !table.allowRate(this.#http, source, this.#spec.rateHttp!, HTTP_WINDOW_MS, now)) return REFUSE;
    if (this.#concurrent === null) return ADMIT;
    const slot = table.acquire(this.#concurrent, source, this.#spec.concurrentTcp!, now);
    return slot === REFUSED ? REFUSE : slot === HELD_SLOT ? ADMIT_HOLDING : ADMIT;
  }

  release(source: string): void {
    if (this.#concurrent !== null) this.#table.release(this.#concurrent, source);
  }
}
