// An Upgrade request (WebSocket, or any protocol a backend switches to) on HTTP/1.1: Node hands
// over the raw client socket, so this way in writes raw HTTP. The request is dispatched with
// undici's `upgrade` (the same pools as plain requests); a 101 joins the two sockets in a
// Tunnel with the route's tunnel timeout, any other answer is relayed and the connection
// closed. An upgrade is a GET without a body, so an attempt can always be made again.

import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Gauge } from 'prom-client';
import type { ProxyErrorSpec } from '../errors.ts';
import { writeRawError } from './error-response.ts';
import { Exchange, type ExchangeHost } from './exchange.ts';
import { clientAddress } from './headers.ts';
import type { Http1Request } from './http1-forwarder.ts';
import { rawHead, writeRawResponse } from './raw-response.ts';
import type { RouteRuntime } from './route-runtime.ts';
import { Tunnel } from './tunnel.ts';
import type { UpstreamHeaders } from './upstream-attempt.ts';

/** What an Upgrade exchange needs besides the exchange host. */
export interface TunnelHost extends ExchangeHost {
  /** Idle timeout once either side has sent its FIN (--client-fin-timeout). */
  readonly finTimeoutMs: number;
  tunnelGauge(kind: 'websocket' | 'upgrade' | 'passthrough' | 'tcp'): Gauge.Internal<'kind'>;
  /** Open tunnels are tracked (closed at shutdown). */
  tunnelOpened(tunnel: Tunnel): void;
  tunnelClosed(tunnel: Tunnel): void;
}

const kUpgrade = Symbol('switchyard.upgrade');

function onClientClose(this: Duplex): void {
  const x = (this as unknown as Record<symbol, UpgradeExchange | undefined>)[kUpgrade];
  if (x !== undefined && x.tunnel === null && !x.ended) x.clientGone();
}

function onClientDrain(this: Duplex): void {
  (this as unknown as Record<symbol, UpgradeExchange | undefined>)[kUpgrade]?.drained();
}

function ignore(): void {}

export class UpgradeExchange extends Exchange implements Http1Request {
  readonly client: Duplex;
  /** What the client sent after its request head (goes upstream first). */
  readonly head: Buffer;
  readonly upgradeProtocol: string;
  readonly #host: TunnelHost;
  tunnel: Tunnel | null = null;

  constructor(proxy: TunnelHost, runtime: RouteRuntime, req: IncomingMessage, client: Duplex, head: Buffer, secure: boolean, url: string, host: string) {
    const socket = req.socket as Socket;
    super('upgrade', runtime, proxy, socket, clientAddress(socket.remoteAddress), secure, 'GET', url, host, req.headers, null);
    this.#host = proxy;
    this.client = client;
    this.head = head;
    this.upgradeProtocol = req.headers.upgrade!;
    (client as unknown as Record<symbol, UpgradeExchange>)[kUpgrade] = this;
    client.on('error', ignore);
    client.once('close', onClientClose);
  }

  get tunnelKind(): 'websocket' | 'upgrade' {
    return this.upgradeProtocol.toLowerCase() === 'websocket' ? 'websocket' : 'upgrade';
  }

  clientClosed(): boolean {
    return this.client.destroyed;
  }

  protected canResend(): boolean {
    return true;
  }

  upstreamBody(): null {
    return null;
  }

  protected writeAnswer(): void {
    writeRawResponse(this.client, this.answerStatus, this.answerBody, this.answerHeaders);
  }

  protected writeError(error: ProxyErrorSpec): void {
    writeRawError(this.client, error, this.errorHeaders());
  }

  /** The 101 keeps the connection (with the backend's Upgrade); any other answer is followed by the close. */
  protected writeHead(status: number, reason: string | undefined, headers: OutgoingHttpHeaders): boolean {
    const client = this.client;
    if (!client.writable) return true; // gone: the close handler ends the exchange
    if (status === 101) {
      const upgrade = this.upstreamResponseHeaders?.upgrade;
      client.write(rawHead(101, reason ?? 'Switching Protocols', headers, 'Upgrade', `Upgrade: ${typeof upgrade === 'string' && !/[\r\n]/.test(upgrade) ? upgrade : this.upgradeProtocol}\r\n`), 'latin1');
    } else {
      // Relayed with its length, else delimited by the close.
      client.write(rawHead(status, reason, headers, 'close'), 'latin1');
    }
    return true;
  }

  protected writeBody(chunk: Buffer): boolean {
    if (this.client.write(chunk)) return true;
    this.client.once('drain', onClientDrain);
    return false;
  }

  protected endBody(): void {
    const client = this.client;
    // Node hands over upgrade sockets paused: the client's FIN would never be read, so the
    // socket closes once the response is flushed.
    client.end(() => client.destroy());
  }

  protected cutResponse(): void {
    this.client.destroy();
  }

  protected override openTunnel(upstream: Duplex): void {
    const policy = this.runtime.route.policy;
    const host = this.#host;
    this.tunnel = new Tunnel(this.client, upstream, this.head, { idleMs: policy.tunnelTimeoutMs, finMs: host.finTimeoutMs, gauge: host.tunnelGauge(this.tunnelKind) }, (tunnel) => {
      host.tunnelClosed(tunnel);
      this.end(101, 'forwarded');
    });
    host.tunnelOpened(this.tunnel);
  }
}

export type { UpstreamHeaders };
