// `switchyard kube-relay`'s servers: the API (TLS, HTTP/2 and HTTP/1.1) that routers use as their
// API server, and a plain admin port (/metrics; /healthz: alive; /readyz: the API server answers
// the relay, readiness.ts). Each API request is either a cached read — authenticated and
// authorized as its own token (authz.ts), then answered from the collection's cache
// (serve-reads.ts) — or passed on to the API server unchanged (proxy.ts).

import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createSecureServer, type Http2SecureServer, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.ts';
import type { KubeClient } from '../kube/client.ts';
import { RelayAuthorizer } from './authz.ts';
import { ApiReadiness } from './readiness.ts';
import { Collections } from './collections.ts';
import type { RelayMetrics } from './metrics.ts';
import { UpstreamProxy } from './proxy.ts';
import { DEFAULT_MAX_COLLECTIONS, DEFAULT_MAX_COLLECTIONS_PER_USER } from './options.ts';
import { cachedRead, isCollectionRead, type CachedRead } from './request-info.ts';
import { serveList, serveWatch } from './serve-reads.ts';
import { forbidden, sendStatus, status, tooManyRequests, unauthorized, type RelayResponse } from './status.ts';

/** A cached read that waited this long for its review and its collection's first read is logged. */
const SLOW_READ_MS = 5_000;

export interface RelayServerOptions {
  client: KubeClient;
  proxy: UpstreamProxy;
  logger: Logger;
  metrics: RelayMetrics;
  tls: { cert: string | Buffer; key: string | Buffer };
  bind: string;
  port: number;
  adminPort: number;
  /** Collection paths answered from the cache (`/api/v1/services`, ...). */
  cached: ReadonlySet<string>;
  windowEvents: number;
  authTtlMs: number;
  /** How long a read waits for its review and its collection's first list before it is answered 429 (retried by the client). */
  syncWaitMs?: number;
  maxCollections?: number;
  maxCollectionsPerUser?: number;
  /** /readyz answers 503 once the API server has not answered the relay for this long (and until it first has). */
  unreadyAfterMs?: number;
  uncappedUsers?: ReadonlySet<string>;
}

export interface RelayServer {
  port: number;
  adminPort: number;
  collections: Collections;
  /** Serve new connections with this certificate and key. */
  setTls(pair: { cert: Buffer; key: Buffer }): void;
  close(): Promise<void>;
}

