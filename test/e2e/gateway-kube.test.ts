// The Gateway API through the Kubernetes source, against the fake API server: with the CRDs
// served the router watches GatewayClasses, Gateways, HTTPRoutes and ReferenceGrants, serves an
// HTTPRoute and (as the Lease leader) writes GatewayClass, Gateway and HTTPRoute status; without
// them it starts, becomes ready and serves Routes as before.
import test from 'ava';
import { FakeApiServer } from '../support/fake-apiserver.ts';
import { startBackend, type Backend } from '../support/backends.ts';
import { eventually, request } from '../support/http-client.ts';
import { freePort } from '../support/ports.ts';
import { startRouter, type RouterProcess } from '../support/router-process.ts';

const GW = 'gateway.networking.k8s.io/v1';

let backend: Backend;
test.before(async () => { backend = await startBackend('gw-backend'); });
test.after.always(async () => { await backend?.close(); });

function objects(httpPort: number) {
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'apps' } },
    { apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'apps', name: 'web' }, spec: { ports: [{ name: 'http', port: 80 }] } },
    {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4',
      metadata: { namespace: 'apps', name: 'web-1', labels: { 'kubernetes.io/service-name': 'web' } },
      ports: [{ name: 'http', port: backend.port }], endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
    },
    { apiVersion: GW, kind: 'GatewayClass', metadata: { name: 'switchyard', generation: 1 }, spec: { controllerName: 'switchyard.io/gateway-controller' } },
    {
      apiVersion: GW, kind: 'Gateway', metadata: { namespace: 'apps', name: 'edge', generation: 1 },
      spec: { gatewayClassName: 'switchyard', listeners: [{ name: 'http', protocol: 'HTTP', port: httpPort }] },
    },
    {
      apiVersion: GW, kind: 'HTTPRoute', metadata: { namespace: 'apps', name: 'web', generation: 2 },
      spec: { parentRefs: [{ name: 'edge' }], hostnames: ['web.gw.test'], rules: [{ backendRefs: [{ name: 'web', port: 80 }] }] },
    },
  ];
}

function routerArgs(api: FakeApiServer, httpPort: number): string[] {
  return ['--kubeconfig', api.kubeconfigPath, '--http-port', String(httpPort), '--router-name', 'gw-e2e', '--lease-name', 'switchyard-gw-e2e',
    '--lease-namespace', 'default', '--publish-status-address', '127.0.0.1', '--watch-timeout', '30s'];
}

test('with the Gateway API CRDs: an HTTPRoute is served and its status, the Gateway\'s and the GatewayClass\'s are written', async (t) => {
  const api = await FakeApiServer.start({ gatewayAPI: true });
  const httpPort = await freePort();
  let router: RouterProcess | undefined;
  try {
    for (const o of objects(httpPort)) api.create(o);
    router = await startRouter({ args: routerArgs(api, httpPort) });
    const served = async (host: string) => (await request(router!.http, { host, path: '/' })).headers['x-backend'] ?? 'none';
    t.is(await eventually(async () => ((await served('web.gw.test')) === 'gw-backend' ? 'gw-backend' : ''), 10_000), 'gw-backend');
    const routeStatus = () => api.get<any>({ kind: 'HTTPRoute', namespace: 'apps', name: 'web' })?.status;
    const gatewayStatus = () => api.get<any>({ kind: 'Gateway', namespace: 'apps', name: 'edge' })?.status;
    const classStatus = () => api.get<any>({ kind: 'GatewayClass', name: 'switchyard' })?.status;
    await eventually(() => routeStatus()?.parents?.length > 0 && gatewayStatus()?.listeners && classStatus()?.conditions, 10_000);
    const parent = routeStatus().parents[0];
    t.is(parent.controllerName, 'switchyard.io/gateway-controller');
    t.like(parent.parentRef, { name: 'edge', namespace: 'apps' });
    t.like(parent.conditions.find((c: any) => c.type === 'Accepted'), { status: 'True', reason: 'Accepted', observedGeneration: api.get<any>({ kind: 'HTTPRoute', namespace: 'apps', name: 'web' }).metadata.generation });
    t.like(parent.conditions.find((c: any) => c.type === 'ResolvedRefs'), { status: 'True' });
    const gateway = gatewayStatus();
    t.deepEqual(gateway.addresses, [{ type: 'IPAddress', value: '127.0.0.1' }]);
    t.like(gateway.conditions.find((c: any) => c.type === 'Programmed'), { status: 'True' });
    t.is(gateway.listeners[0].attachedRoutes, 1);
    t.like(classStatus().conditions[0], { type: 'Accepted', status: 'True', observedGeneration: api.get<any>({ kind: 'GatewayClass', name: 'switchyard' }).metadata.generation });
    // A change through the watch: the route moves to another hostname.
    const current = api.get<any>({ kind: 'HTTPRoute', namespace: 'apps', name: 'web' });
    api.update({ ...current, spec: { ...current.spec, hostnames: ['moved.gw.test'] } });
    t.is(await eventually(async () => ((await served('moved.gw.test')) === 'gw-backend' ? 'moved' : ''), 10_000), 'moved');
    t.is((await request(router!.http, { host: 'web.gw.test', path: '/' })).status, 404);
  } catch (err) {
    t.log(router?.logs.filter((l) => (l.level as number) >= 40 || String(l.msg).includes('Gateway')));
    throw err;
  } finally {
    await router?.stop();
    await api.close();
  }
});

test('without the Gateway API CRDs the router starts, becomes ready and serves Routes', async (t) => {
  const api = await FakeApiServer.start();
  const httpPort = await freePort();
  let router: RouterProcess | undefined;
  try {
    api.create(objects(httpPort)[1]!);
    api.create(objects(httpPort)[2]!);
    api.create({ apiVersion: 'route.openshift.io/v1', kind: 'Route', metadata: { namespace: 'apps', name: 'r' }, spec: { host: 'route.test', to: { kind: 'Service', name: 'web' } } });
    router = await startRouter({ args: routerArgs(api, httpPort) });
    await router.waitForLog((l) => l.msg === 'Gateway API CRDs not installed; Gateway API disabled');
    t.true(await eventually(async () => (await request(router!.admin, { path: '/healthz/ready' })).status === 200, 10_000));
    t.true(await eventually(async () => (await request(router!.http, { host: 'route.test', path: '/' })).status === 200, 10_000));
  } finally {
    await router?.stop();
    await api.close();
  }
});
