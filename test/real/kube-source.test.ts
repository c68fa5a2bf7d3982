// The Kubernetes source in process, against a real kube-apiserver, with the router's
// ServiceAccount token under manifests/base RBAC: objects appear, change and disappear in the
// store; label selectors and --namespace are applied by the server; Pods and Secrets are read
// only when routes reference them. (Faults a real server cannot produce on demand - a stalled
// watch, failing lists, 410 on an open watch - stay in test/integration/kube-source.test.ts
// against the fake API server.)

import test from 'ava';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as yaml from 'js-yaml';
import { defaultConfig, type RouterConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/log.ts';
import { Metrics } from '../../src/metrics.ts';
import { KubernetesSource } from '../../src/sources/kubernetes.ts';
import { KubeClient, openKubeClient, type KubeRequest, type StreamedAnswer } from '../../src/kube/client.ts';
import { loadKubeConfig } from '../../src/kube/kubeconfig.ts';
import { ObjectStore } from '../../src/store.ts';
import { eventually } from '../support/http-client.ts';
import { startRealCluster, type RealCluster } from '../support/real-apiserver.ts';

const MANIFESTS = fileURLToPath(new URL('../../manifests/', import.meta.url));

let cluster: RealCluster;
let kubeconfig: string;

test.before(async (t) => {
  t.timeout(240_000);
  cluster = await startRealCluster();
  await cluster.apply({ kustomization: MANIFESTS });
  await cluster.waitEstablished('routes.route.openshift.io');
  ({ kubeconfig } = await cluster.serviceAccountKubeconfig('switchyard', 'switchyard-router'));
});
test.after.always(async () => { await cluster?.stop(); });

async function startSource(t: any, overrides: Partial<RouterConfig> = {}) {
  const config = { ...defaultConfig(), kubeconfig, ...overrides };
  const store = new ObjectStore();
  const metrics = new Metrics({ defaultMetrics: false });
  const source = new KubernetesSource({ config, store, logger: silentLogger, metrics, client: openKubeClient({ kubeconfig: config.kubeconfig, name: config.routerName }) });
  t.teardown(() => source.stop());
  await source.start();
  return { store, source, metrics };
}

/** A namespace of its own per test (the tests run one after the other: the last leaves routes behind). */
async function namespace(name: string, labels: Record<string, string> = {}): Promise<string> {
  await cluster.must('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
  return name;
}

function route(ns: string, name: string, extra: { labels?: Record<string, string>; annotations?: Record<string, string>; tls?: unknown } = {}) {
  return {
    apiVersion: 'route.openshift.io/v1', kind: 'Route',
    metadata: { name, namespace: ns, labels: extra.labels ?? {}, annotations: extra.annotations ?? {} },
    spec: { host: `${name}.${ns}.example.com`, to: { kind: 'Service', name }, ...(extra.tls ? { tls: extra.tls } : {}) },
  };
}
const routes = (ns: string) => `/apis/route.openshift.io/v1/namespaces/${ns}/routes`;

function tlsSecret(name: string) {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name }, type: 'kubernetes.io/tls', data: { 'tls.crt': 'Y2VydA==', 'tls.key': 'a2V5' } };
}

