// WebSocket (and any other Upgrade protocol) over HTTP/2: RFC 8441's extended CONNECT. The
// router's HTTP/2 servers advertise SETTINGS_ENABLE_CONNECT_PROTOCOL, so a browser that has an
// h2 connection to the host opens `wss://` on it as a stream: `:method CONNECT`, `:protocol
// websocket`, `:path`, `:authority`. The backend gets what an HTTP/1.1 client would send — a GET
// with `Upgrade: websocket`, a Sec-WebSocket-Key of the router's own (RFC 8441 §5: HTTP/2 has
// none) — through the same pools as every Upgrade (always HTTP/1.1). Its 101 (with the right
// Sec-WebSocket-Accept) becomes the stream's 200 and the stream and the backend socket are joined
// in a Tunnel with the route's tunnel timeout; any other answer is relayed on the stream as a
// response, except a 2xx that did not switch protocols (to an extended CONNECT a 2xx means "open"):
// that is a 502.
//
// A plain CONNECT (no `:protocol`) is still refused with 405 (error-response.ts). A stream the
// client resets before the 200 is an HTTP/2 glitch like any request's (tls/http2-guard.ts); an
// open tunnel is not a request waiting for its response, and its reset is not one. While a
// session carries a tunnel it does not close for being idle (h2-session-tunnels.ts); the
// tunnel's own idle timeout applies to it.

import { createHash, randomBytes } from 'node:crypto';
import type { OutgoingHttpHeaders } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse, ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ProxyErrorSpec } from '../errors.ts';
import { markTunnel } from './connection-marks.ts';
import { destroyResponse, sendError } from './error-response.ts';
import { Exchange } from './exchange.ts';
import { sessionTunnelClosed, sessionTunnelOpened } from './h2-session-tunnels.ts';
import { upgradeRequestHeaders } from './extended-connect.ts';
import { clientAddress } from './headers.ts';
import type { Http1Request } from './http1-forwarder.ts';
import type { RouteRuntime } from './route-runtime.ts';
import { markClosedByRouter } from './tls/http2-guard.ts';
import { Tunnel } from './tunnel.ts';
import type { TunnelHost } from './upgrade-exchange.ts';

/** RFC 6455 §1.3: what the server appends to the key before hashing it. */
const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const kTunnelExchange = Symbol('switchyard.h2TunnelExchange');

function onClientClose(this: Http2ServerResponse): void {
  const x = (this as unknown as Record<symbol, H2TunnelExchange | undefined>)[kTunnelExchange];
  if (x !== undefined && x.tunnel === null && !x.ended) x.clientGone();
}

function onClientDrain(this: Http2ServerResponse): void {
  (this as unknown as Record<symbol, H2TunnelExchange | undefined>)[kTunnelExchange]?.drained();
}

export class H2TunnelExchange extends Exchange implements Http1Request {
  readonly req: Http2ServerRequest;
  readonly res: Http2ServerResponse;
  readonly stream: ServerHttp2Stream;
  readonly upgradeProtocol: string;
  /** The Sec-WebSocket-Key sent upstream (WebSocket), to check the backend's Accept against. */
  readonly #key: string | null;
  readonly #host: TunnelHost;
  tunnel: Tunnel | null = null;

  constructor(proxy: TunnelHost, runtime: RouteRuntime, req: Http2ServerRequest, res: Http2ServerResponse, protocol: string, secure: boolean, url: string, host: string) {
    const socket = req.socket as Socket;
    const key = protocol.toLowerCase() === 'websocket' ? randomBytes(16).toString('base64') : null;
    super('upgrade', runtime, proxy, socket, clientAddress(socket.remoteAddress), secure, 'GET', url, host, upgradeRequestHeaders(req.headers, protocol, key), null);
    this.#host = proxy;
    this.req = req;
    this.res = res;
    this.stream = req.stream;
    this.upgradeProtocol = protocol;
    this.#key = key;
    (res as unknown as Record<symbol, H2TunnelExchange>)[kTunnelExchange] = this;
    res.on('close', onClientClose);
  }

