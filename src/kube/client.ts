// The router's (and the autoport companion's) client of the Kubernetes API, as client-go's is: one
// long-lived connection to the API server, HTTP/2 where the server offers it (kube-apiserver
// does, over TLS), so lists, watches, the Lease and status writes are streams of one connection
// and no request pays a handshake (connections.ts: a second connection only past the server's
// stream limit; HTTP/1.1 keep-alive connections for a server without HTTP/2).
//
// Requests are raw JSON, authenticated as the kubeconfig says (token, token file, exec plugin,
// client certificate, CA, insecure-skip-tls-verify), each with the caller's User-Agent. Raw JSON
// keeps objects as the API serves them (timestamps as strings, no model classes), which is what
// the store holds, and reaches custom resources (route.openshift.io) without generated code.
// Built-in kinds read in bulk may be asked for as protobuf instead (as client-go does: several
// times cheaper for the API server to encode), decoded into the same JSON shapes
// (protobuf-objects.ts); the server answers JSON where it has no protobuf, and both are read.
// Lists and watches of custom resources may be asked for as CBOR the same way (cbor-objects.ts,
// cbor-watch-events.ts).

import type { KubeConfig } from '@kubernetes/client-node';
import { STATUS_CODES } from 'node:http';
import { ProxyAgent, type Dispatcher } from 'undici';
import type { Metrics } from '../metrics.ts';
import { CBOR_ACCEPT, decodeCbor, isCbor } from './cbor-objects.ts';
import { ApiConnections } from './connections.ts';
import { decodeStatus, isProtobuf, PROTOBUF_ACCEPT } from './protobuf-objects.ts';
import { KubeConfigError, loadKubeConfig } from './kubeconfig.ts';
import { userAgent } from './user-agent.ts';

export interface KubeRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** API path, e.g. `/apis/route.openshift.io/v1/namespaces/ns/routes/name/status` */
  path: string;
  query?: Record<string, string | undefined>;
  body?: unknown;
  /** Defaults to application/json; PATCH callers pass the patch type. */
  contentType?: string;
  timeoutMs?: number;
  /** Aborts the request (a caller's own deadline, e.g. on an injected clock); `timeoutMs` still applies. */
  signal?: AbortSignal;
  /**
   * Ask for protobuf, JSON accepted too: a protobuf answer is decoded by this (into the JSON's
   * shape), a JSON one parsed as usual. Only for kinds the server has protobuf for.
   */
  protobuf?: (body: Buffer) => unknown;
  /** With `protobuf`: the Accept header, when not the plain protobuf-or-JSON (e.g. PARTIAL_METADATA_ACCEPT). */
  accept?: string;
  /**
   * Ask for CBOR, JSON accepted too: a CBOR answer is decoded by this (cbor-objects.ts), a JSON
   * one parsed as usual. For custom resources, which kube-apiserver serves as CBOR behind its
   * CBORServingAndStorage gate.
   */
  cbor?: (body: Buffer) => unknown;
}

