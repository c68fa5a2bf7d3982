// HTTPRoute backendRef filters and timeouts.backendRequest end to end, in file mode against a
// real router process: each weighted backend gets only its own header changes (after the rule's),
// and its responses only its own; a retry on another backendRef starts again from the rule's
// headers; an attempt beyond backendRequest is answered 504 (and the backend's connection
// closed) while a prompt one is 200, and a body still trickling when it runs out is cut; backendRequest longer than request is refused on the
// route's status while the rest of the table keeps serving.
import test from 'ava';
import http from 'node:http';
import { once } from 'node:events';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { startBackend, serviceYaml, type Backend } from '../support/backends.ts';
import { metricsText, metricValue, request } from '../support/http-client.ts';
import { freePort } from '../support/ports.ts';

let router: RouterProcess;
let httpPort: number;
const backends: Record<string, Backend> = {};
/** Requests the `slow` backend holds unanswered (path /hold): answered when the test ends. */
const held: Array<{ req: http.IncomingMessage; res: http.ServerResponse }> = [];
const heldArrived: Array<() => void> = [];
/** Requests the `slow` backend answers with an endless trickle (path /trickle). */
const trickling: http.IncomingMessage[] = [];

const GW = 'gateway.networking.k8s.io/v1';

function httpRoute(name: string, host: string, rules: unknown[]): string {
  return JSON.stringify({
    apiVersion: GW, kind: 'HTTPRoute', metadata: { name, namespace: 'apps', generation: 2, creationTimestamp: '2024-01-01T00:00:00Z' },
    spec: { parentRefs: [{ name: 'edge', namespace: 'apps' }], hostnames: [host], rules },
  });
}

function headerFilter(type: 'RequestHeaderModifier' | 'ResponseHeaderModifier', spec: Record<string, unknown>) {
  return type === 'RequestHeaderModifier' ? { type, requestHeaderModifier: spec } : { type, responseHeaderModifier: spec };
}

function get(host: string, path: string, headers: Record<string, string> = {}) {
  return request(httpPort, { host, path, headers, timeoutMs: 8000 });
}

async function debugRoutes(): Promise<any> {
  return (await request(router.admin, { path: '/debug/routes' })).json();
}

