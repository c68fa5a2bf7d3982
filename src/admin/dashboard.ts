// The admin port's web page: `/` serves a static page (src/admin/dashboard/, copied next to this
// module by the build), which reads JSON from /dashboard/*.json and listens to
// /dashboard/events (server-sent events) to refetch as soon as something changes. Nothing is
// fetched from outside the router. The admin server checks credentials before calling in here.

import { readFileSync } from 'node:fs';
import type http from 'node:http';
import type { Registry } from 'prom-client';
import type { Logger } from '../log.ts';
import type { Reconciler } from '../controller/reconciler.ts';
import type { EndpointRegistry } from '../health/endpoint-registry.ts';
import type { ActiveHealthMonitor } from '../health/active-monitor.ts';
import type { ConfigErrorLog } from '../sources/config-error-log.ts';
import { DashboardViews, type LiveFigures, type RouteQuery } from './dashboard-views.ts';
import { ProbeResults } from './probe-results.ts';
import { StatsSampler } from './stats-sampler.ts';
import { ClientSlots, EVENT_STREAMS_MAX, EVENT_STREAMS_PER_CLIENT } from './admin-limits.ts';

export interface RouterIdentity {
  routerName: string;
  routeLabels: string;
  namespaceLabels: string;
  /** The status Lease holder; null when this router writes no status (file mode, status off). */
  leaseHolder: string | null;
  version: string;
  workers: number;
  mode: 'file' | 'cluster';
  startedAt: number;
}

export interface DashboardOptions {
  reconciler: Reconciler;
  registry: EndpointRegistry;
  monitor: ActiveHealthMonitor;
  configErrors: ConfigErrorLog;
  identity(): RouterIdentity;
  /** The registry a scrape shows (merged over workers). */
  metricsRegistry(): Promise<Registry>;
  logger: Logger;
  /** How often the figures are sampled while the page is open (default 2 s). */
  sampleIntervalMs?: number;
}

const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
  '/dashboard/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
};

/** A change is pushed at most this often (coalesces bursts of health or table events). */
const PUSH_THROTTLE_MS = 250;
const HEARTBEAT_MS = 15_000;

export class Dashboard {
  readonly #options: DashboardOptions;
  readonly #views: DashboardViews;
  readonly #sampler: StatsSampler;
  readonly #assets = new Map<string, { body: Buffer; type: string }>();
  readonly #clients = new Set<http.ServerResponse>();
  /** Event streams held, in all and per client address (admin-limits.ts). */
  readonly #streams = new ClientSlots(EVENT_STREAMS_MAX, EVENT_STREAMS_PER_CLIENT);
  #version = 0;
  #lastConfigErrors = 0;
  #lastProbeChanges = 0;
  #pushTimer: NodeJS.Timeout | null = null;
  #ticker: NodeJS.Timeout | null = null;
  readonly #probes: ProbeResults;

