// The admin port: liveness, readiness, Prometheus metrics and the compiled table.
// /healthz and /healthz/ready stay open (kubelet probes); /metrics and /debug/* need the
// configured basic-auth credentials when STATS_USERNAME/STATS_PASSWORD are set.

import http from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { Metrics } from '../metrics.ts';
import type { Logger } from '../log.ts';

export interface AdminSources {
  metrics: Metrics;
  logger: Logger;
  /** true once the initial load has been applied (and false again while draining). */
  ready(): boolean;
  /** Why not ready, for the 503 body. */
  notReadyReason(): string;
  /** The /debug/routes document. */
  debugRoutes(): unknown;
  /** Called right before a scrape, to refresh gauges computed from live state. */
  beforeScrape?(): void;
  /** The exposition text; default: this process's registry (the primary merges its workers'). */
  metricsText?(): Promise<string>;
  username: string;
  password: string;
}

export function createAdminServer(sources: AdminSources): http.Server {
  const expected = sources.username
    ? Buffer.from(`Basic ${Buffer.from(`${sources.username}:${sources.password}`).toString('base64')}`)
    : null;
  const server = http.createServer({ headersTimeout: 10_000, requestTimeout: 30_000 }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, 'method not allowed\n');
    if (path === '/healthz') return reply(res, 200, 'ok\n');
    if (path === '/healthz/ready') {
      return sources.ready() ? reply(res, 200, 'ready\n') : reply(res, 503, `not ready: ${sources.notReadyReason()}\n`);
    }
    if (expected !== null && !authorized(req.headers.authorization, expected)) {
      res.setHeader('www-authenticate', 'Basic realm="switchyard"');
      return reply(res, 401, 'unauthorized\n');
    }
    if (path === '/metrics') {
      sources.beforeScrape?.();
      (sources.metricsText ? sources.metricsText() : sources.metrics.registry.metrics()).then(
        (text) => reply(res, 200, text, sources.metrics.registry.contentType),
        (err: Error) => {
          sources.logger.error({ err: err.message }, 'metrics collection failed');
          reply(res, 500, 'metrics collection failed\n');
        },
      );
      return;
    }
    if (path === '/debug/routes') {
      return reply(res, 200, `${JSON.stringify(sources.debugRoutes(), null, 2)}\n`, 'application/json');
    }
    reply(res, 404, 'not found\n');
  });
  return server;
}

function authorized(header: string | undefined, expected: Buffer): boolean {
  if (!header) return false;
  const given = Buffer.from(header);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function reply(res: http.ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}
