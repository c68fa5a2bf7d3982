// The HTTP edge: header policies, hop-by-hop stripping, malformed and oversized requests,
// slowloris, sticky cookies and weighted splits — against a real router process.
import test from 'ava';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { startBackend, serviceYaml, routeYaml, type Backend } from '../support/backends.ts';
import { request, rawExchange } from '../support/http-client.ts';

let router: RouterProcess;
let a: Backend;
let b: Backend;

test.before(async () => {
  a = await startBackend('a');
  b = await startBackend('b');
  const weighted = `apiVersion: route.openshift.io/v1
kind: Route
metadata:
  name: weighted
  annotations: { haproxy.router.openshift.io/balance: roundrobin, haproxy.router.openshift.io/disable_cookies: "true" }
spec:
  host: weighted.test
  to: { kind: Service, name: a, weight: 70 }
  alternateBackends: [{ kind: Service, name: b, weight: 30 }, { kind: Service, name: c, weight: 0 }]`;
  const file = writeTempFile([
    serviceYaml('a', [a.port]),
    serviceYaml('b', [b.port]),
    serviceYaml('c', [a.port]),
    serviceYaml('ab', [a.port, b.port]),
    routeYaml('append', 'append.test', 'a'),
    routeYaml('replace', 'replace.test', 'a', { annotations: { 'haproxy.router.openshift.io/set-forwarded-headers': 'replace' } }),
    routeYaml('ifnone', 'ifnone.test', 'a', { annotations: { 'haproxy.router.openshift.io/set-forwarded-headers': 'if-none' } }),
    routeYaml('never', 'never.test', 'a', { annotations: { 'haproxy.router.openshift.io/set-forwarded-headers': 'never' } }),
    routeYaml('sticky', 'sticky.test', 'ab', { annotations: { 'router.openshift.io/cookie_name': 'pin' } }),
    routeYaml('allow', 'allow.test', 'a', { annotations: { 'haproxy.router.openshift.io/ip_allowlist': '10.0.0.0/8 192.168.1.1' } }),
    routeYaml('rewrite', 'rewrite.test', 'a', { path: '/app', annotations: { 'haproxy.router.openshift.io/rewrite-target': '/' } }),
    weighted,
  ].join('\n---\n'));
  router = await startRouter({ args: ['--file', file, '--header-timeout', '1s', '--max-header-size', '4096'] });
});

test.after.always(async () => {
  await router?.stop();
  await a?.close();
  await b?.close();
});

type Echo = { headers: Record<string, string | undefined>; url: string };

