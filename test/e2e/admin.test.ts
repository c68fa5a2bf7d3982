// The admin port: credentials guard /metrics and /debug; health endpoints stay open for the
// kubelet; the access log names route, endpoint and status; secrets never reach the logs.
import test from 'ava';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { startBackend, serviceYaml, routeYaml, type Backend } from '../support/backends.ts';
import { request, eventually } from '../support/http-client.ts';

let router: RouterProcess;
let backend: Backend;
const basic = (user: string, pass: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` });

test.before(async () => {
  backend = await startBackend('a');
  const file = writeTempFile([serviceYaml('a', [backend.port]), routeYaml('a', 'admin.test', 'a')].join('\n---\n'));
  router = await startRouter({
    args: ['--file', file, '--access-log'],
    env: { STATS_USERNAME: 'prom', STATS_PASSWORD: 's3cret-pass' },
  });
});
test.after.always(async () => { await router?.stop(); await backend?.close(); });

test('health endpoints need no credentials', async (t) => {
  t.is((await request(router.admin, { path: '/healthz' })).status, 200);
  t.is((await request(router.admin, { path: '/healthz/ready' })).status, 200);
});

test('/metrics and /debug/routes need the configured credentials', async (t) => {
  for (const path of ['/metrics', '/debug/routes']) {
    const none = await request(router.admin, { path });
    t.is(none.status, 401, path);
    t.regex(String(none.headers['www-authenticate']), /Basic/);
    t.is((await request(router.admin, { path, headers: basic('prom', 'wrong') })).status, 401, path);
    t.is((await request(router.admin, { path, headers: basic('prom', 's3cret-pass') })).status, 200, path);
  }
  t.is((await request(router.admin, { path: '/nope', headers: basic('prom', 's3cret-pass') })).status, 404);
  t.is((await request(router.admin, { path: '/metrics', method: 'POST', headers: basic('prom', 's3cret-pass') })).status, 405);
});

test('--access-log writes one line per request with route, endpoint and status; no credentials logged', async (t) => {
  await request(router.http, { host: 'admin.test', path: '/logged?x=1', headers: { authorization: 'Bearer tenant-token-123' } });
  await request(router.http, { host: 'missing.test', path: '/nothing' });
  const ok = await eventually(() => router.logs.find((l) => l.access === true && l.path === '/logged?x=1'), 3000) as Record<string, unknown>;
  t.is(ok.status, 200);
  t.is(ok.route, 'default/a');
  t.is(ok.endpoint, `127.0.0.1:${backend.port}`);
  t.is(typeof ok.ms, 'number');
  const miss = await eventually(() => router.logs.find((l) => l.access === true && l.path === '/nothing'), 3000) as Record<string, unknown>;
  t.is(miss.status, 404);
  const all = JSON.stringify(router.logs);
  t.false(all.includes('tenant-token-123'));
  t.false(all.includes('s3cret-pass'));
});
