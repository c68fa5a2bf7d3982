// The HTTPS port: a plain TCP server that peeks at each connection's ClientHello (without
// consuming it, client-hello-reader.ts), then either pipes the raw bytes to a passthrough
// endpoint, terminates a TLSRoute's stream (stream-terminator.ts), or replays them into the TLS
// terminator. Slow or silent clients are cut at the header timeout; plain HTTP sent to
// this port gets a 400 and is closed; garbage is closed at once. Nothing a client sends can
// throw out of here.

import net from 'node:net';
import type { Counter, Gauge } from 'prom-client';
import type { RouterConfig } from '../../config.ts';
import { ProxyErrors } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import type { Metrics } from '../../metrics.ts';
import { writeRawError } from '../error-response.ts';
import { clientAddress } from '../headers.ts';
import { markTunnel } from '../connection-marks.ts';
import type { ProxyProtocolGate } from '../proxy-protocol.ts';
import { looksLikeHttp } from './client-hello.ts';
import { ClientHelloReader, type ClientHelloDispatcher, type ClientHelloVerdict } from './client-hello-reader.ts';
import { loadDefaultCertificate } from './default-certificate.ts';
import type { PassthroughHandler } from '../router-proxy.ts';
import type { CertificateMaterial } from './secure-context-cache.ts';
import { decideTls, type TlsRouteLookup } from './sni-route.ts';
import { StreamTerminator } from './stream-terminator.ts';
import { TlsTerminator, type TlsRequestHandler } from './tls-terminator.ts';
import { tlsProfile } from './tls-profile.ts';
import type { ClientGlitchLedger } from './glitch-budget.ts';

export type HttpsListenerConfig = Pick<
  RouterConfig,
  'defaultCertificate' | 'sslMinVersion' | 'ciphers' | 'disableHttp2' | 'headerTimeout' | 'clientTimeout' | 'maxHeaderSize' | 'maxConnections'
  | 'http2ConnectionGlitches' | 'http2ClientGlitches'
>;

export interface HttpsListenerOptions {
  config: HttpsListenerConfig;
  lookup: TlsRouteLookup;
  handler: TlsRequestHandler;
  metrics: Metrics;
  logger: Logger;
  /** Use this default certificate instead of loading/generating one from `config`. */
  defaultCertificate?: CertificateMaterial;
  /** Externally managed session ticket keys (see TlsTerminatorOptions.ticketKeys). */
  ticketKeys?: Buffer;
  /** connections_active label */
  listenerName?: string;
  /** Where passthrough connections go (the proxy); without one they are closed. */
  passthrough?: PassthroughHandler;
  /** Read a PROXY protocol header (trusted peers only) before the ClientHello. */
  proxyProtocol?: ProxyProtocolGate;
  /** The per-client HTTP/2 glitch ledger shared with other listeners, h2c included (default: its own). */
  glitchLedger?: ClientGlitchLedger;
}

export class HttpsListener implements ClientHelloDispatcher {
  readonly server: net.Server;
  readonly terminator: TlsTerminator;
  readonly #lookup: TlsRouteLookup;
  readonly #passthrough: PassthroughHandler | undefined;
  /** TLSRoutes of TLS Terminate listeners on this port; null without a passthrough handler. */
  readonly #streams: StreamTerminator | null;
  readonly #config: HttpsListenerConfig;
  readonly logger: Logger;
  readonly #connections = new Set<net.Socket>();
  readonly #gauge: Gauge.Internal<'listener'>;
  readonly #results: Record<'timeout' | 'not_tls' | 'invalid' | 'passthrough', Counter.Internal>;

  /** Load (or generate) the default certificate, validate the TLS profile, build the listener. */
  static async create(options: HttpsListenerOptions): Promise<HttpsListener> {
    const defaultCertificate = options.defaultCertificate ?? (await loadDefaultCertificate(options.config.defaultCertificate, options.logger));
    return new HttpsListener(options, defaultCertificate);
  }

