// HTTPRoute RequestMirror end to end, against a real router process in file mode and real
// backends on 127.0.0.1: the mirror gets a copy (method, path, headers after the rule's
// RequestHeaderModifier, Host, a small body) while the client gets the primary's answer (the
// mirror's is ignored); a mirror that never answers holds neither the client nor more than
// --max-mirrors-in-flight copies (the rest dropped and counted); percent and fraction sampling
// follow --mirror-seed exactly; several mirrors of one rule each get the copy; a mirror whose
// backendRef is missing or not permitted sets ResolvedRefs=False and the rule serves on.
import test from 'ava';
import type http from 'node:http';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { startBackend, serviceYaml, type Backend } from '../support/backends.ts';
import { eventually, metricsText, metricValue, request } from '../support/http-client.ts';
import { freePort } from '../support/ports.ts';
import { inShare, seededRandom } from '../../src/proxy/request-mirror.ts';

const GW = 'gateway.networking.k8s.io/v1';
const SEED = 4242;
const LIMIT = 4;

let router: RouterProcess;
let httpPort: number;
let primary: Backend;
let m1: Backend;
let m2: Backend;
let hang: Backend;
/** Bodies the first mirror received, by URL. */
const mirrorBodies = new Map<string, string>();
/** Requests the hanging mirror holds unanswered. */
const held: http.ServerResponse[] = [];

function httpRoute(name: string, host: string, rules: unknown[], ns = 'apps'): string {
  return JSON.stringify({
    apiVersion: GW, kind: 'HTTPRoute', metadata: { name, namespace: ns, generation: 1, creationTimestamp: '2024-01-01T00:00:00Z' },
    spec: { parentRefs: [{ name: 'edge', namespace: 'infra' }], hostnames: [host], rules },
  });
}

function mirror(name: string, extra: Record<string, unknown> = {}, ns?: string) {
  return { type: 'RequestMirror', requestMirror: { backendRef: { name, port: 80, ...(ns ? { namespace: ns } : {}) }, ...extra } };
}

const toPrimary = [{ name: 'primary', port: 80 }];

test.before(async () => {
  primary = await startBackend('primary');
  // The first mirror answers 500: the client never sees it.
  m1 = await startBackend('m1', {
    handler: (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        mirrorBodies.set(req.url ?? '', Buffer.concat(chunks).toString());
        res.writeHead(500, { 'content-length': 6 });
        res.end('mirror');
      });
      return true;
    },
  });
  m2 = await startBackend('m2');
  hang = await startBackend('hang', { handler: (_req, res) => { held.push(res); return true; } });
  httpPort = await freePort();
  const docs = [
    'apiVersion: v1\nkind: Namespace\nmetadata: { name: infra }',
    'apiVersion: v1\nkind: Namespace\nmetadata: { name: apps }',
    'apiVersion: v1\nkind: Namespace\nmetadata: { name: shadow }',
    serviceYaml('primary', [primary.port], { namespace: 'apps' }),
    serviceYaml('m1', [m1.port], { namespace: 'apps' }),
    serviceYaml('m2', [m2.port], { namespace: 'apps' }),
    serviceYaml('hang', [hang.port], { namespace: 'apps' }),
    serviceYaml('elsewhere', [m2.port], { namespace: 'shadow' }),
    JSON.stringify({ apiVersion: GW, kind: 'GatewayClass', metadata: { name: 'switchyard', generation: 1 }, spec: { controllerName: 'switchyard.io/gateway-controller' } }),
    JSON.stringify({
      apiVersion: GW, kind: 'Gateway', metadata: { name: 'edge', namespace: 'infra', generation: 1 },
      spec: { gatewayClassName: 'switchyard', listeners: [{ name: 'http', protocol: 'HTTP', port: httpPort, allowedRoutes: { namespaces: { from: 'All' } } }] },
    }),
    httpRoute('copy', 'copy.mirror.test', [{
      filters: [
        { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-Set', value: 'set' }], remove: ['X-Remove'] } },
        mirror('m1'),
      ],
      backendRefs: toPrimary,
    }]),
    httpRoute('slow', 'slow.mirror.test', [{ filters: [mirror('hang')], backendRefs: toPrimary }]),
    httpRoute('percent', 'percent.mirror.test', [
      { matches: [{ path: { type: 'PathPrefix', value: '/percent' } }], filters: [mirror('m2', { percent: 30 })], backendRefs: toPrimary },
      { matches: [{ path: { type: 'PathPrefix', value: '/fraction' } }], filters: [mirror('m2', { fraction: { numerator: 2, denominator: 3 } })], backendRefs: toPrimary },
      { matches: [{ path: { type: 'PathPrefix', value: '/never' } }], filters: [mirror('m2', { percent: 0 })], backendRefs: toPrimary },
    ]),
    httpRoute('multi', 'multi.mirror.test', [{ filters: [mirror('m1'), mirror('m2')], backendRefs: toPrimary }]),
    httpRoute('missing', 'missing.mirror.test', [{ filters: [mirror('nope')], backendRefs: toPrimary }]),
    httpRoute('denied', 'denied.mirror.test', [{ filters: [mirror('elsewhere', {}, 'shadow')], backendRefs: toPrimary }]),
    httpRoute('malformed', 'malformed.mirror.test', [{ filters: [mirror('m2', { percent: 10, fraction: { numerator: 1 } })], backendRefs: toPrimary }]),
  ];
  const file = writeTempFile(docs.join('\n---\n'));
  router = await startRouter({ args: ['--file', file, '--http-port', String(httpPort), '--mirror-seed', String(SEED), '--max-mirrors-in-flight', String(LIMIT)] });
});

