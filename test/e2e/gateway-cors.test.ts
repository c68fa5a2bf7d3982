// The HTTPRoute CORS filter end to end, against a real router process (one worker, so the
// compiled filter crosses the IPC to it as data): preflights answered by the router itself (the
// backend never sees them), allowed and denied origins, wildcard subdomains, credentials, `*`
// with and without credentials, the headers added to actual responses from the backend and to a
// redirect of the same rule, over HTTP/1.1, h2c and HTTPS (HTTP/2 by ALPN and HTTP/1.1), and to
// the router's own error answers on the rule (a backend that is down: 502/503; one that does not
// answer in time: 504; no valid backend: 500) so that a browser can read them; an invalid filter
// is the route's status (Accepted=False) while the rest of the table keeps serving.
import test from 'ava';
import http2 from 'node:http2';
import https from 'node:https';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { startBackend, serviceYaml, type Backend } from '../support/backends.ts';
import { request } from '../support/http-client.ts';
import { h2Connect, h2Request } from '../support/h2-client.ts';
import { freePort } from '../support/ports.ts';
import { createCa, issueCertificate, type TestCertificate } from '../support/certs.ts';

let router: RouterProcess;
let httpPort: number;
let httpsPort: number;
let ca: TestCertificate;
let echo: Backend;
/** Accepts requests and never answers them (timeouts.request runs out). */
let stall: Backend;

const GW = 'gateway.networking.k8s.io/v1';
const HOST = 'cors.gw.test';

function httpRoute(name: string, spec: Record<string, unknown>): string {
  return JSON.stringify({ apiVersion: GW, kind: 'HTTPRoute', metadata: { name, namespace: 'apps', generation: 1, creationTimestamp: '2024-01-01T00:00:00Z' }, spec });
}

const parents = [{ name: 'edge', namespace: 'apps', sectionName: 'http' }, { name: 'edge', namespace: 'apps', sectionName: 'https' }];
const echoRef = () => [{ name: 'echo', port: 80 }];
const prefix = (value: string) => [{ path: { type: 'PathPrefix', value } }];
const ERROR_CORS = { allowOrigins: ['https://www.foo.com'], allowCredentials: true, exposeHeaders: ['x-switchyard-error'] };

