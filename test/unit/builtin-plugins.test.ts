// The built-in policies as plugins: each on its own, through the same runner the proxy uses.
import test from 'ava';
import type { Socket } from 'node:net';
import { runLogPhases, runPhases, runResponsePhases } from '../../src/pipeline/runner.ts';
import type { Phases } from '../../src/pipeline/types.ts';
import type { Balancer } from '../../src/balance/types.ts';
import type { BuiltinServices } from '../../src/plugins/route-policy.ts';
import { EndpointState } from '../../src/health/endpoint-state.ts';
import { ipAllowlistPlugin } from '../../src/plugins/ip-allowlist.ts';
import { tlsInsecurePolicyPlugin } from '../../src/plugins/tls-insecure-policy.ts';
import { rateLimitPlugin } from '../../src/plugins/rate-limit.ts';
import { stickyCookiePlugin } from '../../src/plugins/sticky-cookie.ts';
import { balancerPlugin } from '../../src/plugins/balancer.ts';
import { rewriteTargetPlugin } from '../../src/plugins/rewrite-target.ts';
import { hstsPlugin } from '../../src/plugins/hsts.ts';
import { podConcurrentConnectionsPlugin } from '../../src/plugins/pod-concurrent-connections.ts';
import { upstreamRetryPlugin } from '../../src/plugins/upstream-retry.ts';
import { createBalancer } from '../../src/balance/create-balancer.ts';
import { forwardedHeadersPlugin } from '../../src/plugins/forwarded-headers.ts';
import { headerActionsPlugin } from '../../src/plugins/header-actions.ts';
import { upstreamRequestHeaders } from '../../src/proxy/headers.ts';
import { parseHeaderActions } from '../../src/table/header-actions.ts';
import { LimitTable } from '../../src/shared-memory/limit-table.ts';
import { RecordingRun, owner } from '../support/recording-run.ts';

const route = Object.freeze({ key: 'Route/ns/r', kind: 'Route' as const, namespace: 'ns', name: 'r', host: 'h.test', path: '/app', annotations: Object.freeze({}) });
const members = [{ endpoint: new EndpointState('ep-a', '10.0.0.1', 80), weight: 1, acceptsNew: true }, { endpoint: new EndpointState('ep-b', '10.0.0.2', 80), weight: 1, acceptsNew: true }];

/** The services the proxy gives a built-in (BuiltinServices): the plugin services, the route's balancer and header builder, a limit table. */
function services(parts: { balancer?: Balancer; hasWeight?: boolean; limits?: LimitTable } = {}): BuiltinServices {
  const kept = new Map<string, unknown>();
  return {
    route, instanceName: 'builtin', logger: { debug() {}, info() {}, warn() {}, error() {} },
    retain: <T>(k: string, make: () => T) => { if (!kept.has(k)) kept.set(k, make()); return kept.get(k) as T; },
    balancer: parts.balancer ?? { pick: () => null }, hasWeight: parts.hasWeight ?? true, buildUpstreamHeaders: upstreamRequestHeaders,
    limits: parts.limits ?? LimitTable.create(),
  };
}

/** What the runner reported first: proceed, answer or failed (null: still pending). */
function outcomeOf(x: RecordingRun): 'proceed' | 'answer' | 'failed' | null {
  const first = x.events[0];
  return first === undefined ? null : first.split(' ')[0] as 'proceed' | 'answer' | 'failed';
}

function run(phases: Phases[], options: { ip?: string; secure?: boolean; url?: string; headers?: Record<string, string>; kind?: 'http' | 'passthrough'; method?: string } = {}) {
  const x = new RecordingRun(owner(phases.map((p, i) => ({ name: `l${i}`, phases: p })), { members, route }), {
    kind: options.kind, clientAddress: options.ip ?? '10.9.9.9', secure: options.secure, url: options.url ?? '/app/x', host: 'h.test:8080',
    headers: { host: 'h.test', ...options.headers }, method: options.method,
  });
  runPhases(x);
  return { ctx: x, driver: { get outcome() { return outcomeOf(x); }, done: x.next.then(() => {}) } };
}

/** The built-ins' response phases are synchronous. */
function respond(x: RecordingRun, headers: Record<string, string | string[]>): void {
  x.responseHeaders = headers;
  if (runResponsePhases(x) !== null) throw new Error('a built-in response phase went async or threw');
}

test('ip-allowlist: a connection-phase check, so it applies to passthrough too', (t) => {
  const allow = ipAllowlistPlugin.create({ entries: ['10.0.0.0/8', '2001:db8::1'] }, services());
  t.is(run([allow], { ip: '10.1.2.3' }).driver.outcome, 'proceed');
  const denied = run([allow], { ip: '192.168.1.1' });
  t.is(denied.driver.outcome, 'answer');
  t.is(denied.ctx.answerStatus, 403);
  t.is(run([allow], { ip: '192.168.1.1', kind: 'passthrough' }).driver.outcome, 'answer');
});

