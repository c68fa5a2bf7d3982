// The phase runner and chain resolution (src/pipeline), without a router.
import test from 'ava';
import { RouteChain } from '../../src/pipeline/chain.ts';
import { PluginRegistry } from '../../src/pipeline/plugin-registry.ts';
import { definePlugin } from '../../src/pipeline/define-plugin.ts';
import { BodyPhaseError, abandon, filterBody, runFailurePhases, runLogPhases, runPhases, runResponsePhases, RESPONSE_PENDING } from '../../src/pipeline/runner.ts';
import { STAGE_FAILURE, type PhaseRun } from '../../src/pipeline/phase-run.ts';
import type { FailureInfo, Phases } from '../../src/pipeline/types.ts';
import type { ChainEntry } from '../../src/pipeline/chain.ts';
import { Type } from 'typebox';
import { RecordingRun, members as makeMembers, owner } from '../support/recording-run.ts';

const members = makeMembers();

function exchange(entries: ChainEntry[], timeoutMs = 1000, kind: 'http' | 'passthrough' = 'http'): { ctx: RecordingRun['ctx']; run: RecordingRun } {
  const run = new RecordingRun(owner(entries, { timeoutMs, members }), { kind });
  return { ctx: run.ctx, run };
}

test('chain: each phase lists only the links implementing it, in order; an empty phase is null', (t) => {
  const chain = new RouteChain([
    { name: 'a', phases: { request() {}, log() {} } },
    { name: 'b', phases: { upstreamRequest() {}, responseBody() {} } },
    { name: 'c', phases: { request() {}, response() {}, failure() {} } },
  ], 0);
  t.deepEqual(chain.request!.map((l) => l.name), ['a', 'c']);
  t.deepEqual(chain.upstreamRequest!.map((l) => l.name), ['b']);
  t.deepEqual(chain.responseBody!.map((l) => l.name), ['b']);
  t.deepEqual(chain.failure!.map((l) => l.name), ['c']);
  t.is(chain.connection, null);
  t.is(chain.selectEndpoint, null);
  t.is(chain.requestBody, null);
  t.deepEqual(chain.log!.map((l) => l.slot), [0]);
});

test('synchronous phases run in stage order in one call; the first endpoint chosen wins', (t) => {
  const order: string[] = [];
  const { ctx, run } = exchange([
    { name: 'a', phases: { connection() { order.push('a.connection'); }, request() { order.push('a.request'); }, selectEndpoint() { order.push('a.select'); return null; } } },
    { name: 'b', phases: { request(c) { order.push('b.request'); c.path = '/rewritten'; }, selectEndpoint(_c, cands) { order.push('b.select'); return cands[1]; } } },
    { name: 'c', phases: { selectEndpoint(_c, cands) { order.push('c.select'); return cands[0]; }, upstreamRequest(c) { order.push('c.upstream'); run.upstreamHeaders = []; c.setUpstreamHeader('X-A', '1'); } } },
  ]);
  runPhases(run);
  t.deepEqual(order, ['a.connection', 'a.request', 'b.request', 'a.select', 'b.select', 'c.upstream']);
  t.deepEqual(run.events, ['proceed'], 'finished synchronously');
  t.is(run.member, members[1]);
  t.is(ctx.endpoint?.endpoint.name, '10.0.0.2:80');
  t.is(ctx.path, '/rewritten');
  t.deepEqual(run.upstreamHeaders, ['x-a', '1']);
});

test('selectEndpoint must return one of its candidates: a forged one fails the exchange', (t) => {
  const { run } = exchange([{ name: 'forger', phases: { selectEndpoint: (_c, cands) => ({ ...cands[0]! }) } }]);
  runPhases(run);
  t.deepEqual(run.events, ['failed forger selectEndpoint returned something that is not one of its candidates']);
});

test('respond() stops the chain: later phases do not run', (t) => {
  let later = false;
  const { run } = exchange([
    { name: 'auth', phases: { request(c) { c.respond(401, 'no'); } } },
    { name: 'next', phases: { request() { later = true; }, upstreamRequest() { later = true; } } },
  ]);
  runPhases(run);
  t.false(later);
  t.deepEqual(run.events, ['answer 401']);
});