test.before(async () => {
  echo = await startBackend('echo');
  stall = await startBackend('stall', { handler: () => true });
  // Nothing listens there: connections to the `down` Service are refused.
  const downPort = await freePort();
  ca = await createCa('cors e2e CA');
  const cert = await issueCertificate(ca, [HOST]);
  httpPort = await freePort();
  httpsPort = await freePort();
  const docs = [
    'apiVersion: v1\nkind: Namespace\nmetadata: { name: apps }',
    serviceYaml('echo', [echo.port], { namespace: 'apps' }),
    serviceYaml('down', [downPort], { namespace: 'apps' }),
    serviceYaml('stall', [stall.port], { namespace: 'apps' }),
    JSON.stringify({ apiVersion: GW, kind: 'GatewayClass', metadata: { name: 'switchyard', generation: 1 }, spec: { controllerName: 'switchyard.io/gateway-controller' } }),
    JSON.stringify({
      apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 'cors-cert', namespace: 'apps' },
      stringData: { 'tls.crt': cert.cert, 'tls.key': cert.key },
    }),
    JSON.stringify({
      apiVersion: GW, kind: 'Gateway', metadata: { name: 'edge', namespace: 'apps', generation: 1 },
      spec: {
        gatewayClassName: 'switchyard',
        listeners: [
          { name: 'http', protocol: 'HTTP', port: httpPort },
          { name: 'https', protocol: 'HTTPS', port: httpsPort, hostname: HOST, tls: { certificateRefs: [{ name: 'cors-cert' }] } },
        ],
      },
    }),
    httpRoute('cors', {
      parentRefs: parents, hostnames: [HOST],
      rules: [
        {
          matches: prefix('/api'),
          filters: [{
            type: 'CORS',
            cors: {
              allowOrigins: ['https://www.foo.com', 'https://*.bar.com'], allowMethods: ['GET', 'PUT'], allowHeaders: ['x-a', 'x-b'],
              exposeHeaders: ['x-backend'], allowCredentials: true, maxAge: 600,
            },
          }],
          backendRefs: echoRef(),
        },
        { matches: prefix('/open'), filters: [{ type: 'CORS', cors: { allowOrigins: ['*'], allowMethods: ['*'], allowHeaders: ['*'] } }], backendRefs: echoRef() },
        { matches: prefix('/any-creds'), filters: [{ type: 'CORS', cors: { allowOrigins: ['*'], allowMethods: ['*'], allowHeaders: ['*'], allowCredentials: true } }], backendRefs: echoRef() },
        // No backend at all: actual requests are answered 500, preflights still by the router.
        { matches: prefix('/nobackend'), filters: [{ type: 'CORS', cors: { allowOrigins: ['https://www.foo.com'] } }] },
        { matches: prefix('/plain'), backendRefs: echoRef() },
        { matches: prefix('/down'), filters: [{ type: 'CORS', cors: ERROR_CORS }], backendRefs: [{ name: 'down', port: 80 }] },
        { matches: prefix('/stall'), filters: [{ type: 'CORS', cors: ERROR_CORS }], timeouts: { request: '300ms' }, backendRefs: [{ name: 'stall', port: 80 }] },
        { matches: prefix('/down-plain'), backendRefs: [{ name: 'down', port: 80 }] },
        {
          matches: prefix('/moved'),
          filters: [{ type: 'CORS', cors: { allowOrigins: ['https://www.foo.com'], allowCredentials: true } }, { type: 'RequestRedirect', requestRedirect: { hostname: 'new.gw.test' } }],
        },
      ],
    }),
    httpRoute('bad-cors', {
      parentRefs: parents, hostnames: ['bad.cors.gw.test'],
      rules: [{ filters: [{ type: 'CORS', cors: { allowOrigins: ['https://www.foo.com/path'] } }], backendRefs: echoRef() }],
    }),
  ];
  const file = writeTempFile(docs.join('\n---\n'));
  router = await startRouter({ args: ['--file', file, '--http-port', String(httpPort), '--https-port', String(httpsPort), '--workers', '1'] });
});

test.after.always(async () => {
  await router?.stop();
  await echo?.close();
  await stall?.close();
});

type Headers = Record<string, string | string[] | undefined>;

function preflight(origin: string, method = 'GET', extra: Record<string, string> = {}): Record<string, string> {
  return { origin, 'access-control-request-method': method, ...extra };
}

function send(path: string, method: string, headers: Record<string, string>) {
  return request(httpPort, { host: HOST, path, method, headers });
}

/** The CORS response headers only (and Vary), for deepEqual. */
function corsOf(headers: Headers): Headers {
  const out: Headers = {};
  for (const [name, value] of Object.entries(headers)) if (name.startsWith('access-control-') || name === 'vary') out[name] = value;
  return out;
}

/** How many requests with this path the backend has received. */
function forwarded(path: string): number {
  return echo.requests.filter((r) => r.url === path).length;
}

const ALLOWED_PREFLIGHT = (origin: string): Headers => ({
  'access-control-allow-origin': origin, 'access-control-allow-credentials': 'true', 'access-control-allow-methods': 'GET, PUT',
  'access-control-allow-headers': 'x-a, x-b', 'access-control-expose-headers': 'x-backend', 'access-control-max-age': '600', vary: 'Origin',
});

test('HTTP/1.1 preflight from an allowed origin is answered by the router, never forwarded', async (t) => {
  const reply = await send('/api/preflight-exact', 'OPTIONS', preflight('https://www.foo.com', 'PUT', { 'access-control-request-headers': 'x-a' }));
  t.is(reply.status, 200);
  t.is(reply.body, '');
  t.deepEqual(corsOf(reply.headers), ALLOWED_PREFLIGHT('https://www.foo.com'));
  t.is(forwarded('/api/preflight-exact'), 0);
});

