// Async response and log phases against a real router: the response head waits for an async
// response phase (bounded by the route's timeout, a rejection answers 500); an async log phase
// is not awaited, and its rejection is counted and logged — never an unhandled rejection.
import test from 'ava';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { startBackend, serviceYaml, routeYaml, type Backend } from '../support/backends.ts';
import { request, metricsText, metricValue } from '../support/http-client.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const MW = 'switchyard.io/middlewares';

function middlewareYaml(name: string, plugin: string): string {
  return `apiVersion: switchyard.io/v1alpha1
kind: Middleware
metadata: { name: ${name}, namespace: default }
spec:
  plugin: ${plugin}
  config: {}`;
}

let backend: Backend;
let router: RouterProcess;

test.before(async () => {
  backend = await startBackend('app');
  const file = writeTempFile([
    serviceYaml('app', [backend.port]),
    // Two instances of the plugin: failures are logged (rate-limited) per Middleware.
    middlewareYaml('resp', 'async-phases'),
    middlewareYaml('logger', 'async-phases'),
    routeYaml('resp', 'resp.test', 'app', { annotations: { [MW]: 'resp', 'haproxy.router.openshift.io/timeout': '300ms' } }),
    routeYaml('logged', 'logged.test', 'app', { annotations: { [MW]: 'logger' } }),
  ].join('\n---\n'));
  router = await startRouter({ args: ['--file', file, '--plugin', path.join(root, 'test/fixtures/plugins/async-phases.ts')] });
});

test.after.always(async () => {
  await router?.stop();
  await backend?.close();
});

const errorsOf = async (middleware: string) => metricValue(await metricsText(router.admin), 'switchyard_middleware_errors_total', { middleware }) ?? 0;

test.serial('an async response phase: the head waits for it and carries what it set; the body streams through whole', async (t) => {
  const small = await request(router.http, { host: 'resp.test', path: '/a' });
  t.is(small.status, 200);
  t.is(small.headers['x-async-response'], '200');
  t.is(small.json<{ url: string }>().url, '/a');
  // A body of many chunks: what arrives while the head waits is held, then streamed in order.
  const big = 'x'.repeat(512 * 1024);
  const reply = await request(router.http, { host: 'resp.test', method: 'POST', path: '/big?status=201', body: big });
  t.is(reply.status, 201);
  t.is(reply.headers['x-async-response'], '201');
  t.is(reply.json<{ body: string }>().body, big);
});

test.serial('an async response phase that rejects: 500 SY_MIDDLEWARE_ERROR, counted and logged; the route keeps serving', async (t) => {
  const before = await errorsOf('default/resp');
  const reply = await request(router.http, { host: 'resp.test', headers: { 'x-response-reject': '1' } });
  t.is(reply.status, 500);
  t.is(reply.headers['x-switchyard-error'], 'SY_MIDDLEWARE_ERROR');
  t.is(reply.headers['x-async-response'], undefined);
  t.is(await errorsOf('default/resp'), before + 1);
  await router.waitForLog((l) => l.msg === 'middleware failed' && l.middleware === 'default/resp' && l.err === 'response rejected on purpose');
  t.is((await request(router.http, { host: 'resp.test' })).status, 200);
});

test.serial('an async response phase that never settles is cut at the route timeout: 504 SY_MIDDLEWARE_TIMEOUT', async (t) => {
  const before = await errorsOf('default/resp');
  const reply = await request(router.http, { host: 'resp.test', headers: { 'x-response-hang': '1' } });
  t.is(reply.status, 504);
  t.is(reply.headers['x-switchyard-error'], 'SY_MIDDLEWARE_TIMEOUT');
  t.is(await errorsOf('default/resp'), before + 1);
  const after = await request(router.http, { host: 'resp.test' });
  t.is(after.status, 200);
  t.is(after.headers['x-async-response'], '200');
});

test.serial('an async log phase that rejects: the exchange is unaffected, the failure is counted and logged', async (t) => {
  const before = await errorsOf('default/logger');
  const reply = await request(router.http, { host: 'logged.test', headers: { 'x-log-reject': '1' } });
  t.is(reply.status, 200);
  t.is(reply.headers['x-async-response'], '200');
  await router.waitForLog((l) => l.msg === 'middleware failed' && l.middleware === 'default/logger' && l.err === 'log rejected on purpose');
  t.is(await errorsOf('default/logger'), before + 1);
  t.is((await request(router.http, { host: 'logged.test' })).status, 200);
});

// Last: stops the router, so stderr is complete.
test.serial('no phase failure became an unhandled rejection', async (t) => {
  await router.stop();
  t.notRegex(router.stderr(), /unhandled rejection/);
});