test.after.always(async () => {
  for (const res of held) res.destroy();
  await router?.stop();
  for (const b of [primary, m1, m2, hang]) await b?.close();
});

function get(host: string, path: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
  return request(httpPort, { host, path, ...options });
}

async function mirrorCount(outcome: string): Promise<number> {
  return metricValue(await metricsText(router.admin), 'switchyard_request_mirrors_total', { outcome }) ?? 0;
}

test('the mirror gets a copy of the request as the backend does; the client gets the backend\'s answer', async (t) => {
  const reply = await get('copy.mirror.test', '/copy/one?q=1', { headers: { 'X-Remove': 'gone', 'X-Client': 'c1' } });
  t.is(reply.status, 200);
  t.is(reply.json().backend, 'primary');
  const copy = (await eventually(() => m1.requests.find((r) => r.url === '/copy/one?q=1')))!;
  t.is(copy.method, 'GET');
  t.is(copy.headers.host, 'copy.mirror.test');
  t.is(copy.headers['x-client'], 'c1');
  t.is(copy.headers['x-set'], 'set', 'the rule\'s RequestHeaderModifier applies to the copy too');
  t.is(copy.headers['x-remove'], undefined);
  const seen = (reply.json() as { headers: Record<string, string> }).headers;
  t.is(seen['x-set'], 'set');
});

test('a request body is copied to the mirror', async (t) => {
  const body = JSON.stringify({ order: 17, items: ['a', 'b'] });
  const reply = await get('copy.mirror.test', '/copy/post', { method: 'POST', body, headers: { 'content-type': 'application/json' } });
  t.is(reply.json().body, body);
  const copy = (await eventually(() => m1.requests.find((r) => r.url === '/copy/post')))!;
  t.is(copy.method, 'POST');
  t.is(copy.headers['content-length'], String(Buffer.byteLength(body)));
  t.is(await eventually(() => mirrorBodies.get('/copy/post')), body);
});

test('a body over 64 KiB is not mirrored (counted), and the backend still gets all of it', async (t) => {
  const before = await mirrorCount('dropped_body');
  const body = 'x'.repeat(70 * 1024);
  const reply = await get('copy.mirror.test', '/copy/large', { method: 'POST', body });
  t.is((reply.json() as { body: string }).body.length, body.length);
  await eventually(async () => (await mirrorCount('dropped_body')) === before + 1);
  t.false(m1.requests.some((r) => r.url === '/copy/large'));
});

