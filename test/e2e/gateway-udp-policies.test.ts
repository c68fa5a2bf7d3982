// A policy holds on every way in, UDP too: router-wide Middlewares' connection checks run before a
// UDPRoute session opens, as before a TCPRoute connection is piped. Real router processes in file
// mode, real UDP (and TCP) clients bound on their own 127.x addresses, echo backends that count
// what they receive. An IP allowlist that excludes a client: its datagrams are dropped (the
// router's metric says it handled them; then the backend is checked to have received nothing),
// an allowed client's datagram round-trips, and the same client's TCP connection is refused;
// the Middleware edited to let it in, its next datagrams get through (one process, and two
// worker threads); a
// connection rate limit (concurrent per source) stops new sessions beyond it; an invalid
// Middleware refuses UDP sessions as it refuses TCP connections; a plugin whose connection phase
// throws refuses them too, counted, and the router serves on.
import test from 'ava';
import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { serviceYaml } from '../support/backends.ts';
import { eventually, request } from '../support/http-client.ts';
import { freePort } from '../support/ports.ts';
import { ask, UdpSockets, type UdpBackend } from '../support/udp.ts';

const GW = 'gateway.networking.k8s.io/v1';
// Loopback addresses this file alone uses (by process id, so parallel runs differ).
const NET = `127.${200 + (process.pid % 50)}.${(process.pid + 17) % 250}`;

const sockets = new UdpSockets();
const closers: Array<() => void> = [];
test.after.always(() => {
  sockets.close();
  for (const close of closers) try { close(); } catch { /* closed */ }
});

/** A TCP echo backend that counts its connections. */
async function tcpBackend(): Promise<{ port: number; accepted: () => number }> {
  let accepted = 0;
  const server = net.createServer((s) => { accepted++; s.on('error', () => {}); s.pipe(s); });
  closers.push(() => server.close());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as AddressInfo).port, accepted: () => accepted };
}

/** A TCP connection from `local` to the router: 'echoed' when its bytes come back, 'refused' when the router closes or resets it. */
function tcpOutcome(address: string, port: number, local: string): Promise<'echoed' | 'refused'> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: address, port, localAddress: local });
    socket.once('connect', () => socket.write('ping'));
    socket.once('data', () => { socket.destroy(); resolve('echoed'); });
    socket.once('error', () => resolve('refused'));
    socket.once('close', () => resolve('refused'));
  });
}

async function metric(r: RouterProcess, name: string, label: string): Promise<number> {
  const body = (await request(r.admin, { path: '/metrics' })).body;
  const m = new RegExp(`^${name}\\{[^}]*="${label}"\\} (\\d+)`, 'm').exec(body);
  return m === null ? 0 : Number(m[1]);
}

const middleware = (name: string, plugin: string, config: unknown) =>
  JSON.stringify({ apiVersion: 'switchyard.io/v1alpha1', kind: 'Middleware', metadata: { name, namespace: 'infra' }, spec: { plugin, config } });

interface Served {
  router: RouterProcess; address: string; udpPort: number; tcpPort: number; udp: UdpBackend; tcp: Awaited<ReturnType<typeof tcpBackend>>;
  /** Write the router's file again with `extra` in place of the Middleware objects. */
  rewrite(extra: string[]): void;
}

/**
 * A router whose every route runs the router-wide Middleware `infra/<name>` (`extra`: the
 * Middleware objects), and a Gateway with a UDP listener (a UDPRoute) and a TCP listener (a
 * TCPRoute) on the Gateway's own address `pool`.
 */
async function serve(t: import('ava').ExecutionContext, pool: string, name: string, extra: string[], args: string[] = [], threads = 1): Promise<Served> {
  const [udp, tcp] = [await sockets.backend('u'), await tcpBackend()];
  const [udpPort, tcpPort] = [await freePort(), await freePort()];
  const base = [
    'apiVersion: v1\nkind: Namespace\nmetadata: { name: infra }',
    serviceYaml('u', [udp.port], { namespace: 'infra' }), serviceYaml('t', [tcp.port], { namespace: 'infra' }),
    JSON.stringify({ apiVersion: GW, kind: 'GatewayClass', metadata: { name: 'switchyard' }, spec: { controllerName: 'switchyard.io/gateway-controller' } }),
    JSON.stringify({
      apiVersion: GW, kind: 'Gateway', metadata: { name: 'gw', namespace: 'infra' },
      spec: { gatewayClassName: 'switchyard', listeners: [{ name: 'udp', protocol: 'UDP', port: udpPort }, { name: 'tcp', protocol: 'TCP', port: tcpPort }] },
    }),
    JSON.stringify({ apiVersion: GW, kind: 'UDPRoute', metadata: { name: 'u', namespace: 'infra' }, spec: { parentRefs: [{ name: 'gw', sectionName: 'udp' }], rules: [{ backendRefs: [{ name: 'u', port: 80 }] }] } }),
    JSON.stringify({ apiVersion: GW, kind: 'TCPRoute', metadata: { name: 't', namespace: 'infra' }, spec: { parentRefs: [{ name: 'gw', sectionName: 'tcp' }], rules: [{ backendRefs: [{ name: 't', port: 80 }] }] } }),
  ];
  const file = writeTempFile([...base, ...extra].join('\n---\n'));
  const router = await startRouter({ args: ['--file', file, '--gateway-addresses', pool, '--middlewares', `infra/${name}`, ...args] });
  t.teardown(() => router.stop());
  const address = pool.split('-')[0]!;
  // Every proxy thread has bound both sockets.
  await eventually(() => router.logs.filter((l) => l.msg === 'listening for a Gateway' && l.address === address).length >= 2 * threads || undefined, 30_000);
  return { router, address, udpPort, tcpPort, udp, tcp, rewrite: (next) => writeFileSync(file, [...base, ...next].join('\n---\n')) };
}

