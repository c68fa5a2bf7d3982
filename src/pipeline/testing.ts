// A harness for unit-testing a plugin without a router: validate its config as admission would,
// create an instance for a route, and drive requests through its phases (with the same runner
// the proxy uses), then look at what it decided — an answer, a rewritten path, upstream
// headers, a chosen endpoint — and run its response and log phases.

import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { EndpointState } from '../health/endpoint-state.ts';
import { RouteChain, linksOf } from './chain.ts';
import { PluginContext, type ExchangeDriver } from './context.ts';
import { PluginRegistry } from './plugin-registry.ts';
import { RESPONSE_PENDING, runLogPhases, runPhases, runResponsePhases } from './runner.ts';
import type { EndpointCandidate, Phases, Plugin, PluginServices, RouteInfo } from './types.ts';

export interface TestRequest {
  method?: string;
  url?: string;
  host?: string;
  headers?: IncomingHttpHeaders;
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
  endpoint: EndpointCandidate | null;
}

export interface PluginHarness {
  readonly phases: Phases;
  readonly candidates: readonly EndpointCandidate[];
  /** Run connection → upstreamRequest phases for one request. */
  request(request?: TestRequest): Promise<TestResult>;
  /** Run the response phases for a finished request (sync or async); resolves to the response headers as changed. */
  response(result: TestResult, status: number, headers?: OutgoingHttpHeaders): Promise<OutgoingHttpHeaders>;
  /** Run the log phases; resolves when async ones settled, rejects with a phase's error. */
  log(result: TestResult, status: number, outcome?: PluginContext['outcome']): Promise<void>;
}

export interface HarnessOptions {
  route?: Partial<RouteInfo>;
  /** Endpoints offered to selectEndpoint: `name` is `address:port`. */
  endpoints?: Array<{ address?: string; port: number; weight?: number }>;
  logs?: Array<{ level: string; obj: object; msg?: string }>;
}

const UPSTREAM_HEADERS: Phases = {
  upstreamRequest(ctx: PluginContext): void {
    const list: string[] = [];
    for (const [name, value] of Object.entries(ctx.headers)) {
      if (value === undefined) continue;
      for (const v of Array.isArray(value) ? value : [value]) list.push(name, v);
    }
    ctx.upstreamHeaders = list;
  },
};

class TestDriver implements ExchangeDriver {
  resolve: (outcome: 'proceed' | 'answer' | 'failed') => void = () => {};
  error: unknown = null;
  proceed(): void { this.resolve('proceed'); }
  answer(): void { this.resolve('answer'); }
  failed(_ctx: PluginContext, _link: string, error: unknown): void {
    this.error = error;
    this.resolve('failed');
  }
}

/** Validate `config` (throws with the field path, as admission would reject it) and create an instance. */
export function testPlugin<C>(plugin: Plugin<C>, config: unknown = {}, options: HarnessOptions = {}): PluginHarness {
  const registry = new PluginRegistry([plugin as Plugin]);
  const valid = registry.validate(plugin.name, config);
  if (!valid.ok) throw new Error(`invalid config for ${plugin.name}: ${valid.message}`);
  const route: RouteInfo = {
    key: 'Route/test/route', kind: 'Route', namespace: 'test', name: 'route', host: 'example.test', path: '', annotations: {}, ...options.route,
  };
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
  const phases = plugin.create(valid.value as C, services);
  // As on a route: the upstream headers are built (from the request's) before the plugin's phase.
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
  const chain = new RouteChain(linksOf([{ name: 'forwarded-headers', phases: UPSTREAM_HEADERS }, { name: `test/${plugin.name}`, phases: chained }]), 0);
  const candidates: EndpointCandidate[] = (options.endpoints ?? [{ port: 8080 }]).map((e, i) => ({
    endpoint: new EndpointState(`ep${i}`, e.address ?? '10.0.0.1', e.port), weight: e.weight ?? 1, acceptsNew: true,
  }));
  const owner = { members: candidates };
  return {
    phases,
    candidates,
    async request(request: TestRequest = {}): Promise<TestResult> {
      const driver = new TestDriver();
      const secure = request.secure ?? false;
      const socket = { remoteAddress: request.clientAddress ?? '192.0.2.10', localPort: secure ? 443 : 80, encrypted: secure } as unknown as Socket;
      const headers: IncomingHttpHeaders = { host: request.host ?? route.host, ...request.headers };
      const ctx = new PluginContext(request.kind ?? 'http', chain, driver, owner, route, socket, request.clientAddress ?? '192.0.2.10', secure,
        request.method ?? 'GET', request.url ?? '/', request.host ?? route.host, headers, null);
      const done = new Promise<'proceed' | 'answer' | 'failed'>((resolve) => { driver.resolve = resolve; });
      runPhases(ctx);
      const outcome = await done;
      const upstreamHeaders: Record<string, string | undefined> = {};
      const flat = ctx.upstreamHeaders ?? [];
      for (let i = 0; i < flat.length; i += 2) upstreamHeaders[flat[i]!] = flat[i + 1]!;
      return {
        ctx,
        answer: outcome === 'answer' ? { status: ctx.answerStatus, body: ctx.answerError ? ctx.answerError.message : String(ctx.answerBody), headers: ctx.answerHeaders } : null,
        error: outcome === 'failed' ? driver.error : null,
        path: ctx.path,
        upstreamHeaders,
        endpoint: ctx.endpoint,
      };
    },
    response(result: TestResult, status: number, headers: OutgoingHttpHeaders = {}): Promise<OutgoingHttpHeaders> {
      const ctx = result.ctx;
      ctx.status = status;
      ctx.responseHeaders = headers;
      ctx.upstreamResponseHeaders = headers as Record<string, string>;
      if (chain.response === null) return Promise.resolve(headers);
      return new Promise((resolve, reject) => {
        const failure = runResponsePhases(ctx, {
          responseReady: () => resolve(headers),
          responseFailed: (_ctx, _link, error) => reject(error),
        });
        if (failure === RESPONSE_PENDING) return;
        if (failure !== null) reject(failure.error);
        else resolve(headers);
      });
    },
    async log(result: TestResult, status: number, outcome: PluginContext['outcome'] = 'forwarded'): Promise<void> {
      const ctx = result.ctx;
      ctx.status = status;
      ctx.outcome = outcome;
      // The router's runner reports failures (never awaits); here each one surfaces.
      const errors: unknown[] = [];
      runLogPhases(ctx, { logPhase: (_route, _link, error) => { errors.push(error); } });
      await Promise.all(pendingLogs.splice(0));
      if (errors.length > 0) throw errors[0];
    },
  };
}
