// The proxy's listening side, shared by the single process and every worker: the HTTP and HTTPS
// listeners bound with SO_REUSEPORT (so a new router process, or another worker, binds the same
// ports while this one still serves; the kernel spreads new connections), and the drain.
//
// Drain, in order: the listening sockets close (with net.ipv4.tcp_migrate_req=1 the kernel moves
// connections still queued on them to another listener of the port instead of resetting them);
// requests that arrive on open connections are answered with `Connection: close`; HTTP/2
// sessions get GOAWAY; idle keep-alive connections are left to the keep-alive timeout the client
// was told (closing them now would race a request the client is sending); connections end by
// themselves. At the request deadline what is left, other than tunnels, is cut; tunnels
// (WebSocket, passthrough) get until the tunnel deadline.

import type { IncomingHttpHeaders, IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { Http2Session, ServerHttp2Stream } from 'node:http2';
import type { Counter } from 'prom-client';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { RouterConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { createHttpListener } from './http-listener.ts';
import { createH2cServer, type H2cServer } from './h2c-server.ts';
import type { RouterProxy } from './router-proxy.ts';
import { acceptedSocket, isTunnel, markTunnel } from './connection-marks.ts';
import { ProxyProtocolGate, inheritClientAddress } from './proxy-protocol.ts';
import type { CertificateMaterial } from './tls/secure-context-cache.ts';
import { HttpsListener } from './tls/https-listener.ts';
import { StreamTerminator } from './tls/stream-terminator.ts';
import { streamDecision } from './tls/sni-route.ts';
import { clientAddress } from './headers.ts';
import type { GatewayEntryPoint } from '../table/types.ts';
import type { TlsRequestHandler } from './tls/tls-terminator.ts';
import { loadDefaultCertificate } from './tls/default-certificate.ts';
import { RequestEntry } from './request-entry.ts';
import { GatewayEntryListeners } from './gateway-entry-listeners.ts';
import { GatewayUdpListeners } from './gateway-udp-listeners.ts';
import { TlsTerminator } from './tls/tls-terminator.ts';
import { tlsProfile } from './tls/tls-profile.ts';
import { SharedGlitchLedger } from './tls/shared-glitch-ledger.ts';
import { systemClock } from '../clock.ts';

export interface ServingOptions {
  config: RouterConfig;
  proxy: RouterProxy;
  logger: Logger;
  metrics: Metrics;
  /** Serve this default certificate (workers get the primary's) instead of loading one. */
  defaultCertificate?: CertificateMaterial;
  /** Session ticket keys shared by every worker (rotated by the primary). */
  ticketKeys?: Buffer;
}

export interface Ports { http: number; https: number }

export interface DrainDeadlines {
  /** Connections other than tunnels are cut this long after the drain starts. */
  requestsMs: number;
  /** Tunnels are cut this long after the drain starts (not less than requestsMs). */
  tunnelsMs: number;
}

export interface DrainResult { cutConnections: number; cutTunnels: number }

/** A TCP stream's first bytes: none are read before its route is known. */
const NOTHING_READ = Buffer.alloc(0);

/** Listen options of every proxy listener: bound by this process itself, port shared. */
const SHARED_PORT = { exclusive: true, reusePort: true } as const;

export class ProxyListeners implements TlsRequestHandler {
  readonly #proxy: RouterProxy;
  /** Request-head checks, body idle timeout and the per-request guard, in front of the proxy. */
  readonly #entry: RequestEntry;
  readonly #logger: Logger;
  readonly #http: HttpServer;
  /** h2c by prior knowledge on the HTTP port (null with --disable-http2). */
  readonly #h2c: H2cServer | null;
  /** With --use-proxy-protocol: the socket that listens on the HTTP port, in front of #http. */
  readonly #httpFront: net.Server | null = null;
  readonly #https: HttpsListener;
  /** Gateways with addresses of their own: their sockets (gateway-entry-listeners.ts). */
  readonly #gateways: GatewayEntryListeners;
  /** Their UDP listeners (UDPRoute sessions). */
  readonly #udp: GatewayUdpListeners;
  /** TLSRoutes of TLS Terminate listeners on Gateways' own addresses. */
  readonly #streams: StreamTerminator;
  /** switchyard_tls_handshakes_total: streams of Gateway TLS listeners passed through, and refused for want of a TLSRoute. */
  readonly #streamPassthrough: Counter.Internal;
  readonly #streamNoRoute: Counter.Internal;
  /** switchyard_tcp_connections_total: connections of Gateway TCP listeners routed, and reset for want of a TCPRoute. */
  readonly #tcpRouted: Counter.Internal;
  readonly #tcpNoRoute: Counter.Internal;
  readonly #sockets = new Set<Duplex>();
  readonly #sessions = new Set<Http2Session>();
  #draining = false;
  #onSocketClosed: (() => void) | null = null;
  ports: Ports = { http: 0, https: 0 };

  /** Build both listeners and bind them (`ports` overrides the configured ones, e.g. a worker's). */
  static async open(options: ServingOptions, ports: Ports = { http: options.config.httpPort, https: options.config.httpsPort }): Promise<ProxyListeners> {
    const defaultCertificate = options.defaultCertificate ?? (await loadDefaultCertificate(options.config.defaultCertificate, options.logger));
    const listeners = new ProxyListeners(options, defaultCertificate);
    await listeners.#listen(ports, options.config.bind);
    options.proxy.onEntryPoints = (points) => {
      listeners.#gateways.update(points);
      listeners.#udp.update(points);
    };
    listeners.#gateways.update(options.proxy.entryPoints);
    listeners.#udp.update(options.proxy.entryPoints);
    return listeners;
  }

  private constructor(options: ServingOptions, defaultCertificate: CertificateMaterial) {
    const { config, proxy, logger, metrics, ticketKeys } = options;
    this.#proxy = proxy;
    this.#entry = new RequestEntry(proxy, { logger, metrics, bodyIdleTimeoutMs: config.clientTimeout });
    this.#logger = logger;
    const gate = config.useProxyProtocol
      ? new ProxyProtocolGate({ trusted: config.proxyProtocolTrusted, headerTimeoutMs: config.headerTimeout, counter: metrics.proxyProtocol })
      : undefined;
    // h2c: the HTTP/1.1 server hands over connections that open with the HTTP/2 preface.
    // One HTTP/2 glitch budget per client address, whichever way in its connections use (the
    // HTTPS port, h2c on the HTTP port, a Gateway's own address) and whichever worker thread
    // accepted them: it is kept in the shared limit table.
    const glitchLedger = new SharedGlitchLedger(proxy.shared.limits, 'http2', config.http2ClientGlitches, systemClock);
    this.#h2c = config.disableHttp2 ? null : createH2cServer(this, { config, glitchLedger, metrics, logger });
    this.#http = createHttpListener(this, config, metrics, 'http', this.#h2c);
    if (gate) {
      const http = this.#http;
      this.#httpFront = net.createServer({ noDelay: true }, (socket) => gate.accept(socket, (s) => http.emit('connection', s)));
      if (config.maxConnections > 0) this.#httpFront.maxConnections = config.maxConnections;
      // The HTTP server itself never listens; this starts its header-timeout checks.
      http.emit('listening');
    }
    const https = new HttpsListener({ config, lookup: proxy.table, handler: this, metrics, logger, ticketKeys, proxyProtocol: gate, passthrough: proxy, glitchLedger }, defaultCertificate);
    this.#https = https;
    if (gate) {
      // Requests on TLS connections read the client address off the TLS socket.
      https.terminator.server.on('secureConnection', (socket: net.Socket) => inheritClientAddress(socket, acceptedSocket(socket) as net.Socket));
    }
    this.#http.on('connection', (socket: net.Socket) => this.#track(socket));
    https.server.on('connection', (socket: net.Socket) => this.#track(socket));
    this.#adoptSessions(https.terminator.server);
    // h2c connections came through #http: already tracked.
    if (this.#h2c !== null) this.#adoptSessions(this.#h2c.server);
    this.#streamPassthrough = metrics.tlsHandshakes.labels('passthrough');
    this.#streamNoRoute = metrics.tlsHandshakes.labels('no_route');
    this.#tcpRouted = metrics.tcpConnections.labels('routed');
    this.#tcpNoRoute = metrics.tcpConnections.labels('no_route');
    this.#streams = new StreamTerminator({ profile: tlsProfile(config), passthrough: proxy, handshakeTimeoutMs: config.headerTimeout, metrics, logger });
    this.#udp = new GatewayUdpListeners({
      route: (entry) => proxy.table.matchStream('', entry),
      recordSuccess: (endpoint) => proxy.recordSuccess(endpoint),
      recordFailure: (endpoint, now, lastHealthy) => proxy.recordFailure(endpoint, now, lastHealthy),
      failures: proxy.failures,
    }, {
      idleTimeoutMs: config.udpSessionTimeout, maxSessions: config.maxUdpSessions, clock: systemClock, logger, accessLog: config.accessLog,
      metrics: { datagrams: metrics.udpDatagrams, sessions: metrics.udpSessions, active: metrics.udpSessionsActive },
    });
    this.#gateways = new GatewayEntryListeners({
      http: (socket) => this.#http.emit('connection', socket),
      stream: (socket, buffered, serverName, entry) => this.#stream(socket, buffered, serverName, entry),
      tcp: (socket, entry) => this.#tcp(socket, entry),
      streamAccepted: (socket) => this.#track(socket),
      streamRefused: (_socket, result) => metrics.tlsHandshakes.labels(result).inc(),
      helloTimeoutMs: config.headerTimeout,
      maxConnections: config.maxConnections,
      newTerminator: (lookup) => {
        const terminator = new TlsTerminator({
          lookup, handler: this, profile: tlsProfile(config), defaultCertificate, ticketKeys,
          disableHttp2: config.disableHttp2, headerTimeoutMs: config.headerTimeout, clientTimeoutMs: config.clientTimeout,
          http2ConnectionGlitches: config.http2ConnectionGlitches, http2ClientGlitches: config.http2ClientGlitches, glitchLedger,
          maxHeaderSize: config.maxHeaderSize, metrics, logger,
        });
        terminator.server.on('connection', (socket: net.Socket) => this.#track(socket));
        this.#adoptSessions(terminator.server);
        return terminator;
      },
    }, logger);
  }

  /** A TLS entry point's connection: to its TLSRoute (passthrough, or terminated here), else closed. */
  #stream(socket: net.Socket, buffered: Buffer, serverName: string, entry: GatewayEntryPoint): void {
    const item = this.#proxy.table.matchStream(serverName, entry);
    if (item === null) {
      this.#streamNoRoute.inc();
      this.#logger.debug({ remote: socket.remoteAddress, serverName, address: entry.address, port: entry.port }, 'no TLSRoute for this server name: connection closed');
      socket.destroy();
      return;
    }
    const decision = streamDecision(item);
    const client = clientAddress(socket.remoteAddress);
    if (decision.mode === 'passthrough') {
      this.#streamPassthrough.inc();
      markTunnel(socket);
      this.#proxy.handlePassthrough(socket, buffered, item, client, serverName);
    } else {
      this.#streams.accept(socket, buffered, item, client, serverName);
    }
  }

  /**
   * A TCP entry point's connection: to the TCPRoute of its listener (the oldest attached), piped
   * as a passthrough stream with nothing read first; else reset (RST): no route serves it now.
   */
  #tcp(socket: net.Socket, entry: GatewayEntryPoint): void {
    this.#track(socket);
    const item = this.#proxy.table.matchStream('', entry);
    if (item === null) {
      this.#tcpNoRoute.inc();
      this.#logger.debug({ remote: socket.remoteAddress, address: entry.address, port: entry.port }, 'no TCPRoute on this listener: connection reset');
      socket.resetAndDestroy();
      return;
    }
    this.#tcpRouted.inc();
    markTunnel(socket);
    this.#proxy.handlePassthrough(socket, NOTHING_READ, item, clientAddress(socket.remoteAddress));
  }

  /** HTTP/2 sessions are told GOAWAY when the drain starts. */
  #adoptSessions(server: import('node:events').EventEmitter): void {
    server.on('session', (session: Http2Session) => {
      this.#sessions.add(session);
      session.once('close', () => this.#sessions.delete(session));
      if (this.#draining) session.close();
    });
  }

  async #listen(ports: Ports, host: string): Promise<void> {
    const front = this.#httpFront ?? this.#http;
    const http = await new Promise<number>((resolve, reject) => {
      front.once('error', reject);
      front.listen({ ...SHARED_PORT, port: ports.http, host }, () => {
        front.off('error', reject);
        resolve((front.address() as net.AddressInfo).port);
      });
    });
    try {
      const https = await this.#https.listen(ports.https, host, SHARED_PORT);
      this.ports = { http, https: https.port };
    } catch (err) {
      front.close();
      throw err;
    }
  }

  get connections(): number {
    return this.#sockets.size;
  }

  setTicketKeys(keys: Buffer): void {
    this.#https.terminator.setTicketKeys(keys);
    for (const t of this.#gateways.terminators()) t.setTicketKeys(keys);
  }

  setDefaultCertificate(pair: CertificateMaterial): void {
    this.#https.terminator.setDefaultCertificate(pair);
    for (const t of this.#gateways.terminators()) t.setDefaultCertificate(pair);
  }

  handleRequest(req: IncomingMessage, res: ServerResponse): void {
    // Once draining, a request on a kept-alive connection is the last one on it.
    if (this.#draining) res.shouldKeepAlive = false;
    this.#entry.handleRequest(req, res);
  }

  /** HTTP/2: a draining session has been told GOAWAY; the streams it has open are served. */
  handleStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: string[]): void {
    this.#entry.handleStream(stream, headers, rawHeaders);
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    markTunnel(socket);
    this.#entry.handleUpgrade(req, socket, head);
  }

  /** Close the listening sockets; open connections stay. Idempotent. */
  stopAccepting(): void {
    // net.Server's close, not http.Server's: the latter also closes idle keep-alive connections
    // at once, racing requests their clients are sending on them.
    if (this.#http.listening) net.Server.prototype.close.call(this.#http);
    if (this.#httpFront?.listening) this.#httpFront.close();
    this.#https.stopListening();
    this.#gateways.stopAccepting();
    // UDP has no connections to drain: its sessions end with the socket (a successor's socket on
    // the same port takes the clients' next datagrams).
    this.#udp.close();
  }

  /** Stop accepting and drain (see the top of this file); resolves when every connection is gone. */
  async drain(deadlines: DrainDeadlines): Promise<DrainResult> {
    this.#draining = true;
    this.stopAccepting();
    for (const session of this.#sessions) session.close();
    for (const socket of this.#sockets) {
      const res = (socket as { _httpMessage?: ServerResponse | null })._httpMessage;
      if (res && !res.headersSent) res.shouldKeepAlive = false;
    }
    const result: DrainResult = { cutConnections: 0, cutTunnels: 0 };
    const requestsMs = Math.min(deadlines.requestsMs, deadlines.tunnelsMs);
    if (!(await this.#until(() => this.#count(false) === 0, requestsMs))) {
      for (const socket of this.#sockets) if (!isTunnel(socket)) { socket.destroy(); result.cutConnections++; }
    }
    if (!(await this.#until(() => this.#sockets.size === 0, deadlines.tunnelsMs - requestsMs))) {
      for (const socket of this.#sockets) { socket.destroy(); result.cutTunnels++; }
    }
    this.#http.close(); // the header-timeout checker
    this.#h2c?.server.close();
    this.#https.terminator.close();
    for (const t of this.#gateways.terminators()) t.close();
    if (result.cutConnections + result.cutTunnels > 0) this.#logger.warn(result, 'drain deadline: cut the remaining connections');
    return result;
  }

  /** Destroy every connection now. */
  destroyAll(): void {
    this.stopAccepting();
    for (const socket of this.#sockets) socket.destroy();
  }

  #track(socket: net.Socket): void {
    this.#sockets.add(socket);
    socket.once('close', () => {
      this.#sockets.delete(socket);
      this.#onSocketClosed?.();
    });
  }

  #count(tunnels: boolean): number {
    let n = 0;
    for (const socket of this.#sockets) if (isTunnel(socket) === tunnels) n++;
    return n;
  }

  /** Resolves true once `done()` holds (checked as connections close), false after `ms`. */
  #until(done: () => boolean, ms: number): Promise<boolean> {
    if (done()) return Promise.resolve(true);
    if (ms <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const finish = (ok: boolean): void => {
        clearTimeout(timer);
        this.#onSocketClosed = null;
        resolve(ok);
      };
      const timer = setTimeout(finish, ms, false);
      // Counting is O(connections): once per tick however many closed in it.
      let scheduled = false;
      this.#onSocketClosed = () => {
        if (scheduled) return;
        scheduled = true;
        setImmediate(() => { scheduled = false; if (this.#onSocketClosed !== null && done()) finish(true); });
      };
    });
  }
}
