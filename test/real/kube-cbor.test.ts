// Routes (a custom resource) read as CBOR from a real kube-apiserver with its CBORServingAndStorage
// gate on (alpha in v1.36, off by default; issue 25: kube-apiserver encodes a custom resource as
// CBOR for about half the CPU of JSON). The same lists read as CBOR and as JSON are the same
// objects, whole and paged; an error comes back as a CBOR Status and reads as such; a router
// reading Routes by paged lists (--watch-list=false) as CBOR (the default: CBOR asked for, JSON
// accepted) and one with --kube-cbor=false serve the same first table, and their metrics say which
// encoding they read. Watches too: a watch accepting CBOR is answered `application/cbor-seq` (a
// CBOR sequence of WatchEvents), a watch-list's initial events and its end bookmark, live changes
// and a 410 Gone (an ERROR event) read as the JSON watch has them; routers reading Routes by a CBOR
// watch-list (--watch-list=true, and auto) serve the same table as one reading JSON and follow
// edits, as a recording proxy in front of the API server sees (Accept, Content-Type); a router
// whose watch is answered 410 Gone over CBOR reads the state again.
// Without the gate the same Accept header gets JSON: test/real/kube-protobuf.test.ts checks that a
// watch asking for CBOR is answered JSON there, and that a router with the defaults reads its Routes
// as JSON from a default API server.

import test from 'ava';
import { fileURLToPath } from 'node:url';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { defaultConfig } from '../../src/config.ts';
import { KubeApiError, KubeClient, type KubeWatchStream } from '../../src/kube/client.ts';
import { decodeCbor } from '../../src/kube/cbor-objects.ts';
import { CborWatchEventDecoder } from '../../src/kube/cbor-watch-events.ts';
import { loadKubeConfig } from '../../src/kube/kubeconfig.ts';
import { WatchEventDecoder, type WatchEvent } from '../../src/kube/watch-events.ts';
import { silentLogger } from '../../src/log.ts';
import { Metrics } from '../../src/metrics.ts';
import { KubernetesSource } from '../../src/sources/kubernetes.ts';
import { ObjectStore } from '../../src/store.ts';
import { eventually, request } from '../support/http-client.ts';
import { startRecordingApiProxy, type RecordingApiProxy } from '../support/recording-api-proxy.ts';
import { startRouter, type RouterProcess } from '../support/router-process.ts';
import { startRealCluster, type RealCluster } from '../support/real-apiserver.ts';

const MANIFESTS = fileURLToPath(new URL('../../manifests/', import.meta.url));
const ROUTES = '/apis/route.openshift.io/v1/routes';
const COUNT = 24;

let cluster: RealCluster;
let client: KubeClient;
let kubeconfig: string;
/** The router's ServiceAccount, through the recording proxy (what it asks, what the server sends). */
let proxy: RecordingApiProxy;
let proxyKubeconfig: string;
const routers: RouterProcess[] = [];

/** Routes in the shapes they come in: TLS, weights, a port by number and by name, unicode, a status. */
function route(n: number): Record<string, unknown> {
  const spec: Record<string, unknown> = { host: `r${n}.apps.example.com`, to: { kind: 'Service', name: `s${n}`, weight: 100 - n }, port: { targetPort: n % 2 ? 'http' : 8080 } };
  if (n % 3 === 0) spec['tls'] = { termination: 'edge', insecureEdgeTerminationPolicy: 'Redirect' };
  if (n % 4 === 0) spec['alternateBackends'] = [{ kind: 'Service', name: `alt${n}`, weight: 0 }];
  if (n % 5 === 0) spec['path'] = `/p${n}`;
  return {
    apiVersion: 'route.openshift.io/v1', kind: 'Route',
    metadata: { name: `r${n}`, labels: { shard: String(n % 2) }, annotations: { note: `ü ✓ 水 ${n}`, 'haproxy.router.openshift.io/timeout': '5s' } },
    spec,
  };
}