  constructor(options: DashboardOptions) {
    this.#options = options;
    this.#probes = new ProbeResults(options.monitor);
    this.#views = new DashboardViews(options.reconciler, options.registry, this.#probes);
    this.#sampler = new StatsSampler({
      registry: options.metricsRegistry,
      logger: options.logger,
      intervalMs: options.sampleIntervalMs,
      onSample: () => this.#changed(),
    });
    for (const [path, asset] of Object.entries(ASSETS)) {
      try {
        this.#assets.set(path, { body: readFileSync(new URL(`./dashboard/${asset.file}`, import.meta.url)), type: asset.type });
      } catch (err) {
        // A build that skipped the copy step: the router still routes; the page says what is wrong.
        options.logger.warn({ asset: asset.file, err: (err as Error).message }, 'dashboard asset missing (the build copies src/admin/dashboard/ to dist/admin/dashboard/)');
      }
    }
    const changed = () => this.#changed();
    options.reconciler.on('delta', changed);
    options.reconciler.on('admission', changed);
    options.monitor.on('change', changed);
  }

  /** Answers the dashboard's paths; false for any other path. */
  handle(path: string, search: URLSearchParams, req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const asset = ASSETS[path];
    if (asset !== undefined) {
      const loaded = this.#assets.get(path);
      if (loaded === undefined) send(res, 503, `dashboard asset ${asset.file} is missing from this build\n`, 'text/plain; charset=utf-8');
      else send(res, 200, loaded.body, loaded.type);
      return true;
    }
    if (path === '/dashboard/overview.json') {
      this.#sampler.touch();
      sendJson(res, this.overview());
      return true;
    }
    if (path === '/dashboard/routes.json') {
      this.#sampler.touch();
      sendJson(res, this.#views.routes(parseQuery(search), this.#live()));
      return true;
    }
    if (path === '/dashboard/route.json') {
      this.#sampler.touch();
      const detail = this.#views.detail(search.get('key') ?? '', this.#live());
      if (detail === null) send(res, 404, '{"error":"no such route"}\n', 'application/json');
      else sendJson(res, detail);
      return true;
    }
    if (path === '/dashboard/events') {
      this.#subscribe(req, res);
      return true;
    }
    return false;
  }

  overview(): unknown {
    const identity = this.#options.identity();
    const live = this.#live();
    let rate = 0, errors = 0;
    for (const stats of live.stats.values()) {
      rate += stats.rate;
      errors += (stats.errorRatio ?? 0) * stats.rate;
    }
    return {
      version: this.#version,
      router: { ...identity, uptimeSeconds: Math.round((Date.now() - identity.startedAt) / 1000) },
      counts: this.#views.counts(live),
      traffic: { rate, errorRatio: rate > 0 ? errors / rate : null, sampling: this.#sampler.active },
      configErrors: { total: this.#options.configErrors.total, recent: this.#options.configErrors.recent() },
    };
  }

  /** Close the event streams and stop sampling (router stop). */
  close(): void {
    this.#sampler.stop();
    if (this.#ticker !== null) clearInterval(this.#ticker);
    this.#ticker = null;
    if (this.#pushTimer !== null) clearTimeout(this.#pushTimer);
    for (const res of this.#clients) res.end();
    this.#clients.clear();
  }

  #live(): LiveFigures {
    return { stats: this.#sampler.routeStats(), windowSeconds: this.#sampler.windowSeconds(), endpoints: this.#sampler.endpointFigures() };
  }

  #subscribe(req: http.IncomingMessage, res: http.ServerResponse): void {
    const client = req.socket.remoteAddress ?? '';
    if (!this.#streams.take(client)) {
      res.shouldKeepAlive = false;
      res.setHeader('retry-after', '10');
      send(res, 503, 'too many dashboard event streams (in all, or from this address)\n', 'text/plain; charset=utf-8');
      return;
    }
    res.once('close', () => this.#streams.release(client));
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write(`retry: 1000\nevent: change\ndata: ${JSON.stringify({ version: this.#version })}\n\n`);
    this.#clients.add(res);
    this.#sampler.touch();
    req.socket.setTimeout(0);
    res.on('close', () => {
      this.#clients.delete(res);
      if (this.#clients.size === 0 && this.#ticker !== null) { clearInterval(this.#ticker); this.#ticker = null; }
    });
    if (this.#ticker === null) {
      // While someone listens: keep sampling, notice changes that have no event (config errors,
      // probe results), and send a heartbeat so proxies keep the stream open.
      let beats = 0;
      this.#ticker = setInterval(() => {
        this.#sampler.touch();
        const errors = this.#options.configErrors.total;
        if (errors !== this.#lastConfigErrors || this.#probes.changes !== this.#lastProbeChanges) this.#changed();
        if (++beats * 1000 >= HEARTBEAT_MS) { beats = 0; for (const c of this.#clients) c.write(': heartbeat\n\n'); }
      }, 1000);
      this.#ticker.unref();
    }
  }

  #changed(): void {
    this.#lastConfigErrors = this.#options.configErrors.total;
    this.#lastProbeChanges = this.#probes.changes;
    this.#version++;
    if (this.#pushTimer !== null || this.#clients.size === 0) return;
    this.#pushTimer = setTimeout(() => {
      this.#pushTimer = null;
      const message = `event: change\ndata: ${JSON.stringify({ version: this.#version })}\n\n`;
      for (const res of this.#clients) res.write(message);
    }, PUSH_THROTTLE_MS);
    this.#pushTimer.unref();
  }
}

function parseQuery(search: URLSearchParams): RouteQuery {
  const int = (name: string) => {
    const n = Number(search.get(name));
    return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
  };
  return {
    q: search.get('q') ?? undefined,
    namespace: search.get('namespace') || undefined,
    state: search.get('state') || undefined,
    sort: search.get('sort') || undefined,
    offset: int('offset'),
    limit: int('limit') || undefined,
  };
}

function sendJson(res: http.ServerResponse, value: unknown): void {
  send(res, 200, JSON.stringify(value), 'application/json');
}

function send(res: http.ServerResponse, status: number, body: string | Buffer, type: string): void {
  res.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    // Only our own files: no inline script, nothing from elsewhere, no framing.
    'content-security-policy': "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
  });
  res.end(body);
}