test.serial('objects appear, change and disappear in the store', async (t) => {
  const ns = await namespace('src-events');
  await cluster.must('POST', routes(ns), route(ns, 'listed'));
  const { store, source, metrics } = await startSource(t);
  t.true(source.synced);
  const listed = store.get('Route', `${ns}/listed`)!;
  t.like(listed, { kind: 'Route', apiVersion: 'route.openshift.io/v1' });
  t.is(typeof listed.metadata.creationTimestamp, 'string');

  await cluster.must('POST', `/api/v1/namespaces/${ns}/services`, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { ports: [{ port: 80 }] } });
  await cluster.must('POST', routes(ns), route(ns, 'watched'));
  t.true(await eventually(() => store.has('Service', `${ns}/web`) && store.has('Route', `${ns}/watched`), 10_000, 20));
  await cluster.must('PATCH', `${routes(ns)}/watched`, { spec: { path: '/v2' } }, { contentType: 'application/merge-patch+json' });
  t.true(await eventually(() => store.get('Route', `${ns}/watched`)?.spec.path === '/v2', 10_000, 20));
  await cluster.must('DELETE', `${routes(ns)}/watched`);
  t.true(await eventually(() => !store.has('Route', `${ns}/watched`), 10_000, 20));
  t.true(store.has('Route', `${ns}/listed`));
  const sync = (await metrics.lastSync.get()).values.find((v) => v.labels.resource === 'routes');
  t.truthy(sync && sync.value > 0);
});

test.serial('ROUTE_LABELS, NAMESPACE_LABELS and --namespace are applied by the server', async (t) => {
  const ours = await namespace('src-shard-a', { router: 'yes' });
  const theirs = await namespace('src-shard-b');
  await cluster.must('POST', routes(ours), route(ours, 'in', { labels: { shard: 'x' } }));
  await cluster.must('POST', routes(ours), route(ours, 'out', { labels: { shard: 'y' } }));
  await cluster.must('POST', routes(theirs), route(theirs, 'elsewhere', { labels: { shard: 'x' } }));
  const sharded = await startSource(t, { routeLabels: 'shard=x', namespaceLabels: 'router=yes' });
  t.true(sharded.store.has('Route', `${ours}/in`));
  t.false(sharded.store.has('Route', `${ours}/out`));
  t.true(sharded.store.has('Namespace', ours));
  t.false(sharded.store.has('Namespace', theirs));
  // A Route relabelled out of the shard leaves the store.
  await cluster.must('PATCH', `${routes(ours)}/in`, { metadata: { labels: { shard: 'y' } } }, { contentType: 'application/merge-patch+json' });
  t.true(await eventually(() => !sharded.store.has('Route', `${ours}/in`), 10_000, 20));

  const scoped = await startSource(t, { namespace: theirs });
  t.deepEqual([...scoped.store.keys('Route')], [`${theirs}/elsewhere`]);
});

