// What passive ejection counts (connect failures, resets, timeouts — never a status the backend
// answered, never the router's own refusals such as `OPTIONS *`), the panic threshold (the last
// available endpoint of a route is never ejected), and interim/invalid responses from the
// backend: 103 forwarded, an unsolicited 100 and invalid status lines answered 502 without
// blaming the endpoint. Regressions of issue 10.
import test from 'ava';
import http2 from 'node:http2';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { serviceYaml, routeYaml } from '../support/backends.ts';
import { rawExchange, request } from '../support/http-client.ts';
import { startRawBackend, okAnswer, type RawBackend } from '../support/raw-backend.ts';
import { createCa, issueCertificate } from '../support/certs.ts';

let router: RouterProcess;
let a: RawBackend;
let b: RawBackend;
let lone: RawBackend;
let interimA: RawBackend;
let interimB: RawBackend;
let ca: Awaited<ReturnType<typeof createCa>>;

function answer(requestLine: string): string | null {
  const path = requestLine.split(' ')[1] ?? '/';
  if (path === '/fail') return 'HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nfail';
  if (path === '/reset') return null;
  if (path === '/103') return 'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal';
  if (path === '/100') return 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal';
  if (path === '/099') return 'HTTP/1.1 099 Odd\r\nContent-Length: 2\r\n\r\nok';
  if (path === '/ctl') return 'HTTP/1.1 200 O\x01K\r\nContent-Length: 2\r\n\r\nok';
  return okAnswer(requestLine);
}

const pool = ['haproxy.router.openshift.io/balance', 'roundrobin', 'haproxy.router.openshift.io/disable_cookies', 'true'] as const;
const annotations = { [pool[0]]: pool[1], [pool[2]]: pool[3] };

test.before(async () => {
  [a, b, lone, interimA, interimB] = await Promise.all([1, 2, 3, 4, 5].map(() => startRawBackend(answer)));
  ca = await createCa('passive CA');
  const cert = await issueCertificate(ca, ['pair-tls.test']);
  const file = writeTempFile([
    serviceYaml('pair', [a.port, b.port]),
    serviceYaml('lone', [lone.port]),
    serviceYaml('interim', [interimA.port, interimB.port]),
    routeYaml('pair', 'pair.test', 'pair', { annotations }),
    routeYaml('pair-tls', 'pair-tls.test', 'pair', { annotations, spec: `  tls: ${JSON.stringify({ termination: 'edge', certificate: cert.cert, key: cert.key })}` }),
    routeYaml('lone', 'lone.test', 'lone'),
    routeYaml('interim', 'interim.test', 'interim', { annotations }),
  ].join('\n---\n'));
  router = await startRouter({ args: ['--file', file, '--backend-check-interval', '60s'] });
});

test.after.always(async () => {
  await router?.stop();
  await Promise.all([a, b, lone, interimA, interimB].map((x) => x?.close()));
});

/** Send `count` GETs of `/` and report which backends answered them. */
async function spread(host: string, backends: RawBackend[], count = 6): Promise<boolean[]> {
  const before = backends.map((x) => x.heads().length);
  for (let i = 0; i < count; i++) t_ok((await request(router.http, { host })).status);
  return backends.map((x, i) => x.heads().length > before[i]!);
}

function t_ok(status: number): void {
  if (status !== 200) throw new Error(`expected 200, got ${status}`);
}

function ejections(): number {
  return router.logs.filter((l) => l.msg === 'endpoint ejected after consecutive failures').length;
}

test.serial('5xx answers never eject an endpoint: both keep serving', async (t) => {
  for (let i = 0; i < 8; i++) t.is((await request(router.http, { host: 'pair.test', path: '/fail' })).status, 500);
  t.deepEqual(await spread('pair.test', [a, b]), [true, true]);
  t.is(ejections(), 0);
});

test.serial('OPTIONS * (the router cannot forward it) is answered 400 and never blames the endpoint', async (t) => {
  for (let i = 0; i < 6; i++) {
    const reply = await rawExchange(router.http, 'OPTIONS * HTTP/1.1\r\nHost: pair.test\r\nConnection: close\r\n\r\n');
    t.regex(reply, /^HTTP\/1\.1 400 /);
  }
  t.deepEqual(await spread('pair.test', [a, b]), [true, true]);
  t.is(ejections(), 0);
});

test.serial('OPTIONS * over HTTP/2 does not blame the endpoint either', async (t) => {
  const session = http2.connect(`https://127.0.0.1:${router.https}`, { ca: ca.cert, servername: 'pair-tls.test' });
  session.on('error', () => {});
  try {
    for (let i = 0; i < 6; i++) {
      const stream = session.request({ ':method': 'OPTIONS', ':path': '*', ':authority': 'pair-tls.test' });
      const status = await new Promise<number>((resolve, reject) => {
        stream.on('response', (h) => resolve(Number(h[':status'])));
        stream.on('error', reject);
        stream.resume();
      });
      t.is(status, 400);
    }
  } finally {
    session.close();
  }
  t.deepEqual(await spread('pair.test', [a, b]), [true, true]);
  t.is(ejections(), 0);
});

test.serial('panic threshold: resets on the only endpoint never make the route answer 503', async (t) => {
  for (let i = 0; i < 6; i++) t.is((await request(router.http, { host: 'lone.test', path: '/reset' })).status, 502);
  t.is((await request(router.http, { host: 'lone.test' })).status, 200);
});

test.serial('a reset on one of two endpoints still ejects it (what does count)', async (t) => {
  const before = ejections();
  // Round robin alternates; the reset is a POST so it is not retried elsewhere.
  for (let i = 0; i < 8; i++) await request(router.http, { host: 'pair.test', path: '/reset', method: 'POST', body: 'x' });
  await router.waitForLog((l) => l.msg === 'endpoint ejected after consecutive failures' && ejections() > before);
  t.true(ejections() > before);
});

test.serial('103 Early Hints is forwarded, then the final response', async (t) => {
  const reply = await rawExchange(router.http, 'GET /103 HTTP/1.1\r\nHost: interim.test\r\nConnection: close\r\n\r\n');
  t.regex(reply, /^HTTP\/1\.1 103 Early Hints\r\n[^]*link: <\/style\.css>; rel=preload; as=style\r\n\r\nHTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nfinal$/i);
});

test.serial('an unsolicited 100 Continue and invalid status lines: 502 with a body, endpoints not blamed', async (t) => {
  const before = ejections();
  for (const path of ['/100', '/099', '/ctl', '/100', '/099', '/ctl']) {
    const reply = await rawExchange(router.http, `GET ${path} HTTP/1.1\r\nHost: interim.test\r\nConnection: close\r\n\r\n`);
    t.regex(reply, /^HTTP\/1\.1 502 [^]*invalid response from the backend\n$/, path);
  }
  t.deepEqual(await spread('interim.test', [interimA, interimB]), [true, true]);
  t.is(ejections(), before);
});