test('an async phase suspends the loop and it resumes where it stopped; per-plugin state is separate', async (t) => {
  const { run } = exchange([
    { name: 'a', phases: { async request(c) { await Promise.resolve(); c.local = 'a-state'; } } },
    { name: 'b', phases: { request(c) { c.local = 'b-state'; }, upstreamRequest(c) { run.upstreamHeaders = []; c.setUpstreamHeader('b', String(c.local)); } } },
    { name: 'a2', phases: { async upstreamRequest(c) { c.setUpstreamHeader('a2', String(c.local)); } } },
  ]);
  runPhases(run);
  t.deepEqual(run.events, [], 'nothing decided yet');
  t.is(await run.next, 'proceed');
  t.deepEqual(run.upstreamHeaders, ['b', 'b-state', 'a2', 'undefined']);
  t.is(run.slot(0), 'a-state');
});

test('a plugin\'s local factory makes its state on first use, once per exchange, its own', (t) => {
  let made = 0;
  const seen: unknown[] = [];
  const make = (): { n: number } => ({ n: ++made });
  const entries: ChainEntry[] = [
    { name: 'typed', makeLocal: make, phases: { request(c) { (c.local as { n: number }).n += 10; }, upstreamRequest(c) { seen.push(c.local); } } },
    { name: 'untyped', phases: { request(c) { seen.push(c.local); } } },
  ];
  const first = exchange(entries);
  runPhases(first.run);
  const second = exchange(entries);
  runPhases(second.run);
  t.deepEqual(seen, [undefined, { n: 11 }, undefined, { n: 12 }]);
  t.is(made, 2);
});

test('a throwing phase and a rejecting phase fail the exchange, naming the link', async (t) => {
  const thrown = exchange([{ name: 'ns/bad', phases: { request() { throw new Error('boom'); } } }]);
  runPhases(thrown.run);
  t.deepEqual(thrown.run.events, ['failed ns/bad boom']);
  const rejected = exchange([{ name: 'ns/bad', phases: { request: () => Promise.reject(new Error('nope')) } }]);
  runPhases(rejected.run);
  await rejected.run.next;
  t.deepEqual(rejected.run.events, ['failed ns/bad nope']);
});

test('a phase that never settles fails at the chain timeout; a late settlement is ignored', async (t) => {
  let settle!: () => void;
  const { run } = exchange([{ name: 'slow', phases: { request: () => new Promise<void>((r) => { settle = r; }) } }], 20);
  runPhases(run);
  t.is(await run.next, 'failed');
  settle();
  await Promise.resolve();
  t.deepEqual(run.events, ['failed slow timeout']);
});

test('response phases: synchronous ones run in one call; an async one makes the rest wait, then the exchange hears', async (t) => {
  const order: string[] = [];
  const sync = exchange([{ name: 'a', phases: { response: () => { order.push('a'); } } }, { name: 'b', phases: { response: () => { order.push('b'); } } }]);
  t.is(runResponsePhases(sync.run), null);
  t.deepEqual(order, ['a', 'b']);
  t.deepEqual(sync.run.events, []);

  order.length = 0;
  const { run } = exchange([
    { name: 'a', phases: { async response(c) { await Promise.resolve(); c.responseHeaders!['x-a'] = '1'; order.push('a'); } } },
    { name: 'b', phases: { response(c) { order.push(`b sees ${String(c.responseHeaders!['x-a'])}`); } } },
  ]);
  run.responseHeaders = {};
  t.is(runResponsePhases(run), RESPONSE_PENDING);
  t.deepEqual(order, [], 'nothing after the pending phase ran yet');
  await run.next;
  t.deepEqual(order, ['a', 'b sees 1']);
  t.deepEqual(run.events, ['ready']);
});

test('response phases: respond() replaces the response and stops the stage', (t) => {
  let later = false;
  const { run } = exchange([
    { name: 'pages', phases: { response(c) { if (c.status >= 500) c.respond(503, 'branded page'); } } },
    { name: 'later', phases: { response() { later = true; } } },
  ]);
  run.status = 502;
  run.responseHeaders = {};
  t.is(runResponsePhases(run), null);
  t.is(run.answerStatus, 503);
  t.false(later);
});

