// The UDPRoute datagram relay (src/proxy/gateway-udp-listeners.ts) with real UDP sockets on
// 127.0.0.1 and a manual clock: a session per client address and port (its datagrams to one
// endpoint, the answers back from the listener's port), the idle timeout to the millisecond
// (activity pushes it back), exact weighted round robin over sessions with the route's real
// balancer, the session cap (a flood is dropped and counted, and room frees as sessions end), an
// endpoint that refuses (port unreachable: counted, the session closed, the endpoint's failure
// recorded), the route going away or changing endpoints, and close(). Then the route's connection
// phase before a session opens (udp-session-admission.ts), with the real built-in plugins: an IP
// allowlist refusing a client (its datagrams dropped and counted, nothing to the endpoint, the
// chain run once for its flood, decided afresh for a new runtime and after a session's idle
// time), an invalid backendRef's share, a rate limit's concurrency slot held by a session and
// given back when it ends, a phase that throws, and one that is pending while datagrams wait.
import test from 'ava';
import dgram from 'node:dgram';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry } from 'prom-client';
import { createBalancer } from '../../src/balance/create-balancer.ts';
import type { Member } from '../../src/balance/types.ts';
import { EndpointState } from '../../src/health/endpoint-state.ts';
import { createLogger, silentLogger } from '../../src/log.ts';
import { Writable } from 'node:stream';
import { GatewayUdpListeners, type UdpRelayHost } from '../../src/proxy/gateway-udp-listeners.ts';
import { MiddlewareFailures } from '../../src/proxy/middleware-failures.ts';
import type { Metrics } from '../../src/metrics.ts';
import { RouteChain, type ChainEntry } from '../../src/pipeline/chain.ts';
import type { PluginServices } from '../../src/pipeline/types.ts';
import type { PluginContext } from '../../src/pipeline/context.ts';
import { ipAllowlistPlugin } from '../../src/plugins/ip-allowlist.ts';
import { rateLimitPlugin } from '../../src/plugins/rate-limit.ts';
import { gatewayInvalidBackendsPlugin } from '../../src/plugins/gateway-filters.ts';
import { LimitTable } from '../../src/shared-memory/limit-table.ts';
import type { RouteRuntime } from '../../src/proxy/route-runtime.ts';
import type { GatewayEntryPoint } from '../../src/table/types.ts';
import { ManualClock } from '../support/manual-clock.ts';
import { eventually } from '../support/http-client.ts';
import { ask, freeUdpPort, UdpSockets } from '../support/udp.ts';

/** Sockets the tests open: closed at the end whatever happens. */
const sockets = new UdpSockets();
test.after.always(() => sockets.close());

/** A route runtime as the relay sees it: its key, members, the real balancer, and its chain (none by default). */
function runtime(key: string, members: Member[], entries: ChainEntry[] = []): RouteRuntime {
  return {
    route: { key }, info: Object.freeze({ key }), label: key.split('/').slice(1, 3).join('/'), members, candidates: [], termination: null,
    balancer: createBalancer('roundrobin', members), chain: new RouteChain(entries, 5_000),
  } as unknown as RouteRuntime;
}

/** What a built-in plugin is created with (the route, the shared limit table). */
const services = (key: string, limits = LimitTable.create()) => ({ route: { key }, instanceName: 'x', limits } as unknown as PluginServices);

const member = (port: number, weight = 1): Member => ({ endpoint: new EndpointState(`ep-${port}`, '127.0.0.1', port), weight, acceptsNew: true });

/** The relay's metrics (datagrams by result, sessions by event, sessions open) in `registry`. */
function relayMetrics(registry: Registry) {
  return {
    datagrams: new Counter({ name: 'd', help: 'd', labelNames: ['result'] as const, registers: [registry] }),
    sessions: new Counter({ name: 's', help: 's', labelNames: ['event'] as const, registers: [registry] }),
    active: new Gauge({ name: 'a', help: 'a', registers: [registry] }),
  };
}

