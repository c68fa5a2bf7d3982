// The Kubernetes source against the fake API server, through the real client library, into a
// real ObjectStore: events, 410 Gone, dropped and stalled watches, an API outage, failing lists,
// selectors and validation.

import test from 'ava';
import { KubeConfig } from '@kubernetes/client-node';
import { defaultConfig, type RouterConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/log.ts';
import { Metrics } from '../../src/metrics.ts';
import { KubernetesSource } from '../../src/sources/kubernetes.ts';
import { ObjectStore } from '../../src/store.ts';
import { FakeApiServer } from '../support/fake-apiserver.ts';

function route(ns: string, name: string, labels: Record<string, string> = {}) {
  return { apiVersion: 'route.openshift.io/v1', kind: 'Route', metadata: { namespace: ns, name, labels }, spec: { host: `${name}.example.com`, to: { kind: 'Service', name } } };
}

function service(ns: string, name: string) {
  return { apiVersion: 'v1', kind: 'Service', metadata: { namespace: ns, name }, spec: { ports: [{ name: 'http', port: 80, targetPort: 8080 }] } };
}

function pod(ns: string, name: string, labels: Record<string, string>) {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { namespace: ns, name, labels }, spec: { hostNetwork: true }, status: { podIP: '10.0.0.1' } };
}

function tlsSecret(ns: string, name: string) {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { namespace: ns, name }, type: 'kubernetes.io/tls', data: { 'tls.crt': 'Y2VydA==', 'tls.key': 'a2V5' } };
}

async function eventually(check: () => boolean, timeoutMs = 1000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return check();
}

async function setUp(t: any, overrides: Partial<RouterConfig> = {}, apiOptions = {}) {
  const api = await FakeApiServer.start(apiOptions);
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(api.kubeconfigPath);
  const config = { ...defaultConfig(), ...overrides };
  const store = new ObjectStore();
  const metrics = new Metrics({ defaultMetrics: false });
  const source = new KubernetesSource({ config, store, logger: process.env.DBG ? (await import('../../src/log.ts')).createLogger('debug') : silentLogger, metrics, kubeConfig, backoffInitialMs: 50, backoffMaxMs: 300 });
  t.teardown(async () => { await source.stop(); await api.close(); });
  return { api, store, metrics, source, config };
}

async function restarts(metrics: Metrics, resource: string): Promise<number> {
  const values = (await metrics.watchRestarts.get()).values;
  return values.find((v) => v.labels.resource === resource)?.value ?? 0;
}

test('objects appear, change and disappear in the store within 1 s', async (t) => {
  const { api, store, source, metrics } = await setUp(t);
  api.create(route('a', 'listed'));
  await source.start();
  t.true(source.synced);
  t.true(store.has('Route', 'a/listed'));
  const listed = store.get('Route', 'a/listed')!;
  t.is(listed.kind, 'Route');
  t.is(listed.apiVersion, 'route.openshift.io/v1');
  t.is(typeof listed.metadata.creationTimestamp, 'string');

  api.create(service('a', 'web'));
  api.create(route('a', 'watched'));
  t.true(await eventually(() => store.has('Service', 'a/web') && store.has('Route', 'a/watched')));
  const current = api.get<any>({ kind: 'Route', namespace: 'a', name: 'watched' });
  api.update({ ...current, spec: { ...current.spec, path: '/v2' } });
  t.true(await eventually(() => store.get('Route', 'a/watched')?.spec.path === '/v2'));
  api.delete({ kind: 'Route', namespace: 'a', name: 'watched' });
  t.true(await eventually(() => !store.has('Route', 'a/watched')));
  t.true(store.has('Route', 'a/listed'));
  const sync = (await metrics.lastSync.get()).values.find((v) => v.labels.resource === 'routes');
  t.truthy(sync && sync.value > 0);
});

test('410 Gone mid-watch: re-list, nothing lost, deletions during the gap applied', async (t) => {
  const { api, store, source } = await setUp(t);
  api.create(route('a', 'one'));
  api.create(route('a', 'two'));
  await source.start();
  const listsBefore = api.listRequests('Route');
  api.stallWatches(true); // changes made now reach the client only through the re-list
  api.create(route('a', 'three'));
  api.delete({ kind: 'Route', namespace: 'a', name: 'two' });
  api.stallWatches(false);
  api.dropWatches();
  api.expireResourceVersions();
  t.true(await eventually(() => store.has('Route', 'a/three') && !store.has('Route', 'a/two'), 3000));
  t.true(store.has('Route', 'a/one'));
  t.true(api.listRequests('Route') > listsBefore);
  // And the watch works again afterwards.
  api.create(route('a', 'four'));
  t.true(await eventually(() => store.has('Route', 'a/four')));
});

test('410 Gone sent on an open watch triggers a re-list', async (t) => {
  const { api, store, source } = await setUp(t);
  await source.start();
  const listsBefore = api.listRequests('Route');
  api.expireResourceVersions({ notifyOpenWatches: true });
  t.true(await eventually(() => api.listRequests('Route') > listsBefore, 3000));
  api.create(route('a', 'after'));
  t.true(await eventually(() => store.has('Route', 'a/after'), 3000));
});

