// A TLS passthrough connection: the route's chain runs its connection phase (ip_allowlist, TCP
// rate limits, Middlewares' connection checks), endpoint selection and failure phase for the
// connection; then the client's bytes (starting with the ClientHello we peeked at) are piped
// unchanged to the endpoint — the router never decrypts. Refused or failed: the connection is
// closed (there is no HTTP to answer with). Nothing of the client's has been consumed before the
// upstream connects, so a connect failure may be tried again on another endpoint. A TCPRoute's
// stream (a Gateway TCP listener) runs the same way with nothing buffered; refused, it is reset
// (RST), as the spec asks of connections to invalid backends. Both ends may half-close: a FIN
// travels to the other side, which may still answer (the TCP listener and the upstream socket
// allow half-open connections; the tunnel's FIN timeout bounds the wait).

import net from 'node:net';
import { errors } from 'undici';
import type { Member } from '../../balance/types.ts';
import type { ProxyErrorSpec } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { Exchange } from '../exchange.ts';
import type { RouteRuntime } from '../route-runtime.ts';
import { Tunnel } from '../tunnel.ts';
import type { Forwarder, UpstreamAttempt, UpstreamEvents } from '../upstream-attempt.ts';
import type { TunnelHost } from '../upgrade-exchange.ts';
import type { ExchangeTrace } from '../../tracing/exchange-trace.ts';
import type { Tracing } from '../../tracing/tracing.ts';
import { beginPassthroughTrace } from '../exchange-tracing.ts';

const NO_HEADERS = Object.freeze({});
const NO_UPSTREAM_HEADERS = Object.freeze({});
const kPassthrough = Symbol('switchyard.passthrough');

export interface PassthroughHost extends TunnelHost {
  readonly logger: Logger;
}

function onClientClose(this: net.Socket): void {
  const x = (this as unknown as Record<symbol, PassthroughExchange | undefined>)[kPassthrough];
  if (x !== undefined && x.tunnel === null && !x.ended) x.clientGone();
}

function ignore(): void {}

export class PassthroughExchange extends Exchange {
  readonly client: net.Socket;
  /** The ClientHello (and whatever came with it): goes upstream first. */
  readonly buffered: Buffer;
  /** The server name of the ClientHello. */
  readonly sni: string;
  readonly #host: PassthroughHost;
  tunnel: Tunnel | null = null;

  constructor(proxy: PassthroughHost, runtime: RouteRuntime, client: net.Socket, buffered: Buffer, clientIp: string, sni = '') {
    super('passthrough', runtime, proxy, client, clientIp, true, '', '', '', NO_HEADERS, null);
    this.#host = proxy;
    this.client = client;
    this.buffered = buffered;
    this.sni = sni;
    (client as unknown as Record<symbol, PassthroughExchange>)[kPassthrough] = this;
    client.on('error', ignore);
    client.once('close', onClientClose);
  }

  clientClosed(): boolean {
    return this.client.destroyed;
  }

  /** A connection's trace is a new one: nothing of the client's context can be read in a TLS stream. */
  protected override beginTrace(tracing: Tracing): ExchangeTrace | null {
    const route = this.runtime.route;
    return beginPassthroughTrace(tracing, this.client, this.clientAddress, this.sni, route, route.policy.traceSampling, this.startedAt);
  }

  protected canResend(): boolean {
    return true;
  }

  /** Refused (allowlist, rate limit, no endpoint) or failed: a raw TLS connection can only be closed. */
  protected writeAnswer(): void {
    this.#refuse(this.answerStatus);
  }

  protected writeError(error: ProxyErrorSpec): void {
    this.#refuse(error.status);
  }

  #refuse(status: number): void {
    this.#host.logger.debug({ route: this.owner.info.key, client: this.clientAddress, status }, 'passthrough connection refused');
    if (this.runtime.route.kind === 'TCPRoute') this.client.resetAndDestroy();
    else this.client.destroy();
  }

  // No HTTP response on a passthrough connection.
  protected writeHead(): boolean { return true; }
  protected writeBody(): boolean { return true; }
  protected endBody(): void {}

  protected cutResponse(): void {
    this.client.destroy();
  }

  protected override openTunnel(upstream: net.Socket): void {
    const policy = this.runtime.route.policy;
    const host = this.#host;
    this.tunnel = new Tunnel(this.client, upstream, this.buffered, { idleMs: policy.tunnelTimeoutMs, finMs: host.finTimeoutMs, gauge: host.tunnelGauge(this.runtime.route.kind === 'TCPRoute' ? 'tcp' : 'passthrough') }, (tunnel) => {
      host.tunnelClosed(tunnel);
      this.end(0, 'forwarded');
    });
    host.tunnelOpened(this.tunnel);
  }
}

/** Raw TCP to the endpoint, bounded by the route's connect timeout. */
export class TcpForwarder implements Forwarder {
  attempt(exchange: UpstreamEvents, member: Member, number: number): UpstreamAttempt {
    return new TcpAttempt(exchange as PassthroughExchange, member, number);
  }
}

class TcpAttempt implements UpstreamAttempt {
  readonly exchange: PassthroughExchange;
  readonly member: Member;
  readonly number: number;
  readonly startedAt = performance.now();
  #socket: net.Socket | null = null;
  #timer: NodeJS.Timeout | null = null;
  #done = false;

  constructor(exchange: PassthroughExchange, member: Member, number: number) {
    this.exchange = exchange;
    this.member = member;
    this.number = number;
  }

  start(): void {
    const { address, port } = this.member.endpoint;
    const socket = net.connect({ host: address, port, noDelay: true, allowHalfOpen: true });
    this.#socket = socket;
    this.#timer = setTimeout(onConnectTimeout, this.exchange.runtime.route.policy.connectTimeoutMs, this);
    socket.once('connect', () => {
      if (this.#settle()) this.exchange.upstreamOpen(this, 0, NO_UPSTREAM_HEADERS, socket);
    });
    socket.once('error', (err) => this.fail(err));
  }

  fail(error: Error): void {
    if (!this.#settle()) return;
    this.#socket?.destroy();
    this.exchange.attemptFailed(this, error);
  }

  /** The first of connect, error and timeout decides. */
  #settle(): boolean {
    if (this.#done) return false;
    this.#done = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#socket?.on('error', ignore);
    return true;
  }

  pause(): void {}
  resume(): void {}

  abort(): void {
    if (this.#settle()) this.#socket?.destroy();
  }
}

function onConnectTimeout(attempt: TcpAttempt): void {
  attempt.fail(new errors.ConnectTimeoutError());
}
