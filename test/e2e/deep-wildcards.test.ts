// A wildcard host is owned as deep as it serves (issue 19 item 4): an HTTPRoute `*.team.apps.test`
// (Gateway API: a suffix match, any depth) that is older keeps `x.y.team.apps.test` from a younger
// Route of another namespace — as it keeps the one-label `x.team.apps.test` — and requests for
// both reach the HTTPRoute's backend. Real router processes (`--workers 0` and `2`), file source.
import test from 'ava';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { startBackend, serviceYaml, routeYaml, type Backend } from '../support/backends.ts';
import { request } from '../support/http-client.ts';
import { freePort } from '../support/ports.ts';

const GW = 'gateway.networking.k8s.io/v1';
let gatewayBackend: Backend;
let tenantBackend: Backend;
const routers: Record<string, RouterProcess> = {};

test.before(async () => {
  [gatewayBackend, tenantBackend] = await Promise.all([startBackend('team-b'), startBackend('tenant-a')]);
  await Promise.all((['w0', 'w2'] as const).map(async (w) => {
    const port = await freePort();
    const file = writeTempFile([
      serviceYaml('web', [gatewayBackend.port], { namespace: 'b' }),
      serviceYaml('web', [tenantBackend.port], { namespace: 'a' }),
      JSON.stringify({ apiVersion: GW, kind: 'GatewayClass', metadata: { name: 'sy' }, spec: { controllerName: 'switchyard.io/gateway-controller' } }),
      JSON.stringify({ apiVersion: GW, kind: 'Gateway', metadata: { name: 'edge', namespace: 'b' }, spec: { gatewayClassName: 'sy', listeners: [{ name: 'http', protocol: 'HTTP', port, allowedRoutes: { namespaces: { from: 'Same' } } }] } }),
      JSON.stringify({
        apiVersion: GW, kind: 'HTTPRoute', metadata: { name: 'wild', namespace: 'b', creationTimestamp: '2024-01-01T00:00:00Z' },
        spec: { parentRefs: [{ name: 'edge' }], hostnames: ['*.team.apps.test'], rules: [{ backendRefs: [{ name: 'web', port: 80 }] }] },
      }),
      routeYaml('deep', 'x.y.team.apps.test', 'web', { namespace: 'a' }).replace('namespace: a', 'namespace: a\n  creationTimestamp: "2024-02-01T00:00:00Z"'),
      routeYaml('shallow', 'x.team.apps.test', 'web', { namespace: 'a' }).replace('namespace: a', 'namespace: a\n  creationTimestamp: "2024-02-01T00:00:00Z"'),
    ].join('\n---\n'));
    routers[w] = await startRouter({ args: ['--file', file, '--workers', w === 'w0' ? '0' : '2', '--http-port', String(port)] });
  }));
});

test.after.always(async () => {
  await Promise.all(Object.values(routers).map((r) => r.stop()));
  await Promise.all([gatewayBackend?.close(), tenantBackend?.close()]);
});

for (const w of ['w0', 'w2'] as const) {
  test(`${w === 'w0' ? '--workers 0' : '--workers 2'}: a younger Route of another namespace does not take a host two labels under an older HTTPRoute wildcard`, async (t) => {
    const router = routers[w]!;
    for (const host of ['x.y.team.apps.test', 'x.team.apps.test', 'p.q.team.apps.test']) {
      const reply = await request(router.http, { host, path: `/${w}` });
      t.is(reply.status, 200, host);
      t.is(reply.headers['x-backend'], 'team-b', `${host} is served by the HTTPRoute`);
    }
    const admission = new Map<string, any>((await request(router.admin, { path: '/debug/routes' })).json<any>().admission.map((a: any) => [a.key, a]));
    for (const key of ['Route/a/deep', 'Route/a/shallow']) {
      t.like(admission.get(key), { admitted: false, reason: 'HostAlreadyClaimed' }, key);
      t.regex(admission.get(key).message, /httproute b\/wild already exposes/, key);
    }
    t.false(tenantBackend.requests.some((r) => r.url === `/${w}`), 'nothing reached the younger tenant');
  });
}
