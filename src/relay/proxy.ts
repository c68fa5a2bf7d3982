// Everything the relay does not answer from its cache goes to the API server as it came:
// discovery, Leases, status writes, TokenReviews, single-object reads, kinds not cached. The
// client's own Authorization header travels with it, so the API server authenticates and
// authorizes the client itself, never the relay: the connection to the API server carries no
// credential of the relay's (no token, no client certificate), only the CA to verify it by.

import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import type { Dispatcher } from 'undici';
import type { Logger } from '../log.ts';
import { ApiConnections } from '../kube/connections.ts';
import type { RelayMetrics } from './metrics.ts';
import { sendStatus, status, type RelayResponse } from './status.ts';

/** Request headers not passed on: hop-by-hop ones (RFC 9110 §7.6.1) and what the connection sets. */
const REQUEST_DROPPED = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'host', 'http2-settings', 'trailer']);
/** Response headers not passed back (HTTP/2 forbids connection-specific ones). */
const RESPONSE_DROPPED = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'trailer']);

export class UpstreamProxy {
  readonly #connections: ApiConnections;
  readonly #origin: string;
  readonly #metrics: RelayMetrics;
  readonly #log: Logger;

  /** `tls`: the CA (and server name) to verify the API server by; never a client certificate. */
  constructor(origin: string, tls: { ca?: Buffer | string; rejectUnauthorized?: boolean; servername?: string }, options: { metrics: RelayMetrics; logger: Logger }) {
    this.#origin = origin;
    this.#connections = new ApiConnections(origin, { tls: { ...tls } });
    this.#metrics = options.metrics;
    this.#log = options.logger;
  }

  async forward(req: IncomingMessage | Http2ServerRequest, res: RelayResponse): Promise<void> {
    if (req.headers['upgrade'] !== undefined || req.method === 'CONNECT') {
      sendStatus(res, status(501, 'NotImplemented', 'the kube relay does not pass on upgraded connections (exec, attach, port-forward): use the API server'));
      return;
    }
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined || name.startsWith(':') || REQUEST_DROPPED.has(name)) continue;
      headers[name] = value;
    }
    const from = req.socket?.remoteAddress;
    if (from) headers['x-forwarded-for'] = headers['x-forwarded-for'] ? `${String(headers['x-forwarded-for'])}, ${from}` : from;
    const method = req.method ?? 'GET';
    const hasBody = method !== 'GET' && method !== 'HEAD' && method !== 'DELETE' || req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0';
    const controller = new AbortController();
    res.once('close', () => controller.abort());
    let answer: Dispatcher.ResponseData;
    try {
      answer = await this.#connections.request({
        origin: this.#origin, path: req.url ?? '/', method: method as Dispatcher.HttpMethod, headers,
        body: hasBody ? req as unknown as NodeJS.ReadableStream : undefined,
        // A watch lasts as long as the client keeps it; the API server's own timeouts apply.
        headersTimeout: 120_000, bodyTimeout: 0, signal: controller.signal,
      } as Dispatcher.RequestOptions);
    } catch (err) {
      if (controller.signal.aborted) return;
      this.#metrics.proxied.inc({ code: '503' });
      this.#log.warn({ method, reason: (err as Error).message }, 'the API server could not be reached for a proxied request');
      sendStatus(res, status(503, 'ServiceUnavailable', 'the kube relay could not reach the API server'));
      return;
    }
    this.#metrics.proxied.inc({ code: String(answer.statusCode) });
    const out: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(answer.headers)) {
      if (value === undefined || RESPONSE_DROPPED.has(name)) continue;
      out[name] = value;
    }
    res.writeHead(answer.statusCode, out);
    // A watch's headers go out before its first event, which may be long in coming.
    (res as { flushHeaders?: () => void }).flushHeaders?.();
    answer.body.on('data', (chunk: Buffer) => {
      if (!res.write(chunk)) {
        answer.body.pause();
        res.once('drain', () => answer.body.resume());
      }
    });
    answer.body.once('end', () => res.end());
    answer.body.once('error', () => res.destroy());
    res.once('close', () => answer.body.destroy());
  }

  close(): Promise<void> {
    return this.#connections.close();
  }
}