test('wildcard subdomains: any number of labels left of *, same scheme and port only', async (t) => {
  for (const origin of ['https://www.bar.com', 'https://a.b.c.bar.com', 'https://www.bar.com:443']) {
    const reply = await send('/api/wild', 'OPTIONS', preflight(origin));
    t.deepEqual(corsOf(reply.headers), ALLOWED_PREFLIGHT(origin), origin);
  }
  for (const origin of ['https://bar.com', 'http://www.bar.com', 'https://www.bar.com:8443', 'https://www.bar.com.evil.test', 'null']) {
    const reply = await send('/api/wild', 'OPTIONS', preflight(origin));
    t.is(reply.status, 200, origin);
    t.deepEqual(corsOf(reply.headers), { vary: 'Origin' }, origin);
  }
  t.is(forwarded('/api/wild'), 0);
});

test('preflight from an origin not allowed: 200 without any CORS header, not forwarded', async (t) => {
  const reply = await send('/api/denied', 'OPTIONS', preflight('https://foobar.com'));
  t.is(reply.status, 200);
  t.deepEqual(corsOf(reply.headers), { vary: 'Origin' });
  t.is(forwarded('/api/denied'), 0);
});

test('actual requests: the backend answers, the router adds allow-origin, credentials and expose headers', async (t) => {
  const allowed = await send('/api/actual', 'GET', { origin: 'https://x.bar.com' });
  t.is(allowed.status, 200);
  t.is(allowed.json().backend, 'echo');
  t.deepEqual(corsOf(allowed.headers), {
    'access-control-allow-origin': 'https://x.bar.com', 'access-control-allow-credentials': 'true', 'access-control-expose-headers': 'x-backend', vary: 'Origin',
  });
  const denied = await send('/api/actual', 'GET', { origin: 'https://foobar.com' });
  t.is(denied.status, 200);
  t.deepEqual(corsOf(denied.headers), { vary: 'Origin' });
  // OPTIONS without Access-Control-Request-Method is not a preflight: it goes to the backend.
  const options = await send('/api/actual', 'OPTIONS', { origin: 'https://www.foo.com' });
  t.is(options.json().method, 'OPTIONS');
  t.is(options.headers['access-control-allow-origin'], 'https://www.foo.com');
  t.is(forwarded('/api/actual'), 3);
  // A rule without the filter adds nothing.
  t.deepEqual(corsOf((await send('/plain', 'GET', { origin: 'https://www.foo.com' })).headers), {});
});

test('allowOrigins * without credentials answers *; with credentials it echoes the origin', async (t) => {
  const open = await send('/open', 'OPTIONS', preflight('https://foobar.com:12345', 'DELETE', { 'access-control-request-headers': 'x-one,x-two' }));
  t.deepEqual(corsOf(open.headers), {
    'access-control-allow-origin': '*', 'access-control-allow-methods': 'DELETE', 'access-control-allow-headers': 'x-one, x-two', 'access-control-max-age': '5',
  });
  const openActual = await send('/open', 'PUT', { origin: 'https://foobar.com:12345' });
  t.deepEqual(corsOf(openActual.headers), { 'access-control-allow-origin': '*' });
  const creds = await send('/any-creds', 'OPTIONS', preflight('https://other.foo.com', 'PATCH'));
  t.deepEqual(corsOf(creds.headers), {
    'access-control-allow-origin': 'https://other.foo.com', 'access-control-allow-credentials': 'true', 'access-control-allow-methods': 'PATCH',
    'access-control-max-age': '5', vary: 'Origin',
  });
  const credsActual = await send('/any-creds', 'GET', { origin: 'https://other.foo.com' });
  t.like(credsActual.headers, { 'access-control-allow-origin': 'https://other.foo.com', 'access-control-allow-credentials': 'true' });
});

