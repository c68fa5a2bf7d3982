// Per-route request rate, 5xx ratio, latency quantiles and gRPC calls by status over the last
// minute, computed from samples of the cumulative Prometheus series (switchyard_http_requests_total,
// the request duration histogram, switchyard_grpc_responses_total) — the same figures Prometheus would compute with rate() and
// histogram_quantile(), without a Prometheus. A sample is taken from whatever registry the
// scrape would show (the main thread's merged view with --workers), so figures cover every worker.

/** Cumulative counters of one route at one instant. */
export interface RouteCounters {
  /** Requests by status class: 1xx..5xx. */
  byClass: [number, number, number, number, number];
  /** Cumulative histogram bucket counts, in the order of `RouteSample.bounds`. */
  buckets: number[];
  /** Cumulative gRPC calls by status name (`OK`, `UNAVAILABLE`, …); absent for a route without gRPC calls. */
  grpc?: Record<string, number>;
}

export interface RouteSample {
  /** ms since epoch */
  at: number;
  /** Upper bounds of the histogram buckets (seconds), ascending, the last one Infinity. */
  bounds: number[];
  routes: Map<string, RouteCounters>;
}

export interface RouteStats {
  /** Requests answered within the window. */
  requests: number;
  /** Requests per second over the window. */
  rate: number;
  /** Share of 5xx answers over the window; null when there were no requests. */
  errorRatio: number | null;
  /** Latency quantiles in seconds (bucket-interpolated); null when there were no requests. */
  p50: number | null;
  p99: number | null;
  /** gRPC calls within the window by status name; null for a route that never had one. */
  grpc: Record<string, number> | null;
  /** Seconds the figures cover. */
  windowSeconds: number;
}

export class RouteStatsWindow {
  readonly #windowMs: number;
  #samples: RouteSample[] = [];

  constructor(windowMs = 60_000) {
    this.#windowMs = windowMs;
  }

  /** Add a sample; keeps the newest one and those still inside the window (plus one just before it, as the base). */
  add(sample: RouteSample): void {
    this.#samples.push(sample);
    const cutoff = sample.at - this.#windowMs;
    let first = 0;
    while (first + 1 < this.#samples.length && this.#samples[first + 1]!.at <= cutoff) first++;
    if (first > 0) this.#samples = this.#samples.slice(first);
  }

  /** Stats of every route seen in the newest sample; empty until two samples exist. */
  all(): Map<string, RouteStats> {
    const result = new Map<string, RouteStats>();
    if (this.#samples.length < 2) return result;
    const newest = this.#samples[this.#samples.length - 1]!;
    const base = this.#samples[0]!;
    for (const route of newest.routes.keys()) result.set(route, this.#between(base, newest, route)!);
    return result;
  }

  /** Seconds between the oldest and newest sample; null until two samples exist. */
  get seconds(): number | null {
    if (this.#samples.length < 2) return null;
    return (this.#samples[this.#samples.length - 1]!.at - this.#samples[0]!.at) / 1000;
  }

  get latest(): RouteSample | undefined {
    return this.#samples[this.#samples.length - 1];
  }

  clear(): void {
    this.#samples = [];
  }

  #between(base: RouteSample, newest: RouteSample, route: string): RouteStats | null {
    const now = newest.routes.get(route);
    if (now === undefined) return null;
    const before = base.routes.get(route);
    const seconds = Math.max((newest.at - base.at) / 1000, 0.001);
    let total = 0;
    const classes = now.byClass.map((v, i) => Math.max(0, v - (before?.byClass[i] ?? 0)));
    for (const n of classes) total += n;
    // A counter that went down (a worker restarted) restarts from 0: use the new value alone.
    const buckets = now.buckets.map((v, i) => {
      const d = v - (before?.buckets[i] ?? 0);
      return d < 0 ? v : d;
    });
    return {
      requests: total,
      rate: total / seconds,
      errorRatio: total === 0 ? null : classes[4]! / total,
      p50: quantile(0.5, newest.bounds, buckets),
      p99: quantile(0.99, newest.bounds, buckets),
      grpc: now.grpc === undefined ? null : grpcDeltas(now.grpc, before?.grpc),
      windowSeconds: seconds,
    };
  }
}

/** Calls per status between two samples (a counter that went down counts from zero). */
function grpcDeltas(now: Record<string, number>, before: Record<string, number> | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const code in now) {
    const d = now[code]! - (before?.[code] ?? 0);
    out[code] = d < 0 ? now[code]! : d;
  }
  return out;
}

/**
 * histogram_quantile(): linear interpolation inside the bucket holding the rank; a rank in the
 * +Inf bucket answers the highest finite bound (as Prometheus does).
 */
export function quantile(q: number, bounds: number[], cumulative: number[]): number | null {
  const count = cumulative[cumulative.length - 1] ?? 0;
  if (count <= 0 || bounds.length !== cumulative.length) return null;
  const rank = q * count;
  let i = 0;
  while (i < cumulative.length - 1 && cumulative[i]! < rank) i++;
  const upper = bounds[i]!;
  if (upper === Infinity) return bounds.length > 1 ? bounds[bounds.length - 2]! : null;
  const lower = i === 0 ? 0 : bounds[i - 1]!;
  const below = i === 0 ? 0 : cumulative[i - 1]!;
  const inBucket = cumulative[i]! - below;
  if (inBucket <= 0) return upper;
  return lower + ((upper - lower) * (rank - below)) / inBucket;
}
