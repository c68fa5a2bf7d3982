// The request path: match the route (Host, path), run its chain of plugins (built-in policies
// and Middlewares alike, see plugins/builtins.ts), forward. One RouterProxy per process;
// listeners call handleRequest / handleUpgrade, and the HTTPS listener hands passthrough
// connections to the same chains (proxy/tls/passthrough-tunnel.ts).

import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Dispatcher } from 'undici';
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
import { PluginContext, type ExchangeDriver } from '../pipeline/context.ts';
import { PluginRegistry } from '../pipeline/plugin-registry.ts';
import { runLogPhases, runPhases } from '../pipeline/runner.ts';
import { clientAddress } from './headers.ts';
import { sendError, type AnyResponse } from './error-response.ts';
import { ProxyExchange, createPool, type AnyRequest, type ExchangeHost } from './forward.ts';
import { RouteRuntime, type RuntimeDeps } from './route-runtime.ts';
import { UpgradeTunnels } from './upgrade.ts';
import { trackAccess, noteRouting } from './access-log.ts';
import { MiddlewareFailures } from './middleware-failures.ts';
import { gatewayEntryOf } from './connection-marks.ts';

export { rewritePath } from '../plugins/rewrite-target.ts';

export class RouterProxy implements ExchangeHost, ExchangeDriver {
  readonly table: RouteTable<RouteRuntime>;
  readonly registry: EndpointRegistry;
  /** What this proxy shares with the router's other threads (endpoint slots, limit table). */
  readonly shared: SharedState;
  readonly connectTimeoutMs: number;
  readonly failures: MiddlewareFailures;
  readonly #logger: Logger;
  readonly #metrics: Metrics;
  readonly #passive = createPassiveHealth();
  readonly #tunnels: UpgradeTunnels;
  readonly #accessLog: boolean;
  readonly #deps: RuntimeDeps;
  #inFlight = 0;
  #idleWaiters: Array<() => void> = [];
  draining = false;

