// Active and passive health checks against real backends: kill one, traffic moves away;
// bring it back, traffic returns.
import test from 'ava';
import { startRouter, writeTempFile } from '../support/router-process.ts';
import { startBackend, serviceYaml, routeYaml } from '../support/backends.ts';
import { request, eventually, metricsText, metricValue } from '../support/http-client.ts';
import https from 'node:https';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createCa, issueCertificate } from '../support/certs.ts';

const RR = { 'haproxy.router.openshift.io/balance': 'roundrobin', 'haproxy.router.openshift.io/disable_cookies': 'true' };

test('active TCP check ejects a killed endpoint and brings it back', async (t) => {
  const a = await startBackend('a');
  let b = await startBackend('b');
  const bPort = b.port;
  t.teardown(async () => { await a.close(); await b.close(); });
  const file = writeTempFile([
    serviceYaml('svc', [a.port, b.port]),
    routeYaml('r', 'health.test', 'svc', { annotations: { ...RR, 'router.openshift.io/haproxy.health.check.interval': '200ms' } }),
  ].join('\n---\n'));
  const router = await startRouter({ args: ['--file', file] });
  t.teardown(() => router.stop());
  const seen = new Set<string>();
  for (let i = 0; i < 4; i++) seen.add(String((await request(router.http, { host: 'health.test' })).headers['x-backend']));
  t.deepEqual([...seen].sort(), ['a', 'b']);

  await b.close();
  // Within a few check intervals every request goes to a (no 502s leak to clients after that).
  await eventually(async () => {
    const debug = (await request(router.admin, { path: '/debug/routes' })).json<{ hosts: Array<{ routes: Array<{ backends: Array<{ endpoints: Array<{ port: number; healthy: boolean }> }> }> }> }>();
    const ep = debug.hosts[0]!.routes[0]!.backends[0]!.endpoints.find((e) => e.port === bPort);
    return ep?.healthy === false;
  }, 5000);
  for (let i = 0; i < 6; i++) {
    const reply = await request(router.http, { host: 'health.test' });
    t.is(reply.status, 200);
    t.is(reply.headers['x-backend'], 'a');
  }
  const text = await metricsText(router.admin);
  t.is(metricValue(text, 'switchyard_endpoint_up', { route: 'default/r', endpoint: `127.0.0.1:${bPort}` }), 0);

  b = await startBackend('b', { port: bPort });
  await eventually(async () => {
    const backends = new Set<string>();
    for (let i = 0; i < 4; i++) backends.add(String((await request(router.http, { host: 'health.test' })).headers['x-backend']));
    return backends.has('b');
  }, 5000);
  t.pass();
});

test('HTTP check with expect: an endpoint answering 500 on the check path is taken out', async (t) => {
  let failing = false;
  const a = await startBackend('a');
  const b = await startBackend('b', {
    handler: (req, res) => {
      if (req.url === '/favicon.ico') { res.writeHead(failing ? 500 : 200); res.end(); return true; }
      return false;
    },
  });
  t.teardown(async () => { await a.close(); await b.close(); });
  const file = writeTempFile([
    serviceYaml('svc', [a.port, b.port]),
    routeYaml('r', 'http-check.test', 'svc', {
      annotations: {
        ...RR,
        'switchyard.io/health-check-path': '/favicon.ico',
        'switchyard.io/health-check-interval': '150ms',
        'switchyard.io/health-check-timeout': '1s',
        'switchyard.io/health-check-rise': '2',
        'switchyard.io/health-check-fall': '3',
        'switchyard.io/health-check-expect': '2xx',
      },
    }),
  ].join('\n---\n'));
  const router = await startRouter({ args: ['--file', file] });
  t.teardown(() => router.stop());
  await eventually(() => b.requests.some((r) => r.url === '/favicon.ico'), 3000);
  failing = true;
  await eventually(async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) seen.add(String((await request(router.http, { host: 'http-check.test' })).headers['x-backend']));
    return seen.size === 1 && seen.has('a');
  }, 5000);
  failing = false;
  await eventually(async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) seen.add(String((await request(router.http, { host: 'http-check.test' })).headers['x-backend']));
    return seen.has('b');
  }, 5000);
  t.pass();
});