test('tls-insecure-policy: Redirect 302 to https, None 404, Allow passes; passthrough only by SNI', (t) => {
  const tls = (termination: 'edge' | 'passthrough', insecurePolicy: 'None' | 'Allow' | 'Redirect') =>
    tlsInsecurePolicyPlugin.create({ termination, insecurePolicy }, services());
  const redirect = run([tls('edge', 'Redirect')], { url: '/a?b=1' });
  t.is(redirect.ctx.answerStatus, 302);
  t.is(redirect.ctx.answerHeaders!.location, 'https://h.test/a?b=1');
  t.is(run([tls('edge', 'None')]).ctx.answerStatus, 404);
  t.is(run([tls('edge', 'Allow')]).driver.outcome, 'proceed');
  t.is(run([tls('edge', 'None')], { secure: true }).driver.outcome, 'proceed');
  t.is(run([tls('passthrough', 'Redirect')], { secure: true }).ctx.answerStatus, 404, 'decrypted HTTP never reaches a passthrough route');
  t.is(run([tls('passthrough', 'Redirect')]).ctx.answerStatus, 302);
});

test('rate-limit: limits per source, concurrency slot given back in the log phase, state kept in the shared table', (t) => {
  const limits = LimitTable.create();
  const limit = rateLimitPlugin.create({ concurrentTcp: 1, rateTcp: null, rateHttp: null }, services({ limits }));
  const first = run([limit], { ip: '10.0.0.5' });
  t.is(first.driver.outcome, 'proceed');
  t.is(run([limit], { ip: '10.0.0.5' }).ctx.answerStatus, 429);
  t.is(run([limit], { ip: '10.0.0.6' }).driver.outcome, 'proceed');
  runLogPhases(first.ctx);
  const again = rateLimitPlugin.create({ concurrentTcp: 1, rateTcp: null, rateHttp: null }, services({ limits }));
  t.is(run([again], { ip: '10.0.0.5' }).driver.outcome, 'proceed', 'a rebuilt instance counts in the same table');
  t.is(run([limit], { ip: '10.0.0.5' }).ctx.answerStatus, 429);
});

test('rate-limit on passthrough connections: rate-tcp counts connections, rate-http does not apply', (t) => {
  let now = 1_000_000;
  const limit = rateLimitPlugin.create({ concurrentTcp: null, rateTcp: 2, rateHttp: 1 }, { ...services(), now: () => now } as BuiltinServices);
  const conn = () => run([limit], { ip: '10.0.0.7', kind: 'passthrough' });
  t.is(conn().driver.outcome, 'proceed');
  now += 2_999;
  t.is(conn().driver.outcome, 'proceed', 'rate-http 1 does not count connections');
  t.is(conn().ctx.answerStatus, 429, 'the third new connection in 3 s is over rate-tcp 2');
  now += 6_000;
  t.is(conn().driver.outcome, 'proceed', 'two windows later the source may connect again');
});

test('sticky-cookie + balancer: the cookie pins the endpoint; a new session gets a Set-Cookie for the chosen one', (t) => {
  const sticky = stickyCookiePlugin.create({ cookieName: 'sy', sameSite: null }, services());
  const balancer = balancerPlugin.create({}, services({ balancer: createBalancer('roundrobin', members), hasWeight: true }));
  const pinned = run([sticky, balancer], { headers: { cookie: 'a=1; sy=ep-b' } });
  t.is(pinned.ctx.member, members[1]);
  respond(pinned.ctx, {});
  t.is(pinned.ctx.responseHeaders!['set-cookie'], undefined);
  const fresh = run([sticky, balancer]);
  t.truthy(fresh.ctx.member);
  respond(fresh.ctx, { 'set-cookie': 'app=1' });
  t.deepEqual(fresh.ctx.responseHeaders!['set-cookie'], ['app=1', `sy=${fresh.ctx.member!.endpoint.id}; Path=/; HttpOnly`]);
  // A retry after the pinned endpoint failed: the balancer picks another, the response re-pins.
  const retried = new RecordingRun(owner([{ name: 'sticky', phases: sticky }, { name: 'balancer', phases: balancer }], { members, route }), { headers: { cookie: 'sy=ep-b' } });
  retried.tried = [members[1]!];
  runPhases(retried);
  t.is(retried.member, members[0]);
  respond(retried, {});
  t.is(retried.responseHeaders!['set-cookie'], 'sy=ep-a; Path=/; HttpOnly');
});

test('balancer: 503 ZERO_WEIGHT when every weight is 0, NO_ENDPOINT when none is available', (t) => {
  t.is(run([balancerPlugin.create({}, services({ balancer: createBalancer('random', members), hasWeight: false }))]).ctx.answerError?.code, 'SY_ZERO_WEIGHT');
  t.is(run([balancerPlugin.create({}, services({ balancer: { pick: () => null }, hasWeight: true }))]).ctx.answerError?.code, 'SY_NO_ENDPOINT');
});

