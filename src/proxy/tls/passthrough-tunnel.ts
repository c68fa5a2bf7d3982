// TLS passthrough: the route's chain runs its connection phase (ip_allowlist, TCP rate limits,
// Middlewares' connection checks) and endpoint selection for the connection, then the client's
// bytes (starting with the ClientHello we peeked at) are piped unchanged to the endpoint; the
// router never decrypts. One tunnel object per connection; it closes both sides when either
// goes, on connect failure and on idle timeout; the log phases run when it is done.

import net from 'node:net';
import type { Gauge } from 'prom-client';
import type { Member } from '../../balance/types.ts';
import type { Logger } from '../../log.ts';
import type { MiddlewareFailures } from '../middleware-failures.ts';
import { PluginContext, type ExchangeDriver } from '../../pipeline/context.ts';
import { runLogPhases, runPhases } from '../../pipeline/runner.ts';
import type { TlsRouteItem } from './sni-route.ts';
import { classifyUpstreamFailure, isLastAvailable, type TunnelHealth } from '../upstream-failure.ts';

const NO_HEADERS = Object.freeze({});

export interface PassthroughOptions {
  tunnels: Gauge.Internal<'kind'>;
  logger: Logger;
  /** Counts and rate-limits middleware failures (switchyard_middleware_errors_total). */
  failures?: MiddlewareFailures;
  /** Idle timeout once one side has sent its FIN (--client-fin-timeout; default 1 s). */
  finTimeoutMs?: number;
  /** Passive health: connect failures and connect timeouts count as a request's do. */
  health?: TunnelHealth;
}

export class PassthroughTunnel {
  readonly #client: net.Socket;
  readonly #upstream: net.Socket;
  readonly #member: Member;
  /** The route's members (panic threshold of passive ejection). */
  readonly #members: readonly Member[];
  readonly #options: PassthroughOptions;
  readonly #route: string;
  readonly #connectTimer: NodeJS.Timeout;
  readonly #ctx: PluginContext | null;
  #connected = false;
  #closed = false;
  #openSides = 2;

  /**
   * Open a tunnel for `client` (paused, nothing consumed but `buffered`) to an endpoint of
   * `item`. Returns null — after closing the client — when no endpoint is available.
   */
  static open(client: net.Socket, buffered: Buffer, item: TlsRouteItem, clientIp: string, options: PassthroughOptions): void {
    const run = new PassthroughRun(client, buffered, item, options);
    const ctx = new PluginContext('passthrough', item.chain, run, item, item.route, client, clientIp, true, '', '', '', NO_HEADERS, null);
    ctx.sink = run;
    runPhases(ctx);
  }