/** A non-2xx answer: the HTTP status and the API's `Status` reason/message when it sent one. */
export class KubeApiError extends Error {
  override name = 'KubeApiError';
  readonly statusCode: number;
  readonly reason: string;
  /** The API's own message (a `Status` object's `message`), or the HTTP status text. */
  readonly detail: string;
  /** Retry-After of a 429 or 503, in seconds (API Priority and Fairness sends it). */
  readonly retryAfterSeconds: number | undefined;
  constructor(statusCode: number, reason: string, message: string, detail = '', retryAfterSeconds?: number) {
    super(message);
    this.statusCode = statusCode;
    this.reason = reason;
    this.detail = detail;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** An open streaming response (a watch): its lines, and how to end it. */
export interface KubeStream {
  /** The body as text, decoded as UTF-8 across chunk boundaries. */
  readonly body: AsyncIterable<string>;
  /** End the stream (idempotent). */
  close(): void;
}

/**
 * A watch as the server answered it: JSON (text, one event a line), or where asked for,
 * protobuf (length-prefixed frames) or CBOR (a CBOR sequence), as bytes.
 */
export type KubeWatchStream =
  | { readonly encoding: 'json'; readonly body: AsyncIterable<string>; close(): void }
  | { readonly encoding: 'protobuf' | 'cbor'; readonly body: AsyncIterable<Buffer>; close(): void };

/** How an answer's body is encoded (its Content-Type, among those asked for). */
type AnswerEncoding = 'json' | 'protobuf' | 'cbor';

/** What getStreamed answers: JSON text as it arrives, or the whole bytes of a protobuf or CBOR answer. */
export type StreamedAnswer =
  | { readonly encoding: 'json'; readonly body: AsyncIterable<string> }
  | { readonly encoding: Exclude<AnswerEncoding, 'json'>; readonly bytes: Buffer };

export interface KubeClientOptions {
  /** Sent on every request, e.g. `switchyard/0.1.0 (default; node-1)`; see userAgent(). */
  userAgent?: string;
  /** Requests and new connections are counted here. */
  metrics?: Metrics;
}

/** Credentials are read again after this long (a projected token file rotates; client-go re-reads it every minute). */
const AUTH_TTL_MS = 10_000;

/** What requests go through: our connections (connections.ts), or an HTTP proxy's agent. */
interface Transport {
  request(options: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData>;
  close(): Promise<void>;
}

interface Connection { transport: Transport; headers: Record<string, string>; headersAt: number }

export class KubeClient {
  readonly userAgent: string | undefined;
  readonly #kubeConfig: KubeConfig;
  readonly #origin: string;
  readonly #metrics: Metrics | undefined;
  #connection: Promise<Connection> | undefined;
  #closed = false;

  constructor(kubeConfig: KubeConfig, options: KubeClientOptions = {}) {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new KubeConfigError('kubeconfig has no current cluster');
    if (cluster.server.startsWith('http:') && !cluster.skipTLSVerify) {
      throw new KubeConfigError(`kubeconfig: plain-HTTP server ${cluster.server} is allowed only with insecure-skip-tls-verify`);
    }
    if (cluster.proxyUrl?.startsWith('socks')) throw new KubeConfigError('kubeconfig: SOCKS proxies (proxy-url) are not supported; use an HTTP proxy');
    this.#kubeConfig = kubeConfig;
    this.#origin = cluster.server.replace(/\/+$/, '');
    this.userAgent = options.userAgent;
    this.#metrics = options.metrics;
  }

  /** The URL of an API path on this client's server. */
  url(path: string, query: Record<string, string | undefined> = {}): URL {
    const url = new URL(this.#origin + path);
    for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== '') url.searchParams.set(key, value);
    return url;
  }

  /** Send one request; resolves with the parsed JSON body of a 2xx answer, rejects with KubeApiError otherwise. */
  async request<T = unknown>(request: KubeRequest): Promise<T> {
    const body = request.body === undefined ? undefined : JSON.stringify(request.body);
    const response = await this.#send(request.method, this.url(request.path, request.query), {
      body, contentType: request.body === undefined ? undefined : request.contentType ?? 'application/json',
      timeoutMs: request.timeoutMs ?? 30_000, stream: false, signal: request.signal,
      accept: request.protobuf ? request.accept ?? PROTOBUF_ACCEPT : request.cbor ? CBOR_ACCEPT : undefined,
    });
    const status = response.statusCode;
    if (request.cbor && isCbor(response.headers['content-type'])) {
      const bytes = Buffer.from(await response.body.arrayBuffer());
      if (status < 200 || status > 299) throw apiError(request.method, request.path, status, cborStatus(bytes), '', response.headers);
      return request.cbor(bytes) as T;
    }
    if (request.protobuf && isProtobuf(response.headers['content-type'])) {
      const bytes = Buffer.from(await response.body.arrayBuffer());
      if (status < 200 || status > 299) throw apiError(request.method, request.path, status, protobufStatus(bytes), '', response.headers);
      return request.protobuf(bytes) as T;
    }
    // undici's body.text(), not fetch(): fetch reads the body through a web stream, which for a
    // list of 100k objects (hundreds of MB) cost seconds of a start-up in chunk handling.
    const text = await response.body.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (status < 200 || status > 299) throw apiError(request.method, request.path, status, parsed, text, response.headers);
    if (parsed === undefined) throw new KubeApiError(status, 'InvalidResponse', `${request.method} ${request.path}: response is not JSON`);
    return parsed as T;
  }

  /**
   * A streaming GET (a watch): resolves once the response headers are in with a 2xx status,
   * rejects with KubeApiError otherwise. No timeout once streaming: the caller's watchdog decides.
   */
  async stream(path: string, query: Record<string, string | undefined>, headersTimeoutMs = 30_000): Promise<KubeStream> {
    const stream = await this.watch(path, query, { headersTimeoutMs });
    if (stream.encoding !== 'json') throw new Error(`unreachable: a JSON watch answered as ${stream.encoding}`); // never asked for
    return stream;
  }

  /**
   * A watch; with `protobuf` or `cbor`, asked for in that encoding with JSON accepted too (a
   * watch accepting `application/cbor` is answered `application/cbor-seq`), and the caller decodes
   * what the server chose (`encoding` in the answer).
   */
  async watch(path: string, query: Record<string, string | undefined>, options: { protobuf?: boolean; cbor?: boolean; headersTimeoutMs?: number; accept?: string } = {}): Promise<KubeWatchStream> {
    const controller = new AbortController();
    const response = await this.#send('GET', this.url(path, query), {
      timeoutMs: options.headersTimeoutMs ?? 30_000, stream: true, signal: controller.signal,
      accept: options.accept ?? (options.protobuf ? PROTOBUF_ACCEPT : options.cbor ? CBOR_ACCEPT : undefined),
    });
    const encoding = answerEncoding(response.headers['content-type'], options);
    if (response.statusCode < 200 || response.statusCode > 299) throw await refusal('GET', path, response, encoding);
    const close = () => {
      controller.abort();
      response.body.destroy();
    };
    if (encoding !== 'json') return { encoding, body: response.body as AsyncIterable<Buffer>, close };
    response.body.setEncoding('utf8');
    return { encoding, body: response.body as AsyncIterable<string>, close };
  }

  /**
   * A GET whose answer is read as it arrives: its headers within `timeoutMs` (the wait in API
   * Priority and Fairness's queue included), then no more than `timeoutMs` between two chunks of
   * its body (a list of 100k objects may take longer than that in all): a JSON answer as
   * text chunks (an unpaged list, which the caller decodes item by item: json-list-decoder.ts), a
   * protobuf or CBOR one (where asked for, JSON accepted too) as its whole bytes. Rejects with
   * KubeApiError on a non-2xx answer.
   */
  async getStreamed(path: string, query: Record<string, string | undefined>, options: { timeoutMs: number; protobuf?: boolean; cbor?: boolean }): Promise<StreamedAnswer> {
    const response = await this.#send('GET', this.url(path, query), {
      timeoutMs: options.timeoutMs, stream: true, whole: true,
      accept: options.protobuf ? PROTOBUF_ACCEPT : options.cbor ? CBOR_ACCEPT : undefined,
    });
    const encoding = answerEncoding(response.headers['content-type'], options);
    if (response.statusCode < 200 || response.statusCode > 299) throw await refusal('GET', path, response, encoding);
    if (encoding !== 'json') return { encoding, bytes: Buffer.from(await response.body.arrayBuffer()) };
    response.body.setEncoding('utf8');
    return { encoding: 'json', body: response.body as AsyncIterable<string> };
  }

  /** Close the connection; requests still in flight fail. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const connection = await this.#connection?.catch(() => undefined);
    await connection?.transport.close().catch(() => {});
  }

  /**
   * `stream`: the body is read by the caller as it arrives: a watch (no timeout once its headers
   * are in), or with `whole` an answer read to its end (`timeoutMs` also between its chunks).
   */
  async #send(method: KubeRequest['method'], url: URL, options: { body?: string; contentType?: string; accept?: string; timeoutMs: number; stream: boolean; whole?: boolean; signal?: AbortSignal }): Promise<Dispatcher.ResponseData> {
    if (this.#closed) throw new Error('Kubernetes client closed');
    for (let attempt = 1; ; attempt++) {
      const connection = await this.#connect();
      const headers: Record<string, string> = { ...connection.headers, accept: options.accept ?? 'application/json' };
      if (this.userAgent) headers['user-agent'] = this.userAgent;
      if (options.contentType) headers['content-type'] = options.contentType;
      // A request's whole exchange is bounded; a stream's only until its headers (undici's
      // headersTimeout): its body lasts as long as the caller keeps it (the watchdog decides).
      const signal = options.stream ? options.signal : AbortSignal.timeout(options.timeoutMs);
      const response = await connection.transport.request({
        origin: url.origin, path: url.pathname + url.search, method, headers, body: options.body,
        // Over HTTP/2 both time the stream, not the connection.
        headersTimeout: options.timeoutMs, bodyTimeout: options.stream && !options.whole ? 0 : options.timeoutMs,
        signal,
      });
      this.#metrics?.kubeRequests.inc({ verb: options.stream && !options.whole ? 'watch' : method.toLowerCase(), code: String(response.statusCode) });
      // A token that expired between refreshes (a rotated file, an exec credential): read it again, once.
      if (response.statusCode === 401 && attempt === 1) {
        await response.body.dump().catch(() => {});
        connection.headersAt = 0;
        continue;
      }
      return response;
    }
  }

  /** The dispatcher (made once) and fresh credentials. */
  async #connect(): Promise<Connection> {
    this.#connection ??= this.#open();
    const connection = await this.#connection;
    if (Date.now() - connection.headersAt > AUTH_TTL_MS) {
      connection.headers = (await this.#credentials()).headers;
      connection.headersAt = Date.now();
    }
    return connection;
  }

  async #open(): Promise<Connection> {
    const { headers, tls } = await this.#credentials();
    const cluster = this.#kubeConfig.getCurrentCluster()!;
    const onConnect = () => this.#metrics?.kubeConnections.inc();
    let transport: Transport;
    if (cluster.proxyUrl) {
      const agent = new ProxyAgent({ uri: cluster.proxyUrl, requestTls: tls, connect: { keepAlive: true, keepAliveInitialDelay: 30_000 } });
      agent.on('connect', onConnect);
      transport = { request: (options) => agent.request(options), close: () => agent.destroy() };
    } else {
      transport = new ApiConnections(this.#origin, { tls, onConnect });
    }
    return { transport, headers, headersAt: Date.now() };
  }

  /** Headers (Authorization, Impersonate-User) and TLS options, as the kubeconfig gives them now. */
  async #credentials(): Promise<{ headers: Record<string, string>; tls: Record<string, unknown> }> {
    const options: { headers?: Record<string, string>; auth?: string; ca?: Buffer; cert?: Buffer; key?: Buffer; pfx?: Buffer; passphrase?: string; rejectUnauthorized?: boolean; servername?: string } = {};
    await this.#kubeConfig.applyToHTTPSOptions(options as never);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(options.headers ?? {})) headers[name.toLowerCase()] = String(value);
    if (options.auth) headers['authorization'] = `Basic ${Buffer.from(options.auth).toString('base64')}`;
    const tls: Record<string, unknown> = {};
    for (const key of ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername'] as const) {
      if (options[key] !== undefined) tls[key] = options[key];
    }
    return { headers, tls };
  }
}

