// The context every phase receives: a view of one exchange, sealed. The runner's state (stage,
// timers, the answer, the transport) lives in the exchange behind a private field; what a
// plugin reads and changes is listed here and nothing else — the route as a frozen snapshot
// without key material, endpoints as read-only candidates, its own state in `ctx.local`.
// One view per exchange, made with it.

import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { ProxyErrorSpec } from '../errors.ts';
import type { Member } from '../balance/types.ts';
import type { EndpointCandidate, ExchangeKind, FailureInfo, GrpcCall, Outcome, RouteInfo, TlsInfo, TraceView } from './views.ts';

export type { ExchangeKind, GrpcCall, Outcome, TlsInfo, TraceView, TraceAttributeValue } from './views.ts';

/**
 * What the view reads of its exchange (pipeline/phase-run.ts implements it). Declared here so
 * this module depends on nothing of the runner.
 */
export interface RunState {
  readonly kind: ExchangeKind;
  readonly owner: { readonly info: RouteInfo; readonly candidates: readonly EndpointCandidate[]; readonly members: readonly Member[]; readonly termination: TlsInfo['termination'] };
  readonly socket: import('node:net').Socket;
  readonly clientAddress: string;
  readonly secure: boolean;
  readonly method: string;
  readonly url: string;
  readonly host: string;
  readonly headers: IncomingHttpHeaders;
  path: string;
  readonly member: Member | null;
  readonly status: number;
  readonly responseHeaders: OutgoingHttpHeaders | null;
  readonly upstreamResponseHeaders: Readonly<Record<string, string | string[] | undefined>> | null;
  readonly outcome: Outcome;
  readonly durationMs: number;
  readonly body: Buffer | null;
  readonly attempts: number;
  readonly failure: FailureInfo | null;
  readonly grpcStatus: number | null;
  readonly answerStatus: number;
  /** The exchange's trace (NO_TRACE when not traced). */
  readonly traceView: TraceView;
  local: unknown;
  respond(status: number, body: string | Buffer, headers: OutgoingHttpHeaders | null): void;
  respondError(error: ProxyErrorSpec): void;
  retry(): boolean;
  upstreamHeader(name: string): string | undefined;
  setUpstreamHeader(name: string, value: string): void;
  removeUpstreamHeader(name: string): void;
  readBody(limit: number): Promise<Buffer>;
}

/** The exchange behind a context (built-ins and the router only; not exported by the package). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export let runOf: (ctx: PluginContext<any>) => RunState;

/** Candidate view of a member, found by position among the route's members. */
function candidateOf(run: RunState, member: Member | null): EndpointCandidate | null {
  if (member === null) return null;
  const members = run.owner.members;
  for (let i = 0; i < members.length; i++) if (members[i] === member) return run.owner.candidates[i]!;
  return null;
}

export class PluginContext<L = unknown> {
  readonly #run: RunState;
  #tls: TlsInfo | null = null;
  #grpc: GrpcCall | null | undefined = undefined;

  static {
    runOf = (ctx) => ctx.#run;
  }

  /** Made by the exchange; a plugin never constructs one. */
  constructor(run: RunState) {
    this.#run = run;
  }

