// The admin port: liveness, readiness, Prometheus metrics, the compiled table and the web
// dashboard. /healthz and /healthz/ready stay open (kubelet probes); everything else (/metrics,
// /debug/*, the dashboard at /) needs the configured basic-auth credentials when
// STATS_USERNAME/STATS_PASSWORD are set: a request without them gets 401 and the connection
// closes, so an unauthenticated client holds nothing. Connections are capped below the open-files
// limit (admin-limits.ts): the proxy and the health checks keep their descriptors.

import http from 'node:http';
import { adminConnectionLimit, openFilesLimit } from './admin-limits.ts';
import { BasicAuth } from './basic-auth.ts';
import type { Dashboard } from './dashboard.ts';
import type { Metrics } from '../metrics.ts';
import { expositionPieces, type ExpositionFormat } from '../metrics-exposition.ts';
import { OPENMETRICS_CONTENT_TYPE, wantsOpenMetrics } from '../metrics-openmetrics.ts';
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
  /** The exposition in pieces; default: this process's registry (the main thread merges its workers'). */
  exposition?(format: ExpositionFormat): AsyncIterable<string>;
  /** The web page at / and its /dashboard/* data; absent: / is 404. */
  dashboard?: Dashboard;
  username: string;
  password: string;
  /** Admin connections at once (default: from the open-files limit, see admin-limits.ts). */
  maxConnections?: number;
}

export function createAdminServer(sources: AdminSources): http.Server {
  const auth = sources.username ? new BasicAuth(sources.username, sources.password) : null;
  // requestTimeout bounds receiving the request only: the dashboard's event stream (a long
  // response) is not cut by it.
  const server = http.createServer({ headersTimeout: 10_000, requestTimeout: 30_000 }, (req, res) => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://admin');
    } catch {
      return reply(res, 400, 'bad request target\n');
    }
    const path = url.pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, 'method not allowed\n');
    if (path === '/healthz') return reply(res, 200, 'ok\n');
    if (path === '/healthz/ready') {
      return sources.ready() ? reply(res, 200, 'ready\n') : reply(res, 503, `not ready: ${sources.notReadyReason()}\n`);
    }
    if (auth !== null && !auth.check(req.headers.authorization)) {
      res.setHeader('www-authenticate', 'Basic realm="switchyard"');
      res.shouldKeepAlive = false;
      return reply(res, 401, 'unauthorized\n');
    }
    if (path === '/metrics') {
      sources.beforeScrape?.();
      // OpenMetrics when the scraper asks for it (Prometheus does): the format with exemplars.
      const format: ExpositionFormat = wantsOpenMetrics(req.headers.accept) ? 'openmetrics' : 'prometheus';
      void writeExposition(req, res, sources, format, sources.exposition ? sources.exposition(format) : expositionPieces(sources.metrics.registry, sources.metrics.registry, format));
      return;
    }
    if (path === '/debug/routes') {
      return reply(res, 200, `${JSON.stringify(sources.debugRoutes(), null, 2)}\n`, 'application/json');
    }
    if (sources.dashboard?.handle(path, url.searchParams, req, res)) return;
    reply(res, 404, 'not found\n');
  });
  server.maxConnections = sources.maxConnections ?? adminConnectionLimit(openFilesLimit());
  return server;
}

function reply(res: http.ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

/**
 * /metrics: the exposition written piece by piece (chunked), waiting for the client to take each
 * one, so a scrape holds one piece of the large families at a time, not the whole text. A
 * collection failure before the first piece is a 500; a failure later can only cut the response.
 */
async function writeExposition(req: http.IncomingMessage, res: http.ServerResponse, sources: AdminSources, format: ExpositionFormat, exposition: AsyncIterable<string>): Promise<void> {
  const pieces = exposition[Symbol.asyncIterator]();
  let next: IteratorResult<string>;
  try {
    next = await pieces.next();
  } catch (err) {
    sources.logger.error({ err: (err as Error).message }, 'metrics collection failed');
    return reply(res, 500, 'metrics collection failed\n');
  }
  res.writeHead(200, { 'content-type': format === 'openmetrics' ? OPENMETRICS_CONTENT_TYPE : sources.metrics.registry.contentType, 'cache-control': 'no-store', vary: 'accept' });
  try {
    while (!next.done && req.method !== 'HEAD') {
      if (!res.write(next.value) && !res.destroyed) await drained(res);
      if (res.destroyed) break; // the client left: stop generating
      next = await pieces.next();
    }
    res.end();
  } catch (err) {
    sources.logger.error({ err: (err as Error).message }, 'metrics collection failed');
    res.destroy();
  } finally {
    await pieces.return?.();
  }
}

function drained(res: http.ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => { res.off('drain', done); res.off('close', done); resolve(); };
    res.on('drain', done);
    res.on('close', done);
  });
}
