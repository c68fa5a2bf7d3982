// End to end against the fake API server: route sharding. A router with --route-labels serves
// (and writes status on) only the Routes its selector matches; one with --namespace-labels only
// the Routes in namespaces whose labels match. Relabelling moves a Route in or out of a shard.

import test from 'ava';
import { FakeApiServer } from '../support/fake-apiserver.ts';
import { startBackend, type Backend } from '../support/backends.ts';
import { eventually, request } from '../support/http-client.ts';
import { startRouter, type RouterProcess } from '../support/router-process.ts';

function namespace(name: string, labels: Record<string, string>) {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } };
}

function service(ns: string, name: string) {
  return { apiVersion: 'v1', kind: 'Service', metadata: { namespace: ns, name }, spec: { ports: [{ name: 'http', port: 80 }] } };
}

function slice(ns: string, service: string, port: number) {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { namespace: ns, name: `${service}-slice`, labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port }],
    endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
  };
}

function route(ns: string, name: string, host: string, labels: Record<string, string> = {}) {
  return {
    apiVersion: 'route.openshift.io/v1', kind: 'Route',
    metadata: { namespace: ns, name, labels },
    spec: { host, to: { kind: 'Service', name: 'web' } },
  };
}

async function statusOf(router: RouterProcess, host: string): Promise<string> {
  try {
    const reply = await request(router.http, { host, path: '/', timeoutMs: 3000 });
    return reply.status === 200 ? String(reply.headers['x-backend']) : `status ${reply.status}`;
  } catch (err) {
    return `error ${(err as Error).message}`;
  }
}

function answers(router: RouterProcess, host: string, expected: string, timeoutMs = 5000): Promise<string> {
  return eventually(() => statusOf(router, host).then((x) => (x === expected ? x : '')), timeoutMs);
}

function routerNamesInStatus(ns: string, name: string): string[] {
  const ingress = api.get<any>({ kind: 'Route', namespace: ns, name })?.status?.ingress ?? [];
  return ingress.map((e: { routerName: string }) => e.routerName).sort();
}

function routerArgs(name: string, extra: string[]): string[] {
  return ['--kubeconfig', api.kubeconfigPath, '--router-name', name, '--canonical-hostname', `${name}.apps.example.com`,
    '--watch-timeout', '30s', ...extra];
}

let api: FakeApiServer;
let prod: Backend;
let dev: Backend;

test.before(async () => {
  api = await FakeApiServer.start();
  prod = await startBackend('prod');
  dev = await startBackend('dev');
  api.create(namespace('prod', { env: 'prod' }));
  api.create(namespace('dev', { env: 'dev' }));
  api.create(service('prod', 'web'));
  api.create(slice('prod', 'web', prod.port));
  api.create(service('dev', 'web'));
  api.create(slice('dev', 'web', dev.port));
});

test.after.always(async () => {
  await api?.close();
  await Promise.all([prod, dev].map((x) => x?.close()));
});

test.serial('--route-labels: only matching Routes are served and get status; relabelling out removes both', async (t) => {
  api.create(route('prod', 'in-a', 'in-a.example.com', { shard: 'a' }));
  api.create(route('prod', 'in-b', 'in-b.example.com', { shard: 'b' }));
  api.create(route('prod', 'unlabelled', 'unlabelled.example.com'));
  // An entry another router wrote: ours must come and go without touching it.
  const withForeign = api.get<any>({ kind: 'Route', namespace: 'prod', name: 'in-a' });
  api.update({ ...withForeign, status: { ingress: [{ host: 'in-a.example.com', routerName: 'elsewhere', conditions: [{ type: 'Admitted', status: 'True' }] }] } });

  const router = await startRouter({ args: routerArgs('shard-a', ['--route-labels', 'shard=a']) });
  t.teardown(() => router.stop());
  t.is(await answers(router, 'in-a.example.com', 'prod'), 'prod');
  t.is(await statusOf(router, 'in-b.example.com'), 'status 404');
  t.is(await statusOf(router, 'unlabelled.example.com'), 'status 404');

  t.deepEqual(await eventually(() => {
    const names = routerNamesInStatus('prod', 'in-a');
    return names.includes('shard-a') ? names : undefined;
  }, 5000), ['elsewhere', 'shard-a']);
  // The status writer is only ever handed the shard's routes (no waiting to see whether it
  // touches the others): the leader's hand-over names how many it got.
  t.is((await router.waitForLog((l) => l.msg === 'leading: writing route and ingress status')).routes, 1);
  t.deepEqual(routerNamesInStatus('prod', 'in-b'), []);
  t.deepEqual(routerNamesInStatus('prod', 'unlabelled'), []);
  t.is(api.writes({ kind: 'Route', namespace: 'prod', name: 'in-b' }), 0);

  // A Route labelled into the shard is served; the one relabelled out is dropped and loses our entry.
  const b = api.get<any>({ kind: 'Route', namespace: 'prod', name: 'in-b' });
  api.update({ ...b, metadata: { ...b.metadata, labels: { shard: 'a' } } });
  const a = api.get<any>({ kind: 'Route', namespace: 'prod', name: 'in-a' });
  api.update({ ...a, metadata: { ...a.metadata, labels: { shard: 'b' } } });
  t.is(await answers(router, 'in-b.example.com', 'prod'), 'prod');
  t.is(await answers(router, 'in-a.example.com', 'status 404'), 'status 404');
  t.deepEqual(await eventually(() => {
    const names = routerNamesInStatus('prod', 'in-a');
    return names.includes('shard-a') ? undefined : names;
  }, 5000), ['elsewhere'], 'our entry is removed, the other router\'s is kept');
  t.truthy(await eventually(() => routerNamesInStatus('prod', 'in-b').includes('shard-a'), 5000));
});

test.serial('--namespace-labels: only Routes in matching namespaces; relabelling a namespace moves its Routes', async (t) => {
  api.create(route('prod', 'ns-web', 'ns-prod.example.com'));
  api.create(route('dev', 'ns-web', 'ns-dev.example.com'));

  const router = await startRouter({ args: routerArgs('ns-prod', ['--namespace-labels', 'env=prod']) });
  t.teardown(() => router.stop());
  t.is(await answers(router, 'ns-prod.example.com', 'prod'), 'prod');
  t.is(await statusOf(router, 'ns-dev.example.com'), 'status 404');
  t.truthy(await eventually(() => routerNamesInStatus('prod', 'ns-web').includes('ns-prod'), 5000));
  const inShard = api.list('Route').filter((r) => r.metadata.namespace === 'prod').length;
  t.is((await router.waitForLog((l) => l.msg === 'leading: writing route and ingress status')).routes, inShard, 'the writer is handed the shard\'s Routes only');
  t.deepEqual(routerNamesInStatus('dev', 'ns-web'), [], 'no status on a Route outside the namespace shard');

  // The dev namespace joins the shard: its Route is served (by its own backend) and gets status.
  api.update(namespace('dev', { env: 'prod' }));
  t.is(await answers(router, 'ns-dev.example.com', 'dev'), 'dev');
  t.truthy(await eventually(() => routerNamesInStatus('dev', 'ns-web').includes('ns-prod'), 5000));

  // …and leaves it again: not served, our status entry removed.
  api.update(namespace('dev', { env: 'dev' }));
  t.is(await answers(router, 'ns-dev.example.com', 'status 404'), 'status 404');
  t.deepEqual(await eventually(() => {
    const names = routerNamesInStatus('dev', 'ns-web');
    return names.length === 0 ? names : undefined;
  }, 5000), []);
  t.is(await statusOf(router, 'ns-prod.example.com'), 'prod');
});