test('a rule without a backend: preflights are still answered, actual requests get 500', async (t) => {
  const pre = await send('/nobackend', 'OPTIONS', preflight('https://www.foo.com'));
  t.is(pre.status, 200);
  t.is(pre.headers['access-control-allow-origin'], 'https://www.foo.com');
  const actual = await send('/nobackend', 'GET', { origin: 'https://www.foo.com' });
  t.is(actual.status, 500);
  // The router's own answer carries the rule's CORS headers: the browser can read it.
  t.deepEqual(corsOf(actual.headers), { 'access-control-allow-origin': 'https://www.foo.com', vary: 'Origin' });
  t.deepEqual(corsOf((await send('/nobackend', 'GET', { origin: 'https://foobar.com' })).headers), { vary: 'Origin' });
});

const ERROR_ALLOWED: Headers = {
  'access-control-allow-origin': 'https://www.foo.com', 'access-control-allow-credentials': 'true', 'access-control-expose-headers': 'x-switchyard-error', vary: 'Origin',
};

test('a backend that is down: the router\'s 502/503 carries the CORS headers for an allowed origin, none for another', async (t) => {
  const first = await send('/down/a', 'GET', { origin: 'https://www.foo.com' });
  t.is(first.status, 502);
  t.is(first.headers['x-switchyard-error'], 'SY_UPSTREAM_CONNECT');
  t.deepEqual(corsOf(first.headers), ERROR_ALLOWED);
  // Later answers may be 503 (the endpoint ejected): the same headers.
  const again = await send('/down/b', 'POST', { origin: 'https://www.foo.com', 'content-type': 'text/plain' });
  t.true(again.status === 502 || again.status === 503, String(again.status));
  t.deepEqual(corsOf(again.headers), ERROR_ALLOWED);
  const denied = await send('/down/c', 'GET', { origin: 'https://foobar.com' });
  t.true(denied.status >= 500);
  t.deepEqual(corsOf(denied.headers), { vary: 'Origin' });
  // No Origin: not a CORS request, nothing but Vary.
  t.deepEqual(corsOf((await send('/down/d', 'GET', {})).headers), { vary: 'Origin' });
  // A rule without the filter adds nothing to its errors.
  const plain = await send('/down-plain', 'GET', { origin: 'https://www.foo.com' });
  t.true(plain.status >= 500);
  t.deepEqual(corsOf(plain.headers), {});
});

test('a backend that does not answer within timeouts.request: the 504 carries the CORS headers (HTTP/1.1 and h2c)', async (t) => {
  const reply = await send('/stall/x', 'GET', { origin: 'https://www.foo.com' });
  t.is(reply.status, 504);
  t.deepEqual(corsOf(reply.headers), ERROR_ALLOWED);
  const session = h2Connect(`http://127.0.0.1:${httpPort}`);
  t.teardown(() => session.close());
  const h2 = await h2Request(session, { ':path': '/stall/h2', ':authority': HOST, origin: 'https://www.foo.com' });
  t.is(h2.status, 504);
  t.like(h2.headers, { 'access-control-allow-origin': 'https://www.foo.com', 'access-control-allow-credentials': 'true', 'access-control-expose-headers': 'x-switchyard-error' });
  const denied = await h2Request(session, { ':path': '/stall/h2', ':authority': HOST, origin: 'https://evil.test' });
  t.is(denied.status, 504);
  t.is(denied.headers['access-control-allow-origin'], undefined);
});

