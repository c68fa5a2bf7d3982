// A harness for unit-testing a plugin without a router: validate its config as admission would,
// create an instance for a route, and drive exchanges through its phases with the same runner
// the proxy uses — a request (with a body, if any), the response head, the response body, a
// forwarding failure, the log — then look at what it decided.

import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import type { Member } from '../balance/types.ts';
import { EndpointState } from '../health/endpoint-state.ts';
import { ProxyErrors } from '../errors.ts';
import { candidatesOf } from './candidates.ts';
import { RouteChain } from './chain.ts';
import type { Outcome, PluginContext } from './context.ts';
import { PhaseRun, STAGE_FORWARD, STAGE_LOG, phaseRunOf, type ChainOwner } from './phase-run.ts';
import { PluginRegistry } from './plugin-registry.ts';
import { filterBody, runFailurePhases, runLogPhases, runPhases, runResponsePhases, RESPONSE_PENDING } from './runner.ts';
import type { EndpointCandidate, FailureReason, Phases, Plugin, PluginServices, RouteInfo } from './types.ts';

export interface TestRequest {
  method?: string;
  url?: string;
  host?: string;
  headers?: IncomingHttpHeaders;
  /** The request body: what readBody reads, and what the requestBody phases see (chunk by chunk). */
  body?: string | Buffer | ReadonlyArray<string | Buffer>;
  clientAddress?: string;
  secure?: boolean;
  kind?: 'http' | 'upgrade' | 'passthrough';
}

export interface TestResult {
  ctx: PluginContext;
  /** Set when a phase answered (ctx.respond). */
  answer: { status: number; body: string; headers: OutgoingHttpHeaders | null } | null;
  /** Set when a phase threw or rejected. */
  error: unknown;
  /** Path sent upstream. */
  path: string;
  /** Upstream headers as an object (last value wins). */
  upstreamHeaders: Record<string, string | undefined>;
  /** The request body as sent upstream (after the requestBody phases); null without a body or after an answer. */
  upstreamBody: Buffer | null;
  endpoint: EndpointCandidate | null;
}

export interface TestFailure {
  reason?: FailureReason;
  message?: string;
  /** The response head already went to the client. */
  responseStarted?: boolean;
}

export interface PluginHarness {
  readonly phases: Phases;
  readonly candidates: readonly EndpointCandidate[];
  /** Run connection → upstreamRequest phases for one request, then its body through requestBody. */
  request(request?: TestRequest): Promise<TestResult>;
  /** Run the response phases (sync or async); resolves to the response headers as changed. */
  response(result: TestResult, status: number, headers?: OutgoingHttpHeaders): Promise<OutgoingHttpHeaders>;
  /** Run the responseBody phases over `chunks` (then the end); resolves to what the client gets. */
  responseBody(result: TestResult, chunks: string | Buffer | ReadonlyArray<string | Buffer>): Promise<Buffer>;
  /** Run the failure phases for a failed attempt; resolves to what they decided. */
  failure(result: TestResult, failure?: TestFailure): Promise<{ answer: TestResult['answer']; retry: boolean }>;
  /** Run the log phases; resolves when async ones settled, rejects with a phase's error. */
  log(result: TestResult, status: number, outcome?: Outcome): Promise<void>;
  /** The route's balancer chose `candidate` (when no selectEndpoint phase did): what ctx.endpoint shows from then on. */
  choose(result: TestResult, candidate: EndpointCandidate): void;
  /** Mark an endpoint (`address:port`) up or down, as an active health check would. */
  setEndpointUp(name: string, up: boolean): void;
}

export interface HarnessOptions {
  route?: Partial<RouteInfo>;
  /** Endpoints offered to selectEndpoint: `name` is `address:port`. */
  endpoints?: Array<{ address?: string; port: number; weight?: number }>;
  logs?: Array<{ level: string; obj: object; msg?: string }>;
}

/** As on a route: the upstream headers are built from the request's before the plugin's phases. */
const UPSTREAM_HEADERS: Phases = {
  upstreamRequest(ctx): void {
    const list: string[] = [];
    for (const [name, value] of Object.entries(ctx.headers)) {
      if (value === undefined) continue;
      for (const v of Array.isArray(value) ? value : [value]) list.push(name, v);
    }
    phaseRunOf(ctx).upstreamHeaders = list;
  },
};


const FAILURES: Record<FailureReason, { code: string; status: number }> = {
  connect: ProxyErrors.UPSTREAM_CONNECT, timeout: ProxyErrors.UPSTREAM_TIMEOUT, reset: ProxyErrors.UPSTREAM_RESET,
  tls: ProxyErrors.UPSTREAM_TLS, protocol: ProxyErrors.UPSTREAM_PROTOCOL,
};

