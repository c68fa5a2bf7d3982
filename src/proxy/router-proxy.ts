// Where exchanges begin: match the route (Host, path; SNI for passthrough), make the exchange of
// that way in (http-exchange.ts, upgrade-exchange.ts, tls/passthrough-exchange.ts) and start it.
// The exchanges run one lifecycle (exchange.ts) against this object: passive health, the
// forwarder for the backend protocol, pools, tunnels, middleware failures, in-flight accounting
// and the access log. One RouterProxy per process.

import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse, ServerHttp2Stream } from 'node:http2';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Gauge } from 'prom-client';
import { Http2UpstreamPool, type UpstreamDispatcher } from './upstream-h2-pool.ts';
import { AlpnUpstreamPool } from './upstream-alpn-pool.ts';
import type { RouterConfig } from '../config.ts';
import { ProxyErrors } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { CompiledRoute, GatewayEntryPoint, TableDelta } from '../table/types.ts';
import { RouteTable } from '../table/route-table.ts';
import { EndpointRegistry } from '../health/endpoint-registry.ts';
import { SharedState } from '../shared-memory/shared-state.ts';
import type { EndpointState } from '../health/endpoint-state.ts';
import { createPassiveHealth } from '../health/passive.ts';
import { PluginRegistry } from '../pipeline/plugin-registry.ts';
import { clientAddress } from './headers.ts';
import { sendError, sendStreamError, writeRawError } from './error-response.ts';
import type { Exchange, ExchangeHost } from './exchange.ts';
import { HttpExchange } from './http-exchange.ts';
import { Http2Exchange } from './http2-exchange.ts';
import { Http1Forwarder, createPool, type DispatcherSource } from './http1-forwarder.ts';
import { Http1ConnectionPool } from './http1-connection-pool.ts';
import { HTTPParser } from './native-http-parser.ts';
import { RouteRuntime, type RuntimeDeps } from './route-runtime.ts';
import { UpgradeExchange } from './upgrade-exchange.ts';
import { H2TunnelExchange } from './h2-tunnel-exchange.ts';
import { PassthroughExchange, TcpForwarder, type PassthroughHost } from './tls/passthrough-exchange.ts';
import type { TlsRouteItem } from './tls/sni-route.ts';
import type { Tunnel } from './tunnel.ts';
import type { Forwarder } from './upstream-attempt.ts';
import { logExchange, writeAccessLine } from './access-log.ts';
import { MiddlewareFailures } from './middleware-failures.ts';
import { RequestMirrors, seededRandom } from './request-mirror.ts';
import { routerCompression } from '../plugins/compress.ts';
import { gatewayEntryOf } from './connection-marks.ts';
import type { Tracing } from '../tracing/tracing.ts';
import { beginHttpTrace } from './exchange-tracing.ts';

export { rewritePath } from '../plugins/rewrite-target.ts';

/** Where the HTTPS listener hands a connection it decided to pass through. */
export interface PassthroughHandler {
  /** `sni`: the ClientHello's server name. */
  handlePassthrough(socket: net.Socket, buffered: Buffer, item: TlsRouteItem, clientIp: string, sni?: string): void;
}

const TCP = new TcpForwarder();

/** The last HTTP/1.1 exchange of a client connection (pipelined requests wait for it). */
const kLastExchange = Symbol('switchyard.lastExchange');

function startPipelined(exchange: HttpExchange): void {
  if (!exchange.ended) exchange.start();
}

export class RouterProxy implements ExchangeHost, PassthroughHost, PassthroughHandler, DispatcherSource {
  readonly table: RouteTable<RouteRuntime>;
  readonly registry: EndpointRegistry;
  /** What this proxy shares with the router's other threads (endpoint slots, limit table). */
  readonly shared: SharedState;
  readonly connectTimeoutMs: number;
  readonly finTimeoutMs: number;
  readonly failures: MiddlewareFailures;
  /** HTTPRoute RequestMirror copies of this thread (request-mirror.ts). */
  readonly mirrors: RequestMirrors;
  readonly logger: Logger;
  readonly #metrics: Metrics;
  readonly #passive = createPassiveHealth();
  readonly #accessLog: boolean;
  readonly #deps: RuntimeDeps;
  readonly #http1: Http1Forwarder;
  readonly #tunnels = new Set<Tunnel>();
  readonly #tunnelGauges: Record<'websocket' | 'upgrade' | 'passthrough' | 'tcp', Gauge.Internal<'kind'>>;
  #inFlight = 0;
  #idleWaiters: Array<() => void> = [];
  /** PEM bundle for reencrypt routes without their own destination CA (set by the CLI). */
  defaultDestinationCA: string | null = null;
  /** This process's tracing (set before the ports open; each worker has its own), null when off. */
  tracing: Tracing | null = null;

