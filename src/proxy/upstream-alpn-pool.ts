// A reencrypt route's endpoint whose Service port says nothing of its HTTP version: ask the
// endpoint, as OpenShift's router does with HTTP/2 on (HAProxy's `alpn h2,http/1.1` on the
// server line). The first request opens one TLS connection offering ALPN `h2` and `http/1.1`,
// verified like every reencrypt connection; the endpoint's choice decides the pool every
// request to it then uses — the HTTP/2 pool (upstream-h2-pool.ts, ALPN `h2`) or undici's
// HTTP/1.1 pool (no ALPN answer counts as HTTP/1.1, as for a server that knows none). Requests
// that come while the endpoint is asked wait for its answer. A failed connection fails those
// requests as a failed connect would (passive health counts it) and the next request asks again.
//
// The asking connection is closed once it has answered: one handshake more per endpoint and
// route, against a pool per protocol that stays as it is.

import tls from 'node:tls';
import { tlsConnectOptions, type UpstreamTls } from './upstream-tls.ts';
import { errors, type Dispatcher } from 'undici';
import { createPool } from './http1-forwarder.ts';
import { Http2UpstreamPool, type UpstreamDispatcher } from './upstream-h2-pool.ts';

export interface AlpnPoolOptions {
  /** `address:port` (IPv6 bracketed). */
  authority: string;
  connectTimeoutMs: number;
  /** Verified against `ca` (undefined: the system roots) as `servername`. */
  tls: UpstreamTls;
}

type Waiting = [Dispatcher.DispatchOptions, Dispatcher.DispatchHandler];

export class AlpnUpstreamPool implements UpstreamDispatcher {
  readonly options: AlpnPoolOptions;
  /** The pool of the protocol the endpoint chose; null until it answered. */
  #chosen: UpstreamDispatcher | null = null;
  #protocol: 'h2' | 'http/1.1' | null = null;
  #waiting: Waiting[] = [];
  #asking: tls.TLSSocket | null = null;
  #closed = false;

  constructor(options: AlpnPoolOptions) {
    this.options = options;
  }

  /** What the endpoint chose (null: not asked yet). */
  get protocol(): 'h2' | 'http/1.1' | null {
    return this.#protocol;
  }

  dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const chosen = this.#chosen;
    if (chosen !== null) return chosen.dispatch(options, handler);
    if (this.#closed) {
      handler.onResponseError?.(null as unknown as Dispatcher.DispatchController, new errors.ClientClosedError());
      return false;
    }
    this.#waiting.push([options, handler]);
    if (this.#asking === null) this.#ask();
    return true;
  }

  #ask(): void {
    const { authority, connectTimeoutMs, tls: settings } = this.options;
    const colon = authority.lastIndexOf(':');
    const host = authority.slice(0, colon).replace(/^\[|\]$/g, '');
    const port = Number(authority.slice(colon + 1));
    const socket = tls.connect({
      host, port, ...tlsConnectOptions(settings), ALPNProtocols: ['h2', 'http/1.1'],
    });
    this.#asking = socket;
    let done = false;
    const finish = (error: Error | null): void => {
      if (done) return;
      done = true;
      socket.setTimeout(0);
      socket.destroy();
      this.#asking = null;
      if (error !== null) this.#fail(error);
      else this.#choose(socket.alpnProtocol === 'h2' ? 'h2' : 'http/1.1');
    };
    if (connectTimeoutMs > 0) {
      socket.setTimeout(connectTimeoutMs, () => finish(new errors.ConnectTimeoutError(`connect timeout to ${authority}`)));
    }
    socket.once('secureConnect', () => finish(null));
    socket.once('error', (err: Error) => finish(err));
    socket.once('close', () => finish(new errors.SocketError('closed before the TLS handshake completed')));
  }

  #choose(protocol: 'h2' | 'http/1.1'): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    if (this.#closed) {
      for (const [, handler] of waiting) handler.onResponseError?.(null as unknown as Dispatcher.DispatchController, new errors.ClientClosedError());
      return;
    }
    const { authority, connectTimeoutMs, tls: settings } = this.options;
    this.#protocol = protocol;
    this.#chosen = protocol === 'h2'
      ? new Http2UpstreamPool({ authority, connectTimeoutMs, tls: settings })
      : createPool(`https://${authority}`, connectTimeoutMs, settings);
    for (const [options, handler] of waiting) this.#chosen.dispatch(options, handler);
  }

  /** The endpoint could not be asked: the waiting requests fail as a connect would; the next one asks again. */
  #fail(error: Error): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const [, handler] of waiting) handler.onResponseError?.(null as unknown as Dispatcher.DispatchController, error);
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#asking?.destroy();
    return this.#chosen?.close() ?? Promise.resolve();
  }

  destroy(): Promise<void> {
    this.#closed = true;
    this.#asking?.destroy();
    return this.#chosen?.destroy() ?? Promise.resolve();
  }
}