test.before(async () => {
  backends.v1 = await startBackend('v1');
  backends.v2 = await startBackend('v2');
  backends.slow = await startBackend('slow', {
    handler: (req, res) => {
      if (req.url?.startsWith('/trickle')) {
        // The head at once, then a byte every 20 ms for as long as the connection lasts: no gap
        // ever reaches backendRequest, only the whole response does.
        res.writeHead(200, { 'content-type': 'text/plain' });
        const tick = setInterval(() => res.write('x'), 20);
        res.once('close', () => clearInterval(tick));
        trickling.push(req);
        return true;
      }
      if (!req.url?.startsWith('/hold')) return false;
      held.push({ req, res });
      heldArrived.shift()?.();
      return true;
    },
  });
  // A port nothing listens on: its attempts fail to connect, and are retried on another backend.
  const closedPort = await freePort();
  httpPort = await freePort();
  const docs = [
    'apiVersion: v1\nkind: Namespace\nmetadata: { name: apps }',
    serviceYaml('v1', [backends.v1.port], { namespace: 'apps' }),
    serviceYaml('v2', [backends.v2.port], { namespace: 'apps' }),
    serviceYaml('slow', [backends.slow.port], { namespace: 'apps' }),
    serviceYaml('closed', [closedPort], { namespace: 'apps' }),
    JSON.stringify({ apiVersion: GW, kind: 'GatewayClass', metadata: { name: 'switchyard' }, spec: { controllerName: 'switchyard.io/gateway-controller' } }),
    JSON.stringify({
      apiVersion: GW, kind: 'Gateway', metadata: { name: 'edge', namespace: 'apps' },
      spec: { gatewayClassName: 'switchyard', listeners: [{ name: 'http', protocol: 'HTTP', port: httpPort }] },
    }),
    httpRoute('weighted', 'weighted.gw.test', [{
      filters: [
        headerFilter('RequestHeaderModifier', { set: [{ name: 'X-Rule', value: 'rule' }], add: [{ name: 'X-Order', value: 'rule' }] }),
        headerFilter('ResponseHeaderModifier', { set: [{ name: 'X-Seen', value: 'rule' }] }),
      ],
      backendRefs: [
        {
          name: 'v1', port: 80, weight: 1,
          filters: [
            headerFilter('RequestHeaderModifier', { set: [{ name: 'Backend', value: 'v1' }], add: [{ name: 'X-Order', value: 'v1' }], remove: ['X-Drop'] }),
            headerFilter('ResponseHeaderModifier', { set: [{ name: 'X-Picked', value: 'v1' }, { name: 'X-Seen', value: 'v1' }] }),
          ],
        },
        {
          name: 'v2', port: 80, weight: 1,
          filters: [headerFilter('RequestHeaderModifier', { set: [{ name: 'Backend', value: 'v2' }], add: [{ name: 'X-Order', value: 'v2' }] })],
        },
      ],
    }]),
    // Every first attempt goes to `closed` (weight 100 : 1 rarely picks v2 first) and is retried on v2.
    httpRoute('retried', 'retried.gw.test', [{
      backendRefs: [
        { name: 'closed', port: 80, weight: 100, filters: [headerFilter('RequestHeaderModifier', { set: [{ name: 'Backend', value: 'closed' }] })] },
        { name: 'v2', port: 80, weight: 1, filters: [headerFilter('RequestHeaderModifier', { add: [{ name: 'X-Order', value: 'v2' }] })] },
      ],
    }]),
    httpRoute('timeouts', 'timeouts.gw.test', [
      { matches: [{ path: { type: 'PathPrefix', value: '/' } }], timeouts: { request: '60s', backendRequest: '200ms' }, backendRefs: [{ name: 'slow', port: 80 }] },
    ]),
    httpRoute('too-long', 'too-long.gw.test', [{ timeouts: { request: '1s', backendRequest: '2s' }, backendRefs: [{ name: 'v1', port: 80 }] }]),
    httpRoute('rewrite-per-backend', 'rewrite.gw.test', [{ backendRefs: [{ name: 'v1', port: 80, filters: [{ type: 'URLRewrite', urlRewrite: { hostname: 'x.test' } }] }] }]),
  ];
  const file = writeTempFile(docs.join('\n---\n'));
  router = await startRouter({ args: ['--file', file, '--http-port', String(httpPort)] });
});

test.after.always(async () => {
  for (const { res } of held) res.destroy();
  await router?.stop();
  await Promise.all(Object.values(backends).map((b) => b.close()));
});

test('weighted backendRefs: each request carries only the picked backend\'s header changes, after the rule\'s; responses only its own', async (t) => {
  const seen = new Set<string>();
  // Weights 1:1 — both are picked within a few requests (missing one in 200 is 2^-199).
  for (let i = 0; i < 200 && seen.size < 2; i++) {
    const reply = await get('weighted.gw.test', '/', { 'x-drop': 'client', 'x-order': 'client' });
    t.is(reply.status, 200);
    const body = reply.json<{ backend: string; headers: Record<string, string | undefined> }>();
    seen.add(body.backend);
    t.is(body.headers.backend, body.backend, 'the Backend header names the backend that received the request');
    t.is(body.headers['x-rule'], 'rule');
    t.is(body.headers['x-order'], `client,rule,${body.backend}`, 'the rule\'s filter first, then the backend\'s');
    t.is(body.headers['x-drop'], body.backend === 'v1' ? undefined : 'client');
    t.is(reply.headers['x-picked'], body.backend === 'v1' ? 'v1' : undefined);
    // The backend's ResponseHeaderModifier first, the rule's after it.
    t.is(reply.headers['x-seen'], 'rule');
  }
  t.deepEqual([...seen].sort(), ['v1', 'v2']);
});

