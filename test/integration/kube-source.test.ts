// The Kubernetes source against the fake API server, through the real client library, into a
// real ObjectStore: the faults a real API server cannot produce on demand - 410 Gone on an open
// watch or mid-watch, dropped and stalled watches, an API outage, failing lists - and validation.
// Events, selectors and what is read when run against a real kube-apiserver:
// test/real/kube-source.test.ts.

import test from 'ava';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient } from '../../src/kube/client.ts';
import { defaultConfig, type RouterConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/log.ts';
import { Metrics } from '../../src/metrics.ts';
import { KubernetesSource } from '../../src/sources/kubernetes.ts';
import { KubeConfigError, loadKubeConfig } from '../../src/kube/kubeconfig.ts';
import { ObjectStore } from '../../src/store.ts';
import { FakeApiServer } from '../support/fake-apiserver.ts';
import { ManualClock } from '../support/manual-clock.ts';

function route(ns: string, name: string, labels: Record<string, string> = {}) {
  return { apiVersion: 'route.openshift.io/v1', kind: 'Route', metadata: { namespace: ns, name, labels }, spec: { host: `${name}.example.com`, to: { kind: 'Service', name } } };
}

/** Poll `check` until it holds; false after `timeoutMs` (a bound: the caller's assertion fails). */
async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 1000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return check();
}

async function setUp(t: any, overrides: Partial<RouterConfig> = {}, apiOptions = {}, clock?: ManualClock, listPageSize?: number) {
  const api = await FakeApiServer.start(apiOptions);
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(api.kubeconfigPath);
  const config = { ...defaultConfig(), ...overrides };
  const store = new ObjectStore();
  const metrics = new Metrics({ defaultMetrics: false });
  const source = new KubernetesSource({ config, store, logger: process.env.DBG ? (await import('../../src/log.ts')).createLogger('debug') : silentLogger, metrics, client: new KubeClient(kubeConfig), backoffInitialMs: 50, backoffMaxMs: 300, clock, listPageSize });
  t.teardown(async () => { await source.stop(); await api.close(); });
  return { api, store, metrics, source, config };
}

async function restarts(metrics: Metrics, resource: string): Promise<number> {
  const values = (await metrics.watchRestarts.get()).values;
  return values.find((v) => v.labels.resource === resource)?.value ?? 0;
}

/** The initial state comes from a streaming list (watch-list), paged lists or one list at resourceVersion=0: each is tested where it matters. */
const MODES = [
  { name: 'watch-list', watchList: 'true', stateReads: (api: FakeApiServer) => api.watchListRequests('Route') },
  { name: 'paged lists', watchList: 'false', stateReads: (api: FakeApiServer) => api.listRequests('Route') },
  { name: 'one list', watchList: 'list', stateReads: (api: FakeApiServer) => api.listRequests('Route') },
] as const;

for (const mode of MODES) {
test(`${mode.name}: 410 Gone mid-watch: the state is read again, nothing lost, deletions during the gap applied`, async (t) => {
  const { api, store, source } = await setUp(t, { watchList: mode.watchList });
  api.create(route('a', 'one'));
  api.create(route('a', 'two'));
  await source.start();
  const readsBefore = mode.stateReads(api);
  api.stallWatches(true); // changes made now reach the client only through the re-list
  api.create(route('a', 'three'));
  api.delete({ kind: 'Route', namespace: 'a', name: 'two' });
  api.stallWatches(false);
  api.dropWatches();
  api.expireResourceVersions();
  t.true(await eventually(() => store.has('Route', 'a/three') && !store.has('Route', 'a/two'), 3000));
  t.true(store.has('Route', 'a/one'));
  t.true(mode.stateReads(api) > readsBefore);
  // Both lists are consistent reads (no resourceVersion): the watch cache serves them once it has
  // caught up with etcd.
  if (mode.watchList === 'false') t.deepEqual(api.listVersions('Route'), ['', '']);
  // One list: at resourceVersion=0 (whatever the watch cache holds) first; after the 410 at the
  // current version (a consistent read), as client-go's reflector relists.
  if (mode.watchList === 'list') t.deepEqual(api.listVersions('Route'), ['0', '']);
  // And the watch works again afterwards.
  api.create(route('a', 'four'));
  t.true(await eventually(() => store.has('Route', 'a/four')));
});

test(`${mode.name}: 410 Gone sent on an open watch: the state is read again`, async (t) => {
  const { api, store, source } = await setUp(t, { watchList: mode.watchList });
  await source.start();
  const readsBefore = mode.stateReads(api);
  api.expireResourceVersions({ notifyOpenWatches: true });
  t.true(await eventually(() => mode.stateReads(api) > readsBefore, 3000));
  api.create(route('a', 'after'));
  t.true(await eventually(() => store.has('Route', 'a/after'), 3000));
});
}

