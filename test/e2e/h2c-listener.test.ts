// h2c by prior knowledge on the HTTP port (RFC 9113 §3.3): a connection that opens with the
// HTTP/2 preface is served as HTTP/2, every other one as HTTP/1.1; --disable-http2 turns h2c
// off (the preface is then an invalid HTTP/1.1 request, 400 as before).
import test from 'ava';
import net from 'node:net';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { startBackend, serviceYaml, routeYaml, type Backend } from '../support/backends.ts';
import { metricsText, metricValue, rawExchange, request } from '../support/http-client.ts';
import { h2Connect, h2Request } from '../support/h2-client.ts';
import { ErrorCode, RawH2Connection, getRequest, headersFrame, rstFrame } from '../support/h2-frames.ts';

let router: RouterProcess;
let noH2: RouterProcess;
let echo: Backend;

const PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';

test.before(async () => {
  echo = await startBackend('echo');
  const file = writeTempFile([serviceYaml('echo', [echo.port]), routeYaml('a', 'a.test', 'echo')].join('\n---\n'));
  [router, noH2] = await Promise.all([
    startRouter({ args: ['--file', file, '--header-timeout', '2s', '--http2-connection-glitches', '20', '--http2-client-glitches', '30'] }),
    startRouter({ args: ['--file', file, '--disable-http2'] }),
  ]);
});

test.after.always(async () => {
  await router?.stop();
  await noH2?.stop();
  await echo?.close();
});

type Echo = { headers: Record<string, string>; url: string; method: string; body: string };

test('h2c by prior knowledge: requests on one connection are routed by :authority', async (t) => {
  const session = h2Connect(`http://127.0.0.1:${router.http}`);
  t.teardown(() => session.close());
  const replies = await Promise.all([0, 1, 2].map((i) => h2Request(session, { ':path': `/x${i}?q=1`, ':authority': 'a.test' })));
  for (const [i, reply] of replies.entries()) {
    t.is(reply.status, 200);
    const echoed = JSON.parse(reply.text()) as Echo;
    t.is(echoed.url, `/x${i}?q=1`);
    t.is(echoed.headers.host, 'a.test');
    t.is(echoed.headers['x-forwarded-proto'], 'http');
  }
  const post = await h2Request(session, { ':method': 'POST', ':path': '/up', ':authority': 'a.test' }, 'payload');
  t.is((JSON.parse(post.text()) as Echo).body, 'payload');
  const missing = await h2Request(session, { ':path': '/', ':authority': 'nope.test' });
  t.is(missing.status, 404);
  t.is(missing.headers['x-switchyard-error'], 'SY_NO_ROUTE');
});

test('HTTP/1.1 on the same port is unaffected, including methods that start like the preface', async (t) => {
  for (const method of ['GET', 'POST', 'PUT', 'PATCH']) {
    const reply = await request(router.http, { host: 'a.test', method, path: '/one', body: method === 'GET' ? undefined : 'b' });
    t.is(reply.status, 200, method);
    t.is(reply.json<Echo>().method, method);
  }
  // "PRI" with an HTTP/1.1 request line is not the preface: an HTTP/1.1 request (refused by Node's parser).
  t.regex(await rawExchange(router.http, 'PRI / HTTP/1.1\r\nHost: a.test\r\n\r\n'), /^HTTP\/1\.1 400 /);
});

test('a preface that arrives byte by byte is still recognised', async (t) => {
  const socket = net.connect(router.http, '127.0.0.1');
  t.teardown(() => socket.destroy());
  await new Promise((resolve) => socket.once('connect', resolve));
  for (const byte of Buffer.from(PREFACE)) {
    socket.write(Buffer.from([byte]));
    await new Promise((resolve) => setImmediate(resolve));
  }
  // The server's first frame after the preface is its SETTINGS frame (type 0x4).
  const frame = await new Promise<Buffer>((resolve) => socket.once('data', resolve));
  t.is(frame[3], 0x4);
});

test('a client that stops inside the preface gets the header-timeout 408 (it is an HTTP/1.1 request until the preface is whole)', async (t) => {
  t.regex(await rawExchange(router.http, 'PRI * HTTP', 10_000), /^HTTP\/1\.1 408 /);
});

test('--disable-http2: the preface is an invalid HTTP/1.1 request (400), HTTP/1.1 still served', async (t) => {
  t.regex(await rawExchange(noH2.http, PREFACE), /^HTTP\/1\.1 400 /);
  t.is((await request(noH2.http, { host: 'a.test' })).status, 200);
});

test('h2c gets the edge checks of every other way in: CONNECT 405, a #fragment 400', async (t) => {
  const session = h2Connect(`http://127.0.0.1:${router.http}`);
  t.teardown(() => session.close());
  const connect = await h2Request(session, { ':method': 'CONNECT', ':authority': `127.0.0.1:${echo.port}` });
  t.is(connect.status, 405);
  t.is(connect.headers['x-switchyard-error'], 'SY_METHOD_NOT_ALLOWED');
  const fragment = await h2Request(session, { ':path': '/x#frag', ':authority': 'a.test' });
  t.is(fragment.status, 400);
  t.false(echo.requests.some((r) => r.method === 'CONNECT' || r.url.includes('#')));
});

test('h2c has the rapid-reset guard of h2: a burst of HEADERS + RST_STREAM ends in GOAWAY and a closed connection, no reset stream reaches the backend', async (t) => {
  const connection = await RawH2Connection.openCleartext({ port: router.http, localAddress: '127.0.0.41' });
  t.teardown(() => connection.destroy());
  const parts: Buffer[] = [];
  for (let i = 0; i < 40; i++) parts.push(headersFrame(1 + 2 * i, getRequest('a.test', `/h2c-reset/${i}`)), rstFrame(1 + 2 * i, ErrorCode.CANCEL));
  connection.write(Buffer.concat(parts));
  await connection.wait(() => connection.closed);
  // Closed with GOAWAY: by the glitch guard (ENHANCE_YOUR_CALM), or — when the whole burst
  // arrives in one read — sometimes earlier by nghttp2 itself (NO_ERROR, nothing counted): the
  // code is not asserted, the effect is.
  t.not(connection.goaway, null);
  t.true(connection.closed);
  t.false(echo.requests.some((r) => r.url.startsWith('/h2c-reset/')), 'no reset stream reached the backend');
});
