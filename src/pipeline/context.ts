// The per-exchange context every phase receives: one object per request (or per passthrough
// connection), all fields assigned in the constructor so its shape never changes. Plugins read
// the route, client and request, keep per-plugin state in `ctx.local`, answer with
// `ctx.respond(...)`, and change what goes upstream through `ctx.path` and the upstream-header
// helpers. Nothing here is allocated unless a plugin asks for it (TLS info, state slots, body).

import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { ProxyErrorSpec } from '../errors.ts';
import type { EndpointCandidate, RouteInfo } from './types.ts';
import type { RouteChain } from './chain.ts';

export type ExchangeKind = 'http' | 'upgrade' | 'passthrough';
/** How the exchange ended (log phase). */
export type Outcome = 'pending' | 'forwarded' | 'answered' | 'error' | 'client-closed';

export interface TlsInfo {
  /** Server name the client sent in its ClientHello (null: none, or plain HTTP). */
  readonly sni: string | null;
  /** Protocol chosen by ALPN ('h2', 'http/1.1') or null. */
  readonly alpn: string | null;
  /** The route's TLS termination, null for a plain-HTTP route. */
  readonly termination: 'edge' | 'passthrough' | 'reencrypt' | null;
  /** The client connection is TLS (terminated here, or passed through). */
  readonly encrypted: boolean;
}

/** What a gRPC exchange calls (ctx.grpc): the service and method of its `/service/method` path. */
export interface GrpcCall {
  readonly service: string;
  readonly method: string;
}

/** Thrown by readBody when the body is larger than the limit asked for (answered 413). */
export class BodyTooLargeError extends Error {
  readonly limit: number;
  constructor(limit: number) {
    super(`request body larger than ${limit} bytes`);
    this.limit = limit;
  }
}

/** What the code driving an exchange provides to the phase runner. */
export interface ExchangeDriver {
  /** The request phases (connection → upstreamRequest) are done: forward (or open the tunnel). */
  proceed(ctx: PluginContext): void;
  /** A plugin answered (ctx.answer*) or a built-in rejected: write it. */
  answer(ctx: PluginContext): void;
  /** A phase threw or rejected, or did not settle in time. */
  failed(ctx: PluginContext, link: string, error: unknown, timedOut: boolean): void;
}

const NO_SLOTS: unknown[] = [];

export class PluginContext {
  readonly kind: ExchangeKind;
  readonly route: RouteInfo;
  readonly clientAddress: string;
  /** The client connection (a TLSSocket when encrypted). */
  readonly socket: import('node:net').Socket;
  readonly method: string;
  /** Request target in origin form (`/path?query`), as received. */
  readonly url: string;
  /** Host header (or :authority) as received. */
  readonly host: string;
  /** Request headers; phases may change them (they are the base of the upstream headers). */
  readonly headers: IncomingHttpHeaders;
  readonly secure: boolean;
  /** Path (with query) sent upstream; request/upstreamRequest phases may rewrite it. */
  path: string;
  /** The chosen endpoint (after selectEndpoint). */
  endpoint: EndpointCandidate | null = null;
  /** Response status: the endpoint's, or the one answered by the router. */
  status = 0;
  /** Response headers during the response phase (mutable), else null. */
  responseHeaders: OutgoingHttpHeaders | null = null;
  /** The endpoint's response headers as received (response phase), else null. */
  upstreamResponseHeaders: Readonly<Record<string, string | string[] | undefined>> | null = null;
  outcome: Outcome = 'pending';
  readonly startedAt: number;
  durationMs = 0;
  /** Upstream request headers as a flat [name, value, …] list (during upstreamRequest). */
  upstreamHeaders: string[] | null = null;
  /** Buffered request body (after readBody), else null: the body streams. */
  body: Buffer | null = null;
  /** Bits for the built-in plugins (per-exchange state without allocating the state slots). */
  builtinFlags = 0;
  /** A gRPC exchange's status once it ended (log phase): the backend's grpc-status or the router's own answer; else null. */
  grpcStatus: number | null = null;

  // ---- runner state (not for plugins)
  readonly chain: RouteChain;
  readonly driver: ExchangeDriver;
  /** Whatever the driver needs (the proxy's route runtime, its request/response). */
  readonly owner: unknown;
  readonly request: Readable | null;
  /** The driver's response object or raw socket. */
  sink: unknown = null;
  stage = 0;
  index = 0;
  current = 0;
  settled = false;
  timer: NodeJS.Timeout | null = null;
  answerStatus = 0;
  answerBody: string | Buffer = '';
  answerHeaders: OutgoingHttpHeaders | null = null;
  answerError: ProxyErrorSpec | null = null;
  #slots: unknown[] = NO_SLOTS;
  #tls: TlsInfo | null = null;
  #grpc: GrpcCall | null | undefined = undefined;