export async function startRelayServer(options: RelayServerOptions): Promise<RelayServer> {
  const { logger, metrics, proxy } = options;
  const authorizer = new RelayAuthorizer(options.client, { ttlMs: options.authTtlMs, metrics });
  const collections = new Collections({
    client: options.client, logger, metrics, windowEvents: options.windowEvents,
    maxCollections: options.maxCollections ?? DEFAULT_MAX_COLLECTIONS, maxPerUser: options.maxCollectionsPerUser ?? DEFAULT_MAX_COLLECTIONS_PER_USER,
    uncappedUsers: options.uncappedUsers ?? new Set(), idleMs: 10 * 60_000, bookmarkIntervalMs: 60_000,
  });
  const apiReadiness = new ApiReadiness({ client: options.client, logger, unreadyAfterMs: options.unreadyAfterMs ?? 30_000 });
  apiReadiness.start();
  const syncWaitMs = options.syncWaitMs ?? 10_000;
  // kube-apiserver ends a watch after a random 30-60 min (--min-request-timeout 1800): clients
  // spread over the relay's replicas again.
  const serve = { metrics, watchTimeoutMs: () => (1800 + Math.random() * 1800) * 1000 };

  const cachedReadOf = async (read: CachedRead, req: IncomingMessage | Http2ServerRequest, res: RelayResponse): Promise<void> => {
    const arrived = performance.now();
    // One bound on the whole wait before headers, the review included: a client gives up on
    // headers after a while (a router: 30 s), and a review the API server is slow to answer (at a
    // fleet's start, starved) would otherwise come on top of the wait for the first list. A
    // review still pending is kept: the retry joins it.
    let decision;
    try {
      decision = await beforeDeadline(authorizer.decide(read), syncWaitMs);
    } catch (err) {
      logger.warn({ reason: (err as Error).message }, 'token or access review failed');
      return sendStatus(res, status(503, 'ServiceUnavailable', 'the kube relay could not review the request with the API server'), { 'retry-after': '1' });
    }
    if (decision === 'timeout') {
      logger.info({ resource: read.resource, verb: read.verb, reviewMs: Math.round(performance.now() - arrived) }, 'slow cached read');
      return sendStatus(res, tooManyRequests('the token and access reviews are taking long'), { 'retry-after': '1' });
    }
    if (!decision.allowed) {
      metrics.refused.inc({ code: String(decision.code) });
      return sendStatus(res, decision.code === 401 ? unauthorized() : forbidden(decision.user.username, read));
    }
    const cache = collections.get(read, decision.user.username);
    if (!cache) return proxy.forward(req, res);
    const reviewed = performance.now();
    const readiness = await cache.ready(Math.max(0, syncWaitMs - (reviewed - arrived)));
    const waited = performance.now() - arrived;
    // A client gives up on headers after a while (a router: 30 s): say where a slow answer waited.
    if (waited > SLOW_READ_MS) logger.info({ resource: read.resource, verb: read.verb, reviewMs: Math.round(reviewed - arrived), syncMs: Math.round(waited - (reviewed - arrived)), readiness }, 'slow cached read');
    // Not read yet: as kube-apiserver answers while its watch cache initializes, 429 with
    // Retry-After, which clients retry (a router's list would otherwise time out waiting for
    // headers, and passing it on would load the API server with the very reads the relay saves).
    if (readiness === 'timeout') return sendStatus(res, tooManyRequests('storage is (re)initializing'), { 'retry-after': '1' });
    // The relay cannot read it (its RBAC, a CRD not installed): the API server answers the client itself.
    if (readiness === 'failed') return proxy.forward(req, res);
    if (res.destroyed || res.writableEnded) return;
    return read.verb === 'watch' ? serveWatch(cache, read, res, serve) : serveList(cache, read, res, serve);
  };

  const handle = (req: IncomingMessage | Http2ServerRequest, res: RelayResponse): void => {
    const url = req.url ?? '/';
    const method = req.method ?? 'GET';
    const read = cachedRead(method, url, req.headers, options.cached);
    let done: Promise<void>;
    if (read) done = cachedReadOf(read, req, res);
    // A read of a cached collection with no credentials is refused here, never served nor passed on.
    else if (req.headers.authorization === undefined && isCollectionRead(method, url, options.cached)) {
      metrics.refused.inc({ code: '401' });
      sendStatus(res, unauthorized());
      return;
    } else done = proxy.forward(req, res);
    done.catch((err: Error) => {
      logger.error({ method, reason: err.message }, 'request failed');
      if (!res.headersSent) sendStatus(res, status(500, 'InternalError', 'the kube relay failed to answer'));
      else res.destroy();
    });
  };

  const server: Http2SecureServer = createSecureServer({ cert: options.tls.cert, key: options.tls.key, allowHTTP1: true }, handle as unknown as (req: Http2ServerRequest, res: Http2ServerResponse) => void);
  server.on('sessionError', () => {});
  const sockets = new Set<import('node:net').Socket>();
  server.on('secureConnection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(options.port, options.bind, () => resolve()));

  const admin: Server = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.url === '/metrics') {
      metrics.registry.metrics().then((text) => {
        res.writeHead(200, { 'content-type': metrics.registry.contentType });
        res.end(text);
      }, () => { res.writeHead(500); res.end(); });
      return;
    }
    if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
      return;
    }
    if (req.url === '/readyz') {
      const why = apiReadiness.notReady();
      res.writeHead(why === undefined ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(why === undefined ? 'ok\n' : `not ready: ${why}\n`);
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((resolve, reject) => admin.once('error', reject).listen(options.adminPort, options.bind, () => resolve()));

  return {
    port: (server.address() as AddressInfo).port,
    adminPort: (admin.address() as AddressInfo).port,
    collections,
    setTls(pair) { server.setSecureContext({ cert: pair.cert, key: pair.key }); },
    async close() {
      apiReadiness.stop();
      collections.stop();
      // Clients' connections go too: a router watches again, from another replica.
      for (const socket of sockets) socket.destroy();
      await Promise.all([
        new Promise<void>((resolve) => server.close(() => resolve())),
        new Promise<void>((resolve) => admin.close(() => resolve())),
        proxy.close(),
      ]);
    },
  };
}

/** What `promise` settles to, or 'timeout' after `ms` (the promise goes on). */
function beforeDeadline<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), ms); });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
