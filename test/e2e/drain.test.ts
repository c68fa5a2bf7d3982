// SIGTERM: readiness goes 503 at once, listeners stop accepting, in-flight requests finish
// (up to --drain-timeout), then exit 0 — a rollout loses no in-flight request.
import test from 'ava';
import net from 'node:net';
import WebSocket from 'ws';
import { h2Connect, h2Request } from '../support/h2-client.ts';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { startBackend, serviceYaml, routeYaml } from '../support/backends.ts';
import { request, eventually } from '../support/http-client.ts';

function connectRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(false); });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

/** The router (or a worker) gave up waiting at --drain-timeout (read after it exited: the whole log is in). */
function drainTimedOut(router: RouterProcess): boolean {
  return router.logs.some((l) => l.msg === 'drain deadline: cut the remaining connections');
}

for (const workers of [0, 2]) {
  test.serial(`--workers ${workers}: in-flight requests finish after SIGTERM; readiness 503; new connections refused; exit 0`, async (t) => {
    const backend = await startBackend('slow');
    t.teardown(() => backend.close());
    const file = writeTempFile([serviceYaml('slow', [backend.port]), routeYaml('slow', 'drain.test', 'slow')].join('\n---\n'));
    const router = await startRouter({ args: ['--file', file, '--drain-timeout', '10s', '--workers', String(workers)] });
    t.teardown(() => router.stop());
    const inFlight = [1, 2, 3].map((i) => request(router.http, { host: 'drain.test', path: `/?delay=1500&n=${i}` }));
    await eventually(() => backend.requests.length >= 3, 3000);
    router.child.kill('SIGTERM');
    await eventually(async () => (await request(router.admin, { path: '/healthz/ready' })).status === 503, 1000, 20);
    await eventually(() => connectRefused(router.http), 2000, 20);
    const replies = await Promise.all(inFlight);
    for (const reply of replies) t.is(reply.status, 200);
    const { code } = await router.exited;
    t.is(code, 0);
    t.false(drainTimedOut(router), 'exits once idle, not at the drain timeout');
  });
}

test.serial('h2c: an in-flight stream finishes after SIGTERM, the session gets GOAWAY, the router exits at once', async (t) => {
  const backend = await startBackend('slow');
  t.teardown(() => backend.close());
  const file = writeTempFile([serviceYaml('slow', [backend.port]), routeYaml('slow', 'drain.test', 'slow')].join('\n---\n'));
  const router = await startRouter({ args: ['--file', file, '--drain-timeout', '20s', '--workers', '0'] });
  t.teardown(() => router.stop());
  const session = h2Connect(`http://127.0.0.1:${router.http}`);
  t.teardown(() => session.destroy());
  const goaway = new Promise<void>((resolve) => session.once('goaway', () => resolve()));
  const inFlight = h2Request(session, { ':path': '/?delay=1000', ':authority': 'drain.test' });
  await eventually(() => backend.requests.length >= 1, 3000);
  router.child.kill('SIGTERM');
  await goaway;
  t.is((await inFlight).status, 200);
  const { code } = await router.exited;
  t.is(code, 0);
  t.false(drainTimedOut(router), 'the h2c session closed after its last stream, not at the drain timeout');
});

test.serial('a request longer than --drain-timeout is cut; the router still exits 0', async (t) => {
  const backend = await startBackend('slow');
  t.teardown(() => backend.close());
  const file = writeTempFile([serviceYaml('slow', [backend.port]), routeYaml('slow', 'drain.test', 'slow')].join('\n---\n'));
  const router = await startRouter({ args: ['--file', file, '--drain-timeout', '500ms', '--workers', '0'] });
  const pending = request(router.http, { host: 'drain.test', path: '/?delay=10000' }).then((r) => r.status, () => 'cut');
  await eventually(() => backend.requests.length >= 1, 3000);
  router.child.kill('SIGTERM');
  const { code } = await router.exited;
  t.is(code, 0);
  t.true(drainTimedOut(router), 'cut at the drain timeout');
  t.not(await pending, 200);
});

test.serial('an open WebSocket keeps the drain going until it closes, then the router exits at once', async (t) => {
  const backend = await startBackend('ws', { websocket: true });
  t.teardown(() => backend.close());
  const file = writeTempFile([serviceYaml('ws', [backend.port]), routeYaml('ws', 'drain-ws.test', 'ws')].join('\n---\n'));
  const router = await startRouter({ args: ['--file', file, '--drain-timeout', '10s', '--workers', '0'] });
  t.teardown(() => router.stop());
  const ws = new WebSocket(`ws://127.0.0.1:${router.http}/`, { headers: { host: 'drain-ws.test' } });
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  router.child.kill('SIGTERM');
  await router.waitForLog((l) => l.msg === 'draining');
  // Still draining: the tunnel works.
  const echoed = new Promise<string>((resolve) => ws.once('message', (d) => resolve(d.toString())));
  ws.send('still here');
  t.is(await echoed, 'ws:still here');
  t.is(router.child.exitCode, null);
  ws.close();
  const { code } = await router.exited;
  t.is(code, 0);
  t.false(drainTimedOut(router), 'exited when the last tunnel closed, not at the drain timeout');
});