test('watch-list: one request per informer reads the state and goes on watching; no list', async (t) => {
  const { api, store, source, metrics } = await setUp(t, { watchList: 'true' });
  for (const name of ['a1', 'a2', 'a3']) api.create(route('a', name));
  await source.start();
  t.deepEqual([...store.keys('Route')].sort(), ['a/a1', 'a/a2', 'a/a3']);
  t.is(api.listRequests('Route'), 0);
  t.is(api.watchRequests('Route'), 1);
  t.is(api.watchListRequests('Route'), 1);
  api.create(route('a', 'after'));
  t.true(await eventually(() => store.has('Route', 'a/after'), 3000));
  t.is(api.watchRequests('Route'), 1, 'the same stream carries the changes');
  t.is(await restarts(metrics, 'routes'), 0);
});

test('--watch-list=true: every kind by watch-list, no list, and each goes on watching', async (t) => {
  const { api, store, source, metrics } = await setUp(t, { watchList: 'true' }, {}, undefined, 2);
  for (const name of ['a1', 'a2', 'a3']) api.create(route('a', name));
  await source.start();
  t.deepEqual([...store.keys('Route')].sort(), ['a/a1', 'a/a2', 'a/a3']);
  for (const kind of ['Route', 'Service', 'EndpointSlice', 'Ingress', 'IngressClass'] as const) {
    t.is(api.watchListRequests(kind), 1, `${kind}: watch-list`);
    t.is(api.listRequests(kind), 0, `${kind}: no list`);
  }
  api.create(route('a', 'after'));
  t.true(await eventually(() => store.has('Route', 'a/after'), 3000));
  t.is(api.watchRequests('Route'), 1, 'the same stream carries the changes');
  t.is(await restarts(metrics, 'routes'), 0);
});

test('--watch-list=list: every kind by one unpaged list at resourceVersion=0, then a watch from its resourceVersion', async (t) => {
  const { api, store, source, metrics } = await setUp(t, { watchList: 'list' }, {}, undefined, 2);
  for (const name of ['a1', 'a2', 'a3']) api.create(route('a', name));
  await source.start();
  t.deepEqual([...store.keys('Route')].sort(), ['a/a1', 'a/a2', 'a/a3']);
  for (const kind of ['Route', 'Service', 'EndpointSlice', 'Ingress', 'IngressClass'] as const) {
    t.is(api.listRequests(kind), 1, `${kind}: one list`);
    t.is(api.continuedPages(kind), 0, `${kind}: unpaged, whatever the page size`);
    t.deepEqual(api.listVersions(kind), ['0'], `${kind}: at resourceVersion=0`);
    t.is(api.watchListRequests(kind), 0, `${kind}: no watch-list`);
  }
  api.create(route('a', 'after'));
  t.true(await eventually(() => store.has('Route', 'a/after'), 3000));
  t.is(api.watchRequests('Route'), 1, 'one watch carries the changes');
  t.is(await restarts(metrics, 'routes'), 0);
  t.is((await metrics.kubeObjectsRead.get()).values.find((v) => v.labels.resource === 'routes')?.value, 4, 'three listed, one watched');
});

for (const kubeProtobuf of [true, false]) {
test(`the default (--watch-list=auto${kubeProtobuf ? '' : ', --kube-protobuf=false'}): built-in kinds by one list at resourceVersion=0, custom resources (Routes) by watch-list, and each goes on watching`, async (t) => {
  t.is(defaultConfig().watchList, 'auto');
  const { api, store, source, metrics } = await setUp(t, { kubeProtobuf }, {}, undefined, 2);
  for (const name of ['a1', 'a2', 'a3']) api.create(route('a', name));
  await source.start();
  t.deepEqual([...store.keys('Route')].sort(), ['a/a1', 'a/a2', 'a/a3']);
  t.is(api.watchListRequests('Route'), 1, 'Routes: watch-list');
  t.is(api.listRequests('Route'), 0, 'Routes: no list');
  for (const kind of ['Service', 'EndpointSlice', 'Ingress', 'IngressClass'] as const) {
    t.is(api.listRequests(kind), 1, `${kind}: one list`);
    t.is(api.continuedPages(kind), 0, `${kind}: unpaged`);
    t.deepEqual(api.listVersions(kind), ['0'], `${kind}: at resourceVersion=0`);
    t.is(api.watchListRequests(kind), 0, `${kind}: no watch-list`);
  }
  api.create(route('a', 'after'));
  t.true(await eventually(() => store.has('Route', 'a/after'), 3000));
  t.is(api.watchRequests('Route'), 1, 'the same stream carries the changes');
  t.is(await restarts(metrics, 'routes'), 0);
});
}

