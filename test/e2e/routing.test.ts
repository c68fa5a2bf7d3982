// End to end: a real router process serving a file, real backends, real HTTP clients.
import test from 'ava';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { startBackend, serviceYaml, routeYaml, type Backend } from '../support/backends.ts';
import { request, metricsText, metricValue } from '../support/http-client.ts';

let router: RouterProcess;
let a: Backend;
let b: Backend;
let c: Backend;

test.before(async () => {
  a = await startBackend('a');
  b = await startBackend('b');
  c = await startBackend('c');
  const file = writeTempFile([
    serviceYaml('svc-a', [a.port]),
    serviceYaml('svc-b', [b.port]),
    serviceYaml('svc-c', [c.port]),
    routeYaml('root', 'www.example.com', 'svc-a'),
    routeYaml('sub', 'www.example.com', 'svc-b', { path: '/sub' }),
    routeYaml('sub-slash', 'www.example.com', 'svc-c', { path: '/deep/' }),
    routeYaml('wild', 'www.wild.test', 'svc-c', { spec: '  wildcardPolicy: Subdomain' }),
    routeYaml('exact-over-wild', 'exact.wild.test', 'svc-a'),
    `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: ing, namespace: default }
spec:
  ingressClassName: switchyard
  rules:
    - host: ing.example.com
      http:
        paths:
          - { path: /aaa/bbb/, pathType: Prefix, backend: { service: { name: svc-a, port: { name: http } } } }
          - { path: /aaa, pathType: Prefix, backend: { service: { name: svc-b, port: { name: http } } } }
          - { path: /exact, pathType: Exact, backend: { service: { name: svc-c, port: { name: http } } } }
          - { path: /exact, pathType: Prefix, backend: { service: { name: svc-a, port: { name: http } } } }
    - host: "*.star.test"
      http:
        paths:
          - { path: /, pathType: Prefix, backend: { service: { name: svc-b, port: { name: http } } } }`,
    `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: other-class, namespace: default }
spec:
  ingressClassName: nginx
  rules:
    - host: nginx.example.com
      http:
        paths:
          - { path: /, pathType: Prefix, backend: { service: { name: svc-a, port: { name: http } } } }`,
  ].join('\n---\n'));
  router = await startRouter({ args: ['--file', file, '--allow-wildcard-routes'] });
});

test.after.always(async () => {
  await router?.stop();
  await Promise.all([a, b, c].map((x) => x?.close()));
});

async function backendFor(host: string, path = '/'): Promise<string> {
  const reply = await request(router.http, { host, path });
  return reply.status === 200 ? String(reply.headers['x-backend']) : `status ${reply.status}`;
}

test('route host matching is case-insensitive and ignores port and one trailing dot', async (t) => {
  t.is(await backendFor('www.example.com'), 'a');
  t.is(await backendFor('WWW.Example.COM:8080'), 'a');
  t.is(await backendFor('www.example.com.'), 'a');
  t.is(await backendFor('www.example.com..'), 'status 404');
});

test('OpenShift route paths: /sub matches /sub, /sub/, /sub/x, not /subpar', async (t) => {
  t.is(await backendFor('www.example.com', '/sub'), 'b');
  t.is(await backendFor('www.example.com', '/sub/'), 'b');
  t.is(await backendFor('www.example.com', '/sub/x?q=1'), 'b');
  t.is(await backendFor('www.example.com', '/subpar'), 'a');
});

test('OpenShift route paths: /deep/ matches /deep/ and /deep/x, not /deep', async (t) => {
  t.is(await backendFor('www.example.com', '/deep/'), 'c');
  t.is(await backendFor('www.example.com', '/deep/x'), 'c');
  t.is(await backendFor('www.example.com', '/deep'), 'a');
});

test('the request path and query are forwarded unchanged', async (t) => {
  const reply = await request(router.http, { host: 'www.example.com', path: '/sub/a%20b/../c?x=1&y=%2F' });
  t.is(reply.json().url, '/sub/a%20b/../c?x=1&y=%2F');
});

test('wildcard Subdomain route serves exactly one extra label; exact host beats wildcard', async (t) => {
  t.is(await backendFor('bar.wild.test'), 'c');
  t.is(await backendFor('www.wild.test'), 'c');
  t.is(await backendFor('baz.bar.wild.test'), 'status 404');
  t.is(await backendFor('wild.test'), 'status 404');
  t.is(await backendFor('exact.wild.test'), 'a');
});

test('Ingress paths: Prefix by element with trailing slash ignored, Exact beats Prefix, longest wins', async (t) => {
  t.is(await backendFor('ing.example.com', '/aaa/bbb'), 'a');
  t.is(await backendFor('ing.example.com', '/aaa/bbb/ccc'), 'a');
  t.is(await backendFor('ing.example.com', '/aaa/bbbxyz'), 'b');
  t.is(await backendFor('ing.example.com', '/aaa'), 'b');
  t.is(await backendFor('ing.example.com', '/aaaa'), 'status 404');
  t.is(await backendFor('ing.example.com', '/exact'), 'c');
  t.is(await backendFor('ing.example.com', '/exact/'), 'a');
  t.is(await backendFor('ing.example.com', '/EXACT'), 'status 404');
});

test('Ingress wildcard host matches one label only', async (t) => {
  t.is(await backendFor('x.star.test'), 'b');
  t.is(await backendFor('y.x.star.test'), 'status 404');
  t.is(await backendFor('star.test'), 'status 404');
});

test('Ingresses of another class are not served', async (t) => {
  t.is(await backendFor('nginx.example.com'), 'status 404');
});

test('no route: 404 with a short plain-text body', async (t) => {
  const reply = await request(router.http, { host: 'unknown.example.org' });
  t.is(reply.status, 404);
  t.regex(String(reply.headers['content-type']), /text\/plain/);
  t.is(reply.body, 'No route for this host and path\n');
});

test('readiness and metrics on the admin port', async (t) => {
  t.is((await request(router.admin, { path: '/healthz' })).status, 200);
  t.is((await request(router.admin, { path: '/healthz/ready' })).status, 200);
  await request(router.http, { host: 'www.example.com' });
  const text = await metricsText(router.admin);
  t.true((metricValue(text, 'switchyard_http_requests_total', { route: 'default/root', code_class: '2xx' }) ?? 0) >= 1);
  t.true((metricValue(text, 'switchyard_routes', { state: 'admitted' }) ?? 0) >= 6);
  t.truthy(metricValue(text, 'switchyard_http_request_duration_seconds_count', { route: 'default/root' }));
  t.truthy(metricValue(text, 'process_cpu_user_seconds_total'));
});

test('/debug/routes shows hosts, paths, endpoints and admission results', async (t) => {
  const doc = (await request(router.admin, { path: '/debug/routes' })).json<{ hosts: Array<{ host: string; routes: Array<{ path: string; backends: Array<{ endpoints: Array<{ port: number }> }> }> }>; admission: Array<{ key: string; admitted: boolean }> }>();
  const www = doc.hosts.find((h) => h.host === 'www.example.com');
  t.truthy(www);
  t.deepEqual(www!.routes.map((r) => r.path), ['/deep/', '/sub', '']);
  t.is(www!.routes[1]!.backends[0]!.endpoints[0]!.port, b.port);
  t.true(doc.admission.some((r) => r.key === 'Route/default/root' && r.admitted));
});
