// HTTP/2 edges found by the second black-box attack (issue 19), each against a router with
// `--workers 0` and `--workers 2`, an edge route with its own certificate (so h2 is offered), and
// a backend that records what reaches it:
// - a `#fragment` in `:path` is refused 400 (never routed on the raw path, never forwarded);
// - CONNECT is refused with a 405 (a 2xx would mean the tunnel is open, RFC 9113 §8.5);
// - access-log lines carry the client address, and a stream the client cancelled before any
//   response is logged as 499, not completed — the same fields and values as over HTTP/1.1.
import test from 'ava';
import http from 'node:http';
import http2 from 'node:http2';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { startBackend, serviceYaml, routeYaml, type Backend } from '../support/backends.ts';
import { request } from '../support/http-client.ts';
import { createCa, issueCertificate, type TestCertificate } from '../support/certs.ts';

let echo: Backend;
let ca: TestCertificate;
const routers: Record<string, RouterProcess> = {};
/** Requests to /hold/* wait here until the test lets them go (or the router gives up on them). */
const held = new Map<string, http.ServerResponse>();
const heldWaiters = new Map<string, () => void>();

test.before(async () => {
  echo = await startBackend('echo', {
    handler: (req, res) => {
      if (!req.url?.startsWith('/hold/')) return false;
      held.set(req.url, res);
      heldWaiters.get(req.url)?.();
      return true;
    },
  });
  ca = await createCa('h2 edge CA');
  const cert = await issueCertificate(ca, ['h2.test']);
  const tlsSpec = `  tls: ${JSON.stringify({ termination: 'edge', certificate: cert.cert, key: cert.key, insecureEdgeTerminationPolicy: 'Allow' })}`;
  const file = writeTempFile([
    serviceYaml('echo', [echo.port]),
    routeYaml('site', 'h2.test', 'echo', { spec: tlsSpec }),
    // The policy a fragment must not route around: /admin is for 10.0.0.0/8 only.
    routeYaml('admin', 'h2.test', 'echo', { path: '/admin', annotations: { 'haproxy.router.openshift.io/ip_allowlist': '10.0.0.0/8' }, spec: tlsSpec }),
  ].join('\n---\n'));
  const args = (workers: string) => ['--file', file, '--workers', workers, '--access-log', '--backend-check-interval', '60s'];
  [routers.w0, routers.w2] = await Promise.all([
    startRouter({ args: args('0'), env: { ROUTER_LOG_LEVEL: 'info' } }),
    startRouter({ args: args('2'), env: { ROUTER_LOG_LEVEL: 'info' } }),
  ]);
});

test.after.always(async () => {
  for (const res of held.values()) res.destroy();
  await Promise.all(Object.values(routers).map((r) => r.stop()));
  await echo?.close();
});

function connect(t: import('ava').ExecutionContext, router: RouterProcess): http2.ClientHttp2Session {
  const session = http2.connect(`https://127.0.0.1:${router.https}`, { ca: ca.cert, servername: 'h2.test' });
  session.on('error', () => {});
  t.teardown(() => session.destroy());
  return session;
}

interface H2Reply { status: number; headers: http2.IncomingHttpHeaders; body: string }

function h2request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: true });
    let response: http2.IncomingHttpHeaders = {};
    let body = '';
    stream.on('response', (h) => { response = h; });
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => { body += chunk; });
    stream.on('end', () => resolve({ status: Number(response[':status']), headers: response, body }));
    stream.on('error', reject);
  });
}

function heldRequest(path: string): Promise<void> {
  if (held.has(path)) return Promise.resolve();
  return new Promise((resolve) => heldWaiters.set(path, resolve));
}

function accessLine(router: RouterProcess, path: string): Promise<Record<string, unknown>> {
  return router.waitForLog((l) => l.access === true && l.path === path, 20_000);
}

let counter = 0;