async function relay(t: import('ava').ExecutionContext, route: () => RouteRuntime | null, options: { maxSessions?: number; accessLog?: boolean; logger?: typeof silentLogger } = {}) {
  const registry = new Registry();
  const metrics = relayMetrics(registry);
  const clock = new ManualClock();
  const failures: string[] = [];
  const successes: string[] = [];
  const middlewareErrors = new Counter({ name: 'm', help: 'm', labelNames: ['middleware'] as const, registers: [registry] });
  const host: UdpRelayHost = {
    route: () => route(),
    recordFailure: (endpoint) => failures.push(endpoint.id),
    recordSuccess: (endpoint) => successes.push(endpoint.id),
    failures: new MiddlewareFailures(silentLogger, { middlewareErrors } as unknown as Metrics),
  };
  const listeners = new GatewayUdpListeners(host, {
    idleTimeoutMs: 60_000, maxSessions: options.maxSessions ?? 100, clock, metrics, logger: options.logger ?? silentLogger, accessLog: options.accessLog,
  });
  const port = await freeUdpPort();
  const entry: GatewayEntryPoint = { address: '127.0.0.1', port, protocol: 'UDP', listeners: [{ key: 'infra/gw/udp', hostname: '', certificate: null }] };
  listeners.update([entry]);
  t.teardown(() => listeners.close());
  const value = async (name: 'd' | 's' | 'm', label: string) => ((await registry.getSingleMetric(name)!.get()).values.find((v) => Object.values(v.labels).includes(label))?.value ?? 0);
  await eventually(() => listeners.listening === 1 || undefined, 5000);
  return { listeners, clock, port, failures, successes, value, entry };
}

test('a client\'s datagrams share one session (one upstream port); it ends after exactly the idle timeout, activity pushing it back', async (t) => {
  const a = await sockets.backend('a');
  const r = await relay(t, () => runtime('UDPRoute/infra/r/0/udp@*', [member(a.port)]));
  const c = await sockets.client();
  t.is(await ask(c, '127.0.0.1', r.port, 'one'), 'a:one');
  t.is(await ask(c, '127.0.0.1', r.port, 'two'), 'a:two');
  t.is(r.listeners.sessions, 1);
  t.is(new Set(a.sources).size, 1);
  // The endpoint's first answer resets its passive-health failures (once per session).
  t.deepEqual(r.successes, [`ep-${a.port}`]);
  r.clock.advance(30_000);
  t.is(await ask(c, '127.0.0.1', r.port, 'three'), 'a:three');
  // Idle since 30 s: open at 89.999 s, gone at 90 s.
  r.clock.advance(59_999);
  t.is(r.listeners.sessions, 1);
  r.clock.advance(1);
  t.is(r.listeners.sessions, 0);
  t.is(await r.value('s', 'closed_idle'), 1);
  // The next datagram opens a new session, with a new upstream socket.
  t.is(await ask(c, '127.0.0.1', r.port, 'four'), 'a:four');
  t.is(new Set(a.sources).size, 2);
  t.is(await r.value('s', 'opened'), 2);
});

test('weights split sessions exactly (smooth weighted round robin); weight 0 gets none', async (t) => {
  const [a, b, z] = [await sockets.backend('a'), await sockets.backend('b'), await sockets.backend('z')];
  const rt = runtime('UDPRoute/infra/w/0/udp@*', [member(a.port, 7), member(b.port, 3), member(z.port, 0)]);
  const r = await relay(t, () => rt);
  const counts: Record<string, number> = { a: 0, b: 0, z: 0 };
  // Every client keeps its socket (its port) open to the end: a port the OS hands out again would be the same session.
  for (let i = 0; i < 100; i++) {
    const reply = await ask(await sockets.client(), '127.0.0.1', r.port, 'x');
    counts[reply.split(':')[0]!]!++;
  }
  t.deepEqual(counts, { a: 70, b: 30, z: 0 });
  t.is(r.listeners.sessions, 100);
});