test('rewrite-target and hsts', (t) => {
  const r = run([rewriteTargetPlugin.create({ routePath: '/app', target: '/' }, services())], { url: '/app/x?y' });
  t.is(r.ctx.path, '/x?y');
  const hsts = hstsPlugin.create({ value: 'max-age=60' }, services());
  const secure = run([hsts], { secure: true });
  respond(secure.ctx, {});
  t.is(secure.ctx.responseHeaders!['strict-transport-security'], 'max-age=60');
  const plain = run([hsts]);
  respond(plain.ctx, {});
  t.is(plain.ctx.responseHeaders!['strict-transport-security'], undefined);
});

test('pod-concurrent-connections: at most N per endpoint, the next waits for a slot, a full wait answers 503', async (t) => {
  const pick: Phases = { selectEndpoint: (_c, candidates) => candidates[0] };
  const limit = podConcurrentConnectionsPlugin.create({ limit: 1, queueTimeoutMs: 30 }, services());
  const first = run([pick, limit]);
  t.is(first.driver.outcome, 'proceed');
  const second = run([pick, limit]);
  t.is(second.driver.outcome, null, 'queued');
  runLogPhases(first.ctx);
  await second.driver.done;
  t.is(second.driver.outcome, 'proceed', 'got the released slot');
  const third = run([pick, limit]);
  await third.driver.done;
  t.is(third.ctx.answerError?.code, 'SY_ENDPOINT_BUSY');
  runLogPhases(third.ctx);
  runLogPhases(second.ctx);
  t.is(run([pick, limit]).driver.outcome, 'proceed', 'no slot leaked');
});

test('forwarded-headers builds the upstream headers (hop-by-hop out, X-Forwarded-* by policy); header-actions edit both sides', (t) => {
  const forwarded = forwardedHeadersPlugin.create({ policy: 'replace' }, services());
  const parsed = parseHeaderActions({ actions: {
    request: [{ name: 'X-Env', action: { type: 'Set', set: { value: 'prod-%[req.hdr(Host)]' } } }, { name: 'X-Drop', action: { type: 'Delete' } }],
    response: [{ name: 'X-Served', action: { type: 'Set', set: { value: '%[res.hdr(X-Backend)]' } } }],
  } });
  if (!parsed.ok || parsed.value === null) throw new Error('fixture');
  const actions = headerActionsPlugin.create(parsed.value, services());
  const r = run([forwarded, actions], { ip: '10.0.0.9', headers: { 'x-forwarded-for': '6.6.6.6', connection: 'close', 'x-drop': '1' } });
  const flat = r.ctx.upstreamHeaders!;
  const get = (name: string) => { const i = flat.indexOf(name); return i === -1 ? undefined : flat[i + 1]; };
  t.is(get('x-forwarded-for'), '10.0.0.9', 'replace: the spoofed value is gone');
  t.is(get('x-forwarded-proto'), 'http');
  t.is(get('connection'), undefined);
  t.is(get('x-drop'), undefined);
  t.is(get('x-env'), 'prod-h.test');
  r.ctx.upstreamResponseHeaders = { 'x-backend': 'b1' };
  respond(r.ctx, { 'x-backend': 'b1' });
  t.is(r.ctx.responseHeaders!['x-served'], 'b1');
});

test('upstream-retry: a connect failure once more on another endpoint, a reset once more on the same; never for a body or a POST', (t) => {
  const retry = upstreamRetryPlugin.create({}, services());
  const attempt = (reason: 'connect' | 'reset' | 'timeout', options: { method?: string; attempt?: number; canRetry?: boolean; kind?: 'http' | 'passthrough' } = {}) => {
    const x = new RecordingRun(owner([{ name: 'upstream-retry', phases: retry }], { members, route }), { method: options.method, kind: options.kind });
    x.retryable = options.canRetry ?? true;
    x.attempts = options.attempt ?? 1;
    x.failure = { reason, code: '', status: 502, message: '', endpoint: x.owner.candidates[0]!, attempt: options.attempt ?? 1, responseStarted: false, canRetry: x.retryable };
    x.stage = 6; // STAGE_FAILURE
    retry.failure!(x.ctx);
    return x.retryAsked ? 'another' : x.retrySame ? 'same' : 'none';
  };
  t.is(attempt('connect'), 'another');
  t.is(attempt('reset'), 'same');
  t.is(attempt('timeout'), 'none', 'a timeout may have reached the endpoint');
  t.is(attempt('connect', { method: 'POST' }), 'none');
  t.is(attempt('connect', { canRetry: false }), 'none', 'a streamed body cannot be sent again');
  t.is(attempt('connect', { attempt: 2 }), 'none', 'one retry of its own');
  t.is(attempt('connect', { kind: 'passthrough', method: '' }), 'another', 'nothing of a passthrough connection was consumed yet');
  t.is(attempt('reset', { kind: 'passthrough', method: '' }), 'none');
});
