// Upgrade tunnels (WebSocket and any other protocol a backend switches to) through
// http-proxy's ws(): the route is matched like any request, the endpoint chosen by the route's
// balancer, the forwarded-header policy applied, and the two sockets piped with the route's
// tunnel idle timeout. Either side closing closes the other. http-proxy's stream pass is
// protocol-agnostic, but its first pass refuses anything but `Upgrade: websocket`; we drop that
// pass and check here instead. Its stream pass sends no request body, so an upgrade must be a GET.

import httpProxy from 'http-proxy';
import { Agent as HttpsAgent } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { ProxyErrors } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { RouteTable } from '../table/route-table.ts';
import { applyForwardedInPlace, clientAddress } from './headers.ts';
import { writeRawError } from './error-response.ts';
import { applyActions } from '../policies/header-actions.ts';
import type { AnyRequest } from './forward.ts';
import type { RouteRuntime } from './route-runtime.ts';

const kTunnel = Symbol('switchyard.tunnel');

interface TunnelState {
  runtime: RouteRuntime;
  endpoint: RouteRuntime['members'][number]['endpoint'];
  client: Duplex;
  upstream: Socket | null;
  closed: boolean;
  /** switchyard_tunnels_active label */
  kind: 'websocket' | 'upgrade';
  /** For giving back a rate-limit concurrency slot. */
  clientIp: string;
}

export class UpgradeTunnels {
  readonly #proxy: httpProxy;
  readonly #logger: Logger;
  readonly #metrics: Metrics;
  readonly #open = new Set<TunnelState>();
  readonly #agents = new WeakMap<RouteRuntime, HttpsAgent>();

  /** Called after a tunnel closes (the proxy's drain waits for the last one). */
  readonly #onClosed: () => void;

