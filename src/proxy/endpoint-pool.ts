// The HTTP/1.1 connections to one endpoint: undici Clients (one connection each), as many as
// requests in flight, the idle ones kept for reuse. It speaks undici's dispatch protocol, so
// the forwarder sees the same dispatcher as an undici Pool — but it keeps what an endpoint
// needs and no more. With endpoints of their own per route (as pods have), undici's Pool was
// most of a route's heap (bench:scale, pods shape, 10k routes, one request per route: 6 KB of
// 31 KB per route), because each Pool
// - makes a spare, unconnected Client whenever its clients are busy, to tell whether it could
//   take another request (pool-base.js kHasDispatcher) — with one request at a time, two
//   Clients per endpoint, and it never drops a Client that disconnected;
// - builds its own connector (a closure, a TLS session cache, a finalization registry) and
//   parses its own origin URL.
// Here the connector and the Client options are shared by every cleartext pool, the origin URL
// by the pool's clients, a Client is made only for a request that finds none idle, and a Client
// whose connection closed while idle (keep-alive timeout, the backend's close) is dropped, so an
// endpoint that sees no traffic holds nothing but this object and its origin string. Not capped: see createPool in
// http1-forwarder.ts. The idle clients wait on a stack: a request takes the one freed last (its
// connection the warmest) without walking the busy ones — under 50 keep-alive clients that walk
// was the pool's own cost per request (perf: the top switchyard frame on the HTTPS path).

import { buildConnector, Client, errors, type Dispatcher } from 'undici';
import type { UpstreamDispatcher } from './upstream-h2-pool.ts';
import { tlsConnectOptions, type UpstreamTls } from './upstream-tls.ts';

export interface EndpointPoolOptions {
  connectTimeoutMs: number;
  /** TLS to the endpoint (reencrypt): the CA to trust and the name to verify. */
  tls?: UpstreamTls;
}

/** A Client that knows its pool and whether it has a request (pipelining 1: one at a time). */
class PooledClient extends Client {
  readonly pool: EndpointPool;
  busy = false;
  connected = false;
  /** On its pool's idle stack. */
  idle = false;
  /** Out of its pool's rotation (closing). */
  retired = false;

  constructor(pool: EndpointPool, origin: URL, options: Client.Options) {
    super(origin, options);
    this.pool = pool;
    this.on('connect', onConnect).on('disconnect', onDisconnect).on('connectionError', onConnectionError).on('drain', onDrain);
  }
}

// Listeners shared by every client (`this` is the client): no closures per connection.
function onConnect(this: PooledClient): void {
  this.connected = true;
}

function onDisconnect(this: PooledClient): void {
  this.connected = false;
  // Closed while idle: nothing to reuse (a request would have to connect again anyway).
  if (!this.busy) this.pool.retire(this);
}

function onConnectionError(this: PooledClient): void {
  // Its request has failed; as undici's Pool does, the client is not used again.
  this.connected = false;
  this.pool.retire(this);
}

function onDrain(this: PooledClient): void {
  this.busy = false;
  // Its connection closed during the request (an Upgrade takes the socket away, too).
  if (!this.connected) this.pool.retire(this);
  else this.pool.released(this);
}

function ignore(): void {}

/** Client options (and so the connector) shared by every cleartext pool with one connect timeout. */
const cleartextOptions = new Map<number, Client.Options>();

function clientOptions(options: EndpointPoolOptions): Client.Options {
  const shared = options.tls === undefined ? cleartextOptions.get(options.connectTimeoutMs) : undefined;
  if (shared !== undefined) return shared;
  const tls = options.tls;
  const made: Client.Options = Object.freeze({
    connect: buildConnector({
      timeout: options.connectTimeoutMs,
      ...(tls === undefined ? {} : tlsConnectOptions(tls)),
      // HTTP/1.1 only (createPool explains why).
      allowH2: false,
    }),
    pipelining: 1,
    // Backends commonly close idle connections after 5 s (Node's default); stay below it and
    // follow a shorter Keep-Alive hint minus a safety margin.
    keepAliveTimeout: 4_000,
    keepAliveMaxTimeout: 60_000,
    keepAliveTimeoutThreshold: 1_000,
    headersTimeout: 0,
    bodyTimeout: 0,
    allowH2: false,
  });
  if (tls === undefined) cleartextOptions.set(options.connectTimeoutMs, made);
  return made;
}

