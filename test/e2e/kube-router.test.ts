// End to end against the fake API server: real router processes reading the cluster through
// --kubeconfig, real backends, real HTTP clients. Routes appear and disappear with events,
// EndpointSlice changes move traffic, Route status is written, two routers elect one writer.

import test from 'ava';
import { FakeApiServer } from '../support/fake-apiserver.ts';
import { startBackend, type Backend } from '../support/backends.ts';
import { eventually, request } from '../support/http-client.ts';
import { startRouter, type RouterProcess } from '../support/router-process.ts';

const LEASE = { kind: 'Lease', namespace: 'default', name: 'switchyard-e2e' };

function service(name: string) {
  return { apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'default', name }, spec: { ports: [{ name: 'http', port: 80 }] } };
}

function slice(service: string, ports: number[]) {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { namespace: 'default', name: `${service}-slice`, labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    // One slice can carry one port list; here each backend differs by port, so scale by swapping it.
    ports: [{ name: 'http', port: ports[0] }],
    endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
  };
}

function route(name: string, host: string, svc: string) {
  return { apiVersion: 'route.openshift.io/v1', kind: 'Route', metadata: { namespace: 'default', name }, spec: { host, to: { kind: 'Service', name: svc } } };
}

async function backendFor(router: RouterProcess, host: string): Promise<string> {
  const reply = await request(router.http, { host, path: '/' });
  return reply.status === 200 ? String(reply.headers['x-backend']) : `status ${reply.status}`;
}

function routerArgs(api: FakeApiServer, name: string): string[] {
  return ['--kubeconfig', api.kubeconfigPath, '--router-name', 'e2e', '--lease-name', LEASE.name,
    '--lease-namespace', LEASE.namespace, '--canonical-hostname', `${name}.apps.example.com`, '--watch-timeout', '30s'];
}

let api: FakeApiServer;
let a: Backend;
let b: Backend;

test.before(async () => {
  api = await FakeApiServer.start();
  a = await startBackend('a');
  b = await startBackend('b');
});

test.after.always(async () => {
  await api?.close();
  await Promise.all([a, b].map((x) => x?.close()));
});

test.serial('routes follow events, endpoint changes move traffic, status is written', async (t) => {
  api.create(service('web'));
  api.create(slice('web', [a.port]));
  api.create(route('web', 'web.example.com', 'web'));
  const router = await startRouter({ args: routerArgs(api, 'one') });
  t.teardown(() => router.stop());
  t.is(await eventually(() => backendFor(router, 'web.example.com').then((x) => (x === 'a' ? x : ''))), 'a');

  // A Route added by a watch event.
  api.create(route('late', 'late.example.com', 'web'));
  t.is(await eventually(() => backendFor(router, 'late.example.com').then((x) => (x === 'a' ? x : '')), 2000), 'a');

  // Endpoints change: traffic moves to the other backend (how fast: bench/scale.ts propagation, not here).
  const current = api.get<any>({ kind: 'EndpointSlice', namespace: 'default', name: 'web-slice' });
  api.update({ ...current, ports: [{ name: 'http', port: b.port }] });
  t.is(await eventually(() => backendFor(router, 'web.example.com').then((x) => (x === 'b' ? x : '')), 5000, 20), 'b');

  // Status: our entry, Admitted True, our canonical hostname.
  const entry = await eventually(() => api.get<any>({ kind: 'Route', namespace: 'default', name: 'web' })
    ?.status?.ingress?.find((e: any) => e.routerName === 'e2e'), 5000);
  t.is(entry.routerCanonicalHostname, 'one.apps.example.com');
  t.like(entry.conditions[0], { type: 'Admitted', status: 'True' });

  // A deleted Route stops being served.
  api.delete({ kind: 'Route', namespace: 'default', name: 'late' });
  t.is(await eventually(() => backendFor(router, 'late.example.com').then((x) => (x !== 'b' ? x : '')), 2000), 'status 404');
});

test.serial('two routers elect one status writer; the other takes over when the leader stops', async (t) => {
  api.apply(route('web', 'web.example.com', 'web'));
  const first = await startRouter({ args: routerArgs(api, 'first') });
  t.teardown(() => first.stop());
  const holder = await eventually(() => api.get<any>(LEASE)?.spec?.holderIdentity, 5000);
  const second = await startRouter({ args: routerArgs(api, 'second') });
  t.teardown(() => second.stop());
  // Wait until the second router has read the Lease (its dashboard names the holder it saw; a
  // router that took the lease would name itself), then check the Lease on the server.
  const seen = await eventually(async () => {
    const overview = await fetch(`${second.adminUrl}/dashboard/overview.json`).then((r) => r.json() as Promise<any>);
    return String(overview.router.leaseHolder ?? '');
  }, 5000);
  t.is(seen, holder, 'the second router sees the first one as the holder');
  t.is(api.get<any>(LEASE).spec.holderIdentity, holder, 'the second router does not take a held lease');
  t.true(String(holder).endsWith(`-${first.child.pid}`));

  // Both serve traffic; only the leader writes status.
  t.is(await eventually(() => backendFor(second, 'web.example.com').then((x) => (x !== 'status 404' ? x : '')), 3000), 'b');
  const canonical = () => api.get<any>({ kind: 'Route', namespace: 'default', name: 'web' })
    ?.status?.ingress?.find((e: any) => e.routerName === 'e2e')?.routerCanonicalHostname;
  t.is(await eventually(() => (canonical() === 'first.apps.example.com' ? canonical() : ''), 5000), 'first.apps.example.com');

  // The leader stops (SIGTERM releases the lease): the second takes over and writes its status.
  await first.stop();
  const next = await eventually(() => {
    const h = api.get<any>(LEASE)?.spec?.holderIdentity;
    return h && h !== holder ? h : '';
  }, 5000);
  t.true(String(next).endsWith(`-${second.child.pid}`));
  t.is(await eventually(() => (canonical() === 'second.apps.example.com' ? canonical() : ''), 5000), 'second.apps.example.com');
});
