// The runner's side of one exchange: what the phases decided (path, endpoint, answer, upstream
// headers), the runner's position (stage, link, pending timer) and the per-plugin state slots.
// The proxy's Exchange extends it with the transport (proxy/exchange.ts); plugins never see
// it — they get a PluginContext, a view that reads it (context.ts). One object per exchange,
// every field assigned here, so its shape never changes.

import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { Member } from '../balance/types.ts';
import type { ProxyErrorSpec } from '../errors.ts';
import type { RouteChain } from './chain.ts';
import { PluginContext, runOf, type ExchangeKind, type Outcome } from './context.ts';
import { NO_TRACE, type EndpointCandidate, type FailureInfo, type RouteInfo, type TraceView } from './views.ts';

/** What an exchange runs against: the route's chain, its snapshot for plugins, its members. */
export interface ChainOwner {
  readonly chain: RouteChain;
  /** The frozen route snapshot plugins see (ctx.route, services.route). */
  readonly info: RouteInfo;
  readonly members: readonly Member[];
  /** The members as plugins see them (read-only views, same order). */
  readonly candidates: readonly EndpointCandidate[];
  /** The route's TLS termination (ctx.tls), null for a plain-HTTP route. */
  readonly termination: 'edge' | 'passthrough' | 'reencrypt' | null;
}

// Stages, in order. The request stages run in one loop (runner.ts); the others are entered by
// the exchange when their moment comes.
export const STAGE_CONNECTION = 0;
export const STAGE_REQUEST = 1;
export const STAGE_SELECT = 2;
export const STAGE_UPSTREAM = 3;
/** The request stages are done. */
export const STAGE_FORWARD = 4;
export const STAGE_RESPONSE = 5;
export const STAGE_FAILURE = 6;
export const STAGE_LOG = 7;

const NO_SLOTS: unknown[] = [];

export abstract class PhaseRun {
  readonly kind: ExchangeKind;
  readonly owner: ChainOwner;
  readonly chain: RouteChain;
  /** The client connection (a TLSSocket when encrypted). */
  readonly socket: Socket;
  readonly clientAddress: string;
  readonly secure: boolean;
  readonly method: string;
  /** Request target in origin form, as received. */
  readonly url: string;
  readonly host: string;
  readonly headers: IncomingHttpHeaders;
  /** The request body stream (HTTP), else null. */
  readonly request: Readable | null;
  readonly startedAt: number;
  /** The view plugins get. */
  readonly ctx: PluginContext;
  /** Path (with query) sent upstream. */
  path: string;
  /** The chosen member (selectEndpoint, and again on a retry). */
  member: Member | null = null;
  status = 0;
  responseHeaders: OutgoingHttpHeaders | null = null;
  upstreamResponseHeaders: Readonly<Record<string, string | string[] | undefined>> | null = null;
  outcome: Outcome = 'pending';
  durationMs = 0;
  /** Upstream request headers as a flat [name, value, …] list (from the upstreamRequest stage on). */
  upstreamHeaders: string[] | null = null;
  /** Buffered request body (readBody), else null: the body streams. */
  body: Buffer | null = null;
  /** Upstream attempts started. */
  attempts = 0;
  /** Members already tried (a retry chooses among the others), null before a retry. */
  tried: Member[] | null = null;
  /** The last failed attempt (failure and log phases). */
  failure: FailureInfo | null = null;
  /** Bits for the built-in plugins (per-exchange state without allocating the state slots). */
  builtinFlags = 0;
  /** A gRPC exchange's status once it ended (the backend's grpc-status or the router's own answer); else null. */
  grpcStatus: number | null = null;

  // ---- the runner's position
  stage = STAGE_CONNECTION;
  /** The last request stage to run (STAGE_SELECT when choosing again for a retry). */
  lastStage = STAGE_UPSTREAM;
  index = 0;
  /** Slot of the link whose phase runs (ctx.local). */
  current = 0;
  /** No phase is pending (or the pending one no longer counts: timed out, client gone). */
  settled = false;
  timer: NodeJS.Timeout | null = null;

  // ---- an answer decided by a phase (or a built-in's catalogue error)
  answerStatus = 0;
  answerBody: string | Buffer = '';
  answerHeaders: OutgoingHttpHeaders | null = null;
  answerError: ProxyErrorSpec | null = null;
  /** A failure phase asked for another attempt (on another endpoint, or on the same one). */
  retryAsked = false;
  retrySame = false;

  #slots: unknown[] = NO_SLOTS;

  /** What ctx.trace shows (the proxy's exchange gives its trace). */
  get traceView(): TraceView {
    return NO_TRACE;
  }

  constructor(
    kind: ExchangeKind, owner: ChainOwner, socket: Socket, clientAddress: string, secure: boolean,
    method: string, url: string, host: string, headers: IncomingHttpHeaders, request: Readable | null,
  ) {
    this.kind = kind;
    this.owner = owner;
    this.chain = owner.chain;
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
    this.ctx = new PluginContext(this);
  }

  // ---- what the runner reports (the exchange implements them)

