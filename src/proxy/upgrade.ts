// Upgrade tunnels (WebSocket and any other protocol a backend switches to) through
// http-proxy's ws(): the route is matched like any request and runs the same plugin chain
// (runner.ts) — TLS policy, allowlist, rate limits, Middlewares, endpoint choice, headers,
// rewrite-target — then the two sockets are piped with the route's
// tunnel idle timeout. Either side closing closes the other. http-proxy's stream pass is
// protocol-agnostic, but its first pass refuses anything but `Upgrade: websocket`; we drop that
// pass and check here instead. Its stream pass sends no request body, so an upgrade must be a GET.

import httpProxy from 'http-proxy';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { ProxyErrors } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { RouteTable } from '../table/route-table.ts';
import { clientAddress } from './headers.ts';
import { writeRawError } from './error-response.ts';
import type { AnyRequest } from './forward.ts';
import type { RouteRuntime } from './route-runtime.ts';
import { PluginContext, type ExchangeDriver } from '../pipeline/context.ts';
import { runLogPhases, runPhases } from '../pipeline/runner.ts';
import type { MiddlewareFailures } from './middleware-failures.ts';
import { writeRawResponse } from './raw-response.ts';
import { gatewayEntryOf } from './connection-marks.ts';
import { classifyUpstreamFailure, isLastAvailable, type TunnelHealth } from './upstream-failure.ts';

const kTunnel = Symbol('switchyard.tunnel');

interface TunnelState {
  runtime: RouteRuntime;
  endpoint: RouteRuntime['members'][number]['endpoint'];
  client: Duplex;
  upstream: Socket | null;
  closed: boolean;
  /** switchyard_tunnels_active label */
  kind: 'websocket' | 'upgrade';
  /** The exchange's plugin context (log phase at close). */
  ctx: PluginContext;
}

// ---- socket mechanics (kept apart from the routing part below)

/**
 * The backend answered the upgrade with a normal response: http-proxy writes it to the client
 * and ends the client socket — but that socket is paused (Node hands over upgrade sockets
 * paused, with any bytes after the headers unshifted back), so the client's FIN is never read
 * and the socket, its fd and its connection slot would stay until the tunnel timeout. The
 * exchange is over: close the client once the response is flushed.
 */
function onRefusedUpgrade(this: import('node:http').ClientRequest, res: IncomingMessage): void {
  if ((res as { upgrade?: boolean }).upgrade === true) return;
  const client = (this as unknown as Record<symbol, Duplex | undefined>)[kClient];
  if (client === undefined) return;
  res.once('end', () => {
    if (client.writableFinished) client.destroy();
    else client.once('finish', () => client.destroy());
  });
  res.once('error', () => client.destroy());
}

const kClient = Symbol('switchyard.upgradeClient');


/** An upgrade request while its phases run. */
class PendingUpgrade {
  readonly request: IncomingMessage;
  readonly socket: Duplex;
  readonly head: Buffer;
  readonly kind: 'websocket' | 'upgrade';
  constructor(request: IncomingMessage, socket: Duplex, head: Buffer, kind: 'websocket' | 'upgrade') {
    this.request = request;
    this.socket = socket;
    this.head = head;
    this.kind = kind;
  }
}

export class UpgradeTunnels implements ExchangeDriver {
  readonly #proxy: httpProxy;
  readonly #logger: Logger;
  readonly #metrics: Metrics;
  readonly #open = new Set<TunnelState>();
  readonly #failures: MiddlewareFailures;
  /** PEM bundle for reencrypt routes without their own destination CA (set by the proxy's owner). */
  defaultDestinationCA: string | null = null;
  /** Upgrades whose phases are still running. */
  #pending = 0;

  /** Called after a tunnel closes (the proxy's drain waits for the last one). */
  readonly #onClosed: () => void;

  /** Idle timeout of a tunnel once either side has sent its FIN (HAProxy's `timeout client-fin`). */
  readonly #finTimeoutMs: number;