test('h2c: preflight answered by the router, actual response decorated', async (t) => {
  const session = h2Connect(`http://127.0.0.1:${httpPort}`);
  t.teardown(() => session.close());
  const pre = await h2Request(session, { ':method': 'OPTIONS', ':path': '/api/h2c', ':authority': HOST, ...preflight('https://www.foo.com') });
  t.is(pre.status, 200);
  t.is(pre.body.length, 0);
  t.deepEqual(corsOf(pre.headers), ALLOWED_PREFLIGHT('https://www.foo.com'));
  const denied = await h2Request(session, { ':method': 'OPTIONS', ':path': '/api/h2c', ':authority': HOST, ...preflight('https://foobar.com') });
  t.deepEqual(corsOf(denied.headers), { vary: 'Origin' });
  t.is(forwarded('/api/h2c'), 0);
  const actual = await h2Request(session, { ':path': '/api/h2c', ':authority': HOST, origin: 'https://www.foo.com' });
  t.is(actual.status, 200);
  t.is(JSON.parse(actual.text()).backend, 'echo');
  t.like(actual.headers, { 'access-control-allow-origin': 'https://www.foo.com', 'access-control-allow-credentials': 'true', 'access-control-expose-headers': 'x-backend' });
  t.is(forwarded('/api/h2c'), 1);
});

test('HTTPS listener: HTTP/2 by ALPN and HTTP/1.1, the same answers', async (t) => {
  const session = http2.connect(`https://127.0.0.1:${httpsPort}`, { ca: ca.cert, servername: HOST });
  session.on('error', () => {});
  t.teardown(() => session.close());
  const pre = await h2Request(session, { ':method': 'OPTIONS', ':path': '/api/tls', ':authority': HOST, ...preflight('https://q.bar.com') });
  t.deepEqual(corsOf(pre.headers), ALLOWED_PREFLIGHT('https://q.bar.com'));
  const actual = await h2Request(session, { ':path': '/api/tls', ':authority': HOST, origin: 'https://q.bar.com' });
  t.is(actual.headers['access-control-allow-origin'], 'https://q.bar.com');
  const h1 = await new Promise<Headers>((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: httpsPort, servername: HOST, ca: ca.cert, method: 'OPTIONS', path: '/api/tls', headers: { host: HOST, ...preflight('https://www.foo.com') } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.headers));
    });
    req.on('error', reject);
    req.end();
  });
  t.deepEqual(corsOf(h1), ALLOWED_PREFLIGHT('https://www.foo.com'));
  t.is(forwarded('/api/tls'), 1, 'only the actual request');
});

test('an invalid CORS filter: the route is not Accepted, with the reason; the rest keeps serving', async (t) => {
  const debug = (await request(router.admin, { path: '/debug/routes' })).json<any>();
  const status = debug.gatewayAPI.routes.find((r: any) => r.name === 'bad-cors');
  const accepted = status.parents[0].conditions.find((c: any) => c.type === 'Accepted');
  t.like(accepted, { status: 'False', reason: 'UnsupportedValue' });
  t.regex(accepted.message, /cors\.allowOrigins: "https:\/\/www\.foo\.com\/path"/);
  t.is((await request(httpPort, { host: 'bad.cors.gw.test', path: '/' })).status, 404);
  t.is((await send('/plain', 'GET', {})).status, 200);
});

test('a redirect of the same rule carries the CORS headers; a preflight is answered, not redirected', async (t) => {
  const moved = await send('/moved/x', 'GET', { origin: 'https://www.foo.com' });
  t.is(moved.status, 302);
  t.is(moved.headers.location, `http://new.gw.test:${httpPort}/moved/x`);
  t.deepEqual(corsOf(moved.headers), { 'access-control-allow-origin': 'https://www.foo.com', 'access-control-allow-credentials': 'true', vary: 'Origin' });
  t.deepEqual(corsOf((await send('/moved/x', 'GET', { origin: 'https://foobar.com' })).headers), { vary: 'Origin' });
  const pre = await send('/moved/x', 'OPTIONS', preflight('https://www.foo.com'));
  t.is(pre.status, 200);
  t.is(pre.headers.location, undefined);
  t.is(pre.headers['access-control-allow-origin'], 'https://www.foo.com');
});
