// 502 / 503 / 504 with short bodies, retry on another endpoint, and client-abort clean-up.
import test from 'ava';
import http from 'node:http';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { startBackend, serviceYaml, routeYaml, type Backend } from '../support/backends.ts';
import { request, eventually, metricsText, metricValue } from '../support/http-client.ts';
import { freePort } from '../support/ports.ts';

let router: RouterProcess;
let ok: Backend;
let slow: Backend;
let deadPort: number;
let slowClosed = 0;


test.before(async () => {
  ok = await startBackend('ok');
  slow = await startBackend('slow', {
    handler: (req, res) => {
      if (!req.url?.startsWith('/hang')) return false;
      req.on('close', () => { slowClosed++; });
      res.on('close', () => { /* client side of the proxy closed */ });
      return true; // never answers
    },
  });
  deadPort = await freePort();
  const file = writeTempFile([
    serviceYaml('ok', [ok.port]),
    serviceYaml('dead', [deadPort]),
    serviceYaml('slow', [slow.port]),
    serviceYaml('mixed', [deadPort, ok.port]),
    serviceYaml('none', []),
    serviceYaml('unready', [ok.port], { notReady: [ok.port] }),
    routeYaml('dead', 'dead.test', 'dead'),
    routeYaml('slow', 'slow.test', 'slow', { annotations: { 'haproxy.router.openshift.io/timeout': '500ms' } }),
    routeYaml('mixed', 'mixed.test', 'mixed', { annotations: { 'haproxy.router.openshift.io/balance': 'roundrobin', 'haproxy.router.openshift.io/disable_cookies': 'true' } }),
    routeYaml('none', 'none.test', 'none'),
    routeYaml('unready', 'unready.test', 'unready'),
    routeYaml('zero', 'zero.test', 'ok', { spec: '  alternateBackends: []' }).replace('{ kind: Service, name: ok }', '{ kind: Service, name: ok, weight: 0 }'),
    routeYaml('hang', 'hang.test', 'slow', { annotations: { 'haproxy.router.openshift.io/timeout': '60s' } }),
  ].join('\n---\n'));
  router = await startRouter({ args: ['--file', file, '--backend-check-interval', '60s'] });
});

test.after.always(async () => {
  await router?.stop();
  await ok?.close();
  await slow?.close();
});

test('connect failure: 502 with a short body', async (t) => {
  const reply = await request(router.http, { host: 'dead.test' });
  t.is(reply.status, 502);
  t.is(reply.body, 'Bad gateway: could not connect to the backend\n');
});

test('no endpoints, or none ready: 503', async (t) => {
  const none = await request(router.http, { host: 'none.test' });
  t.is(none.status, 503);
  t.regex(none.body, /no ready and healthy endpoint/);
  t.is((await request(router.http, { host: 'unready.test' })).status, 503);
});

test('every backend weight 0: 503', async (t) => {
  const reply = await request(router.http, { host: 'zero.test' });
  t.is(reply.status, 503);
  t.regex(reply.body, /weight 0/);
});

test('upstream timeout (route annotation 500ms): 504', async (t) => {
  // A 504 at all proves the route's timeout answered: the backend would have answered 200 later.
  const reply = await request(router.http, { host: 'slow.test', path: '/?delay=3000' });
  t.is(reply.status, 504);
  t.regex(reply.body, /did not answer in time/);
});

test('an idempotent request retries a connect failure on another endpoint', async (t) => {
  // Round robin over [dead, ok]: without the retry, every other request would be a 502.
  for (let i = 0; i < 6; i++) {
    const reply = await request(router.http, { host: 'mixed.test' });
    t.is(reply.status, 200, `request ${i}`);
  }
  // A POST is not retried: it may see the 502 (the dead endpoint is tried at most once in two).
  const statuses = new Set<number>();
  for (let i = 0; i < 4; i++) statuses.add((await request(router.http, { host: 'mixed.test', method: 'POST', body: 'x' })).status);
  t.true(statuses.has(200));
  const text = await metricsText(router.admin);
  t.true((metricValue(text, 'switchyard_upstream_errors_total', { route: 'default/mixed', reason: 'connect' }) ?? 0) >= 1);
});

test('a client that aborts releases the upstream request and socket', async (t) => {
  const before = slowClosed;
  const req = http.request({ host: '127.0.0.1', port: router.http, path: '/hang', headers: { host: 'hang.test' }, agent: false });
  req.on('error', () => {});
  req.end();
  await eventually(() => slow.requests.some((r) => r.url === '/hang'), 5000);
  req.destroy();
  await eventually(() => slowClosed > before, 5000);
  // The aborted exchange's upstream socket is destroyed, not parked in the pool.
  await eventually(() => slow.openConnections() === 0, 5000);
  t.true(slowClosed > before);
});
