// Samples the metrics registry (the merged one with --workers) while somebody watches the
// dashboard, feeding the one-minute route window and the per-endpoint figures that live in the
// workers (in-flight requests, passive ejection). Idle routers pay nothing: sampling stops a
// while after the last dashboard request and starts again, at once, with the next one.

import type { Registry } from 'prom-client';
import type { Logger } from '../log.ts';
import { RouteStatsWindow, type RouteCounters, type RouteSample, type RouteStats } from './route-stats.ts';

const CODE_CLASSES: Record<string, number> = { '1xx': 0, '2xx': 1, '3xx': 2, '4xx': 3, '5xx': 4 };

export interface EndpointFigures { inFlight: number; ejectedUntil: number }

export interface StatsSamplerOptions {
  /** The registry a scrape would show (aggregated over workers). */
  registry(): Promise<Registry>;
  logger: Logger;
  intervalMs?: number;
  /** Stop sampling this long after the last touch(). */
  idleStopMs?: number;
  windowMs?: number;
  /** Called after each sample (the dashboard pushes an update). */
  onSample?(): void;
  now?(): number;
}

export class StatsSampler {
  readonly #options: StatsSamplerOptions;
  readonly #window: RouteStatsWindow;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | null = null;
  #lastTouch = 0;
  #sampling = false;
  #stats = new Map<string, RouteStats>();
  #endpoints = new Map<string, EndpointFigures>();

  constructor(options: StatsSamplerOptions) {
    this.#options = options;
    this.#window = new RouteStatsWindow(options.windowMs);
    this.#now = options.now ?? Date.now;
  }

  /** Somebody looks: sample now if idle, and keep sampling for idleStopMs. */
  touch(): void {
    this.#lastTouch = this.#now();
    if (this.#timer === null) {
      this.#window.clear();
      void this.sample();
      this.#timer = setInterval(() => {
        if (this.#now() - this.#lastTouch > (this.#options.idleStopMs ?? 120_000)) this.stop();
        else void this.sample();
      }, this.#options.intervalMs ?? 2_000);
      this.#timer.unref();
    }
  }

  get active(): boolean {
    return this.#timer !== null;
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** Per-route figures by metrics label (`namespace/name`); empty until two samples exist. */
  routeStats(): ReadonlyMap<string, RouteStats> {
    return this.#stats;
  }

  /** Seconds the route figures cover; null before the second sample (figures unknown, not zero). */
  windowSeconds(): number | null {
    return this.#window.seconds;
  }

  /** In-flight and ejection by endpoint name (`address:port`) from the latest sample. */
  endpointFigures(): ReadonlyMap<string, EndpointFigures> {
    return this.#endpoints;
  }

  async sample(): Promise<void> {
    if (this.#sampling) return; // a slow merge must not pile up
    this.#sampling = true;
    try {
      const registry = await this.#options.registry();
      const at = this.#now();
      this.#window.add(await readRouteSample(registry, at));
      this.#stats = this.#window.all();
      this.#endpoints = await readEndpointFigures(registry);
      this.#options.onSample?.();
    } catch (err) {
      this.#options.logger.warn({ err: (err as Error).message }, 'dashboard: metrics sample failed');
    } finally {
      this.#sampling = false;
    }
  }
}

async function values(registry: Registry, name: string): Promise<Array<{ labels: Record<string, string | number>; value: number; metricName?: string }>> {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) return [];
  return (await metric.get()).values as Array<{ labels: Record<string, string | number>; value: number; metricName?: string }>;
}

export async function readRouteSample(registry: Registry, at: number): Promise<RouteSample> {
  const routes = new Map<string, RouteCounters>();
  const counters = (route: string) => {
    let c = routes.get(route);
    if (c === undefined) routes.set(route, (c = { byClass: [0, 0, 0, 0, 0], buckets: [] }));
    return c;
  };
  for (const v of await values(registry, 'switchyard_http_requests_total')) {
    const index = CODE_CLASSES[String(v.labels.code_class)];
    if (index !== undefined && v.labels.route !== undefined) counters(String(v.labels.route)).byClass[index]! += v.value;
  }
  // Buckets per route, by bound; the bounds are the same for every route (one histogram).
  const byRoute = new Map<string, Map<number, number>>();
  const boundSet = new Set<number>();
  for (const v of await values(registry, 'switchyard_http_request_duration_seconds')) {
    if (!v.metricName?.endsWith('_bucket') || v.labels.route === undefined) continue;
    const le = v.labels.le === '+Inf' ? Infinity : Number(v.labels.le);
    boundSet.add(le);
    const route = String(v.labels.route);
    let b = byRoute.get(route);
    if (b === undefined) byRoute.set(route, (b = new Map()));
    b.set(le, (b.get(le) ?? 0) + v.value);
  }
  for (const v of await values(registry, 'switchyard_grpc_responses_total')) {
    if (v.labels.route === undefined || v.labels.grpc_code === undefined) continue;
    const grpc = (counters(String(v.labels.route)).grpc ??= {});
    const code = String(v.labels.grpc_code);
    grpc[code] = (grpc[code] ?? 0) + v.value;
  }
  const bounds = [...boundSet].sort((a, b) => a - b);
  for (const [route, b] of byRoute) counters(route).buckets = bounds.map((le) => b.get(le) ?? 0);
  for (const c of routes.values()) if (c.buckets.length !== bounds.length) c.buckets = bounds.map(() => 0);
  return { at, bounds, routes };
}

async function readEndpointFigures(registry: Registry): Promise<Map<string, EndpointFigures>> {
  const result = new Map<string, EndpointFigures>();
  const figures = (name: string) => {
    let f = result.get(name);
    if (f === undefined) result.set(name, (f = { inFlight: 0, ejectedUntil: 0 }));
    return f;
  };
  for (const v of await values(registry, 'switchyard_endpoint_in_flight')) figures(String(v.labels.endpoint)).inFlight += v.value;
  for (const v of await values(registry, 'switchyard_endpoint_ejected_until_timestamp_seconds')) {
    const f = figures(String(v.labels.endpoint));
    f.ejectedUntil = Math.max(f.ejectedUntil, v.value * 1000);
  }
  return result;
}