test('dropped watches are restarted and counted; nothing is removed meanwhile', async (t) => {
  const { api, store, source, metrics } = await setUp(t);
  api.create(route('a', 'kept'));
  await source.start();
  t.true(await eventually(() => api.openWatches('Route') === 1)); // start() resolves after the list, before the watch
  api.dropWatches();
  t.is(api.openWatches('Route'), 0);
  t.true(store.has('Route', 'a/kept'));
  t.true(await eventually(() => api.openWatches('Route') === 1, 3000));
  t.true(await restarts(metrics, 'routes') >= 1);
  api.create(route('a', 'new'));
  t.true(await eventually(() => store.has('Route', 'a/new')));
  t.true(store.has('Route', 'a/kept'));
});

test('a stalled watch is restarted by the watchdog', async (t) => {
  const { api, store, source, metrics } = await setUp(t, { watchTimeout: 1000 }, { bookmarkIntervalMs: 100 });
  await source.start();
  // Bookmarks keep a quiet, healthy watch alive: no restarts.
  await new Promise((r) => setTimeout(r, 1500));
  t.is(await restarts(metrics, 'routes'), 0);
  api.stallWatches(true);
  api.create(route('a', 'while-stalled'));
  t.true(await eventually(() => store.has('Route', 'a/while-stalled'), 4000));
  t.true(await restarts(metrics, 'routes') >= 1);
  api.stallWatches(false);
});

test('an API outage loses nothing and recovers', async (t) => {
  const { api, store, source, metrics } = await setUp(t);
  api.create(route('a', 'before'));
  api.create(route('a', 'doomed'));
  await source.start();
  const outage = api.refuseConnections(1500);
  await new Promise((r) => setTimeout(r, 300));
  // Changes during the outage (made directly in the fake server).
  api.create(route('a', 'during'));
  api.delete({ kind: 'Route', namespace: 'a', name: 'doomed' });
  t.true(store.has('Route', 'a/before'));
  t.true(store.has('Route', 'a/doomed'), 'an outage removes nothing');
  await outage;
  t.true(await eventually(() => store.has('Route', 'a/during') && !store.has('Route', 'a/doomed'), 3000));
  t.true(store.has('Route', 'a/before'));
  t.true(await restarts(metrics, 'routes') >= 1);
  api.create(route('a', 'after'));
  t.true(await eventually(() => store.has('Route', 'a/after')));
});

for (const status of [500, 429] as const) {
  test(`failing lists (${status}) are retried until they succeed`, async (t) => {
    const { api, store, source } = await setUp(t);
    api.create(route('a', 'one'));
    api.failLists(status, 3);
    await source.start();
    t.true(store.has('Route', 'a/one'));
    t.true(api.listRequests('Route') >= 2);
  });
}

test('route labels select; nothing references Pods or Secrets, so none are read', async (t) => {
  const { api, store, source } = await setUp(t, { routeLabels: 'shard=x' });
  api.create(pod('a', 'managed', { 'switchyard.io/autoport': 'true' }));
  api.create(tlsSecret('a', 'tls'));
  api.create(route('a', 'ours', { shard: 'x' }));
  api.create(route('a', 'theirs', { shard: 'y' }));
  await source.start();
  t.deepEqual([...store.keys('Route')], ['a/ours']);
  t.is(store.size('Namespace'), 0, 'no Namespace informer without --namespace-labels');
  t.is(api.listRequests('Pod'), 0, 'no route reads ports from Pod annotations: Pods are not listed');
  t.is(api.listRequests('Secret'), 0, 'no route references a Secret: Secrets are not listed');
  t.deepEqual(source.watched.map((w) => w.resource).sort(), ['endpointslices', 'ingressclasses', 'ingresses', 'routes', 'services']);
  // A Route relabelled out of the shard leaves the store.
  const ours = api.get<any>({ kind: 'Route', namespace: 'a', name: 'ours' });
  api.update({ ...ours, metadata: { ...ours.metadata, labels: { shard: 'y' } } });
  t.true(await eventually(() => !store.has('Route', 'a/ours')));
});

test('Pods are watched (autoport label only) while some route has target-port-annotation', async (t) => {
  const { api, store, source } = await setUp(t);
  api.create(pod('a', 'managed', { 'switchyard.io/autoport': 'true' }));
  api.create(pod('a', 'other', { app: 'x' }));
  const autoport = { ...route('a', 'auto'), metadata: { namespace: 'a', name: 'auto', labels: {}, annotations: { 'switchyard.io/target-port-annotation': 'AUTO_PORT0' } } };
  api.create(autoport);
  await source.start();
  t.deepEqual([...store.keys('Pod')], ['a/managed'], 'listed before start() resolved');
  api.create(pod('a', 'later', { 'switchyard.io/autoport': '1' }));
  api.create(pod('a', 'later-other', {}));
  t.true(await eventually(() => store.has('Pod', 'a/later')));
  t.false(store.has('Pod', 'a/later-other'));
  // The last such route goes: the Pod informer stops and its Pods leave the store.
  api.delete({ kind: 'Route', namespace: 'a', name: 'auto' });
  t.true(await eventually(() => store.size('Pod') === 0));
  t.false(source.watched.some((w) => w.kind === 'Pod'));
});