test('the session cap: a datagram that would open one more is dropped and counted; a session ending makes room', async (t) => {
  const a = await sockets.backend('a');
  const r = await relay(t, () => runtime('UDPRoute/infra/r/0/udp@*', [member(a.port)]), { maxSessions: 2 });
  const [c1, c2, c3] = [await sockets.client(), await sockets.client(), await sockets.client()];
  await ask(c1, '127.0.0.1', r.port, 'hi');
  r.clock.advance(10_000);
  await ask(c2, '127.0.0.1', r.port, 'hi');
  for (let i = 0; i < 50; i++) c3.send('flood', r.port, '127.0.0.1');
  await eventually(async () => (await r.value('d', 'session_limit')) === 50, 5000);
  t.is(r.listeners.sessions, 2);
  // Sessions already open still work.
  t.is(await ask(c2, '127.0.0.1', r.port, 'still'), 'a:still');
  // c1's session expires (idle 60 s since t=0); c3 gets its place.
  r.clock.advance(50_000);
  t.is(r.listeners.sessions, 1);
  t.is(await ask(c3, '127.0.0.1', r.port, 'in'), 'a:in');
  t.is(await r.value('s', 'opened'), 3);
});

test('an endpoint that refuses (port unreachable): counted, the session closed, its failure recorded; the next session goes elsewhere', async (t) => {
  const a = await sockets.backend('a');
  const closed = await freeUdpPort();
  const rt = runtime('UDPRoute/infra/r/0/udp@*', [member(closed), member(a.port)]);
  const r = await relay(t, () => rt);
  const c = await sockets.client();
  // Round robin: the first session goes to the closed port; its datagram is refused (ICMP on
  // loopback is not rate-limited).
  c.send('lost', r.port, '127.0.0.1');
  await eventually(async () => (await r.value('d', 'unreachable')) === 1, 5000);
  t.deepEqual(r.failures, [`ep-${closed}`]);
  t.is(r.listeners.sessions, 0);
  t.is(await r.value('s', 'closed_unreachable'), 1);
  // The same client's next datagram opens a new session, on the next endpoint.
  t.is(await ask(c, '127.0.0.1', r.port, 'again'), 'a:again');
});

test('the route going away drops datagrams (no_route) and ends its sessions; an endpoint leaving the route moves its session', async (t) => {
  const [a, b] = [await sockets.backend('a'), await sockets.backend('b')];
  let current: RouteRuntime | null = runtime('UDPRoute/infra/r/0/udp@*', [member(a.port)]);
  const r = await relay(t, () => current);
  const c = await sockets.client();
  t.is(await ask(c, '127.0.0.1', r.port, 'one'), 'a:one');
  // The same route, its endpoint replaced (a's pod gone, b's in its Service).
  current = runtime('UDPRoute/infra/r/0/udp@*', [member(b.port)]);
  t.is(await ask(c, '127.0.0.1', r.port, 'two'), 'b:two');
  t.is(await r.value('s', 'closed_route_changed'), 1);
  current = null;
  c.send('three', r.port, '127.0.0.1');
  await eventually(async () => (await r.value('d', 'no_route')) === 1, 5000);
  t.is(r.listeners.sessions, 0);
  t.is(await r.value('s', 'closed_route_changed'), 2);
  t.deepEqual(b.sources.length, 1);
});