test('response phases: a throw is returned, a rejection goes to the exchange; an abandoned exchange hears nothing', async (t) => {
  const thrown = exchange([{ name: 'boom', phases: { response() { throw new Error('no'); } } }]);
  const failure = runResponsePhases(thrown.run);
  t.is(failure?.link, 'boom');

  const rejected = exchange([{ name: 'late', phases: { response: () => Promise.reject(new Error('rejected')) } }]);
  t.is(runResponsePhases(rejected.run), RESPONSE_PENDING);
  await rejected.run.next;
  t.deepEqual(rejected.run.events, ['response failed late rejected']);

  let settle!: () => void;
  const gone = exchange([{ name: 'slow', phases: { response: () => new Promise<void>((r) => { settle = r; }) } }]);
  t.is(runResponsePhases(gone.run), RESPONSE_PENDING);
  abandon(gone.run); // the client went away
  settle();
  await new Promise((r) => setImmediate(r));
  t.deepEqual(gone.run.events, []);
});

function failureOf(run: PhaseRun, reason: FailureInfo['reason'] = 'connect'): void {
  run.attempts = 1;
  run.failure = { reason, code: 'SY_UPSTREAM_CONNECT', status: 502, message: 'refused', endpoint: run.owner.candidates[0]!, attempt: 1, responseStarted: false, canRetry: true };
}

test('failure phases: in chain order until one answers or asks for a retry; retry() only in this stage', async (t) => {
  const order: string[] = [];
  const { ctx, run } = exchange([
    { name: 'watch', phases: { failure(c) { order.push(`watch ${c.failure!.reason}`); } } },
    { name: 'retry', phases: { async failure(c) { await Promise.resolve(); order.push(`retry ${String(c.retry())}`); } } },
    { name: 'never', phases: { failure() { order.push('never'); } } },
  ]);
  t.throws(() => ctx.retry(), { message: /only the failure phase/ });
  failureOf(run);
  runFailurePhases(run);
  t.is(await run.next, 'done');
  t.deepEqual(order, ['watch connect', 'retry true']);
  t.deepEqual(run.events, ['failure done retry']);

  const answered = exchange([
    { name: 'page', phases: { failure(c) { c.respond(503, 'we are on it\n', { 'content-type': 'text/plain' }); } } },
    { name: 'never', phases: { failure() { order.push('never'); } } },
  ]);
  failureOf(answered.run);
  runFailurePhases(answered.run);
  t.deepEqual(answered.run.events, ['failure done answer 503']);
});

test('failure phases: retry() is refused when the exchange cannot be sent again; a throw is reported and ends the stage', (t) => {
  const { run } = exchange([
    { name: 'asks', phases: { failure(c) { run.events.push(`granted ${String(c.retry())}`); } } },
    { name: 'throws', phases: { failure() { throw new Error('oops'); } } },
    { name: 'never', phases: { failure() { run.events.push('never'); } } },
  ]);
  run.retryable = false;
  failureOf(run);
  runFailurePhases(run);
  t.is(run.stage, STAGE_FAILURE);
  t.deepEqual(run.events, ['granted false', 'phase failed throws oops', 'failure done']);
});

test('body filters: a chunk in, a chunk, nothing or the same out; every filter sees the end; a Promise is awaited', async (t) => {
  const { run } = exchange([
    { name: 'upper', phases: { responseBody: (_c, chunk) => Buffer.from(chunk.toString().toUpperCase()) } },
    { name: 'hold', makeLocal: () => ({ parts: [] as Buffer[] }), phases: {
      async responseBody(c, chunk, end) {
        const state = c.local as { parts: Buffer[] };
        state.parts.push(chunk);
        await Promise.resolve();
        return end ? Buffer.concat(state.parts) : null;
      },
    } },
    { name: 'count', phases: { responseBody(_c, chunk) { run.events.push(`count ${chunk.length}`); } } },
  ]);
  const links = run.chain.responseBody!;
  t.is(await filterBody(run, links, Buffer.from('ab'), false, true), null);
  t.is(await filterBody(run, links, Buffer.from('cd'), false, true), null);
  const tail = await filterBody(run, links, Buffer.alloc(0), true, true);
  t.is(tail?.toString(), 'ABCD');
  t.deepEqual(run.events, ['count 4'], 'a filter after one that passed nothing on is called at the end only');
});