for (const workers of ['w0', 'w2'] as const) {
  const label = workers === 'w0' ? '--workers 0' : '--workers 2';

  test(`${label}: a fragment in :path is refused 400 and nothing reaches the backend`, async (t) => {
    const router = routers[workers]!;
    const session = connect(t, router);
    const base = `/admin/f${++counter}`;
    for (const path of [`${base}#x`, `${base}#`, `${base}?q=1#x`, `/#${base}`]) {
      const reply = await h2request(session, { ':method': 'GET', ':path': path, ':authority': 'h2.test' });
      t.is(reply.status, 400, path);
      t.is(reply.headers['x-switchyard-error'], 'SY_BAD_REQUEST', path);
    }
    // The allowlist still holds for the path itself, and the session is still usable.
    t.is((await h2request(session, { ':method': 'GET', ':path': base, ':authority': 'h2.test' })).status, 403);
    t.is((await h2request(session, { ':method': 'GET', ':path': `/ok${base}`, ':authority': 'h2.test' })).status, 200);
    t.deepEqual(echo.requests.filter((r) => r.url.includes(base)).map((r) => r.url), [`/ok${base}`]);
  });

  test(`${label}: CONNECT over HTTP/2 is refused with 405, never a 2xx, and opens nothing`, async (t) => {
    const router = routers[workers]!;
    const session = connect(t, router);
    const path = `/after-connect-${++counter}`;
    const reply = await h2request(session, { ':method': 'CONNECT', ':authority': `127.0.0.1:${echo.port}` });
    t.is(reply.status, 405);
    t.is(reply.headers['x-switchyard-error'], 'SY_METHOD_NOT_ALLOWED');
    t.truthy(reply.headers.allow);
    t.false(reply.body.includes('HTTP/1.1'), 'no HTTP/1.1 response inside the stream');
    // The session is still usable, and no CONNECT reached the backend.
    t.is((await h2request(session, { ':method': 'GET', ':path': path, ':authority': 'h2.test' })).status, 200);
    t.false(echo.requests.some((r) => r.method === 'CONNECT'));
  });

  test(`${label}: HTTP/1.1 CONNECT is refused with the same 405`, async (t) => {
    const router = routers[workers]!;
    const reply = await new Promise<{ status: number; headers: http.IncomingHttpHeaders }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: router.http, method: 'CONNECT', path: `127.0.0.1:${echo.port}`, agent: false });
      req.on('connect', (res, socket) => { socket.destroy(); resolve({ status: res.statusCode ?? 0, headers: res.headers }); });
      req.on('response', (res) => { res.resume(); resolve({ status: res.statusCode ?? 0, headers: res.headers }); });
      req.on('error', reject);
      req.end();
    });
    t.is(reply.status, 405);
    t.is(reply.headers['x-switchyard-error'], 'SY_METHOD_NOT_ALLOWED');
  });

  test(`${label}: access-log lines over HTTP/2 carry the same fields as HTTP/1.1, the client address included`, async (t) => {
    const router = routers[workers]!;
    const h1path = `/log/h1-${++counter}`;
    const h2path = `/log/h2-${counter}`;
    t.is((await request(router.http, { host: 'h2.test', path: h1path, headers: { 'user-agent': 'ua-test' } })).status, 200);
    const session = connect(t, router);
    t.is((await h2request(session, { ':method': 'GET', ':path': h2path, ':authority': 'h2.test', 'user-agent': 'ua-test' })).status, 200);
    const [h1, h2] = await Promise.all([accessLine(router, h1path), accessLine(router, h2path)]);
    t.is(h2.client, '127.0.0.1');
    t.is(h2.host, 'h2.test');
    t.is(h2.status, 200);
    t.is(h2.completed, true);
    t.is(h2.route, h1.route);
    t.is(h2.userAgent, 'ua-test');
    const fields = (l: Record<string, unknown>) => Object.keys(l).filter((k) => !['time', 'pid', 'hostname', 'level', 'worker'].includes(k)).sort();
    t.deepEqual(fields(h2), fields(h1));
  });

  test(`${label}: a stream the client cancels before the response is logged as 499, not completed`, async (t) => {
    const router = routers[workers]!;
    const path = `/hold/h2-${++counter}`;
    const session = connect(t, router);
    const stream = session.request({ ':method': 'GET', ':path': path, ':authority': 'h2.test' }, { endStream: true });
    stream.on('error', () => {});
    await heldRequest(path);
    stream.close(http2.constants.NGHTTP2_CANCEL);
    const line = await accessLine(router, path);
    t.is(line.status, 499);
    t.is(line.completed, false);
    t.is(line.client, '127.0.0.1');
    t.truthy(line.route);
  });

  test(`${label}: an HTTP/1.1 request the client abandons before the response is logged as 499 too`, async (t) => {
    const router = routers[workers]!;
    const path = `/hold/h1-${++counter}`;
    const req = http.request({ host: '127.0.0.1', port: router.http, path, headers: { host: 'h2.test' }, agent: false });
    req.on('error', () => {});
    req.end();
    await heldRequest(path);
    req.destroy();
    const line = await accessLine(router, path);
    t.is(line.status, 499);
    t.is(line.completed, false);
    t.is(line.client, '127.0.0.1');
  });
}