type Settled = 'proceed' | 'answer' | 'failed' | 'ready' | 'done';

class TestRun extends PhaseRun {
  settle: (how: Settled) => void = () => {};
  error: unknown = null;
  phaseErrors: unknown[] = [];
  started = false;
  bodyReadable: boolean;

  constructor(owner: ChainOwner, request: TestRequest, route: RouteInfo, body: Readable | null) {
    const secure = request.secure ?? false;
    const address = request.clientAddress ?? '192.0.2.10';
    const socket = { remoteAddress: address, localPort: secure ? 443 : 80, encrypted: secure } as unknown as Socket;
    const headers: IncomingHttpHeaders = { host: request.host ?? route.host, ...request.headers };
    super(request.kind ?? 'http', owner, socket, address, secure, request.method ?? 'GET', request.url ?? '/', request.host ?? route.host, headers, body);
    this.bodyReadable = body !== null;
  }

  proceed(): void { this.settle('proceed'); }
  answer(): void { this.settle('answer'); }
  failed(_link: string, error: unknown): void {
    this.error = error;
    this.settle('failed');
  }
  responseReady(): void { this.settle('ready'); }
  responseFailed(_link: string, error: unknown): void {
    this.error = error;
    this.settle('failed');
  }
  failureDone(): void { this.settle('done'); }
  phaseFailed(_link: string, error: unknown): void {
    this.phaseErrors.push(error);
  }
  canRetry(): boolean {
    return this.failure !== null && !this.failure.responseStarted && this.attempts < 3;
  }

  wait(): Promise<Settled> {
    return new Promise((resolve) => { this.settle = resolve; });
  }
}

function chunksOf(body: string | Buffer | ReadonlyArray<string | Buffer>): Buffer[] {
  const list = typeof body === 'string' || Buffer.isBuffer(body) ? [body] : body;
  return list.map((c) => (typeof c === 'string' ? Buffer.from(c) : c));
}

async function throughFilters(run: TestRun, links: RouteChain['requestBody'], chunks: Buffer[], response: boolean): Promise<Buffer> {
  const out: Buffer[] = [];
  if (links !== null) {
    for (const chunk of chunks) {
      const r = await filterBody(run, links, chunk, false, response);
      if (r !== null) out.push(r);
    }
    const tail = await filterBody(run, links, Buffer.alloc(0), true, response);
    if (tail !== null) out.push(tail);
  } else {
    out.push(...chunks);
  }
  return Buffer.concat(out);
}

function answerOf(run: TestRun): TestResult['answer'] {
  if (run.answerStatus === 0) return null;
  return { status: run.answerStatus, body: run.answerError ? run.answerError.message : String(run.answerBody), headers: run.answerHeaders };
}