test('a server that refuses watch-list (422, WatchList off): paged lists, for every informer, with no restart', async (t) => {
  const { api, store, source, metrics } = await setUp(t, { watchList: 'true' }, { watchList: false });
  for (const name of ['a1', 'a2']) api.create(route('a', name));
  await source.start();
  t.deepEqual([...store.keys('Route')].sort(), ['a/a1', 'a/a2']);
  t.is(api.listRequests('Route'), 1);
  t.is(api.watchListRequests('Route'), 0);
  // Every informer reads its state by list (each at most once refused first, as they start together).
  t.true(api.listRequests('Service') === 1 && api.listRequests('EndpointSlice') === 1);
  t.is(await restarts(metrics, 'routes'), 0);
  api.create(route('a', 'after'));
  t.true(await eventually(() => store.has('Route', 'a/after'), 3000));
});

test('lists are read in pages: every object arrives, and the watch goes on from the list', async (t) => {
  const { api, store, source, metrics } = await setUp(t, { watchList: 'false' }, {}, undefined, 2);
  for (const name of ['a1', 'a2', 'a3', 'a4', 'a5']) api.create(route('a', name));
  await source.start();
  t.deepEqual([...store.keys('Route')].sort(), ['a/a1', 'a/a2', 'a/a3', 'a/a4', 'a/a5']);
  t.is(api.listRequests('Route'), 1);
  t.is(api.continuedPages('Route'), 2); // 2 + 2 + 1
  api.create(route('a', 'after'));
  t.true(await eventually(() => store.has('Route', 'a/after'), 3000));
  t.is(await restarts(metrics, 'routes'), 0);
});