  /** `'http'` (HTTP/1.1 and HTTP/2), `'upgrade'` (WebSocket and other Upgrades) or `'passthrough'` (TLS passthrough connection). */
  get kind(): ExchangeKind { return this.#run.kind; }
  /** The route: key, kind, namespace, name, host, path, annotations (frozen, no key material). */
  get route(): RouteInfo { return this.#run.owner.info; }
  /** Client address (IPv4-mapped IPv6 shown as IPv4; from the PROXY protocol header when trusted). */
  get clientAddress(): string { return this.#run.clientAddress; }
  /** The client connection is TLS. */
  get secure(): boolean { return this.#run.secure; }
  /** Request method ('' for passthrough). */
  get method(): string { return this.#run.method; }
  /** Request target in origin form (`/path?query`), as received ('' for passthrough). */
  get url(): string { return this.#run.url; }
  /** Host header (or :authority) as received. */
  get host(): string { return this.#run.host; }
  /** Request headers (lower-case names); phases may change them: they are the base of the upstream headers. */
  get headers(): IncomingHttpHeaders { return this.#run.headers; }
  /** Path with query sent upstream; request and upstreamRequest phases may rewrite it. */
  get path(): string { return this.#run.path; }
  set path(value: string) {
    if (typeof value !== 'string' || value.charCodeAt(0) !== 47 /* '/' */) throw new TypeError(`ctx.path must start with "/", got ${JSON.stringify(value)}`);
    this.#run.path = value;
  }

  /** The chosen endpoint (from selectEndpoint on; on a retry, the one tried now). */
  get endpoint(): EndpointCandidate | null { return candidateOf(this.#run, this.#run.member); }
  /** Response status: the endpoint's, or the one answered by the router (0 until known). */
  get status(): number { return this.#run.status; }
  /** Response headers during the response phase (mutable), else null. */
  get responseHeaders(): OutgoingHttpHeaders | null { return this.#run.responseHeaders; }
  /** The endpoint's response headers as received (response phase on), else null. */
  get upstreamResponseHeaders(): Readonly<Record<string, string | string[] | undefined>> | null { return this.#run.upstreamResponseHeaders; }
  /** How the exchange ended (log phase); 'pending' before. */
  get outcome(): Outcome { return this.#run.outcome; }
  /** Duration of the whole exchange in ms (log phase). */
  get durationMs(): number { return this.#run.durationMs; }
  /** Upstream attempts made so far (retries included). */
  get attempts(): number { return this.#run.attempts; }
  /** The last failed upstream attempt (failure phase, and log after a failure), else null. */
  get failure(): FailureInfo | null { return this.#run.failure; }
  /** The buffered request body (after readBody), else null: the body streams. */
  get body(): Buffer | null { return this.#run.body; }
  /**
   * The exchange's trace: its ids, and the router's server span for attributes and events of
   * the plugin's own (with tracing on and the exchange sampled; else the calls do nothing).
   */
  get trace(): TraceView { return this.#run.traceView; }

  /**
   * The gRPC call of this exchange (content-type application/grpc…): service and method from
   * the `/service/method` path as received; null for anything else. Built on first use.
   */
  get grpc(): GrpcCall | null {
    if (this.#grpc === undefined) this.#grpc = grpcCallOf(this.#run.headers['content-type'], this.#run.url);
    return this.#grpc;
  }

  /** A gRPC call's status once it ended (log phase): the backend's grpc-status, the router's own answer, 1 (CANCELLED) when the client left; else null. */
  get grpcStatus(): number | null { return this.#run.grpcStatus; }

  /** TLS details of the client connection (built on first use). */
  get tls(): TlsInfo {
    if (this.#tls === null) {
      const run = this.#run;
      const s = run.socket as TLSSocket;
      this.#tls = Object.freeze({
        sni: run.secure && typeof s.servername === 'string' ? s.servername : null,
        alpn: run.secure && typeof s.alpnProtocol === 'string' ? s.alpnProtocol : null,
        termination: run.owner.termination,
        encrypted: run.secure,
      });
    }
    return this.#tls;
  }

  /**
   * This plugin's state for this exchange: what its `local` factory made on first use (or what
   * it set). Each plugin has its own. Read it before an `await` and keep the reference: body
   * phases may run between another plugin's phases.
   */
  get local(): L { return this.#run.local as L; }
  set local(value: L) { this.#run.local = value; }

  /**
   * Answer here: in the connection, request, selectEndpoint and upstreamRequest phases nothing is
   * forwarded; in the response phase the endpoint's response is replaced; in the failure phase
   * the error answer is. Later phases of the stage do not run.
   */
  respond(status: number, body: string | Buffer = '', headers: OutgoingHttpHeaders | null = null): void {
    this.#run.respond(status, body, headers);
  }

  /** A phase answered (ctx.respond, or a built-in's refusal). */
  get answered(): boolean { return this.#run.answerStatus !== 0; }

  /**
   * Failure phase: ask for one more attempt, on another endpoint (selectEndpoint runs again
   * without the endpoints already tried). Returns false when it cannot be granted (see
   * ctx.failure.canRetry).
   */
  retry(): boolean { return this.#run.retry(); }

  /** First value of an upstream request header (upstreamRequest phase on). */
  upstreamHeader(name: string): string | undefined { return this.#run.upstreamHeader(name); }
  /** Set (replace) an upstream request header (upstreamRequest phase). */
  setUpstreamHeader(name: string, value: string): void { this.#run.setUpstreamHeader(name, value); }
  /** Remove an upstream request header (upstreamRequest phase). */
  removeUpstreamHeader(name: string): void { this.#run.removeUpstreamHeader(name); }

  /**
   * Opt-in body buffering (connection and request phases, HTTP only): read the whole request
   * body, at most `limit` bytes (a larger body is answered 413 SY_BODY_TOO_LARGE). Resolves to
   * the body; the buffered body is what is forwarded (and can be sent again on a retry).
   */
  readBody(limit: number): Promise<Buffer> { return this.#run.readBody(limit); }

  /** What JSON.stringify(ctx) shows: the documented fields, no internals. */
  toJSON(): object {
    return {
      kind: this.kind, route: this.route, clientAddress: this.clientAddress, secure: this.secure, method: this.method,
      url: this.url, host: this.host, path: this.path, endpoint: this.endpoint, status: this.status, outcome: this.outcome,
      durationMs: this.durationMs, attempts: this.attempts, failure: this.failure,
    };
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
