// Terminates TLS for edge and reencrypt routes (and for unknown or missing SNI): one
// `http2.createSecureServer({ allowHTTP1 })` that never listens — the HTTPS listener hands it
// sockets whose ClientHello it has already peeked at. SNICallback picks the host's certificate
// (cached SecureContext) or the default one; ALPNCallback offers h2 only to hosts with their
// own certificate. Requests go to the proxy's handleRequest/handleUpgrade (HTTP/1.1) or
// handleStream (HTTP/2, core stream API: no compatibility request/response objects) after the 421 check.
// A terminator may check client certificates on every connection (setClientValidation: the
// terminator of a Gateway port with spec.tls.frontend, src/gateway/frontend-validation.ts).

import http2, { type Http2Session, type ServerHttp2Stream } from 'node:http2';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { randomBytes } from 'node:crypto';
import type { Counter } from 'prom-client';
import { ProxyErrors } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import type { Metrics } from '../../metrics.ts';
import { refuseConnect, sendError, sendStreamError, writeRawError } from '../error-response.ts';
import { EMPTY_REQUESTS, onClientError } from '../http-listener.ts';
import type { RequestHandler, StreamHandler } from '../request-handler.ts';
import { checkRequestHead, checkStreamHead } from '../request-entry.ts';
import { normalizeServerName } from './client-hello.ts';
import { isMisdirectedRequest } from './misdirected-request.ts';
import { SecureContextCache, createServerContext, type CertificateMaterial } from './secure-context-cache.ts';
import { decideTls, type TlsRouteLookup } from './sni-route.ts';
import type { TlsProfile } from './tls-profile.ts';
import { http2SessionOptions } from '../http2-server-options.ts';
import { closeIdleSessions } from '../h2-session-tunnels.ts';
import { systemClock } from '../../clock.ts';
import { LocalGlitchLedger, type ClientGlitchLedger } from './glitch-budget.ts';
import { Http2Guard } from './http2-guard.ts';
import type { ClientValidation } from '../../table/types.ts';

/** Where requests go (the serving layer): request-handler.ts. */
export type TlsRequestHandler = RequestHandler & StreamHandler;

export interface TlsTerminatorOptions {
  lookup: TlsRouteLookup;
  handler: TlsRequestHandler;
  profile: TlsProfile;
  defaultCertificate: CertificateMaterial;
  disableHttp2: boolean;
  /** HTTP/2 glitch budgets (http2-guard.ts): per connection, per client address. */
  http2ConnectionGlitches: number;
  http2ClientGlitches: number;
  /** The per-client glitch ledger (default: this process's own). */
  glitchLedger?: ClientGlitchLedger;
  headerTimeoutMs: number;
  clientTimeoutMs: number;
  maxHeaderSize: number;
  metrics: Metrics;
  logger: Logger;
  /**
   * Session ticket keys managed by someone else (the main thread, so that every worker thread
   * can resume every session): no rotation here; call setTicketKeys() with new ones.
   */
  ticketKeys?: Buffer;
}

/** Set on each TLS socket at handshake: the SNI and the host entry whose certificate it got. */
const kSni = Symbol('switchyard.sni');
const kSniEntryKey = Symbol('switchyard.sniEntryKey');
interface TaggedSocket { [kSni]?: string; [kSniEntryKey]?: string | null }

export { MAX_CONCURRENT_STREAMS } from '../http2-server-options.ts';

/** Session ticket keys live only in memory and are replaced on this period. */
const TICKET_KEY_ROTATION_MS = 6 * 3_600_000;

export class TlsTerminator {
  readonly server: http2.Http2SecureServer;
  readonly contexts: SecureContextCache;
  readonly #lookup: TlsRouteLookup;
  readonly #handler: TlsRequestHandler;
  #defaultContext: tls.SecureContext;
  readonly #profile: TlsProfile;
  #ticketKeys: Buffer;
  readonly #disableHttp2: boolean;
  readonly #handshakeOk: Counter.Internal;
  readonly #handshakeError: Counter.Internal;
  readonly #logger: Logger;
  readonly #ticketTimer: NodeJS.Timeout | null;
  readonly #h2: Http2Guard;
  #defaultCertificate: CertificateMaterial;
  /** The client-certificate validation of every connection; null = no certificate asked for. */
  #clientValidation: ClientValidation | null = null;