/** Validate `config` (throws with the field path, as admission would reject it) and create an instance. */
export function testPlugin<C, L>(plugin: Plugin<C, L>, config: unknown = {}, options: HarnessOptions = {}): PluginHarness {
  const registry = new PluginRegistry([plugin as Plugin]);
  const valid = registry.validate(plugin.name, config);
  if (!valid.ok) throw new Error(`invalid config for ${plugin.name}: ${valid.message}`);
  const route: RouteInfo = Object.freeze({
    key: 'Route/test/route', kind: 'Route', namespace: 'test', name: 'route', host: 'example.test', path: '', annotations: Object.freeze({}), ...options.route,
  });
  const logs = options.logs;
  const log = (level: string) => (obj: object, msg?: string): void => { logs?.push({ level, obj, msg }); };
  const retained = new Map<string, unknown>();
  const services: PluginServices = {
    route,
    instanceName: `test/${plugin.name}`,
    logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
    retain: <T>(key: string, make: () => T): T => {
      if (!retained.has(key)) retained.set(key, make());
      return retained.get(key) as T;
    },
  };
  const phases = plugin.create(valid.value as C, services) as Phases;
  // The router never awaits a log phase; the harness keeps its Promises to await and report them.
  const pendingLogs: Promise<unknown>[] = [];
  const logPhase = phases.log;
  const chained: Phases = logPhase === undefined ? phases : {
    ...phases,
    log(ctx) {
      const r = logPhase.call(phases, ctx);
      if (r instanceof Promise) pendingLogs.push(r.catch(() => {}));
      return r;
    },
  };
  const chain = new RouteChain([
    { name: 'forwarded-headers', phases: UPSTREAM_HEADERS },
    { name: `test/${plugin.name}`, phases: chained, makeLocal: (plugin.local as (() => unknown) | undefined) ?? null },
  ], 0);
  const members: Member[] = (options.endpoints ?? [{ port: 8080 }]).map((e, i) => ({
    endpoint: new EndpointState(`ep${i}`, e.address ?? '10.0.0.1', e.port), weight: e.weight ?? 1, acceptsNew: true,
  }));
  const candidates = candidatesOf(members);
  const owner: ChainOwner = { chain, info: route, members, candidates, termination: null };
  const runOf = (result: TestResult): TestRun => phaseRunOf(result.ctx) as TestRun;

  return {
    phases,
    candidates,
    async request(request: TestRequest = {}): Promise<TestResult> {
      const chunks = request.body === undefined ? null : chunksOf(request.body);
      const run = new TestRun(owner, request, route, chunks === null ? null : Readable.from(chunks));
      const done = run.wait();
      runPhases(run);
      const outcome = await done;
      const upstreamHeaders: Record<string, string | undefined> = {};
      const flat = run.upstreamHeaders ?? [];
      for (let i = 0; i < flat.length; i += 2) upstreamHeaders[flat[i]!] = flat[i + 1]!;
      let upstreamBody: Buffer | null = null;
      if (outcome === 'proceed' && chunks !== null) {
        // What would be forwarded: the buffered body, or the stream, through the requestBody phases.
        upstreamBody = await throughFilters(run, chain.requestBody, run.body !== null ? [run.body] : chunks, false);
      }
      return {
        ctx: run.ctx,
        answer: outcome === 'answer' ? answerOf(run) : null,
        error: outcome === 'failed' ? run.error : null,
        path: run.path,
        upstreamHeaders,
        upstreamBody,
        endpoint: run.ctx.endpoint,
      };
    },
    async response(result: TestResult, status: number, headers: OutgoingHttpHeaders = {}): Promise<OutgoingHttpHeaders> {
      const run = runOf(result);
      run.stage = STAGE_FORWARD;
      run.status = status;
      run.responseHeaders = headers;
      run.upstreamResponseHeaders = headers as Record<string, string>;
      const done = run.wait();
      const failure = runResponsePhases(run);
      if (failure === RESPONSE_PENDING) {
        if (await done === 'failed') throw run.error;
      } else if (failure !== null) {
        throw failure.error;
      }
      return headers;
    },
    responseBody(result: TestResult, chunks: string | Buffer | ReadonlyArray<string | Buffer>): Promise<Buffer> {
      const run = runOf(result);
      return throughFilters(run, chain.responseBody, chunksOf(chunks), true);
    },
    async failure(result: TestResult, failure: TestFailure = {}): Promise<{ answer: TestResult['answer']; retry: boolean }> {
      const run = runOf(result);
      const reason = failure.reason ?? 'connect';
      run.attempts++;
      run.clearAnswer();
      run.retryAsked = false;
      run.failure = Object.freeze({
        reason, code: FAILURES[reason].code, status: FAILURES[reason].status, message: failure.message ?? `${reason} failed`,
        endpoint: run.ctx.endpoint ?? candidates[0]!, attempt: run.attempts, responseStarted: failure.responseStarted ?? false,
        canRetry: !(failure.responseStarted ?? false) && run.attempts < 3,
      });
      const done = run.wait();
      runFailurePhases(run);
      await done;
      if (run.phaseErrors.length > 0) throw run.phaseErrors.shift();
      return { answer: answerOf(run), retry: run.retryAsked };
    },
    choose(result: TestResult, candidate: EndpointCandidate): void {
      const at = candidates.indexOf(candidate);
      if (at === -1) throw new Error('choose: not one of the harness candidates');
      runOf(result).member = members[at]!;
      result.endpoint = candidate;
    },
    setEndpointUp(name: string, up: boolean): void {
      const member = members.find((m) => m.endpoint.name === name);
      if (member === undefined) throw new Error(`setEndpointUp: no endpoint ${name}`);
      member.endpoint.activeUp = up;
    },
    async log(result: TestResult, status: number, outcome: Outcome = 'forwarded'): Promise<void> {
      const run = runOf(result);
      run.status = status;
      run.outcome = outcome;
      run.stage = STAGE_LOG;
      // The router's runner reports failures (never awaits); here each one surfaces.
      runLogPhases(run);
      await Promise.all(pendingLogs.splice(0));
      if (run.phaseErrors.length > 0) throw run.phaseErrors.shift();
    },
  };
}
