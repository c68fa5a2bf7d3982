// Gateway API end to end in file mode, against a real router process: GatewayClass, Gateway
// (HTTP and HTTPS listeners mapped onto the router's ports), HTTPRoutes with path, header,
// query and method matches and the spec's precedence, weights (including 0), redirects,
// rewrites, header modifiers, an HTTPS listener with a Secret certificate, cross-namespace
// backends with and without a ReferenceGrant, routes that do not attach and their status in
// /debug/routes, and an OpenShift Route next to them (and kept off an HTTPRoute's host).
import test from 'ava';
import https from 'node:https';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { startBackend, serviceYaml, routeYaml, type Backend } from '../support/backends.ts';
import { request } from '../support/http-client.ts';
import { freePort } from '../support/ports.ts';
import { createCa, issueCertificate, type TestCertificate } from '../support/certs.ts';

let router: RouterProcess;
let httpPort: number;
let httpsPort: number;
let ca: TestCertificate;
const backends: Record<string, Backend> = {};

const GW = 'gateway.networking.k8s.io/v1';

function namespace(name: string, labels: Record<string, string> = {}): string {
  return `apiVersion: v1\nkind: Namespace\nmetadata: { name: ${name}, labels: ${JSON.stringify(labels)} }`;
}

function httpRoute(ns: string, name: string, spec: Record<string, unknown>, created = '2024-01-01T00:00:00Z'): string {
  return JSON.stringify({ apiVersion: GW, kind: 'HTTPRoute', metadata: { name, namespace: ns, generation: 3, creationTimestamp: created }, spec });
}

function edge(section: string) {
  return [{ name: 'edge', namespace: 'infra', sectionName: section }];
}

function backend(name: string, extra: Record<string, unknown> = {}, ns?: string) {
  return { name, port: 80, ...(ns ? { namespace: ns } : {}), ...extra };
}

async function debugRoutes(): Promise<any> {
  const reply = await request(router.admin, { path: '/debug/routes' });
  return reply.json();
}

function get(host: string, path: string, options: { method?: string; headers?: Record<string, string> } = {}) {
  return request(httpPort, { host, path, ...options });
}

