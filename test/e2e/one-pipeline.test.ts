// Regressions for issue 8: every way in (plain HTTP, Upgrade, TLS passthrough) runs the same
// chain, a passthrough route is reachable by SNI only, and a route's state survives endpoint
// changes while its metric series leave with it.
import test from 'ava';
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import https from 'node:https';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { startBackend, serviceYaml, routeYaml, type Backend } from '../support/backends.ts';
import { request, rawExchange, eventually, metricsText } from '../support/http-client.ts';

const ALLOW = 'haproxy.router.openshift.io/ip_allowlist';
const RATE = 'haproxy.router.openshift.io/rate-limit-connections';

/** A TCP server that counts connections and closes each at once (a passthrough endpoint). */
async function countingServer(): Promise<{ port: number; accepted: () => number; close: () => void }> {
  let accepted = 0;
  const server = net.createServer((s) => { accepted++; s.on('error', () => {}); s.destroy(); });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    accepted: () => accepted,
    close: () => { server.close(); },
  };
}

function tlsRoute(name: string, host: string, service: string, tlsSpec: Record<string, unknown>, annotations?: Record<string, string>): string {
  return routeYaml(name, host, service, { spec: `  tls: ${JSON.stringify(tlsSpec)}`, ...(annotations ? { annotations } : {}) });
}

/** Open a TLS connection with `servername`; resolves 'secure' when the handshake completes, 'closed' when the router closes it first. */
function tlsOutcome(port: number, servername: string): Promise<'secure' | 'closed'> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false });
    socket.once('secureConnect', () => { socket.destroy(); resolve('secure'); });
    socket.once('error', () => {});
    socket.once('close', () => resolve('closed'));
  });
}

let router: RouterProcess;
let backend: Backend;
let passBackend: Awaited<ReturnType<typeof countingServer>>;

test.before(async () => {
  backend = await startBackend('b', { websocket: true });
  passBackend = await countingServer();
  const file = writeTempFile([
    serviceYaml('b', [backend.port]),
    serviceYaml('pt', [passBackend.port], { portName: 'https' }),
    routeYaml('denied', 'denied.test', 'b', { annotations: { [ALLOW]: '10.1.2.3' } }),
    routeYaml('rewrite', 'rewrite.test', 'b', { path: '/app', annotations: { 'haproxy.router.openshift.io/rewrite-target': '/' } }),
    routeYaml('paths', 'paths.test', 'b', { path: '/p' }),
    tlsRoute('redirect', 'redirect.test', 'b', { termination: 'edge', insecureEdgeTerminationPolicy: 'Redirect' }),
    tlsRoute('pt-denied', 'pt-denied.test', 'pt', { termination: 'passthrough' }, { [ALLOW]: '10.1.2.3' }),
    tlsRoute('pt-open', 'pt-open.test', 'pt', { termination: 'passthrough' }),
  ].join('\n---\n'));
  router = await startRouter({ args: ['--file', file] });
});

test.after.always(async () => {
  await router?.stop();
  await backend?.close();
  passBackend?.close();
});

function upgradeRequest(host: string, target: string): string {
  return `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: echo/1\r\n\r\n`;
}

test.serial('ip_allowlist holds for Upgrade requests: a denied address gets 403 and reaches nothing', async (t) => {
  const plain = await request(router.http, { host: 'denied.test', path: '/plain' });
  t.is(plain.status, 403);
  const reply = await rawExchange(router.http, upgradeRequest('denied.test', '/ws'));
  t.regex(reply, /^HTTP\/1\.1 403 /);
  t.false(backend.requests.some((r) => r.url === '/ws' || r.url === '/plain'));
});

test.serial('ip_allowlist holds for passthrough routes: the connection is closed before any endpoint sees it', async (t) => {
  t.is(await tlsOutcome(router.https, 'pt-open.test'), 'closed', 'the counting endpoint closes without a handshake');
  await eventually(() => passBackend.accepted() === 1, 3000);
  t.is(await tlsOutcome(router.https, 'pt-denied.test'), 'closed');
  t.is(passBackend.accepted(), 1, 'the denied connection reached no endpoint');
});

test.serial('Upgrade requests get rewrite-target, the HTTPS redirect and absolute-form matching', async (t) => {
  const socket = net.connect(router.http, '127.0.0.1');
  socket.write(upgradeRequest('rewrite.test', '/app/ws?x=1'));
  await once(socket, 'data');
  socket.destroy();
  t.true(backend.requests.some((r) => r.url === '/ws?x=1'), JSON.stringify(backend.requests.map((r) => r.url)));

  const redirect = await rawExchange(router.http, upgradeRequest('redirect.test', '/chat'));
  t.regex(redirect, /^HTTP\/1\.1 302 /);
  t.regex(redirect, /location: https:\/\/redirect\.test\/chat/i);

  const absolute = net.connect(router.http, '127.0.0.1');
  absolute.write(upgradeRequest('paths.test', 'http://paths.test/p/abs'));
  const [first] = await once(absolute, 'data') as [Buffer];
  absolute.destroy();
  t.regex(first.toString(), /^HTTP\/1\.1 101 /);
  t.true(backend.requests.some((r) => r.url === '/p/abs'));
});