test.before(async (t) => {
  t.timeout(300_000);
  cluster = await startRealCluster({ apiServerArgs: ['--feature-gates=CBORServingAndStorage=true'] });
  await cluster.apply({ kustomization: MANIFESTS });
  await cluster.waitEstablished('routes.route.openshift.io');
  await cluster.must('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'app' } });
  for (let n = 0; n < COUNT; n++) {
    await cluster.must('POST', '/api/v1/namespaces/app/services', { metadata: { name: `s${n}` }, spec: { clusterIP: 'None', ports: [{ name: 'http', port: 80, targetPort: 8080 }] } });
    await cluster.must('POST', '/apis/discovery.k8s.io/v1/namespaces/app/endpointslices', {
      metadata: { name: `s${n}-1`, labels: { 'kubernetes.io/service-name': `s${n}` } }, addressType: 'IPv4',
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }], endpoints: [{ addresses: [`198.51.100.${n + 1}`], conditions: { ready: true } }],
    });
    await cluster.must('POST', '/apis/route.openshift.io/v1/namespaces/app/routes', route(n));
  }
  await cluster.must('PATCH', '/apis/route.openshift.io/v1/namespaces/app/routes/r1/status', { status: { ingress: [{
    host: 'r1.apps.example.com', routerName: 'default', wildcardPolicy: 'None',
    conditions: [{ type: 'Admitted', status: 'True', lastTransitionTime: '2026-12-06T10:00:00Z' }],
  }] } }, { contentType: 'application/merge-patch+json' });
  client = new KubeClient(loadKubeConfig(cluster.adminKubeconfig));
  let token: string;
  ({ kubeconfig, token } = await cluster.serviceAccountKubeconfig('switchyard', 'switchyard-router'));
  proxy = await startRecordingApiProxy(cluster.server, cluster.caCert);
  proxyKubeconfig = path.join(cluster.dir, 'router-through-proxy.kubeconfig');
  writeFileSync(proxyKubeconfig, proxy.kubeconfig(token), { mode: 0o600 });
});

test.after.always(async () => {
  for (const router of routers) await router.stop();
  await client?.close();
  await proxy?.close();
  await cluster?.stop();
});

interface RouteList { metadata: { resourceVersion: string; continue?: string }; items: Array<{ metadata: { name: string } }> }

/** A list of every Route, by pages of `limit` (0: one list), as CBOR (JSON accepted) or JSON; the items and how each page came. */
async function listRoutes(cbor: boolean, limit: number): Promise<{ items: unknown[]; encodings: string[] }> {
  const items: unknown[] = [];
  const encodings: string[] = [];
  let continueToken: string | undefined;
  do {
    let encoding = 'json';
    const page = await client.request<RouteList>({
      method: 'GET', path: ROUTES, query: { limit: limit ? String(limit) : undefined, continue: continueToken },
      cbor: cbor ? (body) => { encoding = 'cbor'; return decodeCbor(body); } : undefined,
    });
    encodings.push(encoding);
    items.push(...page.items);
    continueToken = page.metadata.continue || undefined;
  } while (continueToken);
  return { items, encodings };
}

test.serial('lists: CBOR and JSON give the same objects, whole and by pages', async (t) => {
  const json = await listRoutes(false, 0);
  t.is(json.items.length, COUNT);
  const cbor = await listRoutes(true, 0);
  t.deepEqual(cbor.encodings, ['cbor'], 'the gated server answers CBOR');
  t.deepEqual(cbor.items, json.items, 'every field, as JSON has it (strings, numbers, the status, managedFields)');
  const paged = await listRoutes(true, 7);
  t.deepEqual(paged.encodings, ['cbor', 'cbor', 'cbor', 'cbor']);
  t.deepEqual(paged.items, json.items);
});

test.serial('errors come back as CBOR Status and read as such', async (t) => {
  const err = await t.throwsAsync(client.request({ method: 'GET', path: '/apis/route.openshift.io/v1/namespaces/app/routes/missing', cbor: decodeCbor }), { instanceOf: KubeApiError });
  t.is(err!.statusCode, 404);
  t.is(err!.reason, 'NotFound');
  t.regex(err!.detail, /"missing" not found/);
});

function start(node: string, args: string[], through = kubeconfig): Promise<RouterProcess> {
  return startRouter({
    args: ['--kubeconfig', through, '--update-status=false', ...args],
    env: { POD_NAMESPACE: 'switchyard', ROUTER_LOG_LEVEL: 'info', NODE_NAME: node },
    timeoutMs: 120_000,
  }).then((router) => { routers.push(router); return router; });
}