  constructor(logger: Logger, metrics: Metrics, onClosed: () => void) {
    this.#logger = logger;
    this.#metrics = metrics;
    this.#onClosed = onClosed;
    this.#proxy = httpProxy.createProxyServer({ ws: true, xfwd: false, prependPath: false });
    const passes = this.#proxy as unknown as { wsPasses: Array<{ name: string }> };
    passes.wsPasses = passes.wsPasses.filter((pass) => pass.name !== 'checkMethodAndHeader');
    this.#proxy.on('error', (err, req, target) => this.#onError(err, req, target as unknown as Duplex));
    this.#proxy.on('proxyReqWs', (proxyReq, req) => {
      const state = (req as unknown as Record<symbol, TunnelState | undefined>)[kTunnel];
      if (!state) return;
      // http-proxy sets no deadline on the upgrade exchange: a backend that accepts and never
      // answers would hold the client until the tunnel timeout. Give it the route's server timeout.
      const policy = state.runtime.route.policy;
      proxyReq.setTimeout(policy.connectTimeoutMs + policy.serverTimeoutMs, () => {
        proxyReq.destroy(Object.assign(new Error('backend did not answer the upgrade in time'), { code: 'ETIMEDOUT' }));
      });
      proxyReq.once('upgrade', (_res: IncomingMessage, upstream: Socket) => this.#attach(state, upstream));
    });
  }

  get active(): number {
    return this.#open.size;
  }

  handle(table: RouteTable<RouteRuntime>, req: AnyRequest, socket: Duplex, head: Buffer, secure: boolean): void {
    const request = req as IncomingMessage;
    const upgrade = request.headers.upgrade;
    if (typeof upgrade !== 'string' || upgrade === '' || request.method !== 'GET') {
      writeRawError(socket, ProxyErrors.BAD_REQUEST);
      return;
    }
    const kind = upgrade.toLowerCase() === 'websocket' ? 'websocket' : 'upgrade';
    const host = request.headers.host ?? '';
    const runtime = table.match(host, request.url ?? '/', request, secure);
    if (runtime === null) { writeRawError(socket, ProxyErrors.NO_ROUTE); return; }
    const tls = runtime.route.tls;
    if (tls !== null && !secure && tls.insecurePolicy !== 'Allow') { writeRawError(socket, ProxyErrors.NO_ROUTE); return; }
    const clientIp = clientAddress(request.socket.remoteAddress);
    const limit = runtime.rateLimit;
    if (limit !== null && !limit.admit(request.socket, clientIp, Date.now())) { writeRawError(socket, ProxyErrors.RATE_LIMITED); return; }
    const member = runtime.hasWeight ? runtime.balancer.pick(clientIp, Date.now(), null) : null;
    if (member === null) {
      limit?.release(clientIp);
      writeRawError(socket, ProxyErrors.NO_ENDPOINT);
      return;
    }
    delete request.headers['proxy-authorization'];
    const actions = runtime.route.policy.headerActions;
    if (actions !== null && actions.request.length > 0) applyActions(request.headers, actions.request, { ...request.headers }, null);
    applyForwardedInPlace(request.headers, runtime.route.policy.forwarded, {
      clientIp, host, port: request.socket.localPort ?? 0, proto: secure ? 'https' : 'http',
    });
    const endpoint = member.endpoint;
    const state: TunnelState = { runtime, endpoint, client: socket, upstream: null, closed: false, kind, clientIp };
    (request as unknown as Record<symbol, TunnelState>)[kTunnel] = state;
    this.#open.add(state);
    endpoint.active++;
    this.#metrics.tunnelsActive.labels(kind).inc();
    const timeout = runtime.route.policy.tunnelTimeoutMs;
    (socket as Socket).setTimeout?.(timeout);
    socket.once('timeout', () => socket.destroy());
    socket.once('close', () => this.#closed(state));
    const reencrypt = runtime.reencrypt;
    this.#proxy.ws(request, socket as Socket, head, {
      target: { protocol: reencrypt ? 'https:' : 'http:', host: endpoint.address, port: endpoint.port } as never,
      agent: reencrypt ? this.#agentFor(runtime) : undefined,
      secure: true,
      proxyTimeout: runtime.route.policy.connectTimeoutMs,
    });
  }

  closeAll(): void {
    for (const state of this.#open) {
      state.client.destroy();
      state.upstream?.destroy();
    }
  }

  #agentFor(runtime: RouteRuntime): HttpsAgent {
    let agent = this.#agents.get(runtime);
    if (!agent) {
      const tls = runtime.route.tls!;
      agent = new HttpsAgent({ ca: tls.destinationCA ?? undefined, servername: tls.serverName, rejectUnauthorized: true, keepAlive: false });
      this.#agents.set(runtime, agent);
    }
    return agent;
  }

  /** The backend accepted the upgrade: give its socket the same idle timeout and fate. */
  #attach(state: TunnelState, upstream: Socket): void {
    if (state.closed) { upstream.destroy(); return; }
    state.upstream = upstream;
    upstream.removeAllListeners('timeout'); // the upgrade deadline no longer applies
    upstream.setTimeout(state.runtime.route.policy.tunnelTimeoutMs);
    upstream.once('timeout', () => { upstream.destroy(); state.client.destroy(); });
    upstream.once('close', () => state.client.destroy());
  }

  #onError(err: Error, req: IncomingMessage, client: Duplex): void {
    const state = (req as unknown as Record<symbol, TunnelState | undefined>)[kTunnel];
    const code = (err as { code?: string }).code;
    const failure = code === 'ECONNREFUSED' ? { reason: 'connect', error: ProxyErrors.UPSTREAM_CONNECT }
      : code === 'ETIMEDOUT' ? { reason: 'timeout', error: ProxyErrors.UPSTREAM_TIMEOUT }
      : { reason: 'tunnel', error: ProxyErrors.UPSTREAM_RESET };
    if (state) state.runtime.countUpstreamError(failure.reason);
    this.#logger.debug({ err: err.message, code }, 'upgrade tunnel error');
    if (client && !client.destroyed) writeRawError(client, failure.error);
  }

  #closed(state: TunnelState): void {
    if (state.closed) return;
    state.closed = true;
    this.#open.delete(state);
    state.endpoint.active--;
    state.runtime.rateLimit?.release(state.clientIp);
    state.upstream?.destroy();
    this.#metrics.tunnelsActive.labels(state.kind).dec();
    this.#onClosed();
  }
}
