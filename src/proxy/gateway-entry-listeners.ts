// The sockets of Gateways with addresses of their own (--gateway-addresses): one listening socket
// per address and port in the table's entry points (TableDelta.entryPoints), opened and closed as
// Gateways come and go, SO_REUSEPORT like the shared ports (so workers and a rolling successor
// share them). An accepted connection is marked with its entry point (connection-marks.ts) and
// handed to the same HTTP server or, for HTTPS, to a TLS terminator of the entry point's own
// whose certificates are its listeners' (chosen by SNI as requests are chosen by Host: the most
// specific listener). The proxy then matches the request only against the routes of that
// listener (RouteTable.match with the entry point). An HTTPS entry point's terminator checks the
// client certificates of every connection as the Gateway's spec.tls.frontend says for the port
// (whatever the SNI: a connection may ask for any of its hosts). A TLS entry point reads each connection's
// ClientHello (client-hello-reader.ts) and hands the stream, with the server name it names, to
// the TLSRoute of the listener that name selects (RouteTable.matchStream with the entry point).
// A TCP entry point (one TCP listener) hands each connection, as it is accepted, to the oldest
// TCPRoute attached to its listener; its sockets allow half-open connections (a client's FIN
// is passed on and the answer may still come back).
//
// UDP entry points are not sockets of this kind: gateway-udp-listeners.ts binds them.
//
// A socket that cannot be bound (an address the node does not hold yet: a VIP that moves to this
// node later) is retried every few seconds, with a log line, until it binds or is no longer wanted.

import net from 'node:net';
import type { Logger } from '../log.ts';
import { selectListener } from '../table/listener-selection.ts';
import { normalizeHost } from '../table/match.ts';
import type { GatewayEntryPoint } from '../table/types.ts';
import { markGatewayEntry, type GatewayEntrySocket } from './connection-marks.ts';
import { ClientHelloReader, type ClientHelloDispatcher, type ClientHelloVerdict } from './tls/client-hello-reader.ts';
import type { TlsRouteItem, TlsRouteLookup } from './tls/sni-route.ts';
import type { TlsTerminator } from './tls/tls-terminator.ts';

const RETRY_MS = 5_000;

export interface GatewayEntryHandoff {
  /** A plain-HTTP connection: into the HTTP server. */
  http(socket: net.Socket): void;
  /** A TLS terminator for an HTTPS entry point, its certificates from `lookup`. */
  newTerminator(lookup: TlsRouteLookup): TlsTerminator;
  /**
   * A connection of a TLS entry point whose ClientHello is read (`buffered`, not consumed; the
   * socket paused): to the TLSRoute `serverName` selects there ('' when it names none), or closed.
   */
  stream(socket: net.Socket, buffered: Buffer, serverName: string, entry: GatewayEntryPoint): void;
  /** A connection of a TCP entry point, just accepted: to the TCPRoute of its listener, or reset. */
  tcp(socket: net.Socket, entry: GatewayEntryPoint): void;
  /** A TLS entry point accepted a connection (before its ClientHello): counted for the drain from now on. */
  streamAccepted(socket: net.Socket): void;
  /** A TLS entry point's connection without a usable ClientHello: counted by why (then closed). */
  streamRefused(socket: net.Socket, result: 'timeout' | 'invalid' | 'not_tls'): void;
  /** How long a TLS entry point waits for a ClientHello (--header-timeout). */
  helloTimeoutMs: number;
  /** Connections one listening socket accepts at most (--max-connections; 0 = no limit). */
  maxConnections: number;
}

/** A TLS entry point's connections: their ClientHello read, the verdict decides. */
class StreamDispatch implements ClientHelloDispatcher {
  readonly #bound: BoundEntry;
  readonly #handoff: GatewayEntryHandoff;
  readonly logger: Logger;
  constructor(bound: BoundEntry, handoff: GatewayEntryHandoff, logger: Logger) {
    this.#bound = bound;
    this.#handoff = handoff;
    this.logger = logger;
  }

  dispatch(socket: net.Socket, buffered: Buffer, verdict: ClientHelloVerdict): void {
    // Nothing but a complete ClientHello has a stream to go to; there is no HTTP to answer with.
    if (verdict === 'timeout') this.#handoff.streamRefused(socket, 'timeout');
    else if (verdict === 'too-large' || verdict.status === 'invalid') this.#handoff.streamRefused(socket, 'invalid');
    else if (verdict.status === 'not-tls') this.#handoff.streamRefused(socket, 'not_tls');
    if (typeof verdict === 'string' || verdict.status !== 'ok') {
      socket.destroy();
      return;
    }
    this.#handoff.stream(socket, buffered, verdict.hello.serverName ?? '', this.#bound.entry);
  }
}

