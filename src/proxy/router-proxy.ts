// The request path: Host/path lookup in the route table, TLS-related HTTP policy, source
// allowlist, endpoint choice (sticky cookie, then the route's balancer), header rewriting and
// hand-off to a ProxyExchange. One RouterProxy per process; listeners (HTTP, HTTPS) call
// handleRequest / handleUpgrade.

import { BlockList, isIPv4 } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Dispatcher } from 'undici';
import type { RouterConfig } from '../config.ts';
import { ProxyErrors } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { TableDelta } from '../table/types.ts';
import { RouteTable } from '../table/route-table.ts';
import { EndpointRegistry } from '../health/endpoint-registry.ts';
import type { EndpointState } from '../health/endpoint-state.ts';
import type { ActiveHealthMonitor } from '../health/active-monitor.ts';
import { findStickyMember, stickyCookie } from '../balance/sticky-cookie.ts';
import { createPassiveHealth } from '../health/passive.ts';
import { upstreamRequestHeaders, clientAddress, type ForwardedInfo } from './headers.ts';
import { sendError, type AnyResponse } from './error-response.ts';
import { ProxyExchange, createPool, type AnyRequest, type ExchangeHost } from './forward.ts';
import { RouteRuntime } from './route-runtime.ts';
import { UpgradeTunnels } from './upgrade.ts';
import { trackAccess, noteRouting } from './access-log.ts';
import { applyRequestActions } from '../policies/header-actions.ts';
import type { Duplex } from 'node:stream';
import { modifyPath, modifyRequestHeaders, redirectLocation, rewriteHost } from '../gateway/filters.ts';
import type { GatewayRouteData } from '../table/types.ts';
import type { Socket } from 'node:net';

export class RouterProxy implements ExchangeHost {
  readonly table: RouteTable<RouteRuntime>;
  readonly registry = new EndpointRegistry();
  readonly connectTimeoutMs: number;
  readonly #config: RouterConfig;
  readonly #logger: Logger;
  readonly #metrics: Metrics;
  readonly #passive = createPassiveHealth();
  readonly #allowlists = new WeakMap<RouteRuntime, BlockList>();
  readonly #tlsPools = new WeakMap<RouteRuntime, Map<string, Dispatcher>>();
  readonly #tunnels: UpgradeTunnels;
  readonly #accessLog: boolean;
  #inFlight = 0;
  #idleWaiters: Array<() => void> = [];
  draining = false;

  /** Active health checks follow the routes built and disposed here (primary process only). */
  readonly #monitor: ActiveHealthMonitor | null;

  constructor(config: RouterConfig, logger: Logger, metrics: Metrics, monitor: ActiveHealthMonitor | null = null) {
    this.#monitor = monitor;
    this.#config = config;
    this.#logger = logger;
    this.#metrics = metrics;
    this.connectTimeoutMs = config.connectTimeout;
    this.#accessLog = config.accessLog;
    this.table = new RouteTable<RouteRuntime>(
      (route) => this.#build(route),
      (runtime) => this.#dispose(runtime),
    );
    this.#tunnels = new UpgradeTunnels(logger, metrics, () => { if (this.inFlight === 0) this.#wakeIdle(); });
  }

  apply(delta: TableDelta): void {
    this.table.apply(delta);
  }

  get inFlight(): number {
    return this.#inFlight + this.#tunnels.active;
  }