  /** Takes only the settings it uses; `shared`: the router's shared state (default: its own, for a proxy alone). */
  constructor(
    config: Pick<RouterConfig, 'connectTimeout' | 'accessLog' | 'clientFinTimeout'> & Partial<Pick<RouterConfig, 'enableCompression' | 'compressionMime' | 'maxMirrorsInFlight' | 'mirrorSeed'>>,
    logger: Logger, metrics: Metrics, plugins = new PluginRegistry(), shared = SharedState.create(),
  ) {
    this.shared = shared;
    this.registry = new EndpointRegistry(shared.endpoints);
    this.logger = logger;
    this.#metrics = metrics;
    this.connectTimeoutMs = config.connectTimeout;
    this.finTimeoutMs = config.clientFinTimeout ?? 1_000;
    this.#accessLog = config.accessLog;
    this.failures = new MiddlewareFailures(logger, metrics);
    const compression = config.enableCompression === true ? routerCompression(config.compressionMime ?? []) : null;
    this.#http1 = new Http1Forwarder(this);
    const seed = config.mirrorSeed ?? 0;
    this.mirrors = new RequestMirrors(this.#http1, metrics, { maxInFlight: config.maxMirrorsInFlight ?? 256, random: seed > 0 ? seededRandom(seed) : Math.random });
    this.#deps = { registry: this.registry, metrics, logger, plugins, failures: this.failures, compression, limits: shared.limits, mirrors: true };
    const t = metrics.tunnelsActive;
    this.#tunnelGauges = { websocket: t.labels('websocket'), upgrade: t.labels('upgrade'), passthrough: t.labels('passthrough'), tcp: t.labels('tcp') };
    this.table = new RouteTable<RouteRuntime>(
      (route, previous) => this.#build(route, previous),
      (runtime) => this.#dispose(runtime),
    );
  }

  apply(delta: TableDelta): void {
    this.table.apply(delta);
    if (delta.entryPoints !== undefined) {
      this.entryPoints = delta.entryPoints;
      this.onEntryPoints?.(delta.entryPoints);
    }
  }

  /** The sockets Gateways with addresses of their own need (the serving layer binds them). */
  entryPoints: readonly GatewayEntryPoint[] = [];
  /** Called when they change (serving.ts). */
  onEntryPoints: ((points: readonly GatewayEntryPoint[]) => void) | null = null;

  /** Exchanges in flight: requests, Upgrades until their tunnel closes, passthrough connections. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** A request that threw out of handleRequest will never finish: give back what it counted (request-entry.ts). */
  abandon(count: number): void {
    this.#inFlight -= count;
    if (this.#inFlight === 0) this.#wakeIdle();
  }

  /** Resolves when no exchange is in flight (drain). */
  idle(): Promise<void> {
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  // ---- ways in

  handleRequest(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket;
    const secure = (socket as TLSSocket).encrypted === true;
    const host = req.headers.host ?? '';
    // Origin form here: RequestEntry turned an absolute-form target into it and refused `*`.
    const url = req.url ?? '/';
    // req, secure, entry point: HTTPRoute method/header/query conditions and the listener it arrived on
    const runtime = this.table.match(host, url, req, secure, gatewayEntryOf(socket));
    if (runtime === null) {
      this.#unrouted(socket, req.method ?? '', req.headers, req.httpVersion, host, url, ProxyErrors.NO_ROUTE.status, req.headers.upgrade !== undefined ? 'upgrade' : 'http');
      sendError(res, ProxyErrors.NO_ROUTE);
      return;
    }
    this.#inFlight++;
    const exchange = new HttpExchange(this, runtime, req, res, secure, url, host);
    if (req.httpVersionMajor !== 1) {
      exchange.start();
      return;
    }
    // Pipelined requests are forwarded one after the other, as HAProxy and nginx do: each
    // would otherwise take a connection of its own and could reach the backend before the one
    // the client sent first (a GET overtaking the POST it follows).
    const held = socket as unknown as Record<symbol, HttpExchange | undefined>;
    const prior = held[kLastExchange];
    held[kLastExchange] = exchange;
    if (prior !== undefined && !prior.ended) prior.pipelined = exchange;
    else exchange.start();
  }

  /** An HTTP/2 request (core stream API; RequestEntry checked its head). */
  handleStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const socket = stream.session!.socket;
    const secure = (socket as TLSSocket).encrypted === true;
    const host = headers.host ?? (headers[':authority'] as string | undefined) ?? '';
    const url = (headers[':path'] as string | undefined) ?? '/';
    const method = headers[':method'] as string;
    const runtime = this.table.match(host, url, { method, headers }, secure, gatewayEntryOf(socket));
    if (runtime === null) {
      this.#unrouted(socket, method, headers, '2.0', host, url, ProxyErrors.NO_ROUTE.status, 'http');
      sendStreamError(stream, headers, ProxyErrors.NO_ROUTE);
      return;
    }
    this.#inFlight++;
    new Http2Exchange(this, runtime, stream, headers, secure, url, host).start();
  }

  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const upgrade = request.headers.upgrade;
    // An upgrade carries no body: a GET (as RFC 6455 and every proxy's Upgrade path expect).
    if (typeof upgrade !== 'string' || upgrade === '' || request.method !== 'GET') {
      writeRawError(socket, ProxyErrors.BAD_REQUEST);
      return;
    }
    const secure = (socket as TLSSocket).encrypted === true;
    const host = request.headers.host ?? '';
    const url = request.url ?? '/'; // origin form (RequestEntry)
    const runtime = this.table.match(host, url, request, secure, gatewayEntryOf(socket));
    if (runtime === null) {
      this.#unrouted(request.socket, request.method ?? '', request.headers, request.httpVersion, host, url, ProxyErrors.NO_ROUTE.status, 'upgrade');
      writeRawError(socket, ProxyErrors.NO_ROUTE);
      return;
    }
    this.#inFlight++;
    new UpgradeExchange(this, runtime, request, socket, head, secure, url, host).start();
  }

  /** An HTTP/2 extended CONNECT (RFC 8441): WebSocket over HTTP/2, an HTTP/1.1 Upgrade to the backend. */
  handleExtendedConnect(req: Http2ServerRequest, res: Http2ServerResponse, protocol: string): void {
    const secure = (req.socket as TLSSocket).encrypted === true;
    const host = (req.headers[':authority'] as string | undefined) ?? req.headers.host ?? '';
    const url = req.url ?? '/';
    // Matched as the GET Upgrade it becomes (an HTTPRoute's method match sees GET, as over HTTP/1.1).
    const runtime = this.table.match(host, url, { method: 'GET', headers: req.headers }, secure, gatewayEntryOf(req.socket));
    if (runtime === null) {
      this.#unrouted(req.socket, 'CONNECT', req.headers, '2.0', host, url, ProxyErrors.NO_ROUTE.status, 'upgrade');
      sendError(res, ProxyErrors.NO_ROUTE);
      return;
    }
    this.#inFlight++;
    new H2TunnelExchange(this, runtime, req, res, protocol, secure, url, host).start();
  }

  handlePassthrough(socket: net.Socket, buffered: Buffer, item: TlsRouteItem, clientIp: string, sni = ''): void {
    this.#inFlight++;
    new PassthroughExchange(this, item as RouteRuntime, socket, buffered, clientIp, sni).start();
  }

  // ---- ExchangeHost

  forwarderFor(exchange: Exchange): Forwarder<Exchange> {
    // Per backend protocol: HTTP/1.1 for every HTTP route today (an HTTP/2 forwarder goes here).
    return (exchange.kind === 'passthrough' ? TCP : this.#http1) as Forwarder<Exchange>;
  }

  finished(exchange: Exchange): void {
    if (exchange instanceof HttpExchange) {
      const held = exchange.socket as unknown as Record<symbol, HttpExchange | undefined>;
      if (held[kLastExchange] === exchange) held[kLastExchange] = undefined;
      const next = exchange.pipelined;
      // Once this turn is over: the connection this exchange used is back in its pool by then.
      if (next !== null) process.nextTick(startPipelined, next);
    }
    if (this.#accessLog) logExchange(this.logger, exchange);
    this.#inFlight--;
    if (this.#inFlight === 0) this.#wakeIdle();
  }

  recordSuccess(endpoint: EndpointState): void {
    this.#passive.recordSuccess(endpoint);
  }

  recordFailure(endpoint: EndpointState, now: number, lastHealthy = false): void {
    if (this.#passive.recordFailure(endpoint, now, lastHealthy)) {
      this.logger.warn({ endpoint: endpoint.name, until: new Date(endpoint.ejectedUntil).toISOString() }, 'endpoint ejected after consecutive failures');
    }
  }

  tunnelGauge(kind: 'websocket' | 'upgrade' | 'passthrough' | 'tcp'): Gauge.Internal<'kind'> {
    return this.#tunnelGauges[kind];
  }

  tunnelOpened(tunnel: Tunnel): void {
    this.#tunnels.add(tunnel);
  }

  tunnelClosed(tunnel: Tunnel): void {
    this.#tunnels.delete(tunnel);
  }

  /**
   * The endpoint's pool for this route: HTTP/2 when the route's service port says so
   * (backend-protocol.ts) — but an Upgrade always goes over HTTP/1.1 — else HTTP/1.1; cleartext,
   * or TLS for reencrypt routes, where a port that says nothing lets ALPN choose.
   */
  dispatcherFor(runtime: RouteRuntime, endpoint: EndpointState, upgrade = false): UpstreamDispatcher {
    const http2 = !upgrade && runtime.http2 !== null && runtime.http2.has(endpoint);
    // A BackendTLSPolicy's endpoint: TLS as it says (backendTlsSettings), else as the route says.
    const backendTls = runtime.backendTls?.get(endpoint);
    if (!runtime.reencrypt && backendTls === undefined) {
      if (http2) return (endpoint.h2Pool ??= new Http2UpstreamPool({ authority: endpoint.name, connectTimeoutMs: this.connectTimeoutMs })) as UpstreamDispatcher;
      return endpoint.pool ??= createPool(`http://${endpoint.name}`, this.connectTimeoutMs);
    }
    const pools = runtime.tlsPools;
    // Nothing declared: the endpoint's ALPN choice (h2 or http/1.1) decides.
    const alpn = !http2 && !upgrade && runtime.alpn !== null && runtime.alpn.has(endpoint);
    const key = http2 ? `h2/${endpoint.id}` : alpn ? `alpn/${endpoint.id}` : endpoint.id;
    let pool = pools.get(key);
    if (pool === undefined) {
      const tls = runtime.route.tls;
      const settings = backendTls ?? { ca: tls!.destinationCA ?? this.defaultDestinationCA ?? undefined, servername: tls!.serverName };
      const options = { authority: endpoint.name, connectTimeoutMs: this.connectTimeoutMs, tls: settings };
      pool = http2 ? new Http2UpstreamPool(options)
        : alpn ? new AlpnUpstreamPool(options)
          : createPool(`https://${endpoint.name}`, this.connectTimeoutMs, settings);
      pools.set(key, pool);
    }
    return pool;
  }

  /** The endpoint's cleartext HTTP/1.1 connections for the native client (null: undici carries every request). */
  connectionsFor(endpoint: EndpointState): Http1ConnectionPool | null {
    if (HTTPParser === null) return null;
    return (endpoint.connections ??= new Http1ConnectionPool(endpoint.address, endpoint.port, this.connectTimeoutMs, HTTPParser)) as Http1ConnectionPool;
  }

  #wakeIdle(): void {
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }

  async close(): Promise<void> {
    for (const tunnel of this.#tunnels) tunnel.close();
    // What is queued is exported (bounded by --otlp-timeout), after the exchanges have ended.
    await this.tracing?.shutdown().catch(() => {});
    const closing: Promise<void>[] = [];
    for (const endpoint of this.registry.values()) {
      if (endpoint.pool) closing.push(endpoint.pool.destroy().catch(() => {}));
      if (endpoint.connections) closing.push(endpoint.connections.destroy().catch(() => {}));
      if (endpoint.h2Pool) closing.push(endpoint.h2Pool.destroy().catch(() => {}));
    }
    for (const runtime of this.table.items()) {
      for (const pool of runtime.tlsPools.values()) closing.push(pool.destroy().catch(() => {}));
    }
    await Promise.all(closing);
  }

  /** A request no route matched: counted (route ""), traced, and logged when --access-log is on. */
  #unrouted(socket: net.Socket, method: string, headers: IncomingHttpHeaders, httpVersion: string, host: string, url: string, status: number, kind: 'http' | 'upgrade'): void {
    this.#metrics.requests.labels('', `${(status / 100) | 0}xx`).inc();
    const tracing = this.tracing;
    let trace: import('../tracing/exchange-trace.ts').ExchangeTrace | null = null;
    if (tracing !== null) {
      const view = { method: method || 'GET', url, host, secure: (socket as TLSSocket).encrypted === true, clientAddress: clientAddress(socket.remoteAddress), socket, startedAt: performance.now() };
      trace = beginHttpTrace(tracing, kind, view, headers, httpVersion, null, 'default');
      trace?.end(status);
    }
    if (!this.#accessLog) return;
    writeAccessLine(this.logger, {
      kind, client: clientAddress(socket.remoteAddress), method,
      host, path: url, status, outcome: 'answered', completed: true, route: '', endpoint: null, attempts: 0, ms: 0,
      userAgent: headers['user-agent'], ...(trace !== null ? { traceId: trace.traceId, spanId: trace.spanId } : {}),
    });
  }

  #build(route: CompiledRoute, previous: RouteRuntime | undefined): RouteRuntime {
    return new RouteRuntime(route, this.#deps, previous);
  }

  #dispose(runtime: RouteRuntime): void {
    runtime.release(this.registry, this.table.current(runtime.route.key) ?? null);
  }
}
