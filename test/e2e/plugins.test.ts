// Plugins end to end: loaded with --plugin, configured by Middleware objects, attached with the
// switchyard.io/middlewares annotation; failures, admission errors, live edits, workers.
import test from 'ava';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import tls from 'node:tls';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { startBackend, serviceYaml, routeYaml, type Backend } from '../support/backends.ts';
import { request, rawExchange, eventually, metricsText, metricValue } from '../support/http-client.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const example = (name: string) => path.join(root, 'examples/plugins', `${name}.ts`);
const fixture = (name: string) => path.join(root, 'test/fixtures/plugins', `${name}.ts`);
const MW = 'switchyard.io/middlewares';

function middlewareYaml(name: string, plugin: string, config: unknown, namespace = 'default'): string {
  return `apiVersion: switchyard.io/v1alpha1
kind: Middleware
metadata: { name: ${name}, namespace: ${namespace} }
spec:
  plugin: ${plugin}
  config: ${JSON.stringify(config)}`;
}

const PLUGINS = ['api-key', 'request-id', 'header-canary', 'json-access-log'].flatMap((p) => ['--plugin', example(p)])
  .concat(['throws', 'hangs', 'tag', 'body-check'].flatMap((p) => ['--plugin', fixture(p)]));

let stable: Backend;
let canary: Backend;
let router: RouterProcess;
let file: string;
let accessLog: string;

function objects(keys: string[]): string {
  return [
    serviceYaml('app', [stable.port, canary.port]),
    serviceYaml('one', [stable.port]),
    middlewareYaml('auth', 'api-key', { keys }),
    middlewareYaml('rid', 'request-id', {}),
    middlewareYaml('canary', 'header-canary', { endpoints: [`127.0.0.1:${canary.port}`] }),
    middlewareYaml('access', 'json-access-log', { path: accessLog }),
    middlewareYaml('boom', 'throws', {}),
    middlewareYaml('stall', 'hangs', {}),
    middlewareYaml('a', 'tag', { name: 'a' }),
    middlewareYaml('b', 'tag', { name: 'b' }),
    middlewareYaml('c', 'tag', { name: 'c' }),
    middlewareYaml('bad', 'api-key', { keys: ['short'] }),
    middlewareYaml('body', 'body-check', { limit: 64 }),
    middlewareYaml('nowhere', 'not-loaded', {}),
    routeYaml('secured', 'secured.test', 'one', { annotations: { [MW]: 'auth, rid' } }),
    routeYaml('canaried', 'canary.test', 'app', { annotations: { [MW]: 'canary' } }),
    routeYaml('logged', 'logged.test', 'one', { annotations: { [MW]: 'access' } }),
    // With one request in flight per client allowed: a failing middleware must give its slot back.
    routeYaml('boom', 'boom.test', 'one', { annotations: { [MW]: 'boom', 'haproxy.router.openshift.io/rate-limit-connections': 'true', 'haproxy.router.openshift.io/rate-limit-connections.concurrent-tcp': '1' } }),
    routeYaml('stall', 'stall.test', 'one', { annotations: { [MW]: 'stall', 'haproxy.router.openshift.io/timeout': '300ms' } }),
    routeYaml('ordered', 'ordered.test', 'one', { annotations: { [MW]: 'c, a, b' } }),
    routeYaml('invalid', 'invalid.test', 'one', { annotations: { [MW]: 'rid, bad' } }),
    routeYaml('unknown-plugin', 'unknown-plugin.test', 'one', { annotations: { [MW]: 'nowhere' } }),
    routeYaml('missing', 'missing.test', 'one', { annotations: { [MW]: 'ghost' } }),
    routeYaml('plain', 'plain.test', 'one'),
    routeYaml('body', 'body.test', 'one', { annotations: { [MW]: 'body' } }),
    routeYaml('pt-boom', 'pt-boom.test', 'one', { annotations: { [MW]: 'boom' }, spec: '  tls: { termination: passthrough }' }),
  ].join('\n---\n');
}

test.before(async () => {
  stable = await startBackend('stable');
  canary = await startBackend('canary');
  accessLog = path.join(mkdtempSync(path.join(tmpdir(), 'sy-access-')), 'access.log');
  file = writeTempFile(objects(['first-key-123']));
  router = await startRouter({ args: ['--file', file, ...PLUGINS] });
});

test.after.always(async () => {
  await router?.stop();
  await stable?.close();
  await canary?.close();
});

interface Echo { backend: string; url: string; headers: Record<string, string | undefined> }