test('every endpoint down: 503 quickly, not a hang', async (t) => {
  const a = await startBackend('a');
  const b = await startBackend('b');
  const file = writeTempFile([
    serviceYaml('svc', [a.port, b.port]),
    routeYaml('r', 'down.test', 'svc', { annotations: { 'router.openshift.io/haproxy.health.check.interval': '150ms' } }),
  ].join('\n---\n'));
  const router = await startRouter({ args: ['--file', file] });
  t.teardown(() => router.stop());
  await a.close();
  await b.close();
  await eventually(async () => (await request(router.http, { host: 'down.test' })).status === 503, 5000);
  // Answered from the health verdicts, without trying to connect anywhere (not a connect timeout).
  const reply = await request(router.http, { host: 'down.test' });
  t.is(reply.status, 503);
  t.is(reply.headers['x-switchyard-error'], 'SY_NO_ENDPOINT');
});

test('passive: consecutive failures eject an endpoint without an active check', async (t) => {
  const good = await startBackend('good');
  // Resets count for passive ejection (a 5xx answer does not: test/e2e/passive-ejection.test.ts).
  const bad = await startBackend('bad', { handler: (req) => { req.socket.resetAndDestroy(); return true; } });
  t.teardown(async () => { await good.close(); await bad.close(); });
  const file = writeTempFile([
    serviceYaml('svc', [good.port, bad.port]),
    // A long interval: after its first probe, the active TCP check stays out of the way.
    routeYaml('r', 'passive.test', 'svc', { annotations: { ...RR, 'router.openshift.io/haproxy.health.check.interval': '1h' } }),
  ].join('\n---\n'));
  const router = await startRouter({ args: ['--file', file] });
  t.teardown(() => router.stop());
  // The active TCP check (which passes: the port is open) probes once soon after start, then
  // not for an hour. Only a pass that started after an ejection ends it: once its connection
  // is accepted, that first probe has started, so it cannot.
  await eventually(() => bad.acceptedConnections() >= 1, 5000);
  // Round robin alternates good/bad: the third consecutive reset from bad ejects it (threshold 3;
  // a GET is retried once on the same endpoint after a reset, so each bad turn counts twice).
  const ejected = router.waitForLog((l) => l.msg === 'endpoint ejected after consecutive failures');
  let failed = 0;
  for (let i = 0; i < 20 && failed < 2; i++) if ((await request(router.http, { host: 'passive.test' })).status === 502) failed++;
  t.is(failed, 2);
  await ejected;
  // Ejected for the 5 s backoff: everything goes to good now.
  for (let i = 0; i < 5; i++) t.is((await request(router.http, { host: 'passive.test' })).headers['x-backend'], 'good');
});

test('HTTP checks speak TLS to reencrypt (verified as the route does) and passthrough endpoints', async (t) => {
  const ca = await createCa('health CA');
  const cert = await issueCertificate(ca, ['secure.default.svc', 'pass-check.test']);
  const probes: string[] = [];
  const secure = https.createServer({ cert: cert.cert, key: cert.key }, (req, res) => {
    if (req.headers['user-agent'] === 'switchyard-health-check') probes.push(String((req.socket as import('node:tls').TLSSocket).servername));
    res.writeHead(200, { 'content-length': 2 });
    res.end('ok');
  });
  secure.listen(0, '127.0.0.1');
  await once(secure, 'listening');
  t.teardown(() => { secure.closeAllConnections(); secure.close(); });
  const port = (secure.address() as AddressInfo).port;
  const check = { 'switchyard.io/health-check-path': '/healthz', 'switchyard.io/health-check-interval': '150ms', 'switchyard.io/health-check-fall': '1' };
  const file = writeTempFile([
    serviceYaml('secure', [port], { portName: 'https' }),
    routeYaml('re', 'reencrypt-check.test', 'secure', { annotations: check, spec: `  tls: ${JSON.stringify({ termination: 'reencrypt', destinationCACertificate: ca.cert, insecureEdgeTerminationPolicy: 'Allow' })}` }),
    routeYaml('pass', 'pass-check.test', 'secure', { annotations: { ...check, 'switchyard.io/health-check-path': '/pass' }, spec: `  tls: ${JSON.stringify({ termination: 'passthrough' })}` }),
  ].join('\n---\n'));
  const router = await startRouter({ args: ['--file', file] });
  t.teardown(() => router.stop());
  // Both checks reach the endpoint over TLS, each with its route's server name, several times over.
  await eventually(() => probes.filter((n) => n === 'secure.default.svc').length >= 3 && probes.filter((n) => n === 'pass-check.test').length >= 3, 5000);
  t.false(router.logs.some((l) => l.msg === 'endpoint down'));
  const reply = await request(router.http, { host: 'reencrypt-check.test' });
  t.is(reply.status, 200);
});