  override get httpVersion(): string {
    return '2.0';
  }

  get tunnelKind(): 'websocket' | 'upgrade' {
    return this.#key !== null ? 'websocket' : 'upgrade';
  }

  clientClosed(): boolean {
    return this.stream.destroyed || this.stream.closed;
  }

  /** Nothing has gone upstream before the backend's answer (no body): always again. */
  protected canResend(): boolean {
    return true;
  }

  upstreamBody(): null {
    return null;
  }

  protected writeAnswer(): void {
    const res = this.res;
    if (res.headersSent) return;
    const body = this.answerBody;
    let headers = this.answerHeaders;
    if (headers === null) headers = { 'content-length': Buffer.byteLength(body) };
    else if (headers['content-length'] === undefined) headers = { ...headers, 'content-length': Buffer.byteLength(body) };
    res.writeHead(this.answerStatus, headers);
    res.end(body);
  }

  protected writeError(error: ProxyErrorSpec): void {
    sendError(this.res, error, this.errorHeaders());
  }

  /**
   * The backend's 101 opens the stream (200, its Sec-WebSocket-Protocol and -Extensions, cookies
   * kept; the Accept checked, not forwarded); a 2xx that did not switch is refused (false: 502);
   * any other status is relayed as the response.
   */
  protected writeHead(status: number, _reason: string | undefined, headers: OutgoingHttpHeaders): boolean {
    const res = this.res;
    if (this.clientClosed()) return true; // gone: the close handler ends the exchange
    let out = headers;
    if (status === 101) {
      if (!this.#switchedAsAsked()) return false;
      out = { ...headers };
      delete out['sec-websocket-accept'];
      delete out['content-length'];
    } else if (status >= 200 && status < 300) {
      return false;
    }
    try {
      res.writeHead(status === 101 ? 200 : status, out);
    } catch {
      // Node refuses what it cannot write (a header value it rejects): a 502, not a reset stream.
      if (!res.headersSent) for (const name of res.getHeaderNames()) res.removeHeader(name);
      return false;
    }
    return true;
  }

  /** The backend switched to the protocol asked for (and, for WebSocket, answered our key). */
  #switchedAsAsked(): boolean {
    const upstream = this.upstreamResponseHeaders;
    const upgrade = upstream?.upgrade;
    if (typeof upgrade !== 'string' || upgrade.toLowerCase() !== this.upgradeProtocol.toLowerCase()) return false;
    if (this.#key === null) return true;
    const accept = createHash('sha1').update(this.#key + WEBSOCKET_GUID).digest('base64');
    return upstream!['sec-websocket-accept'] === accept;
  }

  protected writeBody(chunk: Buffer): boolean {
    if (this.res.write(chunk)) return true;
    this.res.once('drain', onClientDrain);
    return false;
  }

  protected endBody(): void {
    this.res.end();
  }

  protected cutResponse(): void {
    destroyResponse(this.res);
  }

  protected override openTunnel(upstream: Duplex): void {
    const stream = this.stream;
    const session = stream.session;
    // An open tunnel's close or reset is no rapid-reset glitch; its connection drains as a tunnel's.
    markClosedByRouter(stream);
    if (session?.socket != null) markTunnel(session.socket);
    if (session != null) sessionTunnelOpened(session);
    const policy = this.runtime.route.policy;
    const host = this.#host;
    this.tunnel = new Tunnel(stream, upstream, null, { idleMs: policy.tunnelTimeoutMs, finMs: host.finTimeoutMs, gauge: host.tunnelGauge(this.tunnelKind) }, (tunnel) => {
      host.tunnelClosed(tunnel);
      if (session != null) sessionTunnelClosed(session);
      this.end(101, 'forwarded');
    });
    host.tunnelOpened(this.tunnel);
  }
}