  constructor(client: net.Socket, buffered: Buffer, item: TlsRouteItem, member: Member, options: PassthroughOptions, ctx: PluginContext | null = null) {
    this.#ctx = ctx;
    this.#client = client;
    this.#member = member;
    this.#members = item.members;
    this.#options = options;
    this.#route = item.route.key;
    const policy = item.route.policy;
    member.endpoint.started();
    options.tunnels.inc();
    const upstream = net.connect({ host: member.endpoint.address, port: member.endpoint.port, noDelay: true });
    this.#upstream = upstream;
    this.#connectTimer = setTimeout(onConnectTimeout, policy.connectTimeoutMs, this);
    upstream.write(buffered); // queued until connected
    upstream.once('connect', () => this.#onConnect(policy.tunnelTimeoutMs));
    upstream.on('error', (err) => this.#fail('upstream', err));
    client.on('error', (err) => this.#fail('client', err));
    upstream.once('close', () => this.#onSideClosed(client));
    client.once('close', () => this.#onSideClosed(upstream));
  }

  /** One side is gone: let the other flush what it was sent and end (errors destroy both instead). */
  #onSideClosed(other: net.Socket): void {
    if (!this.#connected) this.close();
    else if (!other.destroyed) {
      // pipe() paused `other` when its destination closed: keep reading so its EOF arrives.
      other.resume();
      other.end();
    }
    if (--this.#openSides === 0) this.#finish();
  }

  #finish(): void {
    this.#member.endpoint.ended();
    this.#options.tunnels.dec();
    const ctx = this.#ctx;
    if (ctx !== null && ctx.chain.log !== null) runLogPhases(ctx, { logPhase: (_route, link, error) => logFailure(this.#options, ctx, link, error) });
  }

  #onConnect(idleMs: number): void {
    clearTimeout(this.#connectTimer);
    this.#connected = true;
    this.#options.health?.recordSuccess(this.#member.endpoint);
    const client = this.#client;
    const upstream = this.#upstream;
    client.pipe(upstream);
    upstream.pipe(client);
    if (idleMs > 0) {
      client.setTimeout(idleMs, () => this.close());
      upstream.setTimeout(idleMs, () => this.close());
    }
    // Half-closed (one side sent its FIN, the other keeps its half open): the short FIN timeout
    // replaces the tunnel timeout, as HAProxy's `timeout client-fin` / `timeout server-fin`.
    const fin = this.#options.finTimeoutMs ?? 1_000;
    const halfClosed = (): void => {
      client.setTimeout(fin, () => this.close());
      upstream.setTimeout(fin, () => this.close());
    };
    client.once('end', halfClosed);
    upstream.once('end', halfClosed);
    client.resume();
  }

  #fail(side: 'client' | 'upstream', err: Error): void {
    if (side === 'upstream' && !this.#connected && !this.#closed && classifyUpstreamFailure(err).endpointFault) this.endpointFailed();
    if (!this.#closed) {
      this.#options.logger.debug({ route: this.#route, endpoint: this.#member.endpoint.name, side, connected: this.#connected, err: err.message, reason: side === 'upstream' ? classifyUpstreamFailure(err).reason : 'client' }, 'passthrough tunnel error');
    }
    this.close();
  }

  /** The endpoint could not be reached (connect error or connect timeout): tell passive health. */
  endpointFailed(): void {
    const health = this.#options.health;
    if (health === undefined) return;
    const now = Date.now();
    health.recordFailure(this.#member.endpoint, now, isLastAvailable(this.#members, this.#member.endpoint, now));
  }

  /** Destroy both sides at once (errors, timeouts, shutdown); idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#connectTimer);
    this.#client.destroy();
    this.#upstream.destroy();
  }
}

function onConnectTimeout(tunnel: PassthroughTunnel): void {
  tunnel.endpointFailed();
  tunnel.close();
}

/** A passthrough connection while its phases run: the runner's driver. */
class PassthroughRun implements ExchangeDriver {
  readonly client: net.Socket;
  readonly buffered: Buffer;
  readonly item: TlsRouteItem;
  readonly options: PassthroughOptions;
  constructor(client: net.Socket, buffered: Buffer, item: TlsRouteItem, options: PassthroughOptions) {
    this.client = client;
    this.buffered = buffered;
    this.item = item;
    this.options = options;
  }

  proceed(ctx: PluginContext): void {
    if (this.client.destroyed) {
      this.#end(ctx, 'client-closed');
      return;
    }
    ctx.outcome = 'forwarded';
    new PassthroughTunnel(this.client, this.buffered, this.item, ctx.endpoint!, this.options, ctx);
  }

  /** Rejected (allowlist, rate limit, no endpoint): a raw TLS connection can only be closed. */
  answer(ctx: PluginContext): void {
    this.options.logger.debug({ route: this.item.route.key, client: ctx.clientAddress, status: ctx.answerStatus }, 'passthrough connection refused');
    this.client.destroy();
    this.#end(ctx, 'answered');
  }

  failed(ctx: PluginContext, link: string, error: unknown): void {
    logFailure(this.options, ctx, link, error);
    this.client.destroy();
    this.#end(ctx, 'error');
  }

  #end(ctx: PluginContext, outcome: PluginContext['outcome']): void {
    ctx.outcome = outcome;
    ctx.status = ctx.answerStatus;
    if (ctx.chain.log !== null) runLogPhases(ctx, { logPhase: (_route, link, error) => logFailure(this.options, ctx, link, error) });
  }
}

function logFailure(options: PassthroughOptions, ctx: PluginContext, link: string, error: unknown): void {
  const failures = (ctx.owner as TlsRouteItem).failures ?? options.failures;
  if (failures) {
    failures.record(ctx.route.key, link, error, false);
    return;
  }
  options.logger.error({ route: ctx.route.key, middleware: link, err: error instanceof Error ? error.message : String(error) }, 'middleware failed on a passthrough connection');
}
