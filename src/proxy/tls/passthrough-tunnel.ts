// TLS passthrough: the client's bytes (starting with the ClientHello we peeked at) are piped
// unchanged to an endpoint of the route; the router never decrypts. One tunnel object per
// connection; it closes both sides when either goes, on connect failure and on idle timeout.

import net from 'node:net';
import type { Gauge } from 'prom-client';
import type { Member } from '../../balance/types.ts';
import type { Logger } from '../../log.ts';
import type { TlsRouteItem } from './sni-route.ts';
import { classifyUpstreamFailure } from '../upstream-failure.ts';

export interface PassthroughOptions {
  tunnels: Gauge.Internal<'kind'>;
  logger: Logger;
}

export class PassthroughTunnel {
  readonly #client: net.Socket;
  readonly #upstream: net.Socket;
  readonly #member: Member;
  readonly #options: PassthroughOptions;
  readonly #route: string;
  readonly #connectTimer: NodeJS.Timeout;
  #connected = false;
  #closed = false;
  #openSides = 2;

  /**
   * Open a tunnel for `client` (paused, nothing consumed but `buffered`) to an endpoint of
   * `item`. Returns null — after closing the client — when no endpoint is available.
   */
  static open(client: net.Socket, buffered: Buffer, item: TlsRouteItem, clientIp: string, options: PassthroughOptions): PassthroughTunnel | null {
    const member = item.balancer.pick(clientIp, Date.now());
    if (member === null) {
      options.logger.debug({ route: item.route.key }, 'passthrough: no available endpoint');
      client.destroy();
      return null;
    }
    return new PassthroughTunnel(client, buffered, item, member, options);
  }

  constructor(client: net.Socket, buffered: Buffer, item: TlsRouteItem, member: Member, options: PassthroughOptions) {
    this.#client = client;
    this.#member = member;
    this.#options = options;
    this.#route = item.route.key;
    const policy = item.route.policy;
    member.endpoint.active++;
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
    this.#member.endpoint.active--;
    this.#options.tunnels.dec();
  }

  #onConnect(idleMs: number): void {
    clearTimeout(this.#connectTimer);
    this.#connected = true;
    const client = this.#client;
    const upstream = this.#upstream;
    client.pipe(upstream);
    upstream.pipe(client);
    if (idleMs > 0) {
      client.setTimeout(idleMs, () => this.close());
      upstream.setTimeout(idleMs, () => this.close());
    }
    client.resume();
  }

  #fail(side: 'client' | 'upstream', err: Error): void {
    if (!this.#closed) {
      this.#options.logger.debug({ route: this.#route, endpoint: this.#member.endpoint.name, side, connected: this.#connected, err: err.message, reason: side === 'upstream' ? classifyUpstreamFailure(err).reason : 'client' }, 'passthrough tunnel error');
    }
    this.close();
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
  tunnel.close();
}
