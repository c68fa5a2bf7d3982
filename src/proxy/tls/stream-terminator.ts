// The streams of TLSRoutes attached through TLS listeners in mode Terminate: the router ends the
// client's TLS with the listener's certificate (the route's compiled certificate) and the plain
// bytes then go the passthrough way — the route's connection phase, endpoint selection,
// failure and log phases, a raw TCP tunnel to the endpoint (passthrough-exchange.ts) — so
// a policy holds on terminated and passed-through streams alike. No ALPN is offered: what runs
// inside the stream is the backend's business. A handshake that fails or stalls past the
// timeout closes the connection; so does a certificate OpenSSL refuses (never the default
// certificate: a client must not be handed a stream under a name it did not ask for).

import type net from 'node:net';
import tls from 'node:tls';
import type { Counter } from 'prom-client';
import type { Logger } from '../../log.ts';
import type { Metrics } from '../../metrics.ts';
import { markTunnel } from '../connection-marks.ts';
import type { PassthroughHandler } from '../router-proxy.ts';
import { SecureContextCache } from './secure-context-cache.ts';
import type { TlsRouteItem } from './sni-route.ts';
import type { TlsProfile } from './tls-profile.ts';

const EMPTY = Buffer.alloc(0);

export interface StreamTerminatorOptions {
  profile: TlsProfile;
  /** Where the decrypted stream goes (the proxy). */
  passthrough: PassthroughHandler;
  handshakeTimeoutMs: number;
  metrics: Metrics;
  logger: Logger;
}

export class StreamTerminator {
  readonly #contexts: SecureContextCache;
  readonly #passthrough: PassthroughHandler;
  readonly #timeoutMs: number;
  readonly #ok: Counter.Internal;
  readonly #error: Counter.Internal;
  readonly #logger: Logger;

  constructor(options: StreamTerminatorOptions) {
    this.#contexts = new SecureContextCache(options.profile, options.logger);
    this.#passthrough = options.passthrough;
    this.#timeoutMs = options.handshakeTimeoutMs;
    this.#ok = options.metrics.tlsHandshakes.labels('ok');
    this.#error = options.metrics.tlsHandshakes.labels('error');
    this.#logger = options.logger;
  }

  /** `socket`: paused, its ClientHello (`buffered`) read but not consumed. */
  accept(socket: net.Socket, buffered: Buffer, item: TlsRouteItem, clientIp: string, serverName: string): void {
    const certificate = item.route.tls?.certificate ?? null;
    const context = certificate === null ? null : this.#contexts.get(certificate);
    if (context === null) {
      this.#error.inc();
      socket.destroy();
      return;
    }
    markTunnel(socket);
    socket.unshift(buffered);
    const secure = new tls.TLSSocket(socket, { isServer: true, secureContext: context });
    new Handshake(this, secure, item, clientIp, serverName, this.#timeoutMs);
  }

  /** Called once the client's handshake is done: the plain stream goes to the route's endpoint. */
  secured(secure: tls.TLSSocket, item: TlsRouteItem, clientIp: string, serverName: string): void {
    this.#ok.inc();
    this.#passthrough.handlePassthrough(secure, EMPTY, item, clientIp, serverName);
  }

  failed(secure: tls.TLSSocket, reason: string): void {
    this.#error.inc();
    this.#logger.debug({ remote: secure.remoteAddress, reason }, 'TLS handshake failed (TLSRoute, Terminate)');
    secure.destroy();
  }
}

/** One server handshake: the first of secure, error and the timeout decides. */
class Handshake {
  readonly #terminator: StreamTerminator;
  readonly #secure: tls.TLSSocket;
  readonly #item: TlsRouteItem;
  readonly #clientIp: string;
  readonly #serverName: string;
  readonly #timer: NodeJS.Timeout;
  #done = false;

  constructor(terminator: StreamTerminator, secure: tls.TLSSocket, item: TlsRouteItem, clientIp: string, serverName: string, timeoutMs: number) {
    this.#terminator = terminator;
    this.#secure = secure;
    this.#item = item;
    this.#clientIp = clientIp;
    this.#serverName = serverName;
    this.#timer = setTimeout(onHandshakeTimeout, timeoutMs, this);
    secure.once('secure', () => this.#settle(null));
    secure.once('error', (err: Error) => this.#settle(err.message));
    secure.once('close', () => this.#settle('closed during the handshake'));
  }

  timeout(): void {
    this.#settle('handshake timeout');
  }

  #settle(failure: string | null): void {
    if (this.#done) return;
    this.#done = true;
    clearTimeout(this.#timer);
    if (failure !== null) {
      this.#secure.on('error', ignore);
      this.#terminator.failed(this.#secure, failure);
    } else {
      this.#terminator.secured(this.#secure, this.#item, this.#clientIp, this.#serverName);
    }
  }
}

function onHandshakeTimeout(handshake: Handshake): void {
  handshake.timeout();
}

function ignore(): void {}