for (const workers of [0, 2]) {
  test(`a router-wide IP allowlist (--workers ${workers}): an excluded client's datagrams are dropped and counted, the backend gets none, its TCP connection is refused; an allowed client's round-trip; let in by an edit, the excluded one gets through`, async (t) => {
    const [allowed, excluded] = [`${NET}.${10 + workers}`, `${NET}.${11 + workers}`];
    const pool = `${NET}.${1 + workers}-${NET}.${1 + workers}`;
    const s = await serve(t, pool, 'allow', [middleware('allow', 'ip-allowlist', { entries: [`${allowed}/32`] })], ['--workers', String(workers)], Math.max(1, workers));
    const out = await sockets.client(excluded);
    for (let i = 0; i < 10; i++) out.send(`flood${i}`, s.udpPort, s.address);
    await eventually(async () => (await metric(s.router, 'switchyard_udp_datagrams_total', 'forbidden')) === 10 || undefined, 10_000);
    t.is(s.udp.sources.length, 0, 'nothing reached the backend');
    t.is(await metric(s.router, 'switchyard_udp_sessions_total', 'opened'), 0);
    const inside = await sockets.client(allowed);
    t.is(await ask(inside, s.address, s.udpPort, 'hello'), 'u:hello');
    t.deepEqual(s.udp.sources.length, 1);
    // The same policy on the TCP listener of the same Gateway.
    t.is(await tcpOutcome(s.address, s.tcpPort, excluded), 'refused');
    t.is(await tcpOutcome(s.address, s.tcpPort, allowed), 'echoed');
    t.is(s.tcp.accepted(), 1);
    // The Middleware now lists the excluded client too: the refusal remembered for it gives way
    // (a new runtime of the route decides again), and the same client, still sending, gets in.
    s.rewrite([middleware('allow', 'ip-allowlist', { entries: [`${allowed}/32`, `${excluded}/32`] })]);
    const reply = once(out, 'message');
    let answered = false;
    void reply.then(() => { answered = true; });
    await eventually(() => answered || (out.send('again', s.udpPort, s.address), undefined), 15_000);
    t.is(((await reply)[0] as Buffer).toString(), 'u:again');
  });
}

test('a connection rate limit (concurrent per source): sessions beyond it get none and nothing reaches the backend; another source is not limited by it', async (t) => {
  const [busy, other] = [`${NET}.20`, `${NET}.21`];
  const s = await serve(t, `${NET}.5-${NET}.5`, 'limit', [middleware('limit', 'rate-limit', { concurrentTcp: 2, rateTcp: null, rateHttp: null })]);
  const clients = [await sockets.client(busy), await sockets.client(busy), await sockets.client(busy)];
  t.is(await ask(clients[0]!, s.address, s.udpPort, 'one'), 'u:one');
  t.is(await ask(clients[1]!, s.address, s.udpPort, 'two'), 'u:two');
  clients[2]!.send('three', s.udpPort, s.address);
  clients[2]!.send('three again', s.udpPort, s.address);
  await eventually(async () => (await metric(s.router, 'switchyard_udp_datagrams_total', 'rate_limited')) === 2 || undefined, 10_000);
  t.is(s.udp.sources.length, 2);
  t.is(await metric(s.router, 'switchyard_udp_sessions_total', 'opened'), 2);
  // The sessions already open carry on; another source has slots of its own.
  t.is(await ask(clients[0]!, s.address, s.udpPort, 'still'), 'u:still');
  t.is(await ask(await sockets.client(other), s.address, s.udpPort, 'other'), 'u:other');
});

test('an invalid router-wide Middleware refuses UDP sessions as it refuses TCP connections', async (t) => {
  const client = `${NET}.30`;
  // `infra/broken` names a plugin no router has: every route fails closed.
  const s = await serve(t, `${NET}.6-${NET}.6`, 'broken', [middleware('broken', 'no-such-plugin', {})]);
  const c = await sockets.client(client);
  c.send('x', s.udpPort, s.address);
  await eventually(async () => (await metric(s.router, 'switchyard_udp_datagrams_total', 'middleware_invalid')) === 1 || undefined, 10_000);
  t.is(s.udp.sources.length, 0);
  t.is(await tcpOutcome(s.address, s.tcpPort, client), 'refused');
  t.is(s.tcp.accepted(), 0);
});

test('a plugin whose connection phase throws: the session is refused and counted, the router serves on', async (t) => {
  // test/fixtures/plugins/throws.ts throws in the connection phase of every passthrough exchange (UDP sessions are).
  const throws = fileURLToPath(new URL('../fixtures/plugins/throws.ts', import.meta.url));
  const s = await serve(t, `${NET}.7-${NET}.7`, 'boom', [middleware('boom', 'throws', {})], ['--plugin', throws]);
  const c = await sockets.client(`${NET}.40`);
  for (let i = 0; i < 5; i++) c.send(`x${i}`, s.udpPort, s.address);
  await eventually(async () => (await metric(s.router, 'switchyard_udp_datagrams_total', 'plugin_error')) === 5 || undefined, 10_000);
  // The chain ran once for the client's five datagrams.
  t.is(await metric(s.router, 'switchyard_middleware_errors_total', 'infra/boom'), 1);
  t.is(s.udp.sources.length, 0);
  t.is((await request(s.router.admin, { path: '/healthz' })).status, 200);
  (await sockets.client(`${NET}.41`)).send('y', s.udpPort, s.address);
  await eventually(async () => (await metric(s.router, 'switchyard_udp_datagrams_total', 'plugin_error')) === 6 || undefined, 10_000);
  t.is(s.router.child.exitCode, null);
});