  constructor(
    kind: ExchangeKind, chain: RouteChain, driver: ExchangeDriver, owner: unknown, route: RouteInfo,
    socket: import('node:net').Socket, clientAddress: string, secure: boolean,
    method: string, url: string, host: string, headers: IncomingHttpHeaders, request: Readable | null,
  ) {
    this.kind = kind;
    this.chain = chain;
    this.driver = driver;
    this.owner = owner;
    this.route = route;
    this.socket = socket;
    this.clientAddress = clientAddress;
    this.secure = secure;
    this.method = method;
    this.url = url;
    this.path = url;
    this.host = host;
    this.headers = headers;
    this.request = request;
    this.startedAt = performance.now();
  }

  /**
   * The gRPC call of this exchange (content-type application/grpc…): service and method from
   * the `/service/method` path as received; null for anything else. Built on first use.
   */
  get grpc(): GrpcCall | null {
    if (this.#grpc === undefined) this.#grpc = grpcCallOf(this.headers['content-type'], this.url);
    return this.#grpc;
  }

  /** TLS details of the client connection (built on first use). */
  get tls(): TlsInfo {
    if (this.#tls === null) {
      const s = this.socket as TLSSocket;
      const termination = (this.route as { tls?: { termination: TlsInfo['termination'] } | null }).tls?.termination ?? null;
      this.#tls = {
        sni: this.secure && typeof s.servername === 'string' ? s.servername : null,
        alpn: this.secure && typeof s.alpnProtocol === 'string' ? s.alpnProtocol : null,
        termination,
        encrypted: this.secure,
      };
    }
    return this.#tls;
  }

  /** This plugin's per-exchange state (undefined until set). */
  get local(): unknown {
    return this.#slots[this.current];
  }

  set local(value: unknown) {
    if (this.#slots === NO_SLOTS) this.#slots = new Array(this.chain.size);
    this.#slots[this.current] = value;
  }

  /** State slot of another link (built-ins use it to keep state between their own phases). */
  slot(index: number): unknown {
    return this.#slots[index];
  }

  setSlot(index: number, value: unknown): void {
    if (this.#slots === NO_SLOTS) this.#slots = new Array(this.chain.size);
    this.#slots[index] = value;
  }

  /** Answer the request here; no later phase runs and nothing is forwarded. */
  respond(status: number, body: string | Buffer = '', headers: OutgoingHttpHeaders | null = null): void {
    if (!Number.isInteger(status) || status < 200 || status > 599) throw new RangeError(`respond: status must be 200-599, got ${status}`);
    this.answerStatus = status;
    this.answerBody = body;
    this.answerHeaders = headers;
    this.answerError = null;
  }

  /** Answer with an error of the catalogue (built-ins). */
  respondError(error: ProxyErrorSpec): void {
    this.answerStatus = error.status;
    this.answerError = error;
  }

  get answered(): boolean {
    return this.answerStatus !== 0;
  }

  /** First value of an upstream request header (upstreamRequest phase). */
  upstreamHeader(name: string): string | undefined {
    const list = this.upstreamHeaders;
    if (list === null) return undefined;
    const lower = name.toLowerCase();
    for (let i = 0; i < list.length; i += 2) if (list[i] === lower) return list[i + 1];
    return undefined;
  }

  /** Set (replace) an upstream request header (upstreamRequest phase). */
  setUpstreamHeader(name: string, value: string): void {
    this.removeUpstreamHeader(name);
    this.upstreamHeaders!.push(name.toLowerCase(), value);
  }

  /** Remove an upstream request header (upstreamRequest phase). */
  removeUpstreamHeader(name: string): void {
    const list = this.upstreamHeaders;
    if (list === null) throw new Error('upstream headers exist only from the upstreamRequest phase on');
    const lower = name.toLowerCase();
    let w = 0;
    for (let i = 0; i < list.length; i += 2) {
      if (list[i] === lower) continue;
      list[w++] = list[i]!;
      list[w++] = list[i + 1]!;
    }
    list.length = w;
  }

  /**
   * Opt-in body buffering (request phase, HTTP only): read the whole request body, at most
   * `limit` bytes (a larger body is answered 413). The buffered body is what is forwarded.
   */
  async readBody(limit: number): Promise<Buffer> {
    if (this.body !== null) return this.body;
    const stream = this.request;
    if (stream === null) throw new Error('readBody: this exchange has no request body stream');
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) throw new BodyTooLargeError(limit);
      chunks.push(chunk);
    }
    this.body = Buffer.concat(chunks, size);
    return this.body;
  }
}

/** `/package.Service/Method` of a gRPC request (application/grpc, not gRPC-Web), else null. */
function grpcCallOf(contentType: string | string[] | undefined, url: string): GrpcCall | null {
  if (typeof contentType !== 'string' || !contentType.startsWith('application/grpc')) return null;
  const next = contentType.charCodeAt(16);
  if (!(Number.isNaN(next) || next === 43 /* '+' */ || next === 59 /* ';' */)) return null;
  const query = url.indexOf('?');
  const path = query === -1 ? url : url.slice(0, query);
  const slash = path.indexOf('/', 1);
  if (path.charCodeAt(0) !== 47 || slash <= 1 || slash === path.length - 1 || path.indexOf('/', slash + 1) !== -1) return null;
  return Object.freeze({ service: path.slice(1, slash), method: path.slice(slash + 1) });
}