  constructor(options: TlsTerminatorOptions) {
    this.#lookup = options.lookup;
    this.#handler = options.handler;
    this.#disableHttp2 = options.disableHttp2;
    this.#logger = options.logger;
    this.contexts = new SecureContextCache(options.profile, options.logger);
    this.#profile = options.profile;
    this.#ticketKeys = options.ticketKeys ?? randomBytes(48);
    this.#defaultCertificate = options.defaultCertificate;
    this.#defaultContext = createServerContext(options.defaultCertificate, options.profile);
    this.#handshakeOk = options.metrics.tlsHandshakes.labels('ok');
    this.#handshakeError = options.metrics.tlsHandshakes.labels('error');
    this.#h2 = new Http2Guard({
      connectionBudget: options.http2ConnectionGlitches,
      clients: options.glitchLedger ?? new LocalGlitchLedger(options.http2ClientGlitches, systemClock),
      clock: systemClock,
      metrics: options.metrics,
      logger: options.logger,
    }, (stream, headers, rawHeaders) => this.#routeStream(stream, headers, rawHeaders));
    this.server = http2.createSecureServer({
      ...options.profile,
      cert: options.defaultCertificate.cert,
      key: options.defaultCertificate.key,
      allowHTTP1: true,
      SNICallback: (servername, cb) => cb(null, this.#contextFor(servername)),
      ALPNCallback: ({ servername, protocols }) => this.#selectProtocol(servername, protocols),
      ticketKeys: this.#ticketKeys,
      // A client that stalls mid-handshake is cut like one that stalls before its headers.
      handshakeTimeout: options.headerTimeoutMs,
      http1Options: {
        headersTimeout: options.headerTimeoutMs,
        requestTimeout: 0,
        keepAliveTimeout: options.clientTimeoutMs,
        maxHeaderSize: options.maxHeaderSize,
        requireHostHeader: true,
        ...EMPTY_REQUESTS,
      },
      ...http2SessionOptions(options),
    } as http2.SecureServerOptions);
    // Idle HTTP/2 sessions close after the client timeout (HTTP/1.1 uses keepAliveTimeout), not
    // while they carry a WebSocket (h2-session-tunnels.ts).
    closeIdleSessions(this.server, options.clientTimeoutMs);
    // The server never listens; 'listening' is what starts its HTTP/1.1 header-timeout checks.
    this.server.emit('listening');
    this.server.on('secureConnection', (socket: tls.TLSSocket) => this.#onSecureConnection(socket));
    this.server.on('tlsClientError', (err: Error, socket: tls.TLSSocket) => this.#onTlsError(err, socket));
    // HTTP/1.1 over TLS ('request' is Node's HTTP/1.1 server's event here). Listening for it makes
    // Node route HTTP/2 streams through its compatibility layer as well; that listener is removed:
    // streams are served on the core API ('stream', http2-exchange.ts).
    this.server.on('request', (req: IncomingMessage, res: ServerResponse) => this.#route(req, res));
    this.server.removeAllListeners('stream');
    // HTTP/2: handled once the frames that came with the request are read (http2-guard.ts); CONNECT
    // among them (an extended CONNECT, RFC 8441, is a request like the others; a plain one is refused).
    this.server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => this.#h2.admit(stream, headers, rawHeaders));
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#onUpgrade(req, socket, head));
    // Malformed HTTP/1.1 requests get the same short 4xx as on the plain listener (not a silent reset).
    this.server.on('clientError', onClientError);
    // CONNECT over HTTP/1.1: not offered (error-response.ts).
    this.server.on('connect', refuseConnect);
    this.server.on('sessionError', (err: Error) => this.#logger.debug({ err: err.message }, 'http2 session error'));
    this.server.on('session', (session: Http2Session) => this.#h2.openSession(session));
    this.#ticketTimer = options.ticketKeys ? null : setInterval(rotateTicketKeys, TICKET_KEY_ROTATION_MS, this).unref();
  }

  /** Terminate TLS on a socket whose ClientHello bytes are still unread (unshifted back). */
  accept(socket: Socket): void {
    this.server.emit('connection', socket);
  }

  /** Replace the session ticket keys (externally managed keys; see TlsTerminatorOptions). */
  setTicketKeys(keys: Buffer): void {
    this.#ticketKeys = keys;
    // While client certificates are checked the terminator keeps keys of its own (setClientValidation).
    if (this.#clientValidation === null) this.server.setTicketKeys(keys);
  }

  /** Serve a new default certificate from the next handshake on (a reloaded Secret). */
  setDefaultCertificate(pair: CertificateMaterial): void {
    this.#defaultCertificate = pair;
    this.#applyContexts();
  }

  /**
   * Check client certificates on every new connection against `validation.ca` (null: ask for
   * none). AllowValidOnly: a client without a certificate fails the handshake, one whose
   * certificate does not chain to the CAs is cut right after it, before any request is read
   * (Node's rejectUnauthorized). AllowInsecureFallback: a certificate is asked for, never required
   * and not checked: nothing here depends on the verdict, and a failed check could leave an
   * OpenSSL error behind (an RSA signature of a same-named CA's that does not verify) that the
   * next read of the connection then reports, failing its request with a 400. Open connections
   * keep what they were admitted with.
   */
  setClientValidation(validation: ClientValidation | null): void {
    const before = this.#clientValidation;
    if (before?.ca === validation?.ca && before?.mode === validation?.mode) return;
    this.#clientValidation = validation;
    // Read by the server for each new TLS socket (tlsConnectionListener).
    const server = this.server as unknown as { requestCert: boolean; rejectUnauthorized: boolean };
    server.requestCert = validation !== null;
    server.rejectUnauthorized = validation?.mode !== 'AllowInsecureFallback';
    this.contexts.setClientCa(this.#clientCa());
    this.#applyContexts();
  }

  /** The CAs the contexts verify client certificates against: AllowValidOnly's only. */
  #clientCa(): string | null {
    return this.#clientValidation?.mode === 'AllowValidOnly' ? this.#clientValidation.ca : null;
  }

  /** The default contexts (with SNI, without) for the default certificate and the client CAs, and the ticket keys. */
  #applyContexts(): void {
    const ca = this.#clientCa();
    const pair = this.#defaultCertificate;
    this.#defaultContext = createServerContext(pair, this.#profile, ca);
    // The server's own context answers handshakes without SNI; replacing it resets its ticket keys.
    this.server.setSecureContext({ ...this.#profile, cert: pair.cert, key: pair.key, ...(ca !== null ? { ca } : {}) });
    // A session resumed from a ticket skips the certificate check: tickets issued elsewhere (other
    // ports share the router's keys) or under other CAs must not open this port. Fresh keys of its
    // own for each validation; the shared ones again without.
    this.server.setTicketKeys(this.#clientValidation === null ? this.#ticketKeys : randomBytes(48));
  }

  close(): void {
    if (this.#ticketTimer !== null) clearInterval(this.#ticketTimer);
    this.server.close();
  }

  #contextFor(servername: string): tls.SecureContext {
    const decision = decideTls(this.#lookup, normalizeServerName(servername), this.#disableHttp2);
    if (decision.mode === 'terminate' && decision.certificate !== null) {
      return this.contexts.get(decision.certificate) ?? this.#defaultContext;
    }
    return this.#defaultContext;
  }

  #selectProtocol(servername: string | undefined, protocols: string[]): string | undefined {
    if (!this.#disableHttp2 && servername && protocols.includes('h2')) {
      const decision = decideTls(this.#lookup, normalizeServerName(servername), false);
      if (decision.mode === 'terminate' && decision.http2) return 'h2';
    }
    if (protocols.includes('http/1.1')) return 'http/1.1';
    if (protocols.includes('http/1.0')) return 'http/1.0';
    return undefined; // no protocol in common: the handshake fails with no_application_protocol
  }

  #onSecureConnection(socket: tls.TLSSocket): void {
    this.#handshakeOk.inc();
    const sni = typeof socket.servername === 'string' ? normalizeServerName(socket.servername) : null;
    const tagged = socket as unknown as TaggedSocket;
    if (sni === null) {
      tagged[kSniEntryKey] = null;
      return;
    }
    const decision = decideTls(this.#lookup, sni, this.#disableHttp2);
    tagged[kSni] = sni;
    // Only a certificate actually served binds the connection to its host entry.
    tagged[kSniEntryKey] = decision.mode === 'terminate' && decision.certificate !== null && this.contexts.get(decision.certificate) !== null
      ? decision.entryKey
      : null;
  }

  #onTlsError(err: Error, socket: tls.TLSSocket): void {
    this.#handshakeError.inc();
    this.#logger.debug({ err: err.message, remote: socket.remoteAddress }, 'TLS handshake failed');
    socket.destroy();
  }

  #misdirected(socket: unknown, host: string): boolean {
    const tagged = socket as TaggedSocket;
    const entryKey = tagged[kSniEntryKey];
    if (entryKey === null || entryKey === undefined) return false;
    return isMisdirectedRequest(this.#lookup, tagged[kSni]!, entryKey, host);
  }

  /** The connection's SNI selected a host's own certificate: its requests are checked for 421. */
  #bound(socket: unknown): boolean {
    const entryKey = (socket as TaggedSocket)[kSniEntryKey];
    return entryKey !== null && entryKey !== undefined;
  }

  /** A new connection from `remote` is accepted unless its client is over its HTTP/2 glitch budget. */
  acceptsClient(remote: string | undefined): boolean {
    return this.#h2.acceptsClient(remote);
  }

  #route(req: IncomingMessage, res: ServerResponse): void {
    // The host as the request means it (an absolute-form authority wins over Host) before it is
    // compared with the SNI; a head checkRequestHead refuses is refused by the handler.
    // Only a connection bound to a host entry can be misdirected: the others (no SNI, the default
    // certificate) skip the head check here, which the handler makes anyway.
    if (this.#bound(req.socket) && checkRequestHead(req) === null && this.#misdirected(req.socket, req.headers.host ?? '')) {
      sendError(res, ProxyErrors.MISDIRECTED);
      return;
    }
    this.#handler.handleRequest(req, res);
  }

  #routeStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: string[]): void {
    // A plain CONNECT is refused (405) whatever its authority says: it names no host of ours.
    const plainConnect = headers[':method'] === 'CONNECT' && headers[':protocol'] === undefined;
    if (!plainConnect && this.#bound(stream.session!.socket) && checkStreamHead(headers, rawHeaders) === null &&
      this.#misdirected(stream.session!.socket, headers.host ?? (headers[':authority'] as string | undefined) ?? '')) {
      sendStreamError(stream, headers, ProxyErrors.MISDIRECTED);
      return;
    }
    this.#handler.handleStream(stream, headers, rawHeaders);
  }

  #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.#bound(req.socket) && checkRequestHead(req) === null && this.#misdirected(req.socket, req.headers.host ?? '')) {
      writeRawError(socket, ProxyErrors.MISDIRECTED);
      return;
    }
    this.#handler.handleUpgrade(req, socket, head);
  }
}

function rotateTicketKeys(terminator: TlsTerminator): void {
  terminator.setTicketKeys(randomBytes(48));
}

/** Fresh session ticket keys (48 bytes: name, HMAC and AES keys). */
export function newTicketKeys(): Buffer {
  return randomBytes(48);
}

export { TICKET_KEY_ROTATION_MS };
