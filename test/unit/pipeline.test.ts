// The phase runner and chain resolution (src/pipeline), without a router.
import test from 'ava';
import type { Socket } from 'node:net';
import { RouteChain, linksOf } from '../../src/pipeline/chain.ts';
import { PluginContext, type ExchangeDriver } from '../../src/pipeline/context.ts';
import { PluginRegistry } from '../../src/pipeline/plugin-registry.ts';
import { definePlugin } from '../../src/pipeline/define-plugin.ts';
import { abandon, runLogPhases, runPhases, runResponsePhases, RESPONSE_PENDING, type ResponseDriver } from '../../src/pipeline/runner.ts';
import type { Phases } from '../../src/pipeline/types.ts';
import { EndpointState } from '../../src/health/endpoint-state.ts';
import { Type } from 'typebox';

const route = { key: 'Route/ns/r', kind: 'Route' as const, namespace: 'ns', name: 'r', host: 'h.test', path: '', annotations: {} };
const members = [{ endpoint: new EndpointState('a', '10.0.0.1', 80), weight: 1, acceptsNew: true }, { endpoint: new EndpointState('b', '10.0.0.2', 80), weight: 1, acceptsNew: true }];

class Recorder implements ExchangeDriver {
  events: string[] = [];
  settled!: Promise<string>;
  #resolve!: (v: string) => void;
  constructor() { this.settled = new Promise((r) => { this.#resolve = r; }); }
  proceed(): void { this.events.push('proceed'); this.#resolve('proceed'); }
  answer(ctx: PluginContext): void { this.events.push(`answer ${ctx.answerStatus}`); this.#resolve('answer'); }
  failed(_ctx: PluginContext, link: string, error: unknown, timedOut: boolean): void {
    this.events.push(`failed ${link} ${timedOut ? 'timeout' : (error as Error).message}`);
    this.#resolve('failed');
  }
}

function exchange(entries: Array<{ name: string; phases: Phases }>, timeoutMs = 1000, kind: 'http' | 'passthrough' = 'http'): { ctx: PluginContext; driver: Recorder } {
  const driver = new Recorder();
  const chain = new RouteChain(linksOf(entries), timeoutMs);
  const socket = { remoteAddress: '192.0.2.1' } as Socket;
  const ctx = new PluginContext(kind, chain, driver, { members }, route, socket, '192.0.2.1', false, 'GET', '/x', 'h.test', { host: 'h.test' }, null);
  return { ctx, driver };
}

test('chain: each phase lists only the links implementing it, in order; an empty phase is null', (t) => {
  const chain = new RouteChain(linksOf([
    { name: 'a', phases: { request() {}, log() {} } },
    { name: 'b', phases: { upstreamRequest() {} } },
    { name: 'c', phases: { request() {}, response() {} } },
  ]), 0);
  t.deepEqual(chain.request!.map((l) => l.name), ['a', 'c']);
  t.deepEqual(chain.upstreamRequest!.map((l) => l.name), ['b']);
  t.is(chain.connection, null);
  t.is(chain.selectEndpoint, null);
  t.deepEqual(chain.log!.map((l) => l.slot), [0]);
});

test('synchronous phases run in stage order in one call; the first endpoint chosen wins', (t) => {
  const order: string[] = [];
  const { ctx, driver } = exchange([
    { name: 'a', phases: { connection() { order.push('a.connection'); }, request() { order.push('a.request'); }, selectEndpoint() { order.push('a.select'); return null; } } },
    { name: 'b', phases: { request(c) { order.push('b.request'); c.path = '/rewritten'; }, selectEndpoint(_c, cands) { order.push('b.select'); return cands[1]; } } },
    { name: 'c', phases: { selectEndpoint(_c, cands) { order.push('c.select'); return cands[0]; }, upstreamRequest(c) { order.push('c.upstream'); c.upstreamHeaders = []; c.setUpstreamHeader('X-A', '1'); } } },
  ]);
  runPhases(ctx);
  t.deepEqual(order, ['a.connection', 'a.request', 'b.request', 'a.select', 'b.select', 'c.upstream']);
  t.deepEqual(driver.events, ['proceed'], 'finished synchronously');
  t.is(ctx.endpoint, members[1]);
  t.is(ctx.path, '/rewritten');
  t.deepEqual(ctx.upstreamHeaders, ['x-a', '1']);
});

test('respond() stops the chain: later phases do not run', (t) => {
  let later = false;
  const { ctx, driver } = exchange([
    { name: 'auth', phases: { request(c) { c.respond(401, 'no'); } } },
    { name: 'next', phases: { request() { later = true; }, upstreamRequest() { later = true; } } },
  ]);
  runPhases(ctx);
  t.false(later);
  t.deepEqual(driver.events, ['answer 401']);
});

test('an async phase suspends the loop and it resumes where it stopped; per-plugin state is separate', async (t) => {
  const { ctx, driver } = exchange([
    { name: 'a', phases: { async request(c) { await Promise.resolve(); c.local = 'a-state'; } } },
    { name: 'b', phases: { request(c) { c.local = 'b-state'; }, upstreamRequest(c) { c.upstreamHeaders = []; c.setUpstreamHeader('b', String(c.local)); } } },
    { name: 'a2', phases: { async upstreamRequest(c) { c.setUpstreamHeader('a2', String(c.local)); } } },
  ]);
  runPhases(ctx);
  t.deepEqual(driver.events, [], 'nothing decided yet');
  t.is(await driver.settled, 'proceed');
  t.deepEqual(ctx.upstreamHeaders, ['b', 'b-state', 'a2', 'undefined']);
  t.is(ctx.slot(0), 'a-state');
});

test('a throwing phase and a rejecting phase fail the exchange, naming the link', async (t) => {
  const thrown = exchange([{ name: 'ns/bad', phases: { request() { throw new Error('boom'); } } }]);
  runPhases(thrown.ctx);
  t.deepEqual(thrown.driver.events, ['failed ns/bad boom']);
  const rejected = exchange([{ name: 'ns/bad', phases: { request: () => Promise.reject(new Error('nope')) } }]);
  runPhases(rejected.ctx);
  await rejected.driver.settled;
  t.deepEqual(rejected.driver.events, ['failed ns/bad nope']);
});

test('a phase that never settles fails at the chain timeout; a late settlement is ignored', async (t) => {
  let settle!: () => void;
  const { ctx, driver } = exchange([{ name: 'slow', phases: { request: () => new Promise<void>((r) => { settle = r; }) } }], 20);
  runPhases(ctx);
  t.is(await driver.settled, 'failed');
  settle();
  await Promise.resolve();
  t.deepEqual(driver.events, ['failed slow timeout']);
});

class ResponseRecorder implements ResponseDriver {
  events: string[] = [];
  settled: Promise<void>;
  #resolve!: () => void;
  constructor() { this.settled = new Promise((r) => { this.#resolve = r; }); }
  responseReady(): void { this.events.push('ready'); this.#resolve(); }
  responseFailed(_ctx: PluginContext, link: string, error: unknown, timedOut: boolean): void {
    this.events.push(`failed ${link} ${timedOut ? 'timeout' : (error as Error).message}`);
    this.#resolve();
  }
}

test('response phases: synchronous ones run in one call; an async one makes the rest wait, then the driver hears', async (t) => {
  const order: string[] = [];
  const sync = exchange([{ name: 'a', phases: { response: () => { order.push('a'); } } }, { name: 'b', phases: { response: () => { order.push('b'); } } }]);
  const quiet = new ResponseRecorder();
  t.is(runResponsePhases(sync.ctx, quiet), null);
  t.deepEqual(order, ['a', 'b']);
  t.deepEqual(quiet.events, []);

  order.length = 0;
  const { ctx } = exchange([
    { name: 'a', phases: { async response(c) { await Promise.resolve(); c.responseHeaders!['x-a'] = '1'; order.push('a'); } } },
    { name: 'b', phases: { response(c) { order.push(`b sees ${String(c.responseHeaders!['x-a'])}`); } } },
  ]);
  ctx.responseHeaders = {};
  const driver = new ResponseRecorder();
  t.is(runResponsePhases(ctx, driver), RESPONSE_PENDING);
  t.deepEqual(order, [], 'nothing after the pending phase ran yet');
  await driver.settled;
  t.deepEqual(order, ['a', 'b sees 1']);
  t.deepEqual(driver.events, ['ready']);
});

test('response phases: a throw is returned, a rejection goes to the driver; an abandoned exchange hears nothing', async (t) => {
  const thrown = exchange([{ name: 'boom', phases: { response() { throw new Error('no'); } } }]);
  const failure = runResponsePhases(thrown.ctx, new ResponseRecorder());
  t.is(failure?.link, 'boom');

  const rejected = exchange([{ name: 'late', phases: { response: () => Promise.reject(new Error('rejected')) } }]);
  const driver = new ResponseRecorder();
  t.is(runResponsePhases(rejected.ctx, driver), RESPONSE_PENDING);
  await driver.settled;
  t.deepEqual(driver.events, ['failed late rejected']);

  let settle!: () => void;
  const gone = exchange([{ name: 'slow', phases: { response: () => new Promise<void>((r) => { settle = r; }) } }]);
  const silent = new ResponseRecorder();
  t.is(runResponsePhases(gone.ctx, silent), RESPONSE_PENDING);
  abandon(gone.ctx); // the client went away
  settle();
  await new Promise((r) => setImmediate(r));
  t.deepEqual(silent.events, []);
});

test('log phases: a throw and a rejection are both reported to the failures sink, the rest still run', async (t) => {
  const reported: string[] = [];
  let ran = false;
  const { ctx } = exchange([
    { name: 'throws', phases: { log() { throw new Error('sync'); } } },
    { name: 'rejects', phases: { log: () => Promise.reject(new Error('async')) } },
    { name: 'fine', phases: { log() { ran = true; } } },
  ]);
  const done = new Promise<void>((resolve) => {
    runLogPhases(ctx, { logPhase(routeKey, link, error) { reported.push(`${routeKey} ${link} ${(error as Error).message}`); if (reported.length === 2) resolve(); } });
  });
  t.true(ran);
  await done;
  t.deepEqual(reported, ['Route/ns/r throws sync', 'Route/ns/r rejects async']);
});

test('passthrough exchanges run connection and endpoint selection only', (t) => {
  const order: string[] = [];
  const { ctx, driver } = exchange([{ name: 'p', phases: {
    connection() { order.push('connection'); }, request() { order.push('request'); },
    selectEndpoint(_c, cands) { order.push('select'); return cands[0]; }, upstreamRequest() { order.push('upstream'); },
  } }], 0, 'passthrough');
  runPhases(ctx);
  t.deepEqual(order, ['connection', 'select']);
  t.deepEqual(driver.events, ['proceed']);
});

test('registry: config validated with the field path, defaults applied; unknown plugin and duplicates refused', (t) => {
  const plugin = definePlugin({
    name: 'p',
    config: Type.Object({ limit: Type.Integer({ minimum: 1, default: 5 }), rules: Type.Array(Type.Object({ path: Type.String() })) }, { additionalProperties: false }),
    create: () => ({}),
  });
  const registry = new PluginRegistry([plugin]);
  t.deepEqual(registry.validate('p', { rules: [] }), { ok: true, value: { limit: 5, rules: [] } });
  const bad = registry.validate('p', { rules: [{ path: 3 }] });
  t.false(bad.ok);
  t.regex((bad as { message: string }).message, /^spec\.config\.rules\[0\]\.path: /);
  t.regex((registry.validate('p', { rules: [], extra: 1 }) as { message: string }).message, /^spec\.config/);
  t.regex((registry.validate('q', {}) as { message: string }).message, /no plugin "q" is loaded \(loaded: p\)/);
  t.throws(() => registry.add(plugin), { message: /already loaded/ });
  t.throws(() => definePlugin({ name: 'Bad Name', config: Type.Object({}), create: () => ({}) }), { message: /name/ });
});