test('a port another socket holds: the bind is retried on the clock until it succeeds, then datagrams are served', async (t) => {
  const a = await sockets.backend('a');
  // Held without SO_REUSEPORT: the relay's socket cannot join it.
  const holder = dgram.createSocket('udp4');
  holder.bind(0, '127.0.0.1');
  await once(holder, 'listening');
  const port = (holder.address() as AddressInfo).port;
  const registry = new Registry();
  const metrics = relayMetrics(registry);
  const clock = new ManualClock();
  const errors: string[] = [];
  const logger = { ...silentLogger, error: (o: { err?: string }) => errors.push(String(o.err)), info: () => {}, debug: () => {} } as unknown as typeof silentLogger;
  const rt = runtime('UDPRoute/infra/r/0/udp@*', [member(a.port)]);
  const failures = new MiddlewareFailures(silentLogger, { middlewareErrors: new Counter({ name: 'm', help: 'm', labelNames: ['middleware'] as const, registers: [registry] }) } as unknown as Metrics);
  const listeners = new GatewayUdpListeners({ route: () => rt, recordFailure: () => {}, recordSuccess: () => {}, failures }, { idleTimeoutMs: 60_000, maxSessions: 10, clock, metrics, logger });
  t.teardown(() => listeners.close());
  listeners.update([{ address: '127.0.0.1', port, protocol: 'UDP', listeners: [{ key: 'infra/gw/udp', hostname: '', certificate: null }] }]);
  await eventually(() => errors.length === 1 || undefined, 5000);
  t.deepEqual(errors, ['EADDRINUSE']);
  t.is(listeners.listening, 0);
  // Still held when the retry comes: another error, another retry.
  clock.advance(5_000);
  await eventually(() => errors.length === 2 || undefined, 5000);
  holder.close();
  clock.advance(5_000);
  await eventually(() => listeners.listening === 1 || undefined, 5000);
  const c = await sockets.client();
  t.is(await ask(c, '127.0.0.1', port, 'late'), 'a:late');
});

test('close() ends every session', async (t) => {
  const a = await sockets.backend('a');
  const r = await relay(t, () => runtime('UDPRoute/infra/r/0/udp@*', [member(a.port)]));
  for (const c of [await sockets.client(), await sockets.client()]) await ask(c, '127.0.0.1', r.port, 'x');
  t.is(r.listeners.sessions, 2);
  r.listeners.close();
  t.is(r.listeners.sessions, 0);
  t.is(await r.value('s', 'closed_closed'), 2);
});

/** A connection link that counts the clients it sees, in front of the real ones. */
function counting(seen: string[]): ChainEntry {
  return { name: 'count', phases: { connection: (ctx: PluginContext) => { seen.push(`${ctx.clientAddress}`); } } };
}

test('an IP allowlist refuses a session: its datagrams are dropped and counted, the endpoint gets none, the chain runs once for its flood; a new runtime and a session\'s idle time decide afresh', async (t) => {
  const a = await sockets.backend('a');
  const seen: string[] = [];
  const key = 'UDPRoute/infra/r/0/udp@*';
  const deny = (): RouteRuntime => runtime(key, [member(a.port)], [counting(seen), { name: 'ip-allowlist', phases: ipAllowlistPlugin.create({ entries: ['10.0.0.0/8'] }, services(key)) }]);
  let current = deny();
  const r = await relay(t, () => current);
  const c = await sockets.client();
  for (let i = 0; i < 20; i++) c.send(`flood${i}`, r.port, '127.0.0.1');
  await eventually(async () => (await r.value('d', 'forbidden')) === 20 || undefined, 5000);
  t.deepEqual(seen, ['127.0.0.1'], 'one run of the chain for the whole flood');
  t.is(r.listeners.sessions, 0);
  t.is(a.sources.length, 0);
  t.is(await r.value('s', 'opened'), 0);
  // The policy changes (a new runtime of the route): the same client is decided again, and let in.
  current = runtime(key, [member(a.port)], [counting(seen), { name: 'ip-allowlist', phases: ipAllowlistPlugin.create({ entries: ['127.0.0.0/8'] }, services(key)) }]);
  t.is(await ask(c, '127.0.0.1', r.port, 'now'), 'a:now');
  t.is(seen.length, 2);
  // Denied again for new clients; the open session stays (a policy change does not cut it, as for TCP).
  current = deny();
  const d = await sockets.client();
  d.send('no', r.port, '127.0.0.1');
  await eventually(async () => (await r.value('d', 'forbidden')) === 21 || undefined, 5000);
  t.is(await ask(c, '127.0.0.1', r.port, 'still'), 'a:still');
  // A refusal lasts while the client keeps sending, as a session would: quiet for the idle time, it is decided again.
  r.clock.advance(59_999);
  d.send('no', r.port, '127.0.0.1');
  await eventually(async () => (await r.value('d', 'forbidden')) === 22 || undefined, 5000);
  t.is(seen.length, 3);
  r.clock.advance(60_000);
  d.send('no', r.port, '127.0.0.1');
  await eventually(async () => (await r.value('d', 'forbidden')) === 23 || undefined, 5000);
  t.is(seen.length, 4);
  t.is(a.sources.length, 2);
});