test.serial('a passthrough route is reachable by SNI only: decrypted HTTP naming its host is 404 and never reaches it', async (t) => {
  const before = passBackend.accepted();
  const status = await new Promise<number>((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: router.https, path: '/', servername: 'unknown.test', headers: { host: 'pt-open.test' }, rejectUnauthorized: false, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
  t.is(status, 404);
  t.is(passBackend.accepted(), before);
});

test('an EndpointSlice change keeps the rate-limit window; a deleted route takes its metric series along', async (t) => {
  const a = await startBackend('a');
  const b = await startBackend('b2');
  t.teardown(() => Promise.all([a.close(), b.close()]).then(() => {}));
  const limited = routeYaml('limited', 'limited.test', 'svc', { annotations: { [RATE]: 'true', [`${RATE}.rate-http`]: '2' } });
  const extra = Array.from({ length: 20 }, (_, i) => routeYaml(`m${i}`, `m${i}.test`, 'svc'));
  const file = writeTempFile([serviceYaml('svc', [a.port]), limited, ...extra].join('\n---\n'));
  const r = await startRouter({ args: ['--file', file] });
  t.teardown(() => r.stop());

  t.is((await request(r.http, { host: 'limited.test' })).status, 200);
  t.is((await request(r.http, { host: 'limited.test' })).status, 200);
  const series = async () => (await metricsText(r.admin)).split('\n').filter((l) => l.startsWith('switchyard_http_requests_total{route="default/m')).length;
  t.is(await series(), 0, 'routes without traffic have no request series yet (children are made on first response)');
  t.false((await metricsText(r.admin)).includes('switchyard_http_request_duration_seconds_count{route="default/m'));
  for (let i = 0; i < 20; i++) t.is((await request(r.http, { host: `m${i}.test` })).status, 200);
  t.is(await series(), 20);
  const gauges = async () => (await metricsText(r.admin)).split('\n')
    .filter((l) => l.startsWith('switchyard_endpoint_up{route="default/m') || l.startsWith('switchyard_route_endpoints_available{route="default/m')).length;
  t.is(await gauges(), 40, 'one endpoint_up and one endpoints_available series per route');

  // A second endpoint appears: the route's runtime is rebuilt, its limiter is not.
  writeFileSync(file, [serviceYaml('svc', [a.port, b.port]), limited].join('\n---\n'));
  await eventually(async () => {
    const debug = (await request(r.admin, { path: '/debug/routes' })).body;
    return debug.includes(String(b.port)) && !debug.includes('m0.test');
  }, 5000);
  t.is((await request(r.http, { host: 'limited.test' })).status, 429, 'the window of 2 per 10 s was not reset by the rebuild');
  t.is(await series(), 0, 'the deleted routes left no series behind');
  t.is(await gauges(), 0, 'nor endpoint gauges (the served gauges drop what left the table)');
});

test('pod-concurrent-connections: one in flight per endpoint; the next waits, then gets 503 when the queue time is up', async (t) => {
  const held: Array<() => void> = [];
  const slow = await startBackend('slow', {
    handler: (req, res) => {
      if (req.url !== '/hold') return false;
      held.push(() => res.end('released'));
      return true;
    },
  });
  t.teardown(() => slow.close());
  const file = writeTempFile([serviceYaml('slow', [slow.port]), routeYaml('limited', 'pcc.test', 'slow', { annotations: { 'haproxy.router.openshift.io/pod-concurrent-connections': '1' } })].join('\n---\n'));
  const r = await startRouter({ args: ['--file', file, '--connect-timeout', '300ms'] });
  t.teardown(() => r.stop());
  const first = request(r.http, { host: 'pcc.test', path: '/hold' });
  await eventually(() => held.length === 1, 3000);
  const second = await request(r.http, { host: 'pcc.test', path: '/quick' });
  t.is(second.status, 503);
  t.is(second.headers['x-switchyard-error'], 'SY_ENDPOINT_BUSY');
  t.false(slow.requests.some((q) => q.url === '/quick'));
  held[0]!();
  t.is((await first).status, 200);
  t.is((await request(r.http, { host: 'pcc.test', path: '/quick' })).status, 200, 'the slot came back');
});
