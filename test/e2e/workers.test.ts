// --workers N: the main thread runs sources, reconciler, health checks and the admin port; N
// worker threads share the proxy ports, get the table in messages and share endpoint health in
// shared memory.
import test from 'ava';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { startRouter, writeTempFile } from '../support/router-process.ts';
import { startBackend, serviceYaml, routeYaml } from '../support/backends.ts';
import { request, eventually, metricsText, metricValue } from '../support/http-client.ts';

const RR = { 'haproxy.router.openshift.io/balance': 'roundrobin', 'haproxy.router.openshift.io/disable_cookies': 'true' };

test('two workers serve the table, follow edits and health, and metrics add up', async (t) => {
  const a = await startBackend('a');
  const b = await startBackend('b');
  t.teardown(async () => { await a.close(); await b.close(); });
  const base = [serviceYaml('ab', [a.port, b.port]), routeYaml('r', 'workers.test', 'ab', { annotations: { ...RR, 'router.openshift.io/haproxy.health.check.interval': '200ms' } })];
  const file = writeTempFile(base.join('\n---\n'));
  const router = await startRouter({ args: ['--file', file, '--workers', '2'] });
  // Each request is a new connection, so the kernel spreads them over both workers.
  for (let i = 0; i < 20; i++) t.is((await request(router.http, { host: 'workers.test' })).status, 200);
  const text = await metricsText(router.admin);
  t.is(metricValue(text, 'switchyard_http_requests_total', { route: 'default/r', code_class: '2xx' }), 20);

  writeFileSync(file, [...base, routeYaml('new', 'new.test', 'ab')].join('\n---\n'));
  await eventually(async () => {
    // Several fresh connections: every worker must have the new route.
    for (let i = 0; i < 6; i++) if ((await request(router.http, { host: 'new.test' })).status !== 200) return false;
    return true;
  }, 5000);

  await b.close();
  await eventually(async () => {
    for (let i = 0; i < 8; i++) if ((await request(router.http, { host: 'workers.test' })).headers['x-backend'] !== 'a') return false;
    return true;
  }, 5000);

  const { code } = await router.stop();
  t.is(code, 0);
});

test('TLS sessions resume on every worker: the main thread hands them one set of ticket keys', async (t) => {
  const file = writeTempFile('apiVersion: v1\nkind: Namespace\nmetadata: { name: empty }\n');
  const router = await startRouter({ args: ['--file', file, '--workers', '2'] });
  t.teardown(() => router.stop());
  const connect = (session?: Buffer) => new Promise<{ reused: boolean; session: Buffer | undefined }>((resolve, reject) => {
    let ticket: Buffer | undefined;
    const socket = tls.connect({ host: '127.0.0.1', port: router.https, servername: 'any.test', rejectUnauthorized: false, session, maxVersion: 'TLSv1.2' });
    socket.on('session', (s: Buffer) => { ticket = s; });
    socket.once('secureConnect', () => {
      const reused = socket.isSessionReused();
      const done = () => { socket.end(); resolve({ reused, session: ticket ?? socket.getSession() }); };
      // A new session's ticket comes with the handshake, possibly just after this event: wait for it.
      if (reused || ticket) done();
      else socket.once('session', done);
    });
    socket.once('error', reject);
  });
  const first = await connect();
  t.truthy(first.session);
  let reused = 0;
  for (let i = 0; i < 8; i++) if ((await connect(first.session)).reused) reused++;
  // New connections are spread over both workers; each must accept the other's tickets.
  t.is(reused, 8);
});

test('a worker that cannot answer a scrape in time is counted from its last answer: merged counters never go down', async (t) => {
  const backend = await startBackend('a');
  t.teardown(() => backend.close());
  const flag = path.join(mkdtempSync(path.join(tmpdir(), 'sy-stall-')), 'stall');
  const file = writeTempFile([
    serviceYaml('a', [backend.port]),
    `apiVersion: switchyard.io/v1alpha1\nkind: Middleware\nmetadata: { name: stall, namespace: default }\nspec:\n  plugin: stall-worker\n  config: ${JSON.stringify({ flag })}`,
    routeYaml('r', 'stall.test', 'a', { annotations: { 'switchyard.io/middlewares': 'stall' } }),
  ].join('\n---\n'));
  const plugin = new URL('../fixtures/plugins/stall-worker.ts', import.meta.url).pathname;
  const router = await startRouter({ args: ['--file', file, '--workers', '2', '--plugin', plugin] });
  t.teardown(() => { rmSync(flag, { force: true }); return router.stop(); });
  // New connections: the kernel spreads them over both workers, so each has counted some.
  for (let i = 0; i < 20; i++) t.is((await request(router.http, { host: 'stall.test' })).status, 200);
  const count = async () => metricValue(await metricsText(router.admin), 'switchyard_http_requests_total', { route: 'default/r', code_class: '2xx' });
  t.is(await count(), 20);

  // Hold one worker's event loop, then scrape: that worker cannot answer within the scrape's wait.
  writeFileSync(flag, '');
  const stalled = request(router.http, { host: 'stall.test', path: '/stall' });
  await eventually(() => existsSync(`${flag}.started`), 60_000);
  t.is(await count(), 20, 'the stalled worker\'s requests are still counted');
  await router.waitForLog((l) => String(l.msg).includes('did not answer within 2 s'), 60_000);
  rmSync(flag);
  t.is((await stalled).status, 200);
  t.is(await count(), 21);
});