/** SNI → the certificate of the most specific listener of the entry point whose hostname matches. */
class EntryCertificates implements TlsRouteLookup {
  readonly #bound: BoundEntry;
  constructor(bound: BoundEntry) { this.#bound = bound; }
  lookupHost(host: string): { readonly key: string; readonly items: readonly TlsRouteItem[] } | null {
    const listener = selectListener(this.#bound.entry.listeners, normalizeHost(host));
    if (listener === null || listener.certificate === null) return null;
    // decideTls reads only route.tls of a terminated host (passthrough never happens here).
    const item = { route: { tls: { termination: 'edge', insecurePolicy: 'None', certificate: listener.certificate, destinationCA: null } } };
    return { key: listener.key, items: [item as unknown as TlsRouteItem] };
  }
}

class BoundEntry implements GatewayEntrySocket {
  entry: GatewayEntryPoint;
  readonly server: net.Server;
  terminator: TlsTerminator | null = null;
  /** TLS entry points: where their connections' ClientHellos go. */
  streams: StreamDispatch | null = null;
  retry: NodeJS.Timeout | null = null;
  constructor(entry: GatewayEntryPoint) {
    this.entry = entry;
    this.server = net.createServer({ noDelay: true, allowHalfOpen: entry.protocol === 'TCP' });
  }
}

const idOf = (e: GatewayEntryPoint) => `${e.address}|${e.port}|${e.protocol}`;

export class GatewayEntryListeners {
  readonly #handoff: GatewayEntryHandoff;
  readonly #logger: Logger;
  readonly #bound = new Map<string, BoundEntry>();
  #stopped = false;

  constructor(handoff: GatewayEntryHandoff, logger: Logger) {
    this.#handoff = handoff;
    this.#logger = logger;
  }

  /** The TLS terminators of the HTTPS entry points (ticket keys, default certificate, drain). */
  *terminators(): IterableIterator<TlsTerminator> {
    for (const b of this.#bound.values()) if (b.terminator !== null) yield b.terminator;
  }

  /** Bind what is new, close what is gone; entry points kept get their new listeners at once. */
  update(points: readonly GatewayEntryPoint[]): void {
    if (this.#stopped) return;
    const wanted = new Map(points.filter((p) => p.protocol !== 'UDP').map((p) => [idOf(p), p]));
    for (const [id, bound] of this.#bound) {
      if (wanted.has(id)) continue;
      this.#close(bound);
      this.#bound.delete(id);
      // Connections already open on it find no listener any more: 404 from now on.
      bound.entry = { ...bound.entry, listeners: [] };
    }
    for (const [id, point] of wanted) {
      const bound = this.#bound.get(id);
      if (bound) {
        bound.entry = point;
        bound.terminator?.setClientValidation(point.clientValidation ?? null);
        continue;
      }
      const fresh = new BoundEntry(point);
      if (this.#handoff.maxConnections > 0) fresh.server.maxConnections = this.#handoff.maxConnections;
      this.#bound.set(id, fresh);
      if (point.protocol === 'HTTPS') {
        fresh.terminator = this.#handoff.newTerminator(new EntryCertificates(fresh));
        fresh.terminator.setClientValidation(point.clientValidation ?? null);
      }
      if (point.protocol === 'TLS') fresh.streams = new StreamDispatch(fresh, this.#handoff, this.#logger);
      fresh.server.on('connection', (socket: net.Socket) => {
        markGatewayEntry(socket, fresh);
        if (fresh.entry.protocol === 'TCP') {
          this.#handoff.tcp(socket, fresh.entry);
          return;
        }
        if (fresh.streams !== null) {
          this.#handoff.streamAccepted(socket);
          new ClientHelloReader(fresh.streams, socket, this.#handoff.helloTimeoutMs);
          return;
        }
        // A client over its HTTP/2 glitch budget gets no new connection (tls/http2-guard.ts).
        if (fresh.terminator !== null && !fresh.terminator.acceptsClient(socket.remoteAddress)) socket.destroy();
        else if (fresh.terminator !== null) fresh.terminator.accept(socket);
        else this.#handoff.http(socket);
      });
      fresh.server.on('error', (err: NodeJS.ErrnoException) => this.#bindFailed(fresh, err));
      this.#listen(fresh);
    }
  }

  /** Close every listening socket (drain); open connections stay with their servers. */
  stopAccepting(): void {
    this.#stopped = true;
    for (const bound of this.#bound.values()) this.#close(bound, false);
  }

  #listen(bound: BoundEntry): void {
    bound.retry = null;
    bound.server.listen({ host: bound.entry.address, port: bound.entry.port, exclusive: true, reusePort: true }, () => {
      this.#logger.info({ address: bound.entry.address, port: bound.entry.port, protocol: bound.entry.protocol }, 'listening for a Gateway');
    });
  }

  #bindFailed(bound: BoundEntry, err: NodeJS.ErrnoException): void {
    if (this.#stopped || this.#bound.get(idOf(bound.entry)) !== bound) return;
    this.#logger.error({ address: bound.entry.address, port: bound.entry.port, err: err.code ?? err.message, retryMs: RETRY_MS },
      'cannot listen on a Gateway address (does this node hold it?); retrying');
    bound.retry = setTimeout(() => this.#listen(bound), RETRY_MS);
    bound.retry.unref();
  }

  #close(bound: BoundEntry, closeTerminator = true): void {
    if (bound.retry !== null) clearTimeout(bound.retry);
    if (bound.server.listening) bound.server.close();
    // The terminator (its connections) stays through a drain; a removed Gateway's goes now.
    if (closeTerminator) bound.terminator?.close();
  }
}