test.serial('a mirror that never answers holds neither the client nor more than --max-mirrors-in-flight copies', async (t) => {
  const dropped = await mirrorCount('dropped_limit');
  for (let i = 0; i < LIMIT + 3; i++) {
    const reply = await get('slow.mirror.test', `/slow/${i}`);
    // Answered while the mirror holds its copy unanswered.
    t.is(reply.json().backend, 'primary');
  }
  await eventually(() => held.length === LIMIT);
  const text = await metricsText(router.admin);
  t.is(metricValue(text, 'switchyard_request_mirrors_in_flight'), LIMIT);
  t.is(metricValue(text, 'switchyard_request_mirrors_total', { outcome: 'dropped_limit' }), dropped + 3);
  t.deepEqual(hang.requests.map((r) => r.url), Array.from({ length: LIMIT }, (_, i) => `/slow/${i}`));
  // Answered at last: the slots come back and the next copy goes.
  const completed = await mirrorCount('completed');
  for (const res of held.splice(0)) res.end('late');
  await eventually(async () => (await mirrorCount('completed')) === completed + LIMIT);
  t.is(metricValue(await metricsText(router.admin), 'switchyard_request_mirrors_in_flight'), 0);
  await get('slow.mirror.test', '/slow/after');
  await eventually(() => held.length === 1);
  t.is(hang.requests.at(-1)!.url, '/slow/after');
  for (const res of held.splice(0)) res.end('late');
});

test.serial('percent and fraction sampling follow the seeded random source exactly', async (t) => {
  // The router draws once per request of a sampled mirror, in request order (one proxy thread,
  // requests one after the other; no other sampled route sees traffic meanwhile).
  const random = seededRandom(SEED);
  const expected: string[] = [];
  const paths: string[] = [];
  for (let i = 0; i < 30; i++) paths.push(`/percent/${i}`);
  for (let i = 0; i < 30; i++) paths.push(`/fraction/${i}`);
  for (const path of paths) {
    const [numerator, denominator] = path.startsWith('/percent') ? [30, 100] : [2, 3];
    if (inShare(random(), numerator, denominator)) expected.push(path);
  }
  for (let i = 0; i < 5; i++) paths.push(`/never/${i}`);
  const before = await mirrorCount('completed');
  for (const path of paths) t.is((await get('percent.mirror.test', path)).json().backend, 'primary');
  await eventually(async () => (await mirrorCount('completed')) >= before + expected.length);
  const mirrored = m2.requests.map((r) => r.url).filter((u) => /^\/(percent|fraction|never)\//.test(u));
  t.deepEqual(mirrored, expected);
  // Neither all nor none: the shares did sample.
  t.true(expected.some((p) => p.startsWith('/percent')) && expected.filter((p) => p.startsWith('/percent')).length < 30);
  t.true(expected.some((p) => p.startsWith('/fraction')) && expected.filter((p) => p.startsWith('/fraction')).length < 30);
});

test('every mirror of a rule gets the copy', async (t) => {
  t.is((await get('multi.mirror.test', '/multi/x')).json().backend, 'primary');
  await eventually(() => m1.requests.some((r) => r.url === '/multi/x') && m2.requests.some((r) => r.url === '/multi/x'));
  t.is(m1.requests.filter((r) => r.url === '/multi/x').length, 1);
  t.is(m2.requests.filter((r) => r.url === '/multi/x').length, 1);
});

test('a missing or not permitted mirror backendRef: ResolvedRefs=False, the rule serves on; a malformed share is not accepted', async (t) => {
  t.is((await get('missing.mirror.test', '/')).json().backend, 'primary');
  t.is((await get('denied.mirror.test', '/')).json().backend, 'primary');
  const status = (await (await request(router.admin, { path: '/debug/routes' })).json<any>()).gatewayAPI;
  const condition = (name: string, type: string) => status.routes.find((r: any) => r.name === name).parents[0].conditions.find((c: any) => c.type === type);
  t.like(condition('missing', 'ResolvedRefs'), { status: 'False', reason: 'BackendNotFound' });
  t.like(condition('denied', 'ResolvedRefs'), { status: 'False', reason: 'RefNotPermitted' });
  t.like(condition('copy', 'ResolvedRefs'), { status: 'True' });
  t.like(condition('malformed', 'Accepted'), { status: 'False', reason: 'UnsupportedValue' });
  t.is((await get('malformed.mirror.test', '/')).status, 404);
});