export class EndpointPool implements UpstreamDispatcher {
  readonly #origin: string;
  /** The origin parsed (a URL is some 450 bytes): made for the first client, dropped with the last. */
  #url: URL | null = null;
  readonly #options: Client.Options;
  /** Clients that may take a request (idle or busy); a retired one leaves this list. */
  #clients: PooledClient[] = [];
  /** The idle ones among them, the one freed last on top. */
  #idle: PooledClient[] = [];
  #closed = false;

  constructor(origin: string, options: EndpointPoolOptions) {
    if (!URL.canParse(origin)) throw new TypeError(`endpoint pool: invalid origin ${origin}`);
    this.#origin = origin;
    this.#options = clientOptions(options);
  }

  /** Connections open (idle or in use): for tests and diagnostics. */
  get connected(): number {
    let n = 0;
    for (const c of this.#clients) if (c.connected) n++;
    return n;
  }

  /** Clients without a request (undici frees one a turn of the event loop after its response: client-h1.js). */
  get idle(): number {
    let n = 0;
    for (const c of this.#clients) if (!c.busy) n++;
    return n;
  }

  /** Clients held (each at most one connection). */
  get size(): number {
    return this.#clients.length;
  }

  dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    if (this.#closed) {
      handler.onResponseError?.(null as never, new errors.ClientClosedError());
      return false;
    }
    // The client freed last, else a new one.
    let chosen = this.#idle.pop();
    if (chosen === undefined) {
      chosen = new PooledClient(this, (this.#url ??= new URL(this.#origin)), this.#options);
      this.#clients.push(chosen);
    } else {
      chosen.idle = false;
    }
    // false: the client has a request now and says when it is done ('drain'). Unless undici
    // refused the request (invalid options): it has then failed it through the handler, and the
    // client, which holds nothing, stays idle.
    if (!chosen.dispatch(options, handler)) chosen.busy = chosen.stats.size > 0;
    if (!chosen.busy) this.released(chosen);
    return true;
  }

  /** A client of this pool is idle (its request done or refused): the next request takes it. */
  released(client: PooledClient): void {
    if (client.idle || client.retired || this.#closed) return;
    client.idle = true;
    this.#idle.push(client);
  }

  /** Take a client out of rotation and close it (at once when idle; after its request otherwise). */
  retire(client: PooledClient): void {
    const at = this.#clients.indexOf(client);
    if (at === -1) return;
    client.retired = true;
    this.#clients[at] = this.#clients[this.#clients.length - 1]!;
    this.#clients.pop();
    if (client.idle) {
      client.idle = false;
      this.#idle.splice(this.#idle.indexOf(client), 1);
    }
    if (this.#clients.length === 0) {
      // An idle endpoint keeps neither the URL nor the room the lists grew to.
      this.#clients = [];
      this.#idle = [];
      this.#url = null;
    }
    client.close().catch(ignore);
  }

  /** Requests in flight finish; then every connection closes. */
  async close(): Promise<void> {
    this.#closed = true;
    const clients = this.#clients;
    this.#clients = [];
    this.#idle = [];
    await Promise.all(clients.map((c) => c.close().catch(ignore)));
  }

  /** Every connection closes now; requests in flight fail. */
  async destroy(): Promise<void> {
    this.#closed = true;
    const clients = this.#clients;
    this.#clients = [];
    this.#idle = [];
    await Promise.all(clients.map((c) => c.destroy().catch(ignore)));
  }
}
