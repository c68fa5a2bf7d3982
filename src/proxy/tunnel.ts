// Two sockets joined: an Upgrade's client and upstream after the 101, or a TLS passthrough
// connection and its endpoint. Bytes flow both ways with backpressure (pipe); the route's tunnel
// timeout cuts an idle tunnel; once either side has sent its FIN the short FIN timeout replaces
// it (HAProxy's `timeout client-fin` / `timeout server-fin`); a side that closes lets the other
// flush what it was sent and end; an error on either side destroys both. `closed` is called
// once, when both sides are gone.

import type { Duplex } from 'node:stream';
import type { Gauge } from 'prom-client';

export interface TunnelOptions {
  /** Idle timeout of the tunnel (ms; 0 = none). */
  idleMs: number;
  /** Idle timeout once either side has sent its FIN (ms). */
  finMs: number;
  /** switchyard_tunnels_active child of this tunnel's kind. */
  gauge: Gauge.Internal<'kind'>;
}

interface Timed extends Duplex {
  setTimeout?(ms: number, callback?: () => void): unknown;
}

export class Tunnel {
  readonly #client: Timed;
  readonly #upstream: Timed;
  readonly #options: TunnelOptions;
  readonly #closed: (tunnel: Tunnel) => void;
  #open = 2;
  readonly #gone = [false, false];
  #destroyed = false;

  /** Join `client` and `upstream`; `first` goes upstream before anything the client sends next. */
  constructor(client: Duplex, upstream: Duplex, first: Buffer | null, options: TunnelOptions, closed: (tunnel: Tunnel) => void) {
    this.#client = client;
    this.#upstream = upstream;
    this.#options = options;
    this.#closed = closed;
    options.gauge.inc();
    const close = (): void => this.close();
    client.on('error', close);
    upstream.on('error', close);
    client.once('close', () => this.#sideClosed(0));
    upstream.once('close', () => this.#sideClosed(1));
    if (options.idleMs > 0) {
      this.#client.setTimeout?.(options.idleMs);
      this.#upstream.setTimeout?.(options.idleMs);
    }
    client.on('timeout', close);
    upstream.on('timeout', close);
    const halfClosed = (): void => {
      this.#client.setTimeout?.(options.finMs);
      this.#upstream.setTimeout?.(options.finMs);
    };
    client.once('end', halfClosed);
    upstream.once('end', halfClosed);
    if (first !== null && first.length > 0) upstream.write(first);
    client.pipe(upstream);
    upstream.pipe(client);
    client.resume();
    upstream.resume();
    if (client.closed) this.#sideClosed(0);
    if (upstream.closed) this.#sideClosed(1);
  }

  /** One side (0 client, 1 upstream) is gone: let the other flush what it was sent and end; both gone: done. */
  #sideClosed(side: 0 | 1): void {
    if (this.#gone[side]) return;
    this.#gone[side] = true;
    const other = side === 0 ? this.#upstream : this.#client;
    if (!other.destroyed) {
      // pipe() paused `other` when its destination closed: keep reading so its EOF arrives.
      other.resume();
      other.end();
    }
    if (--this.#open === 0) {
      this.#options.gauge.dec();
      this.#closed(this);
    }
  }

  /** Destroy both sides (errors, timeouts, shutdown); idempotent. */
  close(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#client.destroy();
    this.#upstream.destroy();
  }
}