test('refusals are logged at debug level, one line per listener per 10 s with the number left out', async (t) => {
  const a = await sockets.backend('a');
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write(chunk: Buffer, _enc, done) { for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>); done(); } });
  const key = 'UDPRoute/infra/r/0/udp@*';
  const rt = runtime(key, [member(a.port)], [{ name: 'ip-allowlist', phases: ipAllowlistPlugin.create({ entries: ['10.0.0.0/8'] }, services(key)) }]);
  const r = await relay(t, () => rt, { logger: createLogger('debug', sink) });
  const refused = () => lines.filter((l) => l.msg === 'UDP session refused by the route\'s connection phase: its datagrams are dropped');
  for (let i = 0; i < 5; i++) (await sockets.client()).send('x', r.port, '127.0.0.1');
  await eventually(async () => (await r.value('d', 'forbidden')) === 5 || undefined, 5000);
  await eventually(() => refused().length === 1 || undefined, 5000);
  t.like(refused()[0], { level: 'debug', route: key, client: '127.0.0.1', reason: 'forbidden' });
  r.clock.advance(10_000);
  (await sockets.client()).send('x', r.port, '127.0.0.1');
  await eventually(() => refused().length === 2 || undefined, 5000);
  t.like(refused()[1], { reason: 'forbidden', suppressed: 4 });
});

test('the share of weight on invalid backendRefs refuses sessions through the chain (invalid_backend)', async (t) => {
  const a = await sockets.backend('a');
  const key = 'UDPRoute/infra/r/0/udp@*';
  const r = await relay(t, () => runtime(key, [member(a.port)], [{ name: 'gateway-invalid-backends', phases: gatewayInvalidBackendsPlugin.create({ share: 1, stream: true }, services(key)) }]));
  for (const c of [await sockets.client(), await sockets.client()]) c.send('x', r.port, '127.0.0.1');
  await eventually(async () => (await r.value('d', 'invalid_backend')) === 2 || undefined, 5000);
  t.is(r.listeners.sessions, 0);
  t.is(a.sources.length, 0);
});

test('a rate limit of one concurrent connection per source: a second session is refused while the first lives; when it ends its slot is given back', async (t) => {
  const a = await sockets.backend('a');
  const key = 'UDPRoute/infra/r/0/udp@*';
  const rt = runtime(key, [member(a.port)], [{ name: 'rate-limit', phases: rateLimitPlugin.create({ concurrentTcp: 1, rateTcp: null, rateHttp: null }, services(key)) }]);
  const r = await relay(t, () => rt);
  const [c1, c2, c3] = [await sockets.client(), await sockets.client(), await sockets.client()];
  t.is(await ask(c1, '127.0.0.1', r.port, 'one'), 'a:one');
  c2.send('two', r.port, '127.0.0.1');
  await eventually(async () => (await r.value('d', 'rate_limited')) === 1 || undefined, 5000);
  t.is(r.listeners.sessions, 1);
  // c1's session ends (idle): its log phase gives the slot back, and a new client gets in.
  r.clock.advance(60_000);
  t.is(r.listeners.sessions, 0);
  t.is(await ask(c3, '127.0.0.1', r.port, 'three'), 'a:three');
  t.is(a.sources.length, 2);
});

