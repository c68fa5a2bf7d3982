// The admin port cannot be used to take the router down (issue 19 item 5): dashboard event
// streams are bounded in total and per client (503 past either), admin connections are capped
// below the process's open-files limit so the proxy and the health checks keep their
// descriptors, and with stats credentials configured nothing but the health endpoints answers
// without them (401, connection closed). Real router processes; clients speak from distinct
// 127.x addresses to be distinct clients.
import test from 'ava';
import http from 'node:http';
import net from 'node:net';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { startBackend, serviceYaml, routeYaml, type Backend } from '../support/backends.ts';
import { eventually, rawExchange, request } from '../support/http-client.ts';

const USER = 'admin';
const PASS = 'stream-secret';
const AUTH = `Basic ${Buffer.from(`${USER}:${PASS}`).toString('base64')}`;
const PER_CLIENT = 4;
const TOTAL = 32;

let backends: Backend[];
let file: string;
let router: RouterProcess;

test.before(async () => {
  backends = await Promise.all([startBackend('one'), startBackend('two')]);
  file = writeTempFile([serviceYaml('web', backends.map((b) => b.port)), routeYaml('web', 'web.test', 'web')].join('\n---\n'));
  router = await startRouter({ args: ['--file', file], env: { STATS_USERNAME: USER, STATS_PASSWORD: PASS } });
});

test.after.always(async () => {
  await router?.stop();
  await Promise.all(backends.map((b) => b.close()));
});

interface Stream { status: number; req: http.ClientRequest; close(): void }

/** Open /dashboard/events from `localAddress`; resolves with the status once the head arrives. */
function openStream(port: number, localAddress: string, auth: string | null = AUTH): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/dashboard/events', localAddress, agent: false, headers: auth ? { authorization: auth } : {} }, (res) => {
      res.on('error', () => {});
      if (res.statusCode !== 200) res.resume();
      resolve({ status: res.statusCode ?? 0, req, close: () => req.destroy() });
    });
    req.on('error', reject);
  });
}

test.serial('with stats credentials, the dashboard, its streams and /debug answer 401 without them, and close the connection', async (t) => {
  for (const path of ['/', '/dashboard/events', '/dashboard/overview.json', '/debug/routes', '/metrics']) {
    const reply = await rawExchange(router.admin, `GET ${path} HTTP/1.1\r\nHost: admin\r\n\r\n`);
    t.regex(reply, /^HTTP\/1\.1 401 [^]*connection: close/i, path);
  }
  t.is((await request(router.admin, { path: '/healthz' })).status, 200);
  const stream = await openStream(router.admin, '127.0.0.1', `Basic ${Buffer.from(`${USER}:wrong`).toString('base64')}`);
  t.is(stream.status, 401);
});

test.serial(`event streams: ${PER_CLIENT} per client, ${TOTAL} in all; the next gets 503, a closed one frees its slot`, async (t) => {
  const open: Stream[] = [];
  t.teardown(() => { for (const s of open) s.close(); });
  for (let i = 0; i < PER_CLIENT; i++) open.push(await openStream(router.admin, '127.0.0.2'));
  t.deepEqual(open.map((s) => s.status), Array(PER_CLIENT).fill(200));
  const refused = await openStream(router.admin, '127.0.0.2');
  t.is(refused.status, 503, 'one client past its share');
  open.shift()!.close();
  await eventually(async () => {
    const again = await openStream(router.admin, '127.0.0.2');
    if (again.status === 200) open.push(again);
    return again.status === 200;
  }, 10_000);
  // Fill the rest from other clients.
  let client = 3;
  while (open.length < TOTAL) {
    for (let i = 0; i < PER_CLIENT && open.length < TOTAL; i++) open.push(await openStream(router.admin, `127.0.0.${client}`));
    client++;
  }
  t.true(open.every((s) => s.status === 200));
  t.is((await openStream(router.admin, `127.0.0.${client}`)).status, 503, 'past the total');
  // The rest of the admin port and the proxy are unaffected.
  t.is((await request(router.admin, { path: '/healthz' })).status, 200);
  t.is((await request(router.admin, { path: '/dashboard/overview.json', headers: { authorization: AUTH } })).status, 200);
  t.is((await request(router.http, { host: 'web.test' })).status, 200);
});

test.serial('under a 256 open-files limit, a flood of admin connections leaves the proxy and the health checks their descriptors', async (t) => {
  const limited = await startRouter({
    prefix: ['prlimit', '--nofile=256', '--'],
    args: ['--file', file, '--backend-check-interval', '100ms'],
    env: { STATS_USERNAME: USER, STATS_PASSWORD: PASS },
  });
  t.teardown(() => limited.stop());
  const sockets: net.Socket[] = [];
  t.teardown(() => { for (const s of sockets) s.destroy(); });
  // 400 connections that send half a request and wait (each held until --header-timeout).
  await Promise.all(Array.from({ length: 400 }, (_, i) => new Promise<void>((resolve) => {
    const s = net.connect({ port: limited.admin, host: '127.0.0.1', localAddress: `127.0.1.${(i % 200) + 1}` });
    s.on('error', () => resolve());
    s.on('close', () => resolve());
    s.on('connect', () => { s.write('GET /dashboard/events HTTP/1.1\r\n'); resolve(); });
    sockets.push(s);
  })));
  // Health checks go on: each backend gets new probe connections while the flood is held.
  const accepted = backends.map((b) => b.acceptedConnections());
  await eventually(() => backends.every((b, i) => b.acceptedConnections() >= accepted[i]! + 3), 20_000);
  for (let i = 0; i < 20; i++) t.is((await request(limited.http, { host: 'web.test' })).status, 200);
  t.false(limited.logs.some((l) => JSON.stringify(l).includes('EMFILE')), 'no EMFILE');
  t.false(limited.logs.some((l) => l.msg === 'endpoint down'), 'no endpoint went down');
});