test.serial('Pods are read only while a route uses target-port-annotation, Secrets only by referenced name', async (t) => {
  const ns = await namespace('src-refs');
  await cluster.createPod({ namespace: ns, name: 'managed', labels: { 'switchyard.io/autoport': 'true' }, ip: '198.51.100.31' });
  await cluster.createPod({ namespace: ns, name: 'other', labels: { app: 'x' }, ip: '198.51.100.32' });
  for (const name of ['used-tls', 'unused-tls']) await cluster.must('POST', `/api/v1/namespaces/${ns}/secrets`, tlsSecret(name));
  await cluster.must('POST', routes(ns), route(ns, 'plain'));
  const { store, source } = await startSource(t);
  t.is(store.size('Pod'), 0);
  t.is(store.size('Secret'), 0);
  t.false(source.watched.some((w) => w.kind === 'Pod' || w.kind === 'Secret'));

  await cluster.must('POST', routes(ns), route(ns, 'auto', { annotations: { 'switchyard.io/target-port-annotation': 'AUTO_PORT0' } }));
  t.true(await eventually(() => store.has('Pod', `${ns}/managed`), 10_000, 20));
  t.false(store.has('Pod', `${ns}/other`), 'only pods labelled switchyard.io/autoport');
  await cluster.must('POST', `/api/v1/namespaces/${ns}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'opaque' }, type: 'Opaque', stringData: { password: 'x' } });
  const secure = (name: string, secret: string) => route(ns, name, { tls: { termination: 'edge', externalCertificate: { name: secret } } });
  await cluster.must('POST', routes(ns), secure('secure', 'used-tls'));
  await cluster.must('POST', routes(ns), secure('secure-2', 'used-tls'));
  await cluster.must('POST', routes(ns), secure('not-tls', 'opaque'));
  t.true(await eventually(() => store.has('Secret', `${ns}/used-tls`) && store.has('Route', `${ns}/not-tls`), 10_000, 20));
  store.flush(); // the source has seen every route: its informer decisions are made synchronously
  t.deepEqual(source.watched.filter((w) => w.kind === 'Secret').map((w) => w.fieldSelector).sort(),
    ['metadata.name=opaque,type=kubernetes.io/tls', 'metadata.name=used-tls,type=kubernetes.io/tls']);
  t.false(store.has('Secret', `${ns}/unused-tls`), 'never referenced, never read');
  t.false(store.has('Secret', `${ns}/opaque`), 'referenced, but not a TLS Secret');
  // A rotated certificate arrives through the watch.
  await cluster.must('PATCH', `/api/v1/namespaces/${ns}/secrets/used-tls`, { data: { 'tls.crt': 'bmV3' } }, { contentType: 'application/merge-patch+json' });
  t.true(await eventually(() => (store.get('Secret', `${ns}/used-tls`) as any)?.data?.['tls.crt'] === 'bmV3', 10_000, 20));

  // One of two references gone: still read. All gone: the informers stop and what they read
  // leaves the store.
  await cluster.must('DELETE', `${routes(ns)}/secure`);
  t.true(await eventually(() => !store.has('Route', `${ns}/secure`), 10_000, 20));
  store.flush(); // the source has seen the deletion: its informer decisions are made synchronously
  t.true(source.watched.some((w) => w.kind === 'Secret' && w.name === 'used-tls'));
  await cluster.must('DELETE', `${routes(ns)}/auto`);
  await cluster.must('DELETE', `${routes(ns)}/secure-2`);
  t.true(await eventually(() => store.size('Pod') === 0 && store.size('Secret') === 0, 10_000, 20));
});

test.serial('without the secrets and pods rules, routes that reference them do not hold up the first sync', async (t) => {
  // The shipped ClusterRole minus the rules manifests/README.md says an operator may drop.
  const shipped = yaml.load(readFileSync(`${MANIFESTS}base/cluster-role.yaml`, 'utf8')) as any;
  const rules = shipped.rules.filter((r: any) => !r.resources.includes('secrets') && !r.resources.includes('pods'));
  t.is(rules.length, shipped.rules.length - 2);
  await cluster.apply({ yaml: yaml.dump({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'lean-router' }, rules }) + `---
apiVersion: v1
kind: ServiceAccount
metadata: { name: lean-router, namespace: switchyard }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: lean-router }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: lean-router }
subjects: [{ kind: ServiceAccount, name: lean-router, namespace: switchyard }]
` });
  const ns = await namespace('src-lean');
  await cluster.must('POST', `/api/v1/namespaces/${ns}/secrets`, tlsSecret('cert'));
  await cluster.must('POST', routes(ns), route(ns, 'secure', { tls: { termination: 'edge', externalCertificate: { name: 'cert' } } }));
  await cluster.must('POST', routes(ns), route(ns, 'auto', { annotations: { 'switchyard.io/target-port-annotation': 'AUTO_PORT0' } }));
  const lean = await cluster.serviceAccountKubeconfig('switchyard', 'lean-router');
  const { store, source } = await startSource(t, { kubeconfig: lean.kubeconfig });
  t.true(source.synced, 'the refused Secret and Pod lists count as synced');
  t.true(store.has('Route', `${ns}/secure`) && store.has('Route', `${ns}/auto`));
  t.false(store.has('Secret', `${ns}/cert`));
});

/**
 * The router's client, noting what it asks of the Routes collection `path` (each list or page:
 * the resourceVersion asked and answered, the limit, the names), doing `between` after the first
 * page. With `firstWatchFrom`, its first Route watch asks for that resourceVersion instead of the
 * list's (one the server no longer has: its real answer is a 410 Gone).
 */
class NotingClient extends KubeClient {
  readonly pages: Array<{ resourceVersion: string; names: string[]; continued: boolean; asked: string; limit: string | undefined }> = [];
  readonly watches: Array<Record<string, string | undefined>> = [];
  between: (() => Promise<void>) | undefined;
  firstWatchFrom: string | undefined;
  readonly #path: string;
  constructor(path: string) {
    super(loadKubeConfig(kubeconfig), { userAgent: 'switchyard-test-router' });
    this.#path = path;
  }
  override async request<T = unknown>(request: KubeRequest): Promise<T> {
    const answer = await super.request<T>(request);
    if (request.method === 'GET' && request.path === this.#path) {
      const page = answer as { metadata: { resourceVersion: string }; items: Array<{ metadata: { name: string } }> };
      this.pages.push({ resourceVersion: page.metadata.resourceVersion, names: page.items.map((i) => i.metadata.name), continued: request.query?.continue !== undefined,
        asked: `${request.query?.resourceVersion ?? ''} ${request.query?.resourceVersionMatch ?? ''}`.trim(), limit: request.query?.limit });
      if (this.pages.length === 1) await this.between?.(); // before the next page is asked for
    }
    return answer;
  }
  /** An unpaged list read as it arrives: read here first (to note it, and do `between` before the router has it). */
  override async getStreamed(path: string, query: Record<string, string | undefined>, options: Parameters<KubeClient['getStreamed']>[2]): Promise<StreamedAnswer> {
    const answer = await super.getStreamed(path, query, options);
    if (path !== this.#path || answer.encoding !== 'json') return answer;
    const chunks: string[] = [];
    for await (const chunk of answer.body) chunks.push(chunk);
    const list = JSON.parse(chunks.join('')) as { metadata: { resourceVersion: string }; items: Array<{ metadata: { name: string } }> };
    this.pages.push({ resourceVersion: list.metadata.resourceVersion, names: list.items.map((i) => i.metadata.name), continued: false,
      asked: `${query.resourceVersion ?? ''} ${query.resourceVersionMatch ?? ''}`.trim(), limit: query.limit });
    if (this.pages.length === 1) await this.between?.();
    return { encoding: 'json', body: (async function* () { yield* chunks; })() };
  }
  override watch(path: string, query: Record<string, string | undefined>, options?: Parameters<KubeClient['watch']>[2]) {
    if (path === this.#path) {
      if (this.watches.length === 0 && this.firstWatchFrom !== undefined) query = { ...query, resourceVersion: this.firstWatchFrom };
      this.watches.push(query);
    }
    return super.watch(path, query, options);
  }
}

/**
 * kube-apiserver's counters for one resource: lists its watch cache served and the objects they
 * returned, and list requests to etcd.
 */
async function listCounters(resource: string): Promise<{ cacheLists: number; cacheReturned: number; etcdLists: number }> {
  const text = String((await cluster.api<string>('GET', '/metrics')).body);
  const sum = (metric: string, also = '') => text.split('\n').filter((l) => l.startsWith(`${metric}{`) && l.includes(`resource="${resource}"`) && l.includes(also))
    .reduce((total, l) => total + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  return {
    cacheLists: sum('apiserver_cache_list_total'), cacheReturned: sum('apiserver_cache_list_returned_objects_total'),
    etcdLists: sum('etcd_requests_total', 'operation="list') + sum('apiserver_storage_list_fetched_objects_total'),
  };
}

test.serial('Routes by paged lists (--watch-list=false): the pages are one snapshot from the watch cache, and the watch from its resourceVersion brings what changed between pages', async (t) => {
  t.timeout(120_000);
  const ns = await namespace('between-pages');
  for (let i = 1; i <= 7; i++) await cluster.must('POST', routes(ns), route(ns, `r${i}`));
  const client = new NotingClient(routes(ns));
  // After the first page (r1, r2): one created, one already read changed, one not yet read changed, one not yet read deleted.
  client.between = async () => {
    await cluster.must('POST', routes(ns), route(ns, 'r8'));
    for (const name of ['r1', 'r5']) {
      await cluster.must('PATCH', `${routes(ns)}/${name}`, { spec: { host: `${name}-moved.${ns}.example.com` } }, { contentType: 'application/merge-patch+json' });
    }
    await cluster.must('DELETE', `${routes(ns)}/r6`);
  };
  const config = { ...defaultConfig(), kubeconfig, namespace: ns, watchList: 'false' as const };
  const store = new ObjectStore();
  const source = new KubernetesSource({ config, store, logger: silentLogger, client, listPageSize: 2 });
  t.teardown(async () => { await source.stop(); await client.close(); });
  const before = await listCounters('routes');
  await source.start();
  const after = await listCounters('routes');

  // Four pages of one snapshot: the changes made after the first are not in them (r6 is still there, r8 not yet).
  t.deepEqual(client.pages.map((p) => p.names), [['r1', 'r2'], ['r3', 'r4'], ['r5', 'r6'], ['r7']]);
  t.deepEqual(client.pages.map((p) => p.continued), [false, true, true, true]);
  // A consistent read (no resourceVersion asked for), continued from its snapshot.
  t.deepEqual(client.pages.map((p) => p.asked), ['', '', '', '']);
  t.is(new Set(client.pages.map((p) => p.resourceVersion)).size, 1, 'every page at the first page\'s resourceVersion');
  // Served by the watch cache, not etcd.
  t.true(after.cacheLists - before.cacheLists >= 4, `the watch cache served the pages (${after.cacheLists - before.cacheLists} lists)`);
  t.true(after.cacheReturned - before.cacheReturned >= 7, `and returned the Routes (${after.cacheReturned - before.cacheReturned})`);
  t.is(after.etcdLists - before.etcdLists, 0, 'no list of Routes from etcd');
  // The watch goes on from the snapshot: no watch-list for Routes, and the changes arrive as events.
  t.is(client.watches.length, 1);
  t.is(client.watches[0]!.resourceVersion, client.pages[0]!.resourceVersion);
  t.is(client.watches[0]!.sendInitialEvents, undefined);
  const hosts = () => [...store.keys('Route')].sort().map((key) => `${key} ${(store.get('Route', key) as any).spec.host}`);
  await eventually(() => !store.has('Route', `${ns}/r6`) && store.has('Route', `${ns}/r8`) && hosts().includes(`${ns}/r5 r5-moved.${ns}.example.com`), 20_000);
  t.deepEqual(hosts(), [
    `${ns}/r1 r1-moved.${ns}.example.com`, `${ns}/r2 r2.${ns}.example.com`, `${ns}/r3 r3.${ns}.example.com`, `${ns}/r4 r4.${ns}.example.com`,
    `${ns}/r5 r5-moved.${ns}.example.com`, `${ns}/r7 r7.${ns}.example.com`, `${ns}/r8 r8.${ns}.example.com`,
  ]);
});

const hostsOf = (store: ObjectStore) => [...store.keys('Route')].sort().map((key) => `${key.slice(key.indexOf('/') + 1)} ${(store.get('Route', key) as any).spec.host.split('.')[0]}`);

test.serial('Routes by one list at resourceVersion=0 (--watch-list=list): one unpaged list from the watch cache, no etcd read, and the watch from its resourceVersion brings what changed after it', async (t) => {
  t.timeout(120_000);
  const ns = await namespace('one-list');
  for (let i = 1; i <= 5; i++) await cluster.must('POST', routes(ns), route(ns, `r${i}`));
  const client = new NotingClient(routes(ns));
  // After the list's answer, before the watch is opened: one created, one changed, one deleted.
  client.between = async () => {
    await cluster.must('POST', routes(ns), route(ns, 'r6'));
    await cluster.must('PATCH', `${routes(ns)}/r1`, { spec: { host: `r1-moved.${ns}.example.com` } }, { contentType: 'application/merge-patch+json' });
    await cluster.must('DELETE', `${routes(ns)}/r2`);
  };
  const config = { ...defaultConfig(), kubeconfig, namespace: ns, watchList: 'list' as const };
  const store = new ObjectStore();
  const source = new KubernetesSource({ config, store, logger: silentLogger, client, listPageSize: 2 });
  t.teardown(async () => { await source.stop(); await client.close(); });
  const before = await listCounters('routes');
  await source.start();
  const after = await listCounters('routes');

  // One list, whole (no limit, whatever the page size), at resourceVersion=0: the state before the changes.
  t.deepEqual(client.pages.map((p) => ({ asked: p.asked, limit: p.limit, names: p.names })), [{ asked: '0', limit: undefined, names: ['r1', 'r2', 'r3', 'r4', 'r5'] }]);
  t.true(after.cacheLists - before.cacheLists >= 1, 'the watch cache served the list');
  t.is(after.etcdLists - before.etcdLists, 0, 'no list of Routes from etcd');
  // The watch goes on from the list's resourceVersion, and brings the three changes.
  t.is(client.watches.length, 1);
  t.is(client.watches[0]!.resourceVersion, client.pages[0]!.resourceVersion);
  t.is(client.watches[0]!.sendInitialEvents, undefined);
  await eventually(() => store.has('Route', `${ns}/r6`) && !store.has('Route', `${ns}/r2`) && hostsOf(store).includes('r1 r1-moved'), 20_000);
  t.deepEqual(hostsOf(store), ['r1 r1-moved', 'r3 r3', 'r4 r4', 'r5 r5', 'r6 r6']);
});

test.serial('--watch-list=list: a watch answered 410 Gone lists again, at the current resourceVersion (a consistent read), and goes on watching from it', async (t) => {
  t.timeout(120_000);
  const ns = await namespace('one-list-gone');
  for (let i = 1; i <= 3; i++) await cluster.must('POST', routes(ns), route(ns, `r${i}`));
  const client = new NotingClient(routes(ns));
  // The first watch asks for resourceVersion 1, long gone from the watch cache: the server answers 410 Gone.
  client.firstWatchFrom = '1';
  // Changes after the first list, which the watch that failed never brought: the second list must.
  client.between = async () => {
    await cluster.must('POST', routes(ns), route(ns, 'r4'));
    await cluster.must('DELETE', `${routes(ns)}/r3`);
  };
  const config = { ...defaultConfig(), kubeconfig, namespace: ns, watchList: 'list' as const };
  const store = new ObjectStore();
  const metrics = new Metrics({ defaultMetrics: false });
  const source = new KubernetesSource({ config, store, logger: silentLogger, metrics, client });
  t.teardown(async () => { await source.stop(); await client.close(); });
  await source.start();
  await eventually(() => client.pages.length >= 2 && client.watches.length >= 2, 20_000);
  t.deepEqual(client.pages.map((p) => ({ asked: p.asked, limit: p.limit })), [{ asked: '0', limit: undefined }, { asked: '', limit: undefined }], 'the list again, as a consistent read');
  t.deepEqual(client.pages[1]!.names, ['r1', 'r2', 'r4']);
  t.is(client.watches[1]!.resourceVersion, client.pages[1]!.resourceVersion);
  await eventually(() => store.has('Route', `${ns}/r4`) && !store.has('Route', `${ns}/r3`), 20_000);
  t.deepEqual(hostsOf(store), ['r1 r1', 'r2 r2', 'r4 r4']);
  // And it goes on watching from there.
  await cluster.must('POST', routes(ns), route(ns, 'r5'));
  await eventually(() => store.has('Route', `${ns}/r5`), 20_000);
  t.is(client.pages.length, 2, 'no further list');
});