  /** Takes only the settings it uses; `shared`: the router's shared state (default: its own, for a proxy alone). */
  constructor(config: Pick<RouterConfig, 'connectTimeout' | 'accessLog' | 'clientFinTimeout'>, logger: Logger, metrics: Metrics, plugins = new PluginRegistry(), shared = SharedState.create()) {
    this.shared = shared;
    this.registry = new EndpointRegistry(shared.endpoints);
    this.#logger = logger;
    this.#metrics = metrics;
    this.connectTimeoutMs = config.connectTimeout;
    this.#accessLog = config.accessLog;
    this.failures = new MiddlewareFailures(logger, metrics);
    this.#deps = { registry: this.registry, metrics, logger, plugins, failures: this.failures, limits: shared.limits };
    this.table = new RouteTable<RouteRuntime>(
      (route, previous) => this.#build(route, previous),
      (runtime) => this.#dispose(runtime),
    );
    this.#tunnels = new UpgradeTunnels(logger, metrics, this.failures, () => { if (this.inFlight === 0) this.#wakeIdle(); }, config.clientFinTimeout, this);
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

  get inFlight(): number {
    return this.#inFlight + this.#tunnels.active;
  }

  /** A request that threw out of handleRequest will never finish: give back what it counted (request-entry.ts). */
  abandon(count: number): void {
    this.#inFlight -= count;
    if (this.inFlight === 0) this.#wakeIdle();
  }

  /** Resolves when no request or tunnel is in flight (drain on SIGTERM). */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  handleRequest(req: AnyRequest, res: AnyResponse): void {
    if (this.#accessLog) trackAccess(this.#logger, req, res);
    const secure = (req.socket as TLSSocket).encrypted === true;
    const host = req.headers.host ?? (req.headers[':authority'] as string | undefined) ?? '';
    // Origin form here: RequestEntry turned an absolute-form target into it and refused `*`.
    const url = req.url ?? '/';
    // req, secure, entry point: HTTPRoute method/header/query conditions and the listener it arrived on
    const runtime = this.table.match(host, url, req, secure, gatewayEntryOf(req.socket));
    if (runtime === null) {
      this.#countUnrouted(404);
      sendError(res, ProxyErrors.NO_ROUTE);
      return;
    }
    const socket = req.socket as Socket;
    const ctx = new PluginContext('http', runtime.chain, this, runtime, runtime.route, socket, clientAddress(socket.remoteAddress),
      secure, req.method ?? 'GET', url, host, req.headers, req);
    ctx.sink = res;
    this.#inFlight++;
    runPhases(ctx);
  }

  handleUpgrade(req: AnyRequest, socket: Duplex, head: Buffer): void {
    const secure = (socket as TLSSocket).encrypted === true;
    this.#tunnels.handle(this.table, req, socket, head, secure);
  }

  // ---- ExchangeDriver (plain HTTP and HTTP/2)


  proceed(ctx: PluginContext): void {
    const res = ctx.sink as AnyResponse;
    const runtime = ctx.owner as RouteRuntime;
    if ((res as ServerResponse).destroyed) {
      // The client went away while a phase was pending.
      this.#end(ctx, 499, 'client-closed');
      return;
    }
    const member = ctx.endpoint!;
    if (this.#accessLog) noteRouting(res, runtime.label, member.endpoint.name);
    ctx.outcome = 'forwarded';
    const exchange = new ProxyExchange(this, ctx.request as AnyRequest, res, runtime, member, ctx.path, ctx.upstreamHeaders!, ctx.clientAddress, ctx);
    exchange.start();
  }

  answer(ctx: PluginContext): void {
    const res = ctx.sink as AnyResponse;
    const error = ctx.answerError;
    if (error !== null) {
      sendError(res, error);
    } else if (!res.headersSent) {
      const body = ctx.answerBody;
      let headers = ctx.answerHeaders;
      // Never change the plugin's object: it may be a constant shared by every answer.
      if (headers === null) headers = { 'content-length': Buffer.byteLength(body) };
      else if (headers['content-length'] === undefined) headers = { ...headers, 'content-length': Buffer.byteLength(body) };
      try {
        (res as ServerResponse).writeHead(ctx.answerStatus, headers);
        res.end(body);
      } catch (err) {
        // A plugin's invalid header name/value: answer 500 instead.
        this.failed(ctx, 'respond', err, false);
        return;
      }
    }
    this.#end(ctx, ctx.answerStatus, 'answered');
  }

  failed(ctx: PluginContext, link: string, error: unknown, timedOut: boolean): void {
    const spec = this.failures.record(ctx.route.key, link, error, timedOut);
    ctx.answerStatus = spec.status;
    sendError(ctx.sink as AnyResponse, spec);
    this.#end(ctx, spec.status, 'error');
  }

  /** An exchange the router answered itself: count it, run the log phases. */
  #end(ctx: PluginContext, status: number, outcome: PluginContext['outcome']): void {
    const runtime = ctx.owner as RouteRuntime;
    ctx.status = status;
    ctx.outcome = outcome;
    runtime.countResponse(status, (performance.now() - ctx.startedAt) / 1000);
    this.#afterExchange(ctx);
  }

  #afterExchange(ctx: PluginContext): void {
    if (ctx.chain.log !== null) runLogPhases(ctx, this.failures);
    this.#inFlight--;
    if (this.inFlight === 0) this.#wakeIdle();
  }

  // ---- ExchangeHost

  recordSuccess(endpoint: EndpointState): void {
    this.#passive.recordSuccess(endpoint);
  }

  recordFailure(endpoint: EndpointState, now: number, lastHealthy?: boolean): void {
    if (this.#passive.recordFailure(endpoint, now, lastHealthy)) {
      this.#logger.warn({ endpoint: endpoint.name, until: new Date(endpoint.ejectedUntil).toISOString() }, 'endpoint ejected after consecutive failures');
    }
  }

  dispatcherFor(runtime: RouteRuntime, endpoint: EndpointState): Dispatcher {
    if (!runtime.reencrypt) {
      return endpoint.pool ??= createPool(`http://${endpoint.name}`, this.connectTimeoutMs);
    }
    const pools = runtime.tlsPools;
    let pool = pools.get(endpoint.id);
    if (pool === undefined) {
      const tls = runtime.route.tls!;
      pool = createPool(`https://${endpoint.name}`, this.connectTimeoutMs, {
        ca: tls.destinationCA ?? this.defaultDestinationCA ?? undefined,
        servername: tls.serverName,
      });
      pools.set(endpoint.id, pool);
    }
    return pool;
  }

  middlewareFailed(ctx: PluginContext, link: string, error: unknown, timedOut: boolean): import('../errors.ts').ProxyErrorSpec {
    return this.failures.record(ctx.route.key, link, error, timedOut);
  }

  /** PEM bundle for reencrypt routes without their own destination CA (set by the CLI). */
  get defaultDestinationCA(): string | null {
    return this.#tunnels.defaultDestinationCA;
  }

  set defaultDestinationCA(pem: string | null) {
    this.#tunnels.defaultDestinationCA = pem;
  }

  finished(exchange: ProxyExchange): void {
    const ctx = exchange.ctx;
    ctx.status = exchange.status;
    if (ctx.outcome === 'forwarded' && exchange.status === 499) ctx.outcome = 'client-closed';
    this.#afterExchange(ctx);
  }

  #wakeIdle(): void {
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }

  async close(): Promise<void> {
    this.#tunnels.closeAll();
    const closing: Promise<void>[] = [];
    for (const endpoint of this.registry.values()) {
      if (endpoint.pool) closing.push(endpoint.pool.destroy().catch(() => {}));
    }
    for (const runtime of this.table.items()) {
      for (const pool of runtime.tlsPools.values()) closing.push(pool.destroy().catch(() => {}));
    }
    await Promise.all(closing);
  }

  #countUnrouted(status: number): void {
    this.#metrics.requests.labels('', `${(status / 100) | 0}xx`).inc();
  }

  #build(route: CompiledRoute, previous: RouteRuntime | undefined): RouteRuntime {
    return new RouteRuntime(route, this.#deps, previous);
  }

  #dispose(runtime: RouteRuntime): void {
    runtime.release(this.registry, this.table.current(runtime.route.key) ?? null);
  }
}