  /** Passive health (the proxy): a tunnel's connect failures, resets and timeouts count as a request's do. */
  readonly #health: TunnelHealth | null;

  constructor(logger: Logger, metrics: Metrics, failures: MiddlewareFailures, onClosed: () => void, finTimeoutMs = 1_000, health: TunnelHealth | null = null) {
    this.#health = health;
    this.#failures = failures;
    this.#finTimeoutMs = finTimeoutMs;
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
      (proxyReq as unknown as Record<symbol, Duplex>)[kClient] = state.client;
      // http-proxy sets no deadline on the upgrade exchange: a backend that accepts and never
      // answers would hold the client until the tunnel timeout. Give it the route's server timeout.
      const policy = state.runtime.route.policy;
      proxyReq.setTimeout(policy.connectTimeoutMs + policy.serverTimeoutMs, () => {
        proxyReq.destroy(Object.assign(new Error('backend did not answer the upgrade in time'), { code: 'ETIMEDOUT' }));
      });
      proxyReq.once('upgrade', (_res: IncomingMessage, upstream: Socket) => this.#attach(state, upstream));
      proxyReq.once('response', onRefusedUpgrade);
    });
  }

  get active(): number {
    return this.#open.size + this.#pending;
  }

  handle(table: RouteTable<RouteRuntime>, req: AnyRequest, socket: Duplex, head: Buffer, secure: boolean): void {
    const request = req as IncomingMessage;
    const upgrade = request.headers.upgrade;
    if (typeof upgrade !== 'string' || upgrade === '' || request.method !== 'GET') {
      writeRawError(socket, ProxyErrors.BAD_REQUEST);
      return;
    }
    const host = request.headers.host ?? '';
    const url = request.url ?? '/'; // origin form (RequestEntry)
    const runtime = table.match(host, url, request, secure, gatewayEntryOf(socket));
    if (runtime === null) { writeRawError(socket, ProxyErrors.NO_ROUTE); return; }
    const clientSocket = request.socket as Socket;
    // The same chain as plain HTTP: TLS policy, allowlist, rate limits, Middlewares, endpoint
    // choice, rewrite-target and header actions all apply to upgrades.
    const ctx = new PluginContext('upgrade', runtime.chain, this, runtime, runtime.route, clientSocket,
      clientAddress(clientSocket.remoteAddress), secure, 'GET', url, host, request.headers, null);
    ctx.sink = new PendingUpgrade(request, socket, head, upgrade.toLowerCase() === 'websocket' ? 'websocket' : 'upgrade');
    this.#pending++;
    runPhases(ctx);
  }

  // ---- ExchangeDriver


  answer(ctx: PluginContext): void {
    const pending = ctx.sink as PendingUpgrade;
    if (ctx.answerError !== null) writeRawError(pending.socket, ctx.answerError);
    else writeRawResponse(pending.socket, ctx.answerStatus, ctx.answerBody, ctx.answerHeaders);
    this.#endPending(ctx, ctx.answerStatus, 'answered');
  }

  failed(ctx: PluginContext, link: string, error: unknown, timedOut: boolean): void {
    const spec = this.#failures.record(ctx.route.key, link, error, timedOut);
    writeRawError((ctx.sink as PendingUpgrade).socket, spec);
    this.#endPending(ctx, spec.status, 'error');
  }

  #endPending(ctx: PluginContext, status: number, outcome: PluginContext['outcome']): void {
    this.#pending--;
    ctx.status = status;
    ctx.outcome = outcome;
    (ctx.owner as RouteRuntime).countResponse(status, 0);
    this.#log(ctx);
    this.#onClosed();
  }

  #log(ctx: PluginContext): void {
    if (ctx.chain.log !== null) runLogPhases(ctx, this.#failures);
  }

  proceed(ctx: PluginContext): void {
    this.#pending--;
    const { request, socket, head, kind } = ctx.sink as PendingUpgrade;
    const runtime = ctx.owner as RouteRuntime;
    if (socket.destroyed) {
      ctx.status = 499;
      ctx.outcome = 'client-closed';
      this.#log(ctx);
      this.#onClosed();
      return;
    }
    // What the phases decided goes upstream: their headers (with the upgrade's own
    // Connection/Upgrade, which the hop-by-hop rules removed) and the rewritten path.
    const flat = ctx.upstreamHeaders!;
    const headers: Record<string, string | string[]> = { connection: 'Upgrade', upgrade: request.headers.upgrade! };
    for (let i = 0; i < flat.length; i += 2) {
      const name = flat[i]!;
      const existing = headers[name];
      headers[name] = existing === undefined || name === 'connection' || name === 'upgrade' ? flat[i + 1]! : ([] as string[]).concat(existing, flat[i + 1]!);
    }
    request.headers = headers as IncomingMessage['headers'];
    request.url = ctx.path;
    const endpoint = ctx.endpoint!.endpoint;
    ctx.outcome = 'forwarded';
    ctx.status = 101;
    const state: TunnelState = { runtime, endpoint, client: socket, upstream: null, closed: false, kind, ctx };
    (request as unknown as Record<symbol, TunnelState>)[kTunnel] = state;
    this.#open.add(state);
    endpoint.started();
    this.#metrics.tunnelsActive.labels(kind).inc();
    const timeout = runtime.route.policy.tunnelTimeoutMs;
    (socket as Socket).setTimeout?.(timeout);
    socket.once('timeout', () => socket.destroy());
    socket.once('close', () => this.#closed(state));
    const reencrypt = runtime.reencrypt;
    this.#proxy.ws(request, socket as Socket, head, {
      target: { protocol: reencrypt ? 'https:' : 'http:', host: endpoint.address, port: endpoint.port } as never,
      agent: reencrypt ? runtime.upgradeAgent(this.defaultDestinationCA) : undefined,
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


  /** The backend accepted the upgrade: give its socket the same idle timeout and fate. */
  #attach(state: TunnelState, upstream: Socket): void {
    if (state.closed) { upstream.destroy(); return; }
    this.#health?.recordSuccess(state.endpoint);
    state.upstream = upstream;
    upstream.removeAllListeners('timeout'); // the upgrade deadline no longer applies
    upstream.setTimeout(state.runtime.route.policy.tunnelTimeoutMs);
    upstream.once('timeout', () => { upstream.destroy(); state.client.destroy(); });
    upstream.once('close', () => state.client.destroy());
    // Half-closed: once either side has ended, the other gets the (short) FIN timeout to finish.
    const fin = this.#finTimeoutMs;
    const halfClosed = () => {
      (state.client as Socket).setTimeout?.(fin);
      upstream.setTimeout(fin);
    };
    state.client.once('end', halfClosed);
    upstream.once('end', halfClosed);
  }

  #onError(err: Error, req: IncomingMessage, client: Duplex): void {
    const state = (req as unknown as Record<symbol, TunnelState | undefined>)[kTunnel];
    const code = (err as { code?: string }).code;
    const failure = classifyUpstreamFailure(err);
    if (state) {
      state.runtime.countUpstreamError(failure.reason);
      if (failure.endpointFault && state.upstream === null && this.#health !== null) {
        const now = Date.now();
        this.#health.recordFailure(state.endpoint, now, isLastAvailable(state.runtime.members, state.endpoint, now));
      }
    }
    this.#logger.debug({ err: err.message, code }, 'upgrade tunnel error');
    if (client && !client.destroyed) writeRawError(client, failure.error);
  }

  #closed(state: TunnelState): void {
    if (state.closed) return;
    state.closed = true;
    this.#open.delete(state);
    state.endpoint.ended();
    state.upstream?.destroy();
    this.#metrics.tunnelsActive.labels(state.kind).dec();
    this.#log(state.ctx);
    this.#onClosed();
  }
}