test.serial('api-key and request-id: 401 without a key; with one the backend gets an id and never the key', async (t) => {
  const denied = await request(router.http, { host: 'secured.test' });
  t.is(denied.status, 401);
  t.is(denied.headers['www-authenticate'], 'Bearer');
  const ok = await request(router.http, { host: 'secured.test', headers: { 'x-api-key': 'first-key-123' } });
  t.is(ok.status, 200);
  const echo = ok.json<Echo>();
  t.is(echo.headers['x-api-key'], undefined);
  t.regex(echo.headers['x-request-id']!, /^[0-9a-f-]{36}$/);
  t.is(ok.headers['x-request-id'], echo.headers['x-request-id']);
});

test.serial('header-canary picks endpoints: the header goes to the canary, everything else never does', async (t) => {
  for (let i = 0; i < 6; i++) {
    t.is((await request(router.http, { host: 'canary.test' })).json<Echo>().backend, 'stable');
    t.is((await request(router.http, { host: 'canary.test', headers: { 'x-canary': '1' } })).json<Echo>().backend, 'canary');
  }
});

test.serial('json-access-log writes one JSON line per exchange after it ends', async (t) => {
  t.is((await request(router.http, { host: 'logged.test', path: '/hello?x=1' })).status, 200);
  const line = await eventually(() => readFileSync(accessLog, 'utf8').split('\n').find((l) => l.includes('/hello?x=1')), 3000);
  const entry = JSON.parse(line!) as Record<string, unknown>;
  t.like(entry, { route: 'default/logged', method: 'GET', status: 200, outcome: 'forwarded', endpoint: `127.0.0.1:${stable.port}`, kind: 'http' });
});

test.serial('several middlewares run in the annotation order', async (t) => {
  const reply = await request(router.http, { host: 'ordered.test' });
  t.is(reply.json<Echo>().headers['x-order'], 'c,a,b');
});

test.serial('a throwing or rejecting phase: 500 SY_MIDDLEWARE_ERROR, counted, logged; the router keeps serving', async (t) => {
  const thrown = await request(router.http, { host: 'boom.test', headers: { 'x-throw': '1' } });
  t.is(thrown.status, 500);
  t.is(thrown.headers['x-switchyard-error'], 'SY_MIDDLEWARE_ERROR');
  const rejected = await request(router.http, { host: 'boom.test', headers: { 'x-reject': '1' } });
  t.is(rejected.status, 500);
  t.is((await request(router.http, { host: 'boom.test' })).status, 200, 'no rate-limit slot leaked by the failures');
  t.is((await request(router.http, { host: 'plain.test' })).status, 200);
  t.is(metricValue(await metricsText(router.admin), 'switchyard_middleware_errors_total', { middleware: 'default/boom' }), 2);
  await router.waitForLog((l) => l.msg === 'middleware failed' && l.middleware === 'default/boom' && l.err === 'thrown on purpose');
});

test.serial('a throwing connection phase closes a passthrough connection before any endpoint, and is counted', async (t) => {
  const before = metricValue(await metricsText(router.admin), 'switchyard_middleware_errors_total', { middleware: 'default/boom' }) ?? 0;
  const accepted = stable.acceptedConnections();
  const closed = await new Promise<boolean>((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port: router.https, servername: 'pt-boom.test', rejectUnauthorized: false });
    socket.once('secureConnect', () => { socket.destroy(); resolve(false); });
    socket.once('error', () => {});
    socket.once('close', () => resolve(true));
  });
  t.true(closed);
  t.is(stable.acceptedConnections(), accepted);
  t.is(metricValue(await metricsText(router.admin), 'switchyard_middleware_errors_total', { middleware: 'default/boom' }), before + 1);
});

test.serial('a phase that never settles is bounded by the route timeout: 504', async (t) => {
  const reply = await request(router.http, { host: 'stall.test', headers: { 'x-hang': '1' } });
  t.is(reply.status, 504);
  t.is(reply.headers['x-switchyard-error'], 'SY_MIDDLEWARE_TIMEOUT');
  t.is((await request(router.http, { host: 'stall.test' })).status, 200);
});

test.serial('invalid config, unknown plugin, missing Middleware: InvalidMiddleware with the field path, and the route answers 500 (fail closed)', async (t) => {
  const debug = (await request(router.admin, { path: '/debug/routes' })).json<{ admission: Array<{ key: string; admitted: boolean; reason?: string; message?: string }> }>();
  const byKey = new Map(debug.admission.map((a) => [a.key, a]));
  t.like(byKey.get('Route/default/invalid'), { admitted: false, reason: 'InvalidMiddleware' });
  t.regex(byKey.get('Route/default/invalid')!.message!, /middleware "default\/bad": spec\.config\.keys\[0\]: .*8/);
  t.like(byKey.get('Route/default/unknown-plugin'), { admitted: false, reason: 'InvalidMiddleware' });
  t.regex(byKey.get('Route/default/unknown-plugin')!.message!, /no plugin "not-loaded" is loaded/);
  t.like(byKey.get('Route/default/missing'), { admitted: false, reason: 'InvalidMiddleware' });
  t.regex(byKey.get('Route/default/missing')!.message!, /"default\/ghost" not found/);
  const failing = await request(router.http, { host: 'invalid.test' });
  t.is(failing.status, 500);
  t.is(failing.headers['x-switchyard-error'], 'SY_MIDDLEWARE_INVALID');
  await router.waitForLog((l) => l.msg === 'route rejected' && l.route === 'Route/default/invalid' && l.reason === 'InvalidMiddleware');
  t.is((await request(router.http, { host: 'plain.test' })).status, 200, 'the rest keeps serving');
});