/** How an answer is encoded: what its Content-Type says, among the encodings asked for. */
function answerEncoding(contentType: string | string[] | undefined, asked: { protobuf?: boolean; cbor?: boolean }): AnswerEncoding {
  return asked.protobuf && isProtobuf(contentType) ? 'protobuf' : asked.cbor && isCbor(contentType) ? 'cbor' : 'json';
}

/** A CBOR error answer's Status, or undefined when it is not one. */
function cborStatus(bytes: Buffer): unknown {
  try {
    return decodeCbor(bytes);
  } catch {
    return undefined;
  }
}

/** A protobuf error answer's Status, or undefined when it is not one. */
function protobufStatus(bytes: Buffer): unknown {
  try {
    return decodeStatus(bytes);
  } catch {
    return undefined;
  }
}

/** The KubeApiError of a non-2xx streamed answer, its body read in its encoding (a Status, where it is one). */
async function refusal(method: string, path: string, response: Dispatcher.ResponseData, encoding: AnswerEncoding): Promise<KubeApiError> {
  if (encoding !== 'json') {
    const bytes = Buffer.from(await response.body.arrayBuffer().catch(() => new ArrayBuffer(0)));
    return apiError(method, path, response.statusCode, encoding === 'protobuf' ? protobufStatus(bytes) : cborStatus(bytes), '', response.headers);
  }
  const text = await response.body.text().catch(() => '');
  let parsed: unknown;
  try { parsed = JSON.parse(text); } catch { parsed = undefined; }
  return apiError(method, path, response.statusCode, parsed, text, response.headers);
}

function apiError(method: string, path: string, status: number, parsed: unknown, text: string, headers: Dispatcher.ResponseData['headers']): KubeApiError {
  const answer = parsed as { reason?: string; message?: string } | undefined;
  const detail = answer?.message ?? (parsed === undefined && text !== '' ? text.slice(0, 200) : STATUS_CODES[status] ?? '');
  const retryAfter = Number(headers['retry-after']);
  return new KubeApiError(status, answer?.reason ?? 'Unknown', `${method} ${path}: ${status} ${detail}`, detail,
    Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : undefined);
}

/**
 * The client of a router or companion: the kubeconfig at `kubeconfig` (else in-cluster), a
 * User-Agent naming `component` and `name` (see user-agent.ts). Throws KubeConfigError.
 */
export function openKubeClient(options: { kubeconfig: string; name: string; node?: string; component?: string; metrics?: Metrics }): KubeClient {
  return new KubeClient(loadKubeConfig(options.kubeconfig), {
    userAgent: userAgent(options.component ?? 'switchyard', options.name, options.node), metrics: options.metrics,
  });
}