test('a rate limit of new connections per source: each session counts once however many datagrams it carries; the one beyond the limit is refused', async (t) => {
  const a = await sockets.backend('a');
  const key = 'UDPRoute/infra/r/0/udp@*';
  // Two per 3 s, the limit's window on the relay's manual clock: no time passes unless the test says so.
  let rt: RouteRuntime | null = null;
  const r = await relay(t, () => rt);
  rt = runtime(key, [member(a.port)], [{ name: 'rate-limit', phases: rateLimitPlugin.create({ concurrentTcp: null, rateTcp: 2, rateHttp: null }, { ...services(key), now: () => r.clock.now() } as PluginServices) }]);
  const [c1, c2, c3] = [await sockets.client(), await sockets.client(), await sockets.client()];
  for (const text of ['1', '2', '3']) t.is(await ask(c1, '127.0.0.1', r.port, text), `a:${text}`);
  t.is(await ask(c2, '127.0.0.1', r.port, 'two'), 'a:two');
  c3.send('three', r.port, '127.0.0.1');
  await eventually(async () => (await r.value('d', 'rate_limited')) === 1 || undefined, 5000);
  t.is(r.listeners.sessions, 2);
  t.is(new Set(a.sources).size, 2);
  // Two windows later (the sliding window still counts the last one's sessions), a new client's session is let in.
  r.clock.advance(6_000);
  t.is(await ask(c1, '127.0.0.1', r.port, '4'), 'a:4');
  t.is(await ask(c2, '127.0.0.1', r.port, 'again'), 'a:again');
  t.is(await ask(await sockets.client(), '127.0.0.1', r.port, 'later'), 'a:later');
  t.is(new Set(a.sources).size, 3);
});

test('a connection phase that throws refuses the session (plugin_error, counted as a middleware error); the listener serves on', async (t) => {
  const a = await sockets.backend('a');
  const key = 'UDPRoute/infra/r/0/udp@*';
  let boom = true;
  const rt = runtime(key, [member(a.port)], [{ name: 'ns/boom', phases: { connection: () => { if (boom) throw new Error('on purpose'); } } }]);
  const r = await relay(t, () => rt);
  const c = await sockets.client();
  c.send('x', r.port, '127.0.0.1');
  await eventually(async () => (await r.value('d', 'plugin_error')) === 1 || undefined, 5000);
  t.is(await r.value('m', 'ns/boom'), 1);
  boom = false;
  t.is(await ask(await sockets.client(), '127.0.0.1', r.port, 'y'), 'a:y');
});

test('a pending connection phase: the client\'s datagrams wait, then go on in order once it lets the session in', async (t) => {
  const a = await sockets.backend('a');
  const key = 'UDPRoute/infra/r/0/udp@*';
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => { release = resolve; });
  let asked = 0;
  const rt = runtime(key, [member(a.port)], [{ name: 'ns/slow', phases: { connection: () => { asked++; return gate; } } }]);
  const r = await relay(t, () => rt);
  const c = await sockets.client();
  const replies: string[] = [];
  c.on('message', (m: Buffer) => replies.push(m.toString()));
  c.send('1', r.port, '127.0.0.1');
  c.send('2', r.port, '127.0.0.1');
  await eventually(() => asked === 1 || undefined, 5000);
  t.is(r.listeners.sessions, 0);
  release();
  await eventually(() => replies.length === 2 || undefined, 5000);
  t.deepEqual(replies, ['a:1', 'a:2']);
  t.is(r.listeners.sessions, 1);
  t.is(asked, 1);
});

test('--access-log: a line per session when it ends (kind udp, why, its endpoint, datagrams each way, duration on the clock)', async (t) => {
  const a = await sockets.backend('a');
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write(chunk: Buffer, _enc, done) { for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>); done(); } });
  const r = await relay(t, () => runtime('UDPRoute/infra/r/0/udp@*', [member(a.port)]), { accessLog: true, logger: createLogger('info', sink) });
  const c = await sockets.client();
  await ask(c, '127.0.0.1', r.port, 'one');
  await ask(c, '127.0.0.1', r.port, 'two');
  r.clock.advance(60_000);
  await eventually(() => lines.find((l) => l.access === true) ?? undefined, 5000);
  t.like(lines.find((l) => l.access === true), {
    kind: 'udp', client: '127.0.0.1', outcome: 'idle', completed: true, route: 'infra/r', endpoint: `127.0.0.1:${a.port}`, ms: 60_000,
    datagrams: { toBackend: 2, toClient: 2 },
  });
});