  /** The request stages are done (connection → upstreamRequest): forward, or open the tunnel. */
  abstract proceed(): void;
  /** A phase answered (ctx.respond) or a built-in rejected with a catalogue error: write it. */
  abstract answer(): void;
  /** A request-stage phase threw or rejected, or did not settle in time. */
  abstract failed(link: string, error: unknown, timedOut: boolean): void;
  /** Every response phase has run (after one returned a Promise). */
  abstract responseReady(): void;
  /** A response phase threw, rejected or did not settle in time (after one returned a Promise). */
  abstract responseFailed(link: string, error: unknown, timedOut: boolean): void;
  /** The failure phases have run (ctx.respond, ctx.retry() or neither). */
  abstract failureDone(): void;
  /** A phase failed where nothing is answered for it (log, failure): count and log it. */
  abstract phaseFailed(link: string, error: unknown): void;

  /** Whether one more upstream attempt may be made now (see FailureInfo.canRetry). */
  abstract canRetry(): boolean;

  // ---- per-plugin state

  /** The running plugin's state for this exchange (made by its `local` factory on first use). */
  get local(): unknown {
    const slots = this.#slots;
    let value = slots[this.current];
    if (value === undefined) {
      const make = this.chain.links[this.current]?.makeLocal;
      if (make == null) return undefined;
      value = make();
      this.setSlot(this.current, value);
    }
    return value;
  }

  set local(value: unknown) {
    this.setSlot(this.current, value);
  }

  /** State slot of a link (built-ins keep state between their own phases, or hand it to another exchange). */
  slot(index: number): unknown {
    return this.#slots[index];
  }

  setSlot(index: number, value: unknown): void {
    if (this.#slots === NO_SLOTS) this.#slots = new Array(this.chain.size);
    this.#slots[index] = value;
  }

  // ---- answers

  respond(status: number, body: string | Buffer, headers: OutgoingHttpHeaders | null): void {
    if (!Number.isInteger(status) || status < 200 || status > 599) throw new RangeError(`respond: status must be 200-599, got ${status}`);
    if (typeof body !== 'string' && !Buffer.isBuffer(body)) throw new TypeError('respond: body must be a string or a Buffer');
    if (this.stage === STAGE_LOG) throw new Error('respond: the exchange is over (log phase)');
    if (this.stage === STAGE_FAILURE && this.failure !== null && this.failure.responseStarted) throw new Error('respond: the response has already started');
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

  /** A failure phase asks for another attempt; true when it will be made. */
  retry(): boolean {
    if (this.stage !== STAGE_FAILURE) throw new Error('retry: only the failure phase can ask for another attempt');
    if (!this.canRetry()) return false;
    this.retryAsked = true;
    return true;
  }

  /**
   * Failure phase (built-ins): one more attempt on the same endpoint — a stale keep-alive
   * connection the endpoint had closed. True when it will be made.
   */
  retrySameEndpoint(): boolean {
    if (this.stage !== STAGE_FAILURE) throw new Error('retry: only the failure phase can ask for another attempt');
    if (!this.canRetry()) return false;
    this.retrySame = true;
    return true;
  }

  /** Forget what a phase answered (the exchange goes on instead, e.g. after a retry). */
  clearAnswer(): void {
    this.answerStatus = 0;
    this.answerBody = '';
    this.answerHeaders = null;
    this.answerError = null;
  }

  // ---- upstream headers

  upstreamHeader(name: string): string | undefined {
    const list = this.upstreamHeaders;
    if (list === null) return undefined;
    const lower = name.toLowerCase();
    for (let i = 0; i < list.length; i += 2) if (list[i] === lower) return list[i + 1];
    return undefined;
  }

  setUpstreamHeader(name: string, value: string): void {
    this.removeUpstreamHeader(name);
    this.upstreamHeaders!.push(name.toLowerCase(), String(value));
  }

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

  // ---- body

  /** The request body's chunks (a way in whose body stream is also its response overrides it: reading must not end the response). */
  protected requestChunks(): AsyncIterable<Buffer> {
    return this.request as AsyncIterable<Buffer>;
  }

  async readBody(limit: number): Promise<Buffer> {
    if (this.body !== null) return this.body;
    if (this.stage > STAGE_REQUEST) throw new Error('readBody: the body can only be read in the connection and request phases');
    if (this.request === null) throw new Error('readBody: this exchange has no request body stream');
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of this.requestChunks()) {
      size += chunk.length;
      if (size > limit) throw new BodyTooLargeError(limit);
      chunks.push(chunk);
    }
    this.body = Buffer.concat(chunks, size);
    return this.body;
  }
}

/** Thrown by readBody when the body is larger than the limit asked for (answered 413). */
export class BodyTooLargeError extends Error {
  readonly limit: number;
  constructor(limit: number) {
    super(`request body larger than ${limit} bytes`);
    this.name = 'BodyTooLargeError';
    this.limit = limit;
  }
}

/** The exchange behind a plugin's context (built-ins only). */
export function phaseRunOf(ctx: PluginContext<unknown>): PhaseRun {
  return runOf(ctx) as unknown as PhaseRun;
}