test.serial('opt-in body buffering: the buffered body is forwarded, a refused one is answered, one over the limit gets 413', async (t) => {
  const ok = await request(router.http, { host: 'body.test', method: 'POST', path: '/b', body: 'hello body', headers: { 'content-type': 'text/plain' } });
  t.is(ok.status, 200);
  t.is(ok.json<{ body: string }>().body, 'hello body');
  const refused = await request(router.http, { host: 'body.test', method: 'POST', path: '/b', body: 'this is forbidden' });
  t.is(refused.status, 422);
  t.is(refused.body, 'refused 17 bytes\n');
  // The same (frozen) header object answers a body of another length: its length is its own.
  const again = await request(router.http, { host: 'body.test', method: 'POST', path: '/b', body: 'forbidden, and then some more' });
  t.is(again.body, 'refused 29 bytes\n');
  const large = await request(router.http, { host: 'body.test', method: 'POST', path: '/b', body: 'x'.repeat(1000) });
  t.is(large.status, 413);
  t.is(large.headers['x-switchyard-error'], 'SY_BODY_TOO_LARGE');
  t.is((await request(router.http, { host: 'body.test', path: '/after' })).status, 200);
  // A POST without Content-Length or Transfer-Encoding has an empty body (RFC 9112 §6.3): read
  // as empty, forwarded; Node hands such a request over already ended (optimizeEmptyRequests),
  // and the next request on the connection is served after it.
  const empty = await rawExchange(router.http, 'POST /empty HTTP/1.1\r\nHost: body.test\r\n\r\nGET /next HTTP/1.1\r\nHost: body.test\r\nConnection: close\r\n\r\n');
  const answers = empty.split('HTTP/1.1 ').slice(1);
  t.is(answers.length, 2, empty);
  t.true(answers[0]!.startsWith('200'), empty);
  t.regex(answers[0]!, /"body":""/);
  t.regex(answers[0]!, /"url":"\/empty"/);
  t.true(answers[1]!.startsWith('200'), empty);
  t.regex(answers[1]!, /"url":"\/next"/);
});

test.serial('a Middleware edit applies live', async (t) => {
  writeFileSync(file, objects(['second-key-456']));
  await eventually(async () => (await request(router.http, { host: 'secured.test', headers: { 'x-api-key': 'second-key-456' } })).status === 200, 5000);
  t.is((await request(router.http, { host: 'secured.test', headers: { 'x-api-key': 'first-key-123' } })).status, 401);
});

test('plugins run in workers (--workers 2), router-wide middlewares first', async (t) => {
  const f = writeTempFile([
    serviceYaml('one', [stable.port]),
    middlewareYaml('auth', 'api-key', { keys: ['worker-key-789'] }),
    middlewareYaml('a', 'tag', { name: 'a' }),
    middlewareYaml('g', 'tag', { name: 'global' }, 'ops'),
    routeYaml('w', 'w.test', 'one', { annotations: { [MW]: 'a, auth' } }),
  ].join('\n---\n'));
  const r = await startRouter({ args: ['--file', f, '--workers', '2', '--middlewares', 'ops/g', ...PLUGINS] });
  t.teardown(() => r.stop());
  for (let i = 0; i < 4; i++) t.is((await request(r.http, { host: 'w.test' })).status, 401);
  const ok = await request(r.http, { host: 'w.test', headers: { 'x-api-key': 'worker-key-789' } });
  t.is(ok.status, 200);
  t.is(ok.json<Echo>().headers['x-order'], 'global,a');
});

test('a plugin that cannot be loaded stops start-up with one line and exit 2', async (t) => {
  const bad = writeTempFile('export default { nope: true };\n', 'bad-plugin.mjs');
  for (const spec of [bad, path.join(root, 'does-not-exist.js'), 'no-such-package-xyz']) {
    const r = await startRouter({ args: ['--file', writeTempFile(serviceYaml('one', [stable.port])), '--plugin', spec], waitForListening: false });
    const { code } = await r.exited;
    t.is(code, 2, spec);
    const lines = r.stderr().trim().split('\n');
    t.is(lines.length, 1, r.stderr());
    t.regex(lines[0]!, /^switchyard: plugin .*: /);
  }
});