test('Secrets: only the referenced ones, one by name, and only kubernetes.io/tls', async (t) => {
  const { api, store, source } = await setUp(t);
  api.create(tlsSecret('a', 'tls'));
  api.create(tlsSecret('a', 'unreferenced'));
  api.create({ apiVersion: 'v1', kind: 'Secret', metadata: { namespace: 'a', name: 'opaque' }, type: 'Opaque', data: { password: 'eA==' } });
  const external = (name: string, secret: string) => ({ ...route('a', name), spec: { host: `${name}.example.com`, to: { kind: 'Service', name }, tls: { termination: 'edge', externalCertificate: { name: secret } } } });
  api.create(external('one', 'tls'));
  api.create(external('two', 'tls'));
  api.create(external('three', 'opaque'));
  await source.start();
  t.deepEqual([...store.keys('Secret')], ['a/tls'], 'the Opaque one is referenced but not TLS; the unreferenced one is never read');
  t.deepEqual(source.watched.filter((w) => w.kind === 'Secret').map((w) => w.fieldSelector).sort(),
    ['metadata.name=opaque,type=kubernetes.io/tls', 'metadata.name=tls,type=kubernetes.io/tls']);
  // An Ingress referencing another Secret starts its informer; a rotated certificate arrives.
  api.create({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { namespace: 'a', name: 'ing' },
    spec: { tls: [{ hosts: ['i.example.com'], secretName: 'unreferenced' }], rules: [{ host: 'i.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } }] } });
  t.true(await eventually(() => store.has('Secret', 'a/unreferenced')));
  api.update({ ...tlsSecret('a', 'tls'), data: { 'tls.crt': 'bmV3', 'tls.key': 'a2V5' } });
  t.true(await eventually(() => (store.get('Secret', 'a/tls') as any)?.data?.['tls.crt'] === 'bmV3'));
  // One of two references goes: still read. Both go: dropped from the store.
  api.delete({ kind: 'Route', namespace: 'a', name: 'one' });
  t.true(await eventually(() => !store.has('Route', 'a/one')));
  store.flush(); // the source has seen the deletion: its informer decisions are made synchronously
  t.true(source.watched.some((w) => w.kind === 'Secret' && w.name === 'tls'));
  t.true(store.has('Secret', 'a/tls'));
  api.delete({ kind: 'Route', namespace: 'a', name: 'two' });
  t.true(await eventually(() => !store.has('Secret', 'a/tls')));
  t.true(store.has('Secret', 'a/unreferenced'));
});

test('--namespace limits namespaced kinds; --namespace-labels watches matching Namespaces', async (t) => {
  const { api, store, source } = await setUp(t, { namespace: 'a', namespaceLabels: 'router=yes' });
  api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'a', labels: { router: 'yes' } } });
  api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'b' } });
  api.create(route('a', 'in'));
  api.create(route('b', 'out'));
  await source.start();
  t.deepEqual([...store.keys('Route')], ['a/in']);
  t.deepEqual([...store.keys('Namespace')], ['a']);
  api.create(route('b', 'out-too'));
  api.create(route('a', 'in-too'));
  t.true(await eventually(() => store.has('Route', 'a/in-too')));
  t.false(store.has('Route', 'b/out-too'));
});

test('an invalid object is counted and its previous good version stays', async (t) => {
  const { api, store, source, metrics } = await setUp(t);
  api.create(route('a', 'r'));
  await source.start();
  const good = api.get<any>({ kind: 'Route', namespace: 'a', name: 'r' });
  api.update({ ...good, spec: { host: 'r.example.com', to: { kind: 'Service' } } }); // spec.to.name missing
  let errors = 0;
  for (let i = 0; i < 50 && errors === 0; i++) {
    await new Promise((r) => setTimeout(r, 20));
    errors = (await metrics.configErrors.get()).values.find((v) => v.labels.source === 'kubernetes')?.value ?? 0;
  }
  t.is(errors, 1);
  t.is(store.get('Route', 'a/r')?.spec.to.name, 'r');
  api.update({ ...good, spec: { ...good.spec, path: '/fixed' } });
  t.true(await eventually(() => store.get('Route', 'a/r')?.spec.path === '/fixed'));
});

test('loadKubeConfig reads --kubeconfig and explains a missing one', (t) => {
  t.throws(() => KubernetesSource.loadKubeConfig({ ...defaultConfig(), kubeconfig: '/nonexistent/kubeconfig' }), { message: /kubeconfig not found/ });
  const saved = process.env['KUBERNETES_SERVICE_HOST'];
  delete process.env['KUBERNETES_SERVICE_HOST'];
  try {
    t.throws(() => KubernetesSource.loadKubeConfig({ ...defaultConfig(), kubeconfig: '' }), { message: /not running in a cluster/ });
  } finally {
    if (saved !== undefined) process.env['KUBERNETES_SERVICE_HOST'] = saved;
  }
});
