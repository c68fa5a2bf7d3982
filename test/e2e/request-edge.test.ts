// Request-head and request-body edges (issue 10): Host syntax and duplicates, absolute-form vs
// Host, stalled bodies closed after --client-timeout, the HTTP/2 stream limit, a pool that 130
// stalled uploads cannot monopolise, and the if-none forwarded policy with Connection tricks.
import test from 'ava';
import http2 from 'node:http2';
import net from 'node:net';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { startBackend, serviceYaml, routeYaml, type Backend } from '../support/backends.ts';
import { eventually, rawExchange, request } from '../support/http-client.ts';
import { createCa, issueCertificate } from '../support/certs.ts';

let router: RouterProcess;
let slowRouter: RouterProcess;
let echo: Backend;
let ca: Awaited<ReturnType<typeof createCa>>;

test.before(async () => {
  echo = await startBackend('echo');
  ca = await createCa('edge CA');
  const cert = await issueCertificate(ca, ['h2.test']);
  const file = writeTempFile([
    serviceYaml('echo', [echo.port]),
    routeYaml('a', 'a.test', 'echo'),
    routeYaml('b', 'b.test', 'echo'),
    routeYaml('upload', 'upload.test', 'echo'),
    routeYaml('other', 'other.test', 'echo'),
    routeYaml('ifnone', 'ifnone.test', 'echo', { annotations: { 'haproxy.router.openshift.io/set-forwarded-headers': 'if-none' } }),
    routeYaml('h2', 'h2.test', 'echo', { spec: `  tls: ${JSON.stringify({ termination: 'edge', certificate: cert.cert, key: cert.key })}` }),
  ].join('\n---\n'));
  [router, slowRouter] = await Promise.all([
    startRouter({ args: ['--file', file, '--client-timeout', '300ms'] }),
    // Stalled bodies stay stalled for the pool test.
    startRouter({ args: ['--file', file, '--client-timeout', '60s'] }),
  ]);
});

test.after.always(async () => {
  await router?.stop();
  await slowRouter?.stop();
  await echo?.close();
});

test('Host with anything but a port after the host name is refused (a.test:@evil.example)', async (t) => {
  for (const host of ['a.test:@evil.example', 'a.test:80@evil.example', 'a.test/x', 'a.test:80x', 'a.test evil']) {
    const reply = await rawExchange(router.http, `GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    t.regex(reply, /^HTTP\/1\.1 400 [^]*Connection: close/i, host);
  }
  t.regex(await rawExchange(router.http, 'GET / HTTP/1.1\r\nHost: a.test:8080\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 200 /);
  t.false(echo.requests.some((r) => String(r.headers.host).includes('evil')));
});

test('duplicate Host headers are refused', async (t) => {
  const reply = await rawExchange(router.http, 'GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n');
  t.regex(reply, /^HTTP\/1\.1 400 /);
});

test('absolute-form: the URI authority wins over Host, and is the Host the backend sees', async (t) => {
  const reply = await rawExchange(router.http, 'GET http://b.test/abs?q=1 HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n');
  t.regex(reply, /^HTTP\/1\.1 200 /);
  t.regex(reply, /"url":"\/abs\?q=1"/);
  t.regex(reply, /"host":"b\.test"/);
  t.regex(await rawExchange(router.http, 'GET http://user@b.test/ HTTP/1.1\r\nHost: b.test\r\n\r\n'), /^HTTP\/1\.1 400 /);
});

test('a stalled request body is answered 408 and the connection closed', async (t) => {
  const reply = await rawExchange(router.http, 'POST / HTTP/1.1\r\nHost: upload.test\r\nContent-Length: 100\r\n\r\nabc', 20_000);
  t.regex(reply, /^HTTP\/1\.1 408 [^]*the request body stalled\n$/);
});

test('a stalled request body over HTTP/2 is cut too; the server advertises a sane stream limit', async (t) => {
  const session = http2.connect(`https://127.0.0.1:${router.https}`, { ca: ca.cert, servername: 'h2.test' });
  session.on('error', () => {});
  t.teardown(() => session.close());
  const settings = new Promise<http2.Settings>((resolve) => session.once('remoteSettings', resolve));
  // The request goes out with the connection preface: a session with no stream for the router's
  // 300 ms --client-timeout is closed (GOAWAY), and a request sent after that is refused.
  const stream = session.request({ ':method': 'POST', ':path': '/', ':authority': 'h2.test', 'content-length': '100' }, { endStream: false });
  stream.write('abc');
  t.is((await settings).maxConcurrentStreams, 100);
  const status = await new Promise<number>((resolve, reject) => {
    stream.on('response', (h) => resolve(Number(h[':status'])));
    stream.on('error', reject);
  });
  t.is(status, 408);
});

test('an HTTP/2 request answered later than --client-timeout is not cut with its quiet session', async (t) => {
  // Nothing moves on the session while the backend takes 1.5 s (the router's --client-timeout is
  // 300 ms): the session's idle timeout must not take the stream in flight with it.
  const session = http2.connect(`https://127.0.0.1:${router.https}`, { ca: ca.cert, servername: 'h2.test' });
  session.on('error', () => {});
  t.teardown(() => session.close());
  const stream = session.request({ ':path': '/?delay=1500', ':authority': 'h2.test' }, { endStream: true });
  stream.resume();
  const status = await new Promise<number>((resolve, reject) => {
    stream.on('response', (h) => resolve(Number(h[':status'])));
    stream.on('error', reject);
    stream.on('close', () => reject(new Error(`stream closed without an answer (code ${stream.rstCode})`)));
  });
  t.is(status, 200);
});

test('130 stalled uploads do not make a GET to another route on the same endpoint wait', async (t) => {
  const sockets: net.Socket[] = [];
  t.teardown(() => { for (const s of sockets) s.destroy(); });
  const before = echo.openConnections();
  for (let i = 0; i < 130; i++) {
    const s = net.connect(slowRouter.http, '127.0.0.1');
    s.on('error', () => {});
    s.write('POST / HTTP/1.1\r\nHost: upload.test\r\nContent-Length: 100\r\n\r\nabc');
    sockets.push(s);
  }
  // Every upload has reached the backend (each holds an upstream connection).
  await eventually(() => echo.openConnections() >= before + 130, 20_000);
  const reply = await request(slowRouter.http, { host: 'other.test', timeoutMs: 10_000 });
  t.is(reply.status, 200);
});

test('if-none: Connection: X-Forwarded-For does not leave the backend without X-Forwarded-For', async (t) => {
  const reply = await request(router.http, { host: 'ifnone.test', headers: { connection: 'X-Forwarded-For', 'x-forwarded-for': '6.6.6.6' } });
  t.is(reply.status, 200);
  t.is(reply.json<{ headers: Record<string, string> }>().headers['x-forwarded-for'], '127.0.0.1');
});