  /** Resolves when no request or tunnel is in flight (drain on SIGTERM). */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  handleRequest(req: AnyRequest, res: AnyResponse): void {
    if (this.#accessLog) trackAccess(this.#logger, req, res);
    const secure = (req.socket as TLSSocket).encrypted === true;
    const hostHeader = req.headers.host ?? (req.headers[':authority'] as string | undefined) ?? '';
    let url = req.url ?? '/';
    if (url.charCodeAt(0) !== 47 /* '/' */) url = originForm(url);
    const runtime = this.table.match(hostHeader, url, req, secure);
    if (runtime === null) {
      this.#countUnrouted(404);
      sendError(res, ProxyErrors.NO_ROUTE);
      return;
    }
    const route = runtime.route;
    const tls = route.tls;
    if (tls !== null && !secure && tls.insecurePolicy !== 'Allow') {
      if (tls.insecurePolicy === 'Redirect') {
        runtime.countResponse(302, 0);
        (res as import('node:http').ServerResponse).writeHead(302, { location: `https://${stripPort(hostHeader)}${url}`, 'content-length': 0 });
        res.end();
      } else {
        runtime.countResponse(404, 0);
        sendError(res, ProxyErrors.NO_ROUTE);
      }
      return;
    }
    // ---- Gateway API hook (HTTPRoute RequestRedirect; invalid backendRefs answer 500): src/gateway/filters.ts
    const gateway = route.gateway;
    if (gateway !== undefined && answerGatewayRequest(gateway, route.path, req, res, runtime, secure, hostHeader, url)) return;
    // ---- end Gateway API hook
    const clientIp = clientAddress(req.socket.remoteAddress);
    const allow = this.#allowlists.get(runtime);
    if (allow !== undefined && !allow.check(clientIp, isIPv4(clientIp) ? 'ipv4' : 'ipv6')) {
      runtime.countResponse(403, 0);
      sendError(res, ProxyErrors.FORBIDDEN);
      return;
    }
    const now = Date.now();
    const limit = runtime.rateLimit;
    if (limit !== null && !limit.admit(req.socket as Socket, clientIp, now)) {
      runtime.countResponse(429, 0);
      sendError(res, ProxyErrors.RATE_LIMITED);
      return;
    }
    if (!runtime.hasWeight) {
      limit?.release(clientIp);
      runtime.countResponse(503, 0);
      sendError(res, runtime.members.length === 0 ? ProxyErrors.NO_ENDPOINT : ProxyErrors.ZERO_WEIGHT);
      return;
    }
    const sticky = route.policy.sticky;
    let member = sticky === null ? null : findStickyMember(req.headers.cookie, sticky.cookieName, runtime.members, now);
    let cookie: string | null = null;
    if (member === null) {
      member = runtime.balancer.pick(clientIp, now, null);
      if (member === null) {
        limit?.release(clientIp);
        runtime.countResponse(503, 0);
        sendError(res, ProxyErrors.NO_ENDPOINT);
        return;
      }
      if (sticky !== null) cookie = stickyCookie(sticky.cookieName, member.endpoint.id, secure, sticky.sameSite);
    }
    const info: ForwardedInfo = {
      clientIp,
      host: hostHeader,
      port: req.socket.localPort ?? 0,
      proto: secure ? 'https' : 'http',
    };
    let headers = upstreamRequestHeaders(req.headers, route.policy.forwarded, info);
    const actions = route.policy.headerActions;
    if (actions !== null && actions.request.length > 0) headers = applyRequestActions(headers, actions.request, req.headers);
    let path = route.policy.rewriteTarget === null ? url : rewritePath(url, route.path, route.policy.rewriteTarget);
    // ---- Gateway API hook (HTTPRoute RequestHeaderModifier, URLRewrite): src/gateway/filters.ts
    if (gateway !== undefined) {
      if (gateway.requestHeaders !== null) headers = modifyRequestHeaders(headers, gateway.requestHeaders);
      const rewrite = gateway.rewrite;
      if (rewrite !== null) {
        if (rewrite.hostname !== null) rewriteHost(headers, rewrite.hostname);
        if (rewrite.path !== null) path = modifyPath(url, rewrite.path, route.path);
      }
    }
    // ---- end Gateway API hook
    const hsts = secure ? route.policy.hsts : null;
    if (this.#accessLog) noteRouting(res, runtime.label, member.endpoint.name);
    this.#inFlight++;
    const exchange = new ProxyExchange(this, req, res, runtime, member, path, headers, clientIp, cookie, hsts);
    exchange.holdsRateSlot = limit !== null && limit.holdsSlot;
    exchange.start();
  }

  handleUpgrade(req: AnyRequest, socket: Duplex, head: Buffer): void {
    const secure = (socket as TLSSocket).encrypted === true;
    this.#tunnels.handle(this.table, req, socket, head, secure);
  }

  // ---- ExchangeHost

  recordSuccess(endpoint: EndpointState): void {
    this.#passive.recordSuccess(endpoint);
  }

  recordFailure(endpoint: EndpointState, now: number): void {
    if (this.#passive.recordFailure(endpoint, now)) {
      this.#logger.warn({ endpoint: endpoint.name, until: new Date(endpoint.ejectedUntil).toISOString() }, 'endpoint ejected after consecutive failures');
    }
  }

  dispatcherFor(runtime: RouteRuntime, endpoint: EndpointState): Dispatcher {
    if (!runtime.reencrypt) {
      return endpoint.pool ??= createPool(`http://${endpoint.name}`, this.connectTimeoutMs);
    }
    let pools = this.#tlsPools.get(runtime);
    if (pools === undefined) this.#tlsPools.set(runtime, (pools = new Map()));
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

  /** PEM bundle for reencrypt routes without their own destination CA (set by the CLI). */
  defaultDestinationCA: string | null = null;

  finished(exchange: ProxyExchange): void {
    if (exchange.holdsRateSlot) exchange.runtime.rateLimit!.release(exchange.clientIp);
    this.#inFlight--;
    if (this.inFlight === 0) this.#wakeIdle();
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
    await Promise.all(closing);
  }

  #countUnrouted(status: number): void {
    this.#metrics.requests.labels('', `${(status / 100) | 0}xx`).inc();
  }

  #build(route: import('../table/types.ts').CompiledRoute): RouteRuntime {
    const runtime = new RouteRuntime(route, this.registry, this.#metrics);
    const check = route.policy.healthCheck;
    if (this.#monitor !== null && check !== null) {
      for (const member of runtime.members) this.#monitor.watch({ endpoint: member.endpoint, check });
    }
    const list = route.policy.ipAllowlist;
    if (list !== null && list.length > 0) this.#allowlists.set(runtime, buildBlockList(list));
    return runtime;
  }

  #dispose(runtime: RouteRuntime): void {
    const check = runtime.route.policy.healthCheck;
    if (this.#monitor !== null && check !== null) {
      for (const member of runtime.members) this.#monitor.unwatch({ endpoint: member.endpoint, check });
    }
    const pools = this.#tlsPools.get(runtime);
    if (pools) for (const pool of pools.values()) void pool.close().catch(() => {});
    runtime.release(this.registry);
  }
}

/**
 * Gateway API: answer a request of an HTTPRoute rule without a backend when the rule says so —
 * RequestRedirect (Location from src/gateway/filters.ts), or 500 for the share of requests
 * that would go to invalid backendRefs. Returns true when it answered.
 */
function answerGatewayRequest(
  gateway: GatewayRouteData, routePath: string, req: AnyRequest, res: AnyResponse, runtime: RouteRuntime,
  secure: boolean, hostHeader: string, url: string,
): boolean {
  const redirect = gateway.redirect;
  if (redirect !== null) {
    const location = redirectLocation(redirect, { secure, host: stripPort(hostHeader), port: req.socket.localPort ?? 0, target: url }, routePath);
    runtime.countResponse(redirect.statusCode, 0);
    (res as import('node:http').ServerResponse).writeHead(redirect.statusCode, { location, 'content-length': 0 });
    res.end();
    return true;
  }
  const share = gateway.invalidShare;
  if (share > 0 && (share >= 1 || Math.random() < share)) {
    runtime.countResponse(500, 0);
    sendError(res, ProxyErrors.INVALID_BACKEND);
    return true;
  }
  return false;
}

function buildBlockList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address, prefix] = entry.split('/');
    const type = isIPv4(address!) ? 'ipv4' : 'ipv6';
    if (prefix === undefined) list.addAddress(address!, type);
    else list.addSubnet(address!, Number(prefix), type);
  }
  return list;
}

/** `http://host/path?q` (absolute-form request target) → `/path?q`. */
function originForm(url: string): string {
  const scheme = url.indexOf('://');
  if (scheme === -1) return url === '*' ? '*' : `/${url}`;
  const slash = url.indexOf('/', scheme + 3);
  return slash === -1 ? '/' : url.slice(slash);
}

function stripPort(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end === -1 ? host : host.slice(0, end + 1);
  }
  const colon = host.indexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

/** haproxy.router.openshift.io/rewrite-target: replace the route's path prefix with the target. */
export function rewritePath(url: string, routePath: string, target: string): string {
  if (routePath === '' || routePath === '/') {
    return target.endsWith('/') ? target + url.slice(1) : target + url;
  }
  if (!url.startsWith(routePath)) return url;
  let rest = url.slice(routePath.length);
  if (target.endsWith('/') && rest.startsWith('/')) rest = rest.slice(1);
  const out = target + rest;
  return out === '' ? '/' : out;
}
