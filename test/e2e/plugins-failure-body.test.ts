// The failure phase and the body phases, end to end through a real router process: branded
// error pages for forwarding failures and for an endpoint's 5xx; a plugin's retry on another
// endpoint (granted for a GET and a buffered body, refused for a streamed one); streamed bodies
// rewritten both ways, sync and async, over HTTP/1.1 and HTTP/2; and a plugin that serialises
// the route and its context never prints key material.
import test from 'ava';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { startBackend, serviceYaml, routeYaml, type Backend } from '../support/backends.ts';
import { request } from '../support/http-client.ts';
import { createCa, issueCertificate, type TestCertificate } from '../support/certs.ts';
import { freePort } from '../support/ports.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const PLUGINS = ['error-pages', 'retry-elsewhere', 'shout', 'route-logger']
  .flatMap((p) => ['--plugin', path.join(root, 'test/fixtures/plugins', `${p}.ts`)]);
const MW = 'switchyard.io/middlewares';
const ONE_PER_ENDPOINT = { 'haproxy.router.openshift.io/balance': 'roundrobin', 'haproxy.router.openshift.io/disable_cookies': 'true' };

function middlewareYaml(name: string, plugin: string, config: unknown): string {
  return `apiVersion: switchyard.io/v1alpha1
kind: Middleware
metadata: { name: ${name}, namespace: default }
spec:
  plugin: ${plugin}
  config: ${JSON.stringify(config)}`;
}

let backend: Backend;
let silent: net.Server;
let router: RouterProcess;
let ca: TestCertificate;
let cert: TestCertificate;

test.before(async () => {
  ca = await createCa('failure and body CA');
  cert = await issueCertificate(ca, ['h2.test', 'secret.test']);
  backend = await startBackend('app');
  // Accepts connections and never answers: a timeout, not a connect failure.
  silent = net.createServer((socket) => { socket.on('data', () => {}); socket.on('error', () => {}); });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const silentPort = (silent.address() as net.AddressInfo).port;
  const deadPort = await freePort();
  const tls = `  tls: ${JSON.stringify({ termination: 'edge', certificate: cert.cert, key: cert.key })}`;
  const file = writeTempFile([
    serviceYaml('app', [backend.port]),
    serviceYaml('dead', [deadPort]),
    serviceYaml('flaky', [silentPort, backend.port]),
    middlewareYaml('pages', 'error-pages', {}),
    middlewareYaml('pages5xx', 'error-pages', { replace5xx: true }),
    middlewareYaml('retry', 'retry-elsewhere', {}),
    middlewareYaml('shout', 'shout', {}),
    middlewareYaml('shout-async', 'shout', { async: true }),
    middlewareYaml('leaky', 'route-logger', {}),
    routeYaml('pages', 'pages.test', 'dead', { annotations: { [MW]: 'pages' } }),
    routeYaml('pages5xx', 'pages5xx.test', 'app', { annotations: { [MW]: 'pages5xx' } }),
    // The timeout must end the silent endpoint's attempt and never the answering one's: 300 ms
    // cut the second attempt too on a loaded machine (a 504 instead of the retried 200).
    routeYaml('retry', 'retry.test', 'flaky', { annotations: { [MW]: 'retry', 'haproxy.router.openshift.io/timeout': '2s', ...ONE_PER_ENDPOINT } }),
    routeYaml('shout', 'shout.test', 'app', { annotations: { [MW]: 'shout' } }),
    routeYaml('shout-async', 'shout-async.test', 'app', { annotations: { [MW]: 'shout-async' } }),
    routeYaml('h2', 'h2.test', 'app', { annotations: { [MW]: 'shout-async' }, spec: tls }),
    routeYaml('secret', 'secret.test', 'app', { annotations: { [MW]: 'leaky' }, spec: tls }),
  ].join('\n---\n'));
  router = await startRouter({ args: ['--file', file, ...PLUGINS] });
});

test.after.always(async () => {
  await router?.stop();
  await backend?.close();
  silent?.close();
});

test('a forwarding failure is answered by the failure phase: the plugin\'s page instead of the 502', async (t) => {
  const reply = await request(router.http, { host: 'pages.test', path: '/' });
  t.is(reply.status, 503);
  t.is(reply.headers['x-failure-reason'], 'connect');
  t.regex(reply.body, /connect \(SY_UPSTREAM_CONNECT\) after 1 attempt/);
  t.is(reply.headers['x-switchyard-error'], undefined);
});

test('a response phase replaces an endpoint\'s 5xx; other responses pass', async (t) => {
  const replaced = await request(router.http, { host: 'pages5xx.test', path: '/?status=500' });
  t.is(replaced.status, 503);
  t.regex(replaced.body, /the service answered 500/);
  const fine = await request(router.http, { host: 'pages5xx.test', path: '/?status=201' });
  t.is(fine.status, 201);
  t.is(JSON.parse(fine.body).backend, 'app');
});