test('body filters: a throw, a rejection and a value that is not a Buffer are BodyPhaseErrors naming the link', async (t) => {
  const thrown = exchange([{ name: 'bad', phases: { requestBody() { throw new Error('no'); } } }]);
  t.throws(() => filterBody(thrown.run, thrown.run.chain.requestBody!, Buffer.from('x'), false, false), { instanceOf: BodyPhaseError, message: 'bad: no' });
  const wrong = exchange([{ name: 'wrong', phases: { requestBody: () => 'text' as unknown as Buffer } }]);
  t.throws(() => filterBody(wrong.run, wrong.run.chain.requestBody!, Buffer.from('x'), false, false), { instanceOf: BodyPhaseError });
  const rejected = exchange([{ name: 'late', phases: { requestBody: () => Promise.reject(new Error('async no')) } }]);
  await t.throwsAsync(Promise.resolve(filterBody(rejected.run, rejected.run.chain.requestBody!, Buffer.from('x'), false, false)), { instanceOf: BodyPhaseError, message: 'late: async no' });
});

test('log phases: a throw and a rejection are both reported, the rest still run', async (t) => {
  let ran = false;
  const { run } = exchange([
    { name: 'throws', phases: { log() { throw new Error('sync'); } } },
    { name: 'rejects', phases: { log: () => Promise.reject(new Error('async')) } },
    { name: 'fine', phases: { log() { ran = true; } } },
  ]);
  runLogPhases(run);
  t.true(ran);
  await new Promise((r) => setImmediate(r));
  t.deepEqual(run.events, ['phase failed throws sync', 'phase failed rejects async']);
  t.throws(() => run.ctx.respond(200), { message: /the exchange is over/ });
});

test('passthrough exchanges run connection and endpoint selection only', (t) => {
  const order: string[] = [];
  const { run } = exchange([{ name: 'p', phases: {
    connection() { order.push('connection'); }, request() { order.push('request'); },
    selectEndpoint(_c, cands) { order.push('select'); return cands[0]; }, upstreamRequest() { order.push('upstream'); },
  } }], 0, 'passthrough');
  runPhases(run);
  t.deepEqual(order, ['connection', 'select']);
  t.deepEqual(run.events, ['proceed']);
});

test('the context is sealed: runner state is not on it, the route is frozen, candidates are read-only', (t) => {
  let seen: Record<string, unknown> = {};
  const { ctx, run } = exchange([{ name: 'p', phases: {
    selectEndpoint(c, cands) {
      seen = { keys: Object.keys(c), frozen: Object.isFrozen(c.route) && Object.isFrozen(c.route.annotations), candidateFrozen: Object.isFrozen(cands[0]) && Object.isFrozen(cands) };
      t.throws(() => { (cands[0] as { weight: number }).weight = 99; });
      t.throws(() => { (cands[0]!.endpoint as unknown as { active: number }).active = 5; });
      return cands[0];
    },
  } } satisfies { name: string; phases: Phases }]);
  runPhases(run);
  t.deepEqual(seen.keys, [], 'no own enumerable properties: everything is a getter on the prototype or private');
  t.true(seen.frozen);
  t.true(seen.candidateFrozen);
  for (const internal of ['stage', 'index', 'current', 'settled', 'timer', 'answerStatus', 'driver', 'owner', 'sink', 'chain', 'socket', 'upstreamHeaders', 'builtinFlags']) {
    t.false(internal in ctx, internal);
  }
  t.deepEqual(Object.keys(JSON.parse(JSON.stringify(ctx)) as object).sort(),
    ['attempts', 'clientAddress', 'durationMs', 'endpoint', 'failure', 'host', 'kind', 'method', 'outcome', 'path', 'route', 'secure', 'status', 'url']);
  t.throws(() => { ctx.path = 'no-slash'; }, { message: /must start with/ });
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