test('a continue token that expires between pages: the list is read again whole, nothing lost', async (t) => {
  const { api, store, source, metrics } = await setUp(t, { watchList: 'false' }, {}, undefined, 2);
  for (const name of ['a1', 'a2', 'a3', 'a4', 'a5']) api.create(route('a', name));
  let routeRequests = 0;
  api.onRequest = ({ method, path }) => {
    // The second request for routes is the list's second page: compact the history under it.
    if (method === 'GET' && path === '/apis/route.openshift.io/v1/routes' && ++routeRequests === 2) api.expireResourceVersions();
  };
  await source.start();
  t.deepEqual([...store.keys('Route')].sort(), ['a/a1', 'a/a2', 'a/a3', 'a/a4', 'a/a5']);
  t.is(api.listRequests('Route'), 2); // the paged one, then one whole
  t.is(await restarts(metrics, 'routes'), 0);
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

/** Resources whose informer last heard from the API server at this (clock) time. */
async function heardAt(metrics: Metrics, ms: number): Promise<string[]> {
  return (await metrics.lastSync.get()).values.filter((v) => v.value === ms / 1000).map((v) => String(v.labels.resource));
}

test('a stalled watch is restarted by the watchdog; bookmarks keep a quiet one alive', async (t) => {
  // The watchdog and the restart backoff run on a manual clock: time moves only when the test
  // says so, and the bookmarks are sent on demand.
  const clock = new ManualClock();
  const { api, store, source, metrics } = await setUp(t, { watchTimeout: 1000 }, { bookmarkIntervalMs: null }, clock);
  await source.start();
  const resources = (await metrics.lastSync.get()).values.length;
  t.true(resources >= 2);
  t.true(await eventually(() => api.openWatches() === resources, 3000)); // start() resolves after the lists, before the watches
  // Bookmarks keep a quiet, healthy watch alive: 3 × 800 ms of silence (2.4 s in all, over the
  // 1 s watchdog) broken by a bookmark each time, and no restart.
  for (let i = 0; i < 3; i++) {
    clock.advance(800);
    api.sendBookmarks();
    t.true(await eventually(async () => (await heardAt(metrics, clock.now())).length === resources, 3000), 'every informer received its bookmark');
  }
  t.is(await restarts(metrics, 'routes'), 0);
  // A stalled watch sends nothing: once it has been silent past the watchdog, it is restarted.
  api.stallWatches(true);
  api.create(route('a', 'while-stalled'));
  clock.advance(900);
  t.is(await restarts(metrics, 'routes'), 0, 'not before the watchdog timeout');
  const statesBefore = api.watchListRequests('Route') + api.listRequests('Route');
  const watchesBefore = api.watchRequests('Route');
  clock.advance(600); // silent 1.5 s: the watchdog fires, then the restart backoff (at most 50 ms) runs out
  t.is(await restarts(metrics, 'routes'), 1);
  // The new watch goes on from the last resourceVersion seen (no re-list); the change made
  // meanwhile comes on it once the server sends again.
  t.true(await eventually(() => api.watchRequests('Route') > watchesBefore, 3000));
  api.stallWatches(false);
  t.true(await eventually(() => store.has('Route', 'a/while-stalled'), 4000));
  t.is(api.watchListRequests('Route') + api.listRequests('Route'), statesBefore);
});

test('an API outage loses nothing and recovers', async (t) => {
  const { api, store, source, metrics } = await setUp(t);
  api.create(route('a', 'before'));
  api.create(route('a', 'doomed'));
  await source.start();
  // The outage lasts until the test ends it (not a guessed duration).
  let endOutage!: () => void;
  const outage = api.refuseConnections(new Promise<void>((resolve) => { endOutage = resolve; }));
  // refuseConnections cut every watch synchronously: nothing made from here on can reach the
  // source before it reconnects. Changes during the outage (made directly in the fake server):
  api.create(route('a', 'during'));
  api.delete({ kind: 'Route', namespace: 'a', name: 'doomed' });
  // The watch failed (one restart) and so did a re-list during the outage (a second one):
  // the source has tried and failed, and removed nothing.
  t.true(await eventually(async () => await restarts(metrics, 'routes') >= 2, 3000), 'a re-list failed during the outage');
  t.true(store.has('Route', 'a/before'));
  t.true(store.has('Route', 'a/doomed'), 'an outage removes nothing');
  endOutage();
  await outage;
  t.true(await eventually(() => store.has('Route', 'a/during') && !store.has('Route', 'a/doomed'), 3000));
  t.true(store.has('Route', 'a/before'));
  t.true(await restarts(metrics, 'routes') >= 1);
  api.create(route('a', 'after'));
  t.true(await eventually(() => store.has('Route', 'a/after')));
});

for (const status of [500, 429] as const) {
  test(`failing lists (${status}) are retried until they succeed`, async (t) => {
    const { api, store, source } = await setUp(t, { watchList: 'false' });
    api.create(route('a', 'one'));
    api.failLists(status, 3);
    await source.start();
    t.true(store.has('Route', 'a/one'));
    t.true(api.listRequests('Route') >= 2);
  });
}

test('a list page refused with 429 (API Priority and Fairness) is asked for again, the pages before it kept', async (t) => {
  const { api, store, source, metrics } = await setUp(t, { watchList: 'false' }, {}, undefined, 2);
  for (const name of ['a1', 'a2', 'a3']) api.create(route('a', name));
  api.failLists(429, 1, { continued: true });
  await source.start();
  t.deepEqual([...store.keys('Route')].sort(), ['a/a1', 'a/a2', 'a/a3']);
  t.is(api.listRequests('Route'), 1, 'the first page was not read again');
  t.is(api.continuedPages('Route'), 2, 'the refused second page, then the same page again');
  t.is(await restarts(metrics, 'routes'), 0, 'the read was not started over');
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
  t.throws(() => loadKubeConfig('/nonexistent/kubeconfig'), { instanceOf: KubeConfigError, message: /kubeconfig not found/ });
  const saved = process.env['KUBERNETES_SERVICE_HOST'];
  delete process.env['KUBERNETES_SERVICE_HOST'];
  try {
    t.throws(() => loadKubeConfig(''), { instanceOf: KubeConfigError, message: /not running in a cluster/ });
  } finally {
    if (saved !== undefined) process.env['KUBERNETES_SERVICE_HOST'] = saved;
  }
});
