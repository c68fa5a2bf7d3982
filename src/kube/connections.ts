// The connections of one API client to its server, as client-go's HTTP/2 transport keeps them:
// one connection carries every request as a stream, up to the server's stream limit
// (kube-apiserver: 100 per connection); only a request beyond it opens another, and a second
// connection left with no stream is closed. A connection that breaks is opened again once, by
// the first request after it, the others waiting for it. A server that answers HTTP/1.1 (ALPN,
// or plain http) gets one request per connection, keep-alive, a few idle ones kept.
//
// Why not undici's Pool: over HTTP/2 it opens one more connection each time one breaks while
// requests wait (measured against kube-apiserver: 1, 3, 6, 10 connections after 0-3 breaks), and
// keeps them all.

import { buildConnector, Client, type Dispatcher } from 'undici';
import type { TLSSocket } from 'node:tls';

/** Streams per HTTP/2 connection: kube-apiserver's default limit (--http2-max-streams-per-connection). */
const STREAMS_PER_CONNECTION = 100;
/** Idle HTTP/1.1 connections kept for reuse. */
const IDLE_H1_CONNECTIONS = 4;

export interface ApiConnectionsOptions {
  /** TLS options of the connection (ca, cert, key, rejectUnauthorized, servername). */
  tls: Record<string, unknown>;
  /** Told of each connection opened. */
  onConnect?: () => void;
}

interface Slot { client: Client; active: number }

export class ApiConnections {
  readonly #origin: string;
  readonly #connector: buildConnector.connector;
  readonly #onConnect: (() => void) | undefined;
  #slots: Slot[] = [];
  /** What the server spoke on the last connection: 'h2', or 'h1' (ALPN http/1.1, or plain http). */
  #protocol: 'h2' | 'h1' | undefined;
  /** Connections open now, over all slots. */
  #open = 0;
  /** A connection being opened while none is: the other requests wait for it. */
  #opening: { promise: Promise<void>; done: () => void } | undefined;
  #closed = false;

  constructor(origin: string, options: ApiConnectionsOptions) {
    this.#origin = origin;
    this.#onConnect = options.onConnect;
    // TCP keep-alive as client-go (30 s), so a dead peer or a NAT that forgot us is noticed.
    const connect = buildConnector({ ...options.tls, allowH2: true, preferH2: true, keepAlive: true, keepAliveInitialDelay: 30_000 } as buildConnector.BuildOptions);
    this.#connector = (opts, callback) => connect(opts, (err, socket) => {
      if (err === null && socket) this.#connected(socket);
      else this.#openingDone();
      (callback as (err: Error | null, socket: unknown) => void)(err, socket);
    });
  }

  /** Send a request on a connection with room for it; the response's body holds its slot until it ends. */
  async request(options: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData> {
    if (this.#closed) throw new Error('Kubernetes client closed');
    const slot = await this.#slot();
    let response: Dispatcher.ResponseData;
    try {
      response = await slot.client.request(options);
    } catch (err) {
      this.#release(slot);
      throw err;
    }
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.#release(slot);
    };
    // 'end' (read to the end) comes before the reader's promise settles; 'close' also covers a
    // body destroyed or broken half-way.
    response.body.once('end', release).once('close', release);
    return response;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const slots = this.#slots;
    this.#slots = [];
    this.#openingDone();
    await Promise.all(slots.map((slot) => slot.client.destroy().catch(() => {})));
  }

  /** A connection with room for one more request (opening one only if none has), taken. */
  async #slot(): Promise<Slot> {
    // No connection is open (the first request, or after one broke): this request opens one,
    // later ones wait for it. Before it, the protocol, and so a connection's room, is unknown.
    while (this.#open === 0 && this.#opening) await this.#opening.promise;
    if (this.#open === 0) {
      let done!: () => void;
      const promise = new Promise<void>((resolve) => { done = resolve; });
      this.#opening = { promise, done };
    }
    const room = this.#protocol === 'h1' ? 1 : STREAMS_PER_CONNECTION;
    const slot = this.#slots.find((s) => s.active < room);
    if (slot) {
      slot.active++; // taken before any other waiter looks
      return slot;
    }
    const added: Slot = {
      client: new Client(this.#origin, {
        connect: this.#connector, allowH2: true,
        // Over HTTP/2 the server's limit applies per connection; we keep to it ourselves.
        maxConcurrentStreams: STREAMS_PER_CONNECTION,
        // An idle HTTP/1.1 connection is kept a minute (kube-apiserver keeps them 90 s).
        keepAliveTimeout: 60_000, keepAliveMaxTimeout: 60_000,
      }),
      active: 1,
    };
    added.client.on('disconnect', () => { this.#open = Math.max(0, this.#open - 1); });
    this.#slots.push(added);
    return added;
  }

  #release(slot: Slot): void {
    slot.active--;
    if (slot.active > 0 || this.#closed) return;
    // Over HTTP/2 one connection is enough: close the others as they empty. Over HTTP/1.1 keep
    // a few idle ones for reuse.
    const idle = this.#slots.filter((s) => s.active === 0);
    const keep = this.#protocol === 'h1' ? IDLE_H1_CONNECTIONS : 1;
    if (idle.length <= keep || this.#slots[0] === slot) return;
    this.#slots = this.#slots.filter((s) => s !== slot);
    void slot.client.close().catch(() => {});
  }

  #connected(socket: unknown): void {
    this.#protocol = (socket as TLSSocket).alpnProtocol === 'h2' ? 'h2' : 'h1';
    this.#open++;
    this.#onConnect?.();
    this.#openingDone();
  }

  #openingDone(): void {
    const opening = this.#opening;
    this.#opening = undefined;
    opening?.done();
  }
}