async function servedTable(router: RouterProcess): Promise<{ hosts: unknown[]; read: Record<string, number> }> {
  const view = (await request(router.admin, { path: '/debug/routes' })).json<{ hosts: Array<{ host: string }> }>();
  const metrics = (await request(router.admin, { path: '/metrics' })).body;
  const read: Record<string, number> = {};
  for (const m of metrics.matchAll(/^switchyard_kube_objects_read_total\{resource="([^"]+)",encoding="([^"]+)"\} (\d+)$/gm)) read[`${m[1]} ${m[2]}`] = Number(m[3]);
  return { hosts: [...view.hosts].sort((a, b) => a.host.localeCompare(b.host)), read };
}

test.serial('a router reading Routes by pages as CBOR (--watch-list=false) and one with --kube-cbor=false serve the same first table, and go on watching', async (t) => {
  t.timeout(240_000);
  const [cbor, json] = await Promise.all([start('cbor', ['--watch-list=false']), start('json', ['--watch-list=false', '--kube-cbor=false'])]);
  const [a, b] = await Promise.all([servedTable(cbor), servedTable(json)]);
  t.is(a.hosts.length, COUNT);
  t.deepEqual(b.hosts, a.hosts);
  t.is(a.read['routes cbor'], COUNT, `routes read as CBOR: ${JSON.stringify(a.read)}`);
  t.false('routes json' in a.read);
  t.is(b.read['routes json'], COUNT);
  t.false('routes cbor' in b.read);
  const r3 = a.hosts.find((h: any) => h.host === 'r3.apps.example.com') as any;
  t.deepEqual(r3.routes[0].backends[0].endpoints.map((e: any) => `${e.address}:${e.port}`), ['198.51.100.4:8080']);
  const reply = await request(cbor.http, { host: 'r3.apps.example.com', path: '/' });
  t.is(reply.status, 302, 'edge TLS with Redirect: plain HTTP is redirected');
  // The watch after the CBOR list: a new Route reaches the router.
  await cluster.must('POST', '/apis/route.openshift.io/v1/namespaces/app/routes', { ...route(90), spec: { host: 'late.apps.example.com', to: { kind: 'Service', name: 's2' }, port: { targetPort: 8080 } } });
  for (;;) {
    const { hosts } = await servedTable(cbor);
    if (hosts.some((h: any) => h.host === 'late.apps.example.com')) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  t.pass();
});

/** Read a watch (JSON or CBOR, as answered) until `done` says so; its events. */
async function readWatch(stream: KubeWatchStream, done: (events: WatchEvent[]) => boolean): Promise<WatchEvent[]> {
  const events: WatchEvent[] = [];
  try {
    if (stream.encoding === 'json') {
      const decoder = new WatchEventDecoder();
      for await (const chunk of stream.body) {
        for (const event of decoder.push(chunk)) events.push(event);
        if (done(events)) break;
      }
    } else {
      const decoder = new CborWatchEventDecoder();
      for await (const chunk of stream.body) {
        for (const event of decoder.push(chunk)) events.push(event);
        if (done(events)) break;
      }
    }
  } finally {
    stream.close();
  }
  return events;
}

const endOfInitialEvents = (events: WatchEvent[]) =>
  events.some((e) => e.type === 'BOOKMARK' && e.object?.metadata?.annotations?.['k8s.io/initial-events-end'] === 'true');
const WATCH_LIST = { watch: 'true', allowWatchBookmarks: 'true', sendInitialEvents: 'true', resourceVersionMatch: 'NotOlderThan' };
const CBOR_AND_JSON = 'application/cbor, application/json';
/** The proxy's record of the watches of Routes after `from`. */
const routeWatches = (from: number, userAgent = '') => proxy.requests.slice(from)
  .filter((r) => r.url.startsWith('/apis/route.openshift.io/v1/') && r.url.includes('watch=true') && r.userAgent.includes(userAgent));

test.serial('watches as CBOR (application/cbor-seq): a watch-list\'s events as JSON has them, its end bookmark, live changes, and 410 Gone as an ERROR event', async (t) => {
  t.timeout(120_000);
  const through = new KubeClient(loadKubeConfig(proxyKubeconfig));
  t.teardown(() => through.close());
  const seen = proxy.requests.length;
  const [json, cbor] = await Promise.all([
    through.watch(ROUTES, WATCH_LIST).then((s) => { t.is(s.encoding, 'json'); return readWatch(s, endOfInitialEvents); }),
    through.watch(ROUTES, WATCH_LIST, { cbor: true }).then((s) => { t.is(s.encoding, 'cbor', 'the gated server answers a watch CBOR'); return readWatch(s, endOfInitialEvents); }),
  ]);
  t.deepEqual(routeWatches(seen).map((r) => `${r.accept} -> ${r.status} ${r.contentType}`).sort(),
    ['application/cbor, application/json -> 200 application/cbor-seq', 'application/json -> 200 application/json']);
  const added = (events: WatchEvent[]) => events.filter((e) => e.type === 'ADDED').map((e) => e.object).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  t.true(added(cbor).length >= COUNT);
  t.deepEqual(added(cbor), added(json), 'every field of every Route, as JSON has it');
  const bookmark = cbor.at(-1)!;
  t.is(bookmark.type, 'BOOKMARK');
  t.regex(bookmark.object.metadata.resourceVersion, /^\d+$/);

  // Changes after the bookmark's version, over a CBOR watch.
  const watch = await through.watch('/apis/route.openshift.io/v1/namespaces/app/routes', { watch: 'true', resourceVersion: bookmark.object.metadata.resourceVersion }, { cbor: true });
  t.is(watch.encoding, 'cbor');
  const changes = readWatch(watch, (events) => events.some((e) => e.type === 'DELETED'));
  await cluster.must('POST', '/apis/route.openshift.io/v1/namespaces/app/routes', route(70));
  await cluster.must('PATCH', '/apis/route.openshift.io/v1/namespaces/app/routes/r2', { metadata: { labels: { edited: 'yes' } } }, { contentType: 'application/merge-patch+json' });
  await cluster.must('DELETE', '/apis/route.openshift.io/v1/namespaces/app/routes/r70');
  const events = await changes;
  t.deepEqual(events.map((e) => `${e.type} ${e.object.metadata.name}`), ['ADDED r70', 'MODIFIED r2', 'DELETED r70']);
  t.deepEqual(events[0]!.object.spec, { ...route(70)['spec'] as object, wildcardPolicy: 'None' }, 'as sent, with the CRD\'s default');
  t.deepEqual(events[1]!.object.metadata.labels, { shard: '0', edited: 'yes' });
  t.is(events[0]!.object.metadata.annotations.note, 'ü ✓ 水 70');

  // A version the watch cache no longer holds: 410 Gone, as a Status in an ERROR event of the CBOR stream.
  const gone = await through.watch(ROUTES, { watch: 'true', resourceVersion: '1' }, { cbor: true });
  t.is(gone.encoding, 'cbor');
  const [error] = await readWatch(gone, (seen) => seen.length > 0);
  t.is(error!.type, 'ERROR');
  t.like(error!.object, { kind: 'Status', code: 410, reason: 'Expired' });
});

test.serial('routers reading Routes by CBOR watch-list (--watch-list=true, and auto) serve the same table as one reading JSON, and follow edits over the CBOR watch', async (t) => {
  t.timeout(240_000);
  const seen = proxy.requests.length;
  const [streamed, auto, json] = await Promise.all([
    start('cbor-watch-list', ['--watch-list=true'], proxyKubeconfig), start('cbor-auto', [], proxyKubeconfig), start('json-watch-list', ['--watch-list=true', '--kube-cbor=false'], proxyKubeconfig),
  ]);
  const count = (await client.request<RouteList>({ method: 'GET', path: ROUTES })).items.length;
  const [a, b, c] = await Promise.all([servedTable(streamed), servedTable(auto), servedTable(json)]);
  t.is(a.hosts.length, count);
  t.deepEqual(b.hosts, a.hosts);
  t.deepEqual(c.hosts, a.hosts);
  for (const [router, node] of [[a, 'cbor-watch-list'], [b, 'cbor-auto']] as const) {
    t.is(router.read['routes cbor'], count, `${node}: routes read as CBOR: ${JSON.stringify(router.read)}`);
    t.false('routes json' in router.read);
    const watches = routeWatches(seen, `; ${node})`);
    t.true(watches.some((w) => w.url.includes('sendInitialEvents=true')), `${node}: the Routes by watch-list`);
    t.deepEqual([...new Set(watches.map((w) => `${w.accept} -> ${w.contentType}`))], [`${CBOR_AND_JSON} -> application/cbor-seq`], `${node}: its Routes watches, seen by the proxy`);
  }
  t.is(c.read['routes json'], count);
  t.false('routes cbor' in c.read);
  t.deepEqual([...new Set(routeWatches(seen, '; json-watch-list)').map((w) => `${w.accept} -> ${w.contentType}`))], ['application/json -> application/json']);

  // Live edits reach the routers over their CBOR watches: a Route added, one moved to another host, one deleted.
  await cluster.must('POST', '/apis/route.openshift.io/v1/namespaces/app/routes', { ...route(91), spec: { host: 'fresh.apps.example.com', to: { kind: 'Service', name: 's4' }, port: { targetPort: 8080 } } });
  await cluster.must('PATCH', '/apis/route.openshift.io/v1/namespaces/app/routes/r4', { spec: { host: 'moved.apps.example.com' } }, { contentType: 'application/merge-patch+json' });
  await cluster.must('DELETE', '/apis/route.openshift.io/v1/namespaces/app/routes/r6');
  const edited = (hosts: unknown[]) => {
    const names = new Set(hosts.map((h: any) => h.host));
    return names.has('fresh.apps.example.com') && names.has('moved.apps.example.com') && !names.has('r4.apps.example.com') && !names.has('r6.apps.example.com');
  };
  const after = await Promise.all([streamed, auto, json].map((router) => eventually(async () => {
    const table = await servedTable(router);
    return edited(table.hosts) ? table : undefined;
  }, 30_000, 100)));
  t.deepEqual(after[1]!.hosts, after[0]!.hosts);
  t.deepEqual(after[2]!.hosts, after[0]!.hosts);
  for (const table of after.slice(0, 2)) {
    t.is(table.read['routes cbor'], count + 3, 'the three events, read as CBOR');
    t.false('routes json' in table.read);
  }
});

test.serial('a CBOR watch answered 410 Gone (an ERROR event): the router reads the state again and goes on watching', async (t) => {
  t.timeout(120_000);
  // The router's first watch of Routes asks for resourceVersion 1, long gone from the watch cache.
  let watches = 0;
  class GoneOnce extends KubeClient {
    override watch(watchPath: string, query: Record<string, string | undefined>, options?: Parameters<KubeClient['watch']>[2]) {
      if (watchPath === ROUTES && watches++ === 0) query = { ...query, resourceVersion: '1' };
      return super.watch(watchPath, query, options);
    }
  }
  const through = new GoneOnce(loadKubeConfig(proxyKubeconfig), { userAgent: 'switchyard-test (gone-once; test)' });
  const store = new ObjectStore();
  const metrics = new Metrics({ defaultMetrics: false });
  const source = new KubernetesSource({ config: { ...defaultConfig(), kubeconfig: proxyKubeconfig, watchList: 'list' }, store, logger: silentLogger, metrics, client: through });
  t.teardown(async () => { await source.stop(); await through.close(); });
  const seen = proxy.requests.length;
  await source.start();
  // The proxy notes a request when its answer's headers are in: wait for the fourth (the second watch's).
  const routeRequests = () => proxy.requests.slice(seen).filter((r) => (r.url === ROUTES || r.url.startsWith(`${ROUTES}?`)) && r.userAgent.includes('gone-once'));
  const asked = await eventually(() => { const requests = routeRequests(); return requests.length >= 4 ? requests : undefined; }, 20_000);
  t.deepEqual(asked.map((r) => `${r.url.includes('watch=true') ? 'watch' : 'list'} ${r.contentType}`).slice(0, 4),
    ['list application/cbor', 'watch application/cbor-seq', 'list application/cbor', 'watch application/cbor-seq'], 'the list read again after the 410 in the CBOR watch');
  t.regex(asked[1]!.url, /resourceVersion=1(&|$)/);
  await cluster.must('POST', '/apis/route.openshift.io/v1/namespaces/app/routes', route(92));
  await eventually(() => store.has('Route', 'app/r92'), 20_000);
  t.true(store.has('Route', 'app/r1'));
});