test('a retry on another backendRef sends that backend\'s header changes, not the first one\'s', async (t) => {
  const connectErrors = async () => metricValue(await metricsText(router.admin), 'switchyard_upstream_errors_total', { route: 'apps/retried', reason: 'connect' }) ?? 0;
  // Until an attempt on `closed` has failed and been retried (the first request, nearly always).
  for (let i = 0; i < 20 && (await connectErrors()) === 0; i++) {
    const reply = await get('retried.gw.test', '/');
    t.is(reply.status, 200);
    const body = reply.json<{ backend: string; headers: Record<string, string | undefined> }>();
    t.is(body.backend, 'v2');
    t.is(body.headers.backend, undefined, 'not the header change of the backendRef tried first');
    t.is(body.headers['x-order'], 'v2');
  }
  t.true((await connectErrors()) >= 1, 'a first attempt went to the closed port and was retried');
});

test('timeouts.backendRequest: an attempt beyond it is answered 504 and its backend connection closed; a prompt one is 200', async (t) => {
  const arrived = new Promise<void>((resolve) => heldArrived.push(resolve));
  // The request timeout is 60 s: only backendRequest (200 ms) can answer within the test's time.
  const reply = await get('timeouts.gw.test', '/hold');
  t.is(reply.status, 504);
  await arrived;
  const { req } = held[held.length - 1]!;
  if (!req.socket.destroyed) await once(req.socket, 'close');
  t.pass('the router closed the backend connection of the attempt it gave up');
  const prompt = await get('timeouts.gw.test', '/ok');
  t.is(prompt.status, 200);
  t.is(prompt.json().backend, 'slow');
});

test('timeouts.backendRequest covers the whole response: a body that keeps trickling is cut when it runs out', async (t) => {
  const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: httpPort, path: '/trickle', headers: { host: 'timeouts.gw.test' } }, resolve).on('error', reject);
  });
  t.is(response.statusCode, 200, 'the head came within the time');
  let bytes = 0;
  response.on('data', (chunk: Buffer) => { bytes += chunk.length; });
  // The request timeout is 60 s and no body gap reaches 200 ms: only backendRequest can end it
  // (the 10 s bound only makes a missing cut fail fast instead of at the suite's timeout).
  let bound: NodeJS.Timeout | undefined;
  const cut = await Promise.race([
    new Promise<boolean>((resolve) => { response.once('close', () => resolve(true)); response.once('error', () => {}); }),
    new Promise<boolean>((resolve) => { bound = setTimeout(resolve, 10_000, false); }),
  ]);
  clearTimeout(bound);
  if (!cut) response.destroy();
  t.true(cut, 'the router cut the trickling response');
  t.false(response.complete, 'the response was cut, not ended');
  t.true(bytes > 0);
  const req = trickling[trickling.length - 1]!;
  if (!req.socket.destroyed) await once(req.socket, 'close');
});

test('refused on the route\'s status: backendRequest longer than request, a filter type backendRefs do not take; the rest keeps serving', async (t) => {
  const status = (await debugRoutes()).gatewayAPI;
  const accepted = (name: string) => status.routes.find((r: any) => r.name === name).parents[0].conditions.find((c: any) => c.type === 'Accepted');
  t.like(accepted('too-long'), { status: 'False', reason: 'UnsupportedValue', message: 'timeouts.backendRequest (2s) must not be longer than timeouts.request (1s)' });
  t.like(accepted('rewrite-per-backend'), { status: 'False', reason: 'UnsupportedValue' });
  t.regex(accepted('rewrite-per-backend').message, /URLRewrite is not supported on backendRefs/);
  t.like(accepted('weighted'), { status: 'True' });
  t.is((await get('too-long.gw.test', '/')).status, 404);
  t.is((await get('rewrite.gw.test', '/')).status, 404);
  t.is((await get('timeouts.gw.test', '/ok')).status, 200);
});