test.before(async () => {
  for (const name of ['a', 'b', 'c', 'd', 'e', 'legacy']) backends[name] = await startBackend(name);
  ca = await createCa('gateway e2e CA');
  const cert = await issueCertificate(ca, ['secure.gw.test']);
  const anyCert = await issueCertificate(ca, ['catchall.test']);
  httpPort = await freePort();
  httpsPort = await freePort();
  const docs = [
    namespace('infra'), namespace('apps', { team: 'apps' }), namespace('other'), namespace('backends'),
    ...['a', 'b', 'c'].map((n) => serviceYaml(n, [backends[n]!.port], { namespace: 'apps' })),
    serviceYaml('d', [backends.d!.port], { namespace: 'backends' }),
    serviceYaml('e', [backends.e!.port], { namespace: 'backends' }),
    serviceYaml('legacy', [backends.legacy!.port]),
    JSON.stringify({ apiVersion: GW, kind: 'GatewayClass', metadata: { name: 'switchyard', generation: 1 }, spec: { controllerName: 'switchyard.io/gateway-controller' } }),
    JSON.stringify({ apiVersion: GW, kind: 'GatewayClass', metadata: { name: 'someone-else' }, spec: { controllerName: 'example.com/other' } }),
    JSON.stringify({
      apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 'gw-cert', namespace: 'infra' },
      stringData: { 'tls.crt': cert.cert, 'tls.key': cert.key },
    }),
    JSON.stringify({
      apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 'any-cert', namespace: 'infra' },
      stringData: { 'tls.crt': anyCert.cert, 'tls.key': anyCert.key },
    }),
    JSON.stringify({
      apiVersion: GW, kind: 'Gateway', metadata: { name: 'edge', namespace: 'infra', generation: 2 },
      spec: {
        gatewayClassName: 'switchyard',
        listeners: [
          { name: 'http', protocol: 'HTTP', port: httpPort, allowedRoutes: { namespaces: { from: 'All' } } },
          { name: 'apps-only', protocol: 'HTTP', port: httpPort, hostname: '*.apps.gw.test', allowedRoutes: { namespaces: { from: 'Selector', selector: { matchLabels: { team: 'apps' } } } } },
          { name: 'https', protocol: 'HTTPS', port: httpsPort, hostname: 'secure.gw.test', tls: { mode: 'Terminate', certificateRefs: [{ name: 'gw-cert' }] }, allowedRoutes: { namespaces: { from: 'All' } } },
          { name: 'elsewhere', protocol: 'HTTP', port: 1, hostname: 'elsewhere.gw.test' },
          { name: 'https-any', protocol: 'HTTPS', port: httpsPort, tls: { certificateRefs: [{ name: 'any-cert' }] }, allowedRoutes: { namespaces: { from: 'All' } } },
        ],
      },
    }),
    JSON.stringify({
      apiVersion: GW, kind: 'Gateway', metadata: { name: 'foreign', namespace: 'infra' },
      spec: { gatewayClassName: 'someone-else', listeners: [{ name: 'http', protocol: 'HTTP', port: httpPort }] },
    }),
    httpRoute('apps', 'match', {
      parentRefs: edge('http'), hostnames: ['match.gw.test'],
      rules: [
        { matches: [{ path: { type: 'Exact', value: '/exact' } }], backendRefs: [backend('a')] },
        { matches: [{ path: { type: 'PathPrefix', value: '/api' }, headers: [{ name: 'X-Version', value: 'v2' }] }], backendRefs: [backend('b')] },
        { matches: [{ path: { type: 'PathPrefix', value: '/api' }, method: 'POST' }], backendRefs: [backend('c')] },
        { matches: [{ path: { type: 'PathPrefix', value: '/api' }, queryParams: [{ name: 'env', value: 'canary' }] }], backendRefs: [backend('c')] },
        { matches: [{ path: { type: 'PathPrefix', value: '/api' } }], backendRefs: [backend('a')] },
      ],
    }),
    httpRoute('apps', 'weights', {
      parentRefs: edge('http'), hostnames: ['weights.gw.test'],
      rules: [{ backendRefs: [backend('a', { weight: 1 }), backend('b', { weight: 0 })] }],
    }),
    httpRoute('apps', 'filters', {
      parentRefs: edge('http'), hostnames: ['filters.gw.test'],
      rules: [
        { matches: [{ path: { type: 'PathPrefix', value: '/redirect' } }], filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https', hostname: 'other.test', statusCode: 301 } }] },
        { matches: [{ path: { type: 'PathPrefix', value: '/moved' } }], filters: [{ type: 'RequestRedirect', requestRedirect: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/new' } } }] },
        { matches: [{ path: { type: 'PathPrefix', value: '/rewrite' } }], filters: [{ type: 'URLRewrite', urlRewrite: { hostname: 'rewritten.test', path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/v2' } } }], backendRefs: [backend('a')] },
        { matches: [{ path: { type: 'Exact', value: '/full' } }], filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplaceFullPath', replaceFullPath: '/replaced' } } }], backendRefs: [backend('a')] },
        {
          matches: [{ path: { type: 'PathPrefix', value: '/headers' } }],
          filters: [
            { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-Set', value: 'set' }], add: [{ name: 'X-Add', value: 'added' }], remove: ['X-Remove'] } },
            { type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [{ name: 'X-Resp', value: 'yes' }], remove: ['X-Backend'] } },
          ],
          backendRefs: [backend('b')],
        },
      ],
    }),
    httpRoute('apps', 'timeouts', {
      parentRefs: edge('http'), hostnames: ['timeouts.gw.test'],
      rules: [{ timeouts: { request: '300ms' }, backendRefs: [backend('a')] }],
    }),
    httpRoute('apps', 'cross-denied', { parentRefs: edge('http'), hostnames: ['denied.gw.test'], rules: [{ backendRefs: [backend('d', {}, 'backends')] }] }),
    httpRoute('apps', 'cross-granted', { parentRefs: edge('http'), hostnames: ['granted.gw.test'], rules: [{ backendRefs: [backend('e', {}, 'backends')] }] }),
    JSON.stringify({
      apiVersion: 'gateway.networking.k8s.io/v1beta1', kind: 'ReferenceGrant', metadata: { name: 'apps-to-e', namespace: 'backends' },
      spec: { from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'apps' }], to: [{ group: '', kind: 'Service', name: 'e' }] },
    }),
    httpRoute('apps', 'missing', { parentRefs: edge('http'), hostnames: ['missing.gw.test'], rules: [{ backendRefs: [backend('nope')] }] }),
    httpRoute('apps', 'wildcard', { parentRefs: edge('apps-only'), rules: [{ backendRefs: [backend('c')] }] }),
    httpRoute('apps', 'wrong-host', { parentRefs: edge('apps-only'), hostnames: ['nope.other.test'], rules: [{ backendRefs: [backend('a')] }] }),
    httpRoute('other', 'not-allowed', { parentRefs: edge('apps-only'), hostnames: ['x.apps.gw.test'], rules: [{ backendRefs: [backend('a')] }] }),
    httpRoute('apps', 'no-listener', { parentRefs: edge('missing'), hostnames: ['nl.gw.test'], rules: [{ backendRefs: [backend('a')] }] }),
    httpRoute('apps', 'secure', { parentRefs: edge('https'), rules: [{ backendRefs: [backend('b')] }] }),
    httpRoute('apps', 'catchall', { parentRefs: edge('https-any'), rules: [{ backendRefs: [backend('c')] }] }),
    httpRoute('apps', 'foreign-only', { parentRefs: [{ name: 'foreign', namespace: 'infra' }], hostnames: ['foreign.gw.test'], rules: [{ backendRefs: [backend('a')] }] }),
    routeYaml('legacy', 'legacy.test', 'legacy'),
    // A Route of another namespace on an HTTPRoute's host, created later: refused, not served.
    routeYaml('hijack', 'match.gw.test', 'legacy', { path: '/hijack' }).replace('namespace: default', 'namespace: default\n  creationTimestamp: "2025-01-01T00:00:00Z"'),
  ];
  const file = writeTempFile(docs.join('\n---\n'));
  router = await startRouter({ args: ['--file', file, '--http-port', String(httpPort), '--https-port', String(httpsPort), '--publish-status-address', '127.0.0.1'] });
});

test.after.always(async () => {
  await router?.stop();
  await Promise.all(Object.values(backends).map((b) => b.close()));
});

test('path, header, query and method matches follow the spec precedence', async (t) => {
  t.is((await get('match.gw.test', '/exact')).json().backend, 'a');
  t.is((await get('match.gw.test', '/exact/more')).status, 404);
  t.is((await get('match.gw.test', '/api/x')).json().backend, 'a');
  t.is((await get('match.gw.test', '/api/x', { headers: { 'x-version': 'v2' } })).json().backend, 'b');
  t.is((await get('match.gw.test', '/api/x?env=canary')).json().backend, 'c');
  t.is((await get('match.gw.test', '/api/x?env=prod')).json().backend, 'a');
  // Method beats header count; header count beats query count.
  t.is((await get('match.gw.test', '/api', { method: 'POST', headers: { 'x-version': 'v2' } })).json().backend, 'c');
  t.is((await get('match.gw.test', '/api?env=canary', { headers: { 'x-version': 'v2' } })).json().backend, 'b');
  // PathPrefix is element-wise.
  t.is((await get('match.gw.test', '/apix')).status, 404);
});

test('timeouts.request: a backend slower than the rule allows is answered 504', async (t) => {
  t.is((await get('timeouts.gw.test', '/?delay=3000')).status, 504);
  t.is((await get('timeouts.gw.test', '/')).status, 200);
});

test('weights: a backend of weight 0 gets nothing', async (t) => {
  for (let i = 0; i < 20; i++) t.is((await get('weights.gw.test', '/')).json().backend, 'a');
});

test('RequestRedirect: scheme, hostname and status code; path prefix replacement with the listener port', async (t) => {
  const r1 = await get('filters.gw.test', '/redirect/x?q=1');
  t.is(r1.status, 301);
  t.is(r1.headers.location, 'https://other.test/redirect/x?q=1');
  const r2 = await get('filters.gw.test', '/moved/x');
  t.is(r2.status, 302);
  t.is(r2.headers.location, `http://filters.gw.test:${httpPort}/new/x`);
});

test('URLRewrite: hostname and path sent to the backend', async (t) => {
  const body = (await get('filters.gw.test', '/rewrite/x?y=1')).json<{ url: string; headers: Record<string, string> }>();
  t.is(body.url, '/v2/x?y=1');
  t.is(body.headers.host, 'rewritten.test');
  t.is((await get('filters.gw.test', '/full')).json().url, '/replaced');
});

test('RequestHeaderModifier and ResponseHeaderModifier', async (t) => {
  const reply = await get('filters.gw.test', '/headers', { headers: { 'x-set': 'client', 'x-add': 'client', 'x-remove': 'gone' } });
  const seen = reply.json<{ headers: Record<string, string | undefined> }>().headers;
  t.is(seen['x-set'], 'set');
  t.is(seen['x-add'], 'client,added');
  t.is(seen['x-remove'], undefined);
  t.is(reply.headers['x-resp'], 'yes');
  t.is(reply.headers['x-backend'], undefined);
});

test('cross-namespace backends: refused without a ReferenceGrant (500), served with one', async (t) => {
  const denied = await get('denied.gw.test', '/');
  t.is(denied.status, 500);
  t.regex(denied.body, /no valid backend/);
  t.is((await get('granted.gw.test', '/')).json().backend, 'e');
  t.is((await get('missing.gw.test', '/')).status, 500);
  const status = (await debugRoutes()).gatewayAPI;
  const resolved = (name: string) => status.routes.find((r: any) => r.name === name).parents[0].conditions.find((c: any) => c.type === 'ResolvedRefs');
  t.like(resolved('cross-denied'), { status: 'False', reason: 'RefNotPermitted' });
  t.like(resolved('cross-granted'), { status: 'True', reason: 'ResolvedRefs' });
  t.like(resolved('missing'), { status: 'False', reason: 'BackendNotFound' });
});

test('wildcard listener hostname: a route without hostnames serves any depth below it', async (t) => {
  t.is((await get('one.apps.gw.test', '/')).json().backend, 'c');
  t.is((await get('two.levels.apps.gw.test', '/')).json().backend, 'c');
  t.is((await get('apps.gw.test', '/')).status, 404);
});

test('routes that do not attach are not served, and say why', async (t) => {
  t.is((await get('nope.other.test', '/')).status, 404);
  t.is((await get('nl.gw.test', '/')).status, 404);
  const status = (await debugRoutes()).gatewayAPI;
  const accepted = (name: string) => status.routes.find((r: any) => r.name === name)?.parents[0].conditions.find((c: any) => c.type === 'Accepted');
  t.like(accepted('wrong-host'), { status: 'False', reason: 'NoMatchingListenerHostname' });
  t.like(accepted('not-allowed'), { status: 'False', reason: 'NotAllowedByListeners' });
  t.like(accepted('no-listener'), { status: 'False', reason: 'NoMatchingParent' });
  t.like(accepted('match'), { status: 'True', reason: 'Accepted' });
  // x.apps.gw.test would be served by the wildcard route (namespace apps); other/not-allowed is not.
  t.is((await get('x.apps.gw.test', '/')).json().backend, 'c');
  // A route of a Gateway of another class gets no status from this router and is not served.
  t.is(status.routes.find((r: any) => r.name === 'foreign-only'), undefined);
  t.is((await get('foreign.gw.test', '/')).status, 404);
  t.is(status.routes.find((r: any) => r.name === 'match').generation, 3);
});

test('GatewayClass and Gateway status: accepted class, listeners mapped onto the router ports', async (t) => {
  const status = (await debugRoutes()).gatewayAPI;
  t.deepEqual(status.classes.map((c: any) => c.name), ['switchyard']);
  t.like(status.classes[0].conditions[0], { type: 'Accepted', status: 'True' });
  t.is(status.gateways.length, 1);
  const gw = status.gateways[0];
  t.deepEqual(gw.addresses, [{ type: 'IPAddress', value: '127.0.0.1' }]);
  t.like(gw.conditions.find((c: any) => c.type === 'Accepted'), { status: 'True', reason: 'ListenersNotValid' });
  t.like(gw.conditions.find((c: any) => c.type === 'Programmed'), { status: 'True' });
  const listener = (name: string) => gw.listeners.find((l: any) => l.name === name);
  t.like(listener('elsewhere').conditions.find((c: any) => c.type === 'Accepted'), { status: 'False', reason: 'PortUnavailable' });
  t.like(listener('https').conditions.find((c: any) => c.type === 'ResolvedRefs'), { status: 'True' });
  // http: match, weights, filters, timeouts, cross-denied, cross-granted, missing
  t.is(listener('http').attachedRoutes, 7);
  t.is(listener('apps-only').attachedRoutes, 1);
  t.is(listener('https').attachedRoutes, 1);
});

function httpsGet(name: string) {
  return new Promise<{ status: number; body: string; issuer: string }>((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: httpsPort, servername: name, headers: { host: name }, ca: ca.cert, path: '/' }, (res) => {
      let body = '';
      const issuer = String((res.socket as import('node:tls').TLSSocket).getPeerCertificate().issuer.CN ?? '');
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, issuer }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('HTTPS listener: the Secret certificate is served for its hostname; the route is not on plain HTTP', async (t) => {
  const reply = await httpsGet('secure.gw.test');
  t.is(reply.status, 200);
  t.is(JSON.parse(reply.body).backend, 'b');
  t.is(reply.issuer, 'gateway e2e CA');
  t.is((await get('secure.gw.test', '/')).status, 404);
});

test('HTTPS listener without hostname: its certificate answers any other name, for its routes without hostnames', async (t) => {
  const reply = await httpsGet('catchall.test');
  t.is(reply.status, 200, 'the client verified the listener certificate for catchall.test');
  t.is(JSON.parse(reply.body).backend, 'c');
  t.is((await get('catchall.test', '/')).status, 404, 'attached through HTTPS only');
});

test('a Route and HTTPRoutes side by side; a Route of another namespace cannot take an HTTPRoute host', async (t) => {
  t.is((await get('legacy.test', '/')).json().backend, 'legacy');
  t.is((await get('match.gw.test', '/hijack')).status, 404);
  const debug = await debugRoutes();
  t.like(debug.admission.find((r: any) => r.name === 'hijack'), { admitted: false, reason: 'HostAlreadyClaimed' });
});