  constructor(options: HttpsListenerOptions, defaultCertificate: CertificateMaterial) {
    const { config, metrics, logger } = options;
    this.#config = config;
    this.#lookup = options.lookup;
    this.#passthrough = options.passthrough;
    this.logger = logger;
    this.terminator = new TlsTerminator({
      ticketKeys: options.ticketKeys,
      lookup: options.lookup,
      handler: options.handler,
      profile: tlsProfile(config),
      defaultCertificate,
      disableHttp2: config.disableHttp2,
      http2ConnectionGlitches: config.http2ConnectionGlitches,
      http2ClientGlitches: config.http2ClientGlitches,
      glitchLedger: options.glitchLedger,
      headerTimeoutMs: config.headerTimeout,
      clientTimeoutMs: config.clientTimeout,
      maxHeaderSize: config.maxHeaderSize,
      metrics,
      logger,
    });
    this.#streams = options.passthrough === undefined ? null : new StreamTerminator({
      profile: tlsProfile(config), passthrough: options.passthrough, handshakeTimeoutMs: config.headerTimeout, metrics, logger,
    });
    this.#gauge = metrics.connectionsActive.labels(options.listenerName ?? 'https');
    const h = metrics.tlsHandshakes;
    this.#results = { timeout: h.labels('timeout'), not_tls: h.labels('not_tls'), invalid: h.labels('invalid'), passthrough: h.labels('passthrough') };
    this.server = net.createServer({ noDelay: true, pauseOnConnect: false });
    if (config.maxConnections > 0) this.server.maxConnections = config.maxConnections;
    const gate = options.proxyProtocol;
    if (gate) this.server.on('connection', (socket) => gate.accept(socket, (s) => this.#onConnection(s)));
    else this.server.on('connection', (socket) => this.#onConnection(socket));
    this.server.on('error', (err) => logger.error({ err: err.message }, 'https listener error'));
  }

  /** Bind; resolves with the bound address (port 0 = any free port). */
  listen(port: number, host: string, extra: Omit<net.ListenOptions, 'port' | 'host'> = {}): Promise<net.AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen({ ...extra, port, host }, () => {
        this.server.removeListener('error', onError);
        resolve(this.server.address() as net.AddressInfo);
      });
    });
  }

  get connections(): number {
    return this.#connections.size;
  }

  /** Stop accepting; resolves when every open connection has ended (drain). */
  stopAccepting(): Promise<void> {
    this.terminator.close();
    return new Promise((resolve) => {
      if (!this.server.listening) {
        resolve();
        return;
      }
      this.server.close(() => resolve());
    });
  }

  /** Close the listening socket only (open connections and the terminator stay). */
  stopListening(): void {
    if (this.server.listening) this.server.close();
  }

  /** Stop accepting and destroy every open connection (tunnels and TLS sessions alike). */
  async close(): Promise<void> {
    const stopped = this.stopAccepting();
    for (const socket of this.#connections) socket.destroy();
    await stopped;
  }

  #onConnection(socket: net.Socket): void {
    // A client over its HTTP/2 glitch budget gets no new connection (http2-guard.ts): closed
    // before its ClientHello is read, the handshake it would cost is not spent.
    if (!this.terminator.acceptsClient(socket.remoteAddress)) {
      socket.destroy();
      return;
    }
    this.#connections.add(socket);
    this.#gauge.inc();
    socket.once('close', () => {
      this.#connections.delete(socket);
      this.#gauge.dec();
    });
    new ClientHelloReader(this, socket, this.#config.headerTimeout);
  }

  /** Called by the reader once it has a verdict on the connection's first bytes. */
  dispatch(socket: net.Socket, buffered: Buffer, verdict: ClientHelloVerdict): void {
    if (verdict === 'timeout') {
      this.#results.timeout.inc();
      socket.destroy();
      return;
    }
    if (verdict === 'too-large' || verdict.status === 'invalid') {
      this.#results.invalid.inc();
      this.logger.debug({ remote: socket.remoteAddress, reason: verdict === 'too-large' ? 'ClientHello too large' : verdict.reason }, 'invalid TLS ClientHello');
      socket.destroy();
      return;
    }
    if (verdict.status === 'not-tls') {
      this.#results.not_tls.inc();
      if (looksLikeHttp(buffered)) writeRawError(socket, ProxyErrors.BAD_REQUEST);
      else socket.destroy();
      return;
    }
    if (verdict.status !== 'ok') return;
    const decision = decideTls(this.#lookup, verdict.hello.serverName, this.#config.disableHttp2);
    if (decision.mode === 'passthrough') {
      this.#results.passthrough.inc();
      markTunnel(socket);
      if (this.#passthrough === undefined) socket.destroy();
      else this.#passthrough.handlePassthrough(socket, buffered, decision.item, clientAddress(socket.remoteAddress), verdict.hello.serverName ?? '');
      return;
    }
    if (decision.mode === 'stream') {
      if (this.#streams === null) socket.destroy();
      else this.#streams.accept(socket, buffered, decision.item, clientAddress(socket.remoteAddress), verdict.hello.serverName ?? '');
      return;
    }
    socket.unshift(buffered);
    this.terminator.accept(socket);
  }
}