test('append (default): X-Forwarded-* and Forwarded appended to what the client sent', async (t) => {
  const reply = await request(router.http, { host: 'append.test', headers: { 'x-forwarded-for': '203.0.113.9', forwarded: 'for=203.0.113.9' } });
  const h = reply.json<Echo>().headers;
  t.is(h['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
  t.is(h['x-forwarded-host'], 'append.test');
  t.is(h['x-forwarded-proto'], 'http');
  t.is(h['x-forwarded-port'], String(router.http));
  t.is(h.forwarded, 'for=203.0.113.9, for=127.0.0.1;host=append.test;proto=http');
  t.is(h.host, 'append.test');
});

test('replace: a spoofed X-Forwarded-For does not reach the backend', async (t) => {
  const h = (await request(router.http, { host: 'replace.test', headers: { 'x-forwarded-for': '6.6.6.6', 'x-forwarded-proto': 'https' } })).json<Echo>().headers;
  t.is(h['x-forwarded-for'], '127.0.0.1');
  t.is(h['x-forwarded-proto'], 'http');
});

test('if-none keeps the client value; never passes everything through untouched', async (t) => {
  const h1 = (await request(router.http, { host: 'ifnone.test', headers: { 'x-forwarded-for': '6.6.6.6' } })).json<Echo>().headers;
  t.is(h1['x-forwarded-for'], '6.6.6.6');
  t.is(h1['x-forwarded-proto'], 'http');
  const h2 = (await request(router.http, { host: 'never.test' })).json<Echo>().headers;
  t.is(h2['x-forwarded-for'], undefined);
  t.is(h2.forwarded, undefined);
});

test('hop-by-hop headers are removed, including those named by Connection', async (t) => {
  const h = (await request(router.http, {
    host: 'append.test',
    headers: { connection: 'keep-alive, x-secret-hop', 'x-secret-hop': '1', 'keep-alive': 'timeout=5', 'proxy-authorization': 'Basic Zm9vOmJhcg==', te: 'trailers', 'x-end-to-end': 'yes' },
  })).json<Echo>().headers;
  t.is(h['x-secret-hop'], undefined);
  t.is(h['keep-alive'], undefined);
  t.is(h['proxy-authorization'], undefined);
  t.is(h.te, 'trailers');
  t.is(h['x-end-to-end'], 'yes');
});

test('ip_allowlist: other sources get 403', async (t) => {
  const reply = await request(router.http, { host: 'allow.test' });
  t.is(reply.status, 403);
});

test('rewrite-target replaces the route path prefix', async (t) => {
  t.is((await request(router.http, { host: 'rewrite.test', path: '/app/x?y=1' })).json<Echo>().url, '/x?y=1');
  t.is((await request(router.http, { host: 'rewrite.test', path: '/app' })).json<Echo>().url, '/');
});

test('sticky cookie pins a client to one endpoint; the value is opaque', async (t) => {
  const first = await request(router.http, { host: 'sticky.test' });
  const setCookie = String(first.headers['set-cookie']);
  t.regex(setCookie, /^pin=[0-9a-f]+;.*HttpOnly/i);
  t.false(setCookie.includes('127.0.0.1'));
  const cookie = setCookie.split(';')[0]!;
  const pinned = first.headers['x-backend'];
  for (let i = 0; i < 8; i++) {
    const reply = await request(router.http, { host: 'sticky.test', headers: { cookie: `other=1; ${cookie}` } });
    t.is(reply.headers['x-backend'], pinned);
    t.is(reply.headers['set-cookie'], undefined);
  }
  // A cookie naming an unknown endpoint falls back to the balancer (and gets a fresh cookie).
  const stale = await request(router.http, { host: 'sticky.test', headers: { cookie: 'pin=0000000000000000' } });
  t.is(stale.status, 200);
  t.regex(String(stale.headers['set-cookie']), /^pin=/);
});

test('weights 70/30/0 are honoured', async (t) => {
  const counts: Record<string, number> = { a: 0, b: 0 };
  for (let i = 0; i < 100; i++) counts[String((await request(router.http, { host: 'weighted.test' })).headers['x-backend'])]!++;
  // c has weight 0 and would answer as "a": a's share must stay near 70, not 70+.
  t.true(counts.a! >= 60 && counts.a! <= 80, JSON.stringify(counts));
  t.true(counts.b! >= 20 && counts.b! <= 40, JSON.stringify(counts));
});

test('headers larger than --max-header-size: 431 and close', async (t) => {
  const response = await rawExchange(router.http, `GET / HTTP/1.1\r\nHost: append.test\r\nX-Big: ${'x'.repeat(8000)}\r\n\r\n`);
  t.regex(response, /^HTTP\/1\.1 431 /);
});

test('request smuggling shapes are refused with 400', async (t) => {
  const clte = await rawExchange(router.http, 'POST / HTTP/1.1\r\nHost: append.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: append.test\r\n\r\n');
  t.regex(clte, /^HTTP\/1\.1 400 /);
  t.false(a.requests.some((r) => r.url === '/smuggled'));
  const dupCl = await rawExchange(router.http, 'POST / HTTP/1.1\r\nHost: append.test\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab');
  t.regex(dupCl, /^HTTP\/1\.1 400 /);
  const garbage = await rawExchange(router.http, 'NOT HTTP AT ALL\r\n\r\n');
  t.regex(garbage, /^HTTP\/1\.1 400 /);
});

test('slowloris: incomplete headers are cut after --header-timeout with 408', async (t) => {
  // The 408 is the router cutting the client (rawExchange would return nothing at its own bound).
  const response = await rawExchange(router.http, 'GET / HTTP/1.1\r\nHost: append.test\r\nX-Slow: 1', 6000);
  t.regex(response, /^HTTP\/1\.1 408 /);
});

test('absolute-form request target is routed by its path', async (t) => {
  const response = await rawExchange(router.http, `GET http://append.test/abs?x=1 HTTP/1.1\r\nHost: append.test\r\nConnection: close\r\n\r\n`);
  t.regex(response, /^HTTP\/1\.1 200 /);
  t.true(a.requests.some((r) => r.url === '/abs?x=1'));
});