/** Send until one request went to the silent endpoint first (round robin over two endpoints). */
async function untilRetried(send: () => Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>) {
  for (let i = 0; i < 4; i++) {
    const reply = await send();
    if (reply.headers['x-attempts'] !== '1' || reply.status !== 200) return reply;
  }
  throw new Error('no request met the silent endpoint');
}

test('ctx.retry(): a timed-out GET is tried again on the other endpoint', async (t) => {
  const reply = await untilRetried(() => request(router.http, { host: 'retry.test', path: '/get' }));
  t.is(reply.status, 200);
  t.is(reply.headers['x-attempts'], '2');
  t.is(reply.headers['x-reasons'], 'timeout');
  t.is(reply.headers['x-retries'], 'true');
});

test('ctx.retry(): a buffered POST body is sent again; a streamed one is not (504, the retry refused)', async (t) => {
  const buffered = await untilRetried(() => request(router.http, { host: 'retry.test', path: '/buffered', method: 'POST', body: 'payload-1', headers: { 'x-buffer': '1' } }));
  t.is(buffered.status, 200);
  t.is(buffered.headers['x-attempts'], '2');
  t.is(JSON.parse(buffered.body).body, 'payload-1', 'the endpoint got the whole body on the second attempt');

  const logged = router.waitForLog((l) => l.msg === 'retry-elsewhere logged' && l.path === '/streamed' && l.status === 504);
  const streamed = await untilRetried(() => request(router.http, { host: 'retry.test', path: '/streamed', method: 'POST', body: 'payload-2' }));
  t.is(streamed.status, 504);
  t.like(await logged, { attempts: 1, granted: [false], canRetry: false, outcome: 'error' });
});

/** POST `parts` as a chunked body (each part a separate write). */
function postChunked(host: string, parts: string[]): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ port: router.http, host: '127.0.0.1', method: 'POST', path: '/echo', headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    for (const part of parts) req.write(part);
    req.end();
  });
}

for (const host of ['shout.test', 'shout-async.test']) {
  test(`requestBody and responseBody rewrite streamed bodies chunk by chunk (${host})`, async (t) => {
    const parts = Array.from({ length: 40 }, (_, i) => `part ${i} of a streamed body; `.repeat(100));
    const reply = await postChunked(host, parts);
    t.is(reply.status, 200);
    t.is(reply.headers['x-shouted'], 'yes');
    t.is(reply.headers['content-length'], undefined, 'the length changed: the response is chunked');
    const [json, trailer] = [reply.body.slice(0, reply.body.lastIndexOf('\n')), reply.body.slice(reply.body.lastIndexOf('\n') + 1)];
    const echoed = JSON.parse(json) as Record<string, unknown>;
    t.is(echoed.BODY, parts.join('').toUpperCase(), 'the endpoint got the upper-cased body; the client the upper-cased response');
    const sent = Buffer.byteLength(parts.join(''));
    t.regex(trailer, new RegExp(`^\\[up ${sent} down ${Buffer.byteLength(json)} chunks \\d+\\]$`));
  });
}

test('the same body phases over HTTP/2', async (t) => {
  const session = http2.connect(`https://127.0.0.1:${router.https}`, { servername: 'h2.test', ca: ca.cert });
  t.teardown(() => session.close());
  const stream = session.request({ ':method': 'POST', ':path': '/h2', ':authority': 'h2.test' });
  const body = 'stream me over h2 '.repeat(5000);
  stream.end(body);
  let text = '';
  stream.setEncoding('utf8').on('data', (c: string) => (text += c));
  const [headers] = await once(stream, 'response') as [http2.IncomingHttpHeaders];
  await once(stream, 'end');
  t.is(headers[':status'], 200 as unknown as string);
  t.is(headers['x-shouted'], 'yes');
  const echoed = JSON.parse(text.slice(0, text.lastIndexOf('\n'))) as Record<string, unknown>;
  t.is(echoed.BODY, body.toUpperCase());
});

test('a plugin that serialises ctx.route, ctx and services.route never prints key material', async (t) => {
  const logged = router.waitForLog((l) => l.msg === 'route-logger exchange');
  const session = http2.connect(`https://127.0.0.1:${router.https}`, { servername: 'secret.test', ca: ca.cert });
  t.teardown(() => session.close());
  const stream = session.request({ ':path': '/', ':authority': 'secret.test' });
  stream.resume();
  await once(stream, 'end');
  const line = await logged;
  t.like(JSON.parse(String(line.route)), { key: 'Route/default/secret', host: 'secret.test' });
  t.like(JSON.parse(String(line.ctx)), { kind: 'http', status: 200, outcome: 'forwarded' });
  const all = JSON.stringify(router.logs);
  t.true(all.includes('route-logger created'));
  t.false(all.includes('PRIVATE KEY'), 'no key in any log line');
  t.false(all.includes(cert.key.split('\n')[1]!), 'not even a line of it');
});
