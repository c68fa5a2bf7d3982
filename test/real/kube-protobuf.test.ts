// Services, EndpointSlices, Ingresses, IngressClasses and Namespaces read as protobuf from a real kube-apiserver (issue 25:
// the API server encodes protobuf several times cheaper than JSON). The same objects read as
// JSON and as protobuf — by list, by watch-list, and as watch events — are the same objects once
// narrowed (what the router keeps), over the shapes these kinds come in; errors come back as
// protobuf Status and read as such. Routers reading protobuf (by the default reads — watch-list
// for these kinds, paged lists for the Routes —, by watch-list only, by paged lists only) and one
// reading JSON serve the same first table, and their metrics say which encoding they read.
// This API server runs without the CBORServingAndStorage gate: a list or watch of Routes asking
// for CBOR (as a router does by default) is answered JSON (test/real/kube-cbor.test.ts: with it).

import test from 'ava';
import { fileURLToPath } from 'node:url';
import { KubeApiError, KubeClient, type KubeWatchStream } from '../../src/kube/client.ts';
import { loadKubeConfig } from '../../src/kube/kubeconfig.ts';
import { decodeList, decodePartialObjectMetadata, PARTIAL_METADATA_ACCEPT } from '../../src/kube/protobuf-objects.ts';
import { ProtobufWatchEventDecoder } from '../../src/kube/protobuf-watch-events.ts';
import { WatchEventDecoder, type WatchEvent } from '../../src/kube/watch-events.ts';
import { narrowObject } from '../../src/objects/narrow.ts';
import { API_VERSION, type Kind, type KubeObject } from '../../src/objects/types.ts';
import { request } from '../support/http-client.ts';
import { startRouter, type RouterProcess } from '../support/router-process.ts';
import { startRealCluster, type RealCluster } from '../support/real-apiserver.ts';

const MANIFESTS = fileURLToPath(new URL('../../manifests/', import.meta.url));
const KINDS: Array<{ kind: Kind; path: string }> = [
  { kind: 'Service', path: '/api/v1/services' },
  { kind: 'EndpointSlice', path: '/apis/discovery.k8s.io/v1/endpointslices' },
  { kind: 'Namespace', path: '/api/v1/namespaces' },
  { kind: 'Ingress', path: '/apis/networking.k8s.io/v1/ingresses' },
  { kind: 'IngressClass', path: '/apis/networking.k8s.io/v1/ingressclasses' },
];
const MINIMUM: Partial<Record<Kind, number>> = { Namespace: 5, Ingress: 3, IngressClass: 2 };
const ROUTES = 30;

let cluster: RealCluster;
let client: KubeClient;
let kubeconfig: string;
const routers: RouterProcess[] = [];

/** Services and slices in the shapes they come in: every field narrow.ts keeps, present, absent or empty. */
const FIXTURES: Array<{ path: string; body: Record<string, unknown> }> = [
  { path: '/api/v1/namespaces/app/services', body: { metadata: { name: 'plain', labels: { tier: 'web', 'app.kubernetes.io/name': 'shop' }, annotations: { note: 'ü ✓ unicode', 'kubectl.kubernetes.io/last-applied-configuration': '{}' } },
    spec: { selector: { app: 'shop', tier: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }, { name: 'https', port: 443, targetPort: 'tls', protocol: 'TCP', appProtocol: 'https' }] } } },
  { path: '/api/v1/namespaces/app/services', body: { metadata: { name: 'headless' }, spec: { clusterIP: 'None', ports: [{ port: 53, protocol: 'UDP', targetPort: 'dns' }] } } },
  { path: '/api/v1/namespaces/app/services', body: { metadata: { name: 'external' }, spec: { type: 'ExternalName', externalName: 'backend.example.com' } } },
  { path: '/api/v1/namespaces/app/services', body: { metadata: { name: 'empty-app-protocol' }, spec: { clusterIP: 'None', ports: [{ name: 'h2', port: 8443, appProtocol: 'kubernetes.io/h2c' }] } } },
  { path: '/apis/discovery.k8s.io/v1/namespaces/app/endpointslices', body: { metadata: { name: 'plain-1', labels: { 'kubernetes.io/service-name': 'plain' } }, addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'https', port: 8443, appProtocol: 'https' }],
    endpoints: [
      { addresses: ['203.0.113.1'], conditions: { ready: true } },
      { addresses: ['203.0.113.2'], conditions: { ready: false, serving: true, terminating: true }, hostname: 'pod-2', nodeName: 'edge-1', zone: 'a',
        targetRef: { kind: 'Pod', namespace: 'app', name: 'shop-2', uid: '0b9c1e52-0000-4000-8000-000000000002' } },
      { addresses: ['203.0.113.3'], conditions: {} },
      { addresses: ['203.0.113.4', '203.0.113.5'] },
    ] } },
  { path: '/apis/discovery.k8s.io/v1/namespaces/app/endpointslices', body: { metadata: { name: 'unnamed-port' }, addressType: 'IPv4',
    ports: [{ name: '', port: 9000 }, { name: 'metrics', protocol: 'UDP' }], endpoints: [{ addresses: ['203.0.113.9'], conditions: { serving: false } }] } },
  { path: '/apis/discovery.k8s.io/v1/namespaces/app/endpointslices', body: { metadata: { name: 'empty' }, addressType: 'IPv4', endpoints: [], ports: [] } },
  { path: '/apis/discovery.k8s.io/v1/namespaces/app/endpointslices', body: { metadata: { name: 'v6' }, addressType: 'IPv6', ports: [{ port: 80 }], endpoints: [{ addresses: ['2001:db8::1'], conditions: { ready: true } }] } },
  { path: '/apis/discovery.k8s.io/v1/namespaces/app/endpointslices', body: { metadata: { name: 'fqdn' }, addressType: 'FQDN', ports: [{ port: 80 }], endpoints: [{ addresses: ['backend.example.com'] }] } },
  { path: '/apis/networking.k8s.io/v1/namespaces/app/ingresses', body: { metadata: { name: 'full', annotations: { 'switchyard.io/x': 'y' } }, spec: {
    ingressClassName: 'switchyard',
    defaultBackend: { service: { name: 'plain', port: { number: 80 } } },
    tls: [{ hosts: ['shop.example.com', 'www.example.com'], secretName: 'shop-tls' }, { hosts: ['bare.example.com'] }],
    rules: [
      { host: 'shop.example.com', http: { paths: [
        { path: '/', pathType: 'Prefix', backend: { service: { name: 'plain', port: { name: 'http' } } } },
        { path: '/exact', pathType: 'Exact', backend: { service: { name: 'plain', port: { number: 443 } } } },
        { pathType: 'ImplementationSpecific', backend: { resource: { apiGroup: 'example.com', kind: 'Bucket', name: 'static' } } },
        { path: '/core', pathType: 'Prefix', backend: { resource: { kind: 'ConfigMap', name: 'page' } } },
      ] } },
      { http: { paths: [{ path: '/any', pathType: 'Prefix', backend: { service: { name: 'headless', port: { number: 53 } } } }] } },
      { host: '*.wild.example.com' },
    ] } } },
  { path: '/apis/networking.k8s.io/v1/namespaces/app/ingresses', body: { metadata: { name: 'default-only' }, spec: { defaultBackend: { service: { name: 'plain', port: { number: 80 } } } } } },
  { path: '/apis/networking.k8s.io/v1/namespaces/app/ingresses', body: { metadata: { name: 'with-status' }, spec: { rules: [{ host: 'st.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'plain', port: { number: 80 } } } }] } }] } } },
  { path: '/apis/networking.k8s.io/v1/ingressclasses', body: { metadata: { name: 'switchyard' }, spec: { controller: 'switchyard.io/ingress-controller' } } },
  { path: '/apis/networking.k8s.io/v1/ingressclasses', body: { metadata: { name: 'other', annotations: { 'ingressclass.kubernetes.io/is-default-class': 'true' } }, spec: { controller: 'example.com/other', parameters: { kind: 'Params', name: 'p', apiGroup: 'example.com' } } } },
];

test.before(async (t) => {
  t.timeout(300_000);
  cluster = await startRealCluster();
  await cluster.apply({ kustomization: MANIFESTS });
  await cluster.waitEstablished('routes.route.openshift.io');
  await cluster.must('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'app', labels: { team: 'shop', 'switchyard.io/edge': 'yes' } } });
  for (const { path, body } of FIXTURES) await cluster.must('POST', path, body);
  await cluster.must('PATCH', '/apis/networking.k8s.io/v1/namespaces/app/ingresses/with-status/status', { status: { loadBalancer: { ingress: [
    { ip: '192.0.2.10', ports: [{ port: 443, protocol: 'TCP' }, { port: 80, protocol: 'TCP', error: 'ConnectionRefused' }] }, { hostname: 'lb.example.com' },
  ] } } }, { contentType: 'application/merge-patch+json' });
  for (let n = 0; n < ROUTES; n++) {
    await cluster.must('POST', '/api/v1/namespaces/app/services', { metadata: { name: `s${n}` }, spec: { clusterIP: 'None', ports: [{ name: 'http', port: 80, targetPort: n % 2 ? 'web' : 8080 }] } });
    await cluster.must('POST', '/apis/discovery.k8s.io/v1/namespaces/app/endpointslices', {
      metadata: { name: `s${n}-1`, labels: { 'kubernetes.io/service-name': `s${n}` } }, addressType: 'IPv4',
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      endpoints: [{ addresses: [`198.51.100.${n + 1}`], conditions: { ready: n % 3 !== 0 } }],
    });
    await cluster.must('POST', '/apis/route.openshift.io/v1/namespaces/app/routes', {
      apiVersion: 'route.openshift.io/v1', kind: 'Route', metadata: { name: `r${n}` },
      spec: { host: `r${n}.apps.example.com`, to: { kind: 'Service', name: `s${n}` }, port: { targetPort: 'http' } },
    });
  }
  client = new KubeClient(loadKubeConfig(cluster.adminKubeconfig));
  ({ kubeconfig } = await cluster.serviceAccountKubeconfig('switchyard', 'switchyard-router'));
});

test.after.always(async () => {
  for (const router of routers) await router.stop();
  await client?.close();
  await cluster?.stop();
});

/** What the router keeps of each object, by namespace/name. */
function narrowed(kind: Kind, items: readonly unknown[]): Map<string, KubeObject> {
  const out = new Map<string, KubeObject>();
  for (const item of items as KubeObject[]) {
    const object = narrowObject(kind, { ...item, apiVersion: API_VERSION[kind], kind } as KubeObject);
    out.set(`${object.metadata.namespace ?? ''}/${object.metadata.name}`, object);
  }
  return out;
}

/** Read a watch until `done` says so; its events. */
async function readWatch(stream: KubeWatchStream, kind: Kind, done: (events: WatchEvent[]) => boolean): Promise<WatchEvent[]> {
  const events: WatchEvent[] = [];
  try {
    if (stream.encoding === 'protobuf') {
      const decoder = new ProtobufWatchEventDecoder(kind);
      for await (const chunk of stream.body) {
        for (const event of decoder.push(chunk)) events.push(event);
        if (done(events)) break;
      }
    } else if (stream.encoding === 'json') {
      const decoder = new WatchEventDecoder();
      for await (const chunk of stream.body) {
        for (const event of decoder.push(chunk)) events.push(event);
        if (done(events)) break;
      }
    } else throw new Error(`a watch answered as ${stream.encoding}, not asked for`);
  } finally {
    stream.close();
  }
  return events;
}

const endOfInitialEvents = (events: WatchEvent[]) =>
  events.some((e) => e.type === 'BOOKMARK' && e.object?.metadata?.annotations?.['k8s.io/initial-events-end'] === 'true');

test.serial('lists: protobuf and JSON give the same objects, paged or whole', async (t) => {
  for (const { kind, path } of KINDS) {
    const json = await client.request<{ items: unknown[]; metadata: { resourceVersion: string } }>({ method: 'GET', path });
    let decoded = 0;
    const protobuf = await client.request<{ items: unknown[]; metadata: { resourceVersion: string } }>({
      method: 'GET', path, protobuf: (body) => { decoded++; return decodeList(kind, body); },
    });
    t.is(decoded, 1, `${kind}: the server answered protobuf`);
    t.regex(protobuf.metadata.resourceVersion, /^\d+$/);
    t.true(json.items.length >= (MINIMUM[kind] ?? ROUTES), `${kind}: ${json.items.length} listed`);
    t.deepEqual(narrowed(kind, protobuf.items), narrowed(kind, json.items), `${kind}: same objects`);

    // Paged: the continue token comes back through the protobuf ListMeta.
    const pages: unknown[] = [];
    let continueToken: string | undefined;
    do {
      const page = await client.request<{ items: unknown[]; metadata: { continue?: string } }>({
        method: 'GET', path, query: { limit: '7', continue: continueToken }, protobuf: (body) => decodeList(kind, body),
      });
      pages.push(...page.items);
      continueToken = page.metadata.continue;
    } while (continueToken);
    t.deepEqual(narrowed(kind, pages), narrowed(kind, json.items), `${kind}: same objects by pages`);
  }
  // The fixtures as the router keeps them (not only equal both ways, but right).
  const slices = narrowed('EndpointSlice', (await client.request<{ items: unknown[] }>({ method: 'GET', path: KINDS[1]!.path, protobuf: (b) => decodeList('EndpointSlice', b) })).items);
  const plain = slices.get('app/plain-1') as any;
  t.deepEqual(plain.endpoints[1], { addresses: ['203.0.113.2'], conditions: { ready: false, serving: true, terminating: true }, hostname: 'pod-2', nodeName: 'edge-1',
    targetRef: { kind: 'Pod', name: 'shop-2', namespace: 'app' } }); // the Pod's uid is not kept (never read)
  t.deepEqual(plain.ports[1], { name: 'https', port: 8443, protocol: 'TCP', appProtocol: 'https' });
  t.deepEqual((slices.get('app/unnamed-port') as any).ports, [{ name: '', port: 9000, protocol: 'TCP' }, { name: 'metrics', protocol: 'UDP' }]);
  t.is((slices.get('app/empty') as any).endpoints, null);
  const services = narrowed('Service', (await client.request<{ items: unknown[] }>({ method: 'GET', path: KINDS[0]!.path, protobuf: (b) => decodeList('Service', b) })).items);
  t.deepEqual((services.get('app/plain') as any).spec.ports[1], { name: 'https', port: 443, targetPort: 'tls', protocol: 'TCP', appProtocol: 'https' });
  t.deepEqual((services.get('app/plain') as any).metadata.annotations, { note: 'ü ✓ unicode' });
  t.deepEqual((services.get('app/external') as any).spec, { type: 'ExternalName', externalName: 'backend.example.com' });
  const ingresses = narrowed('Ingress', (await client.request<{ items: unknown[] }>({ method: 'GET', path: KINDS[3]!.path, protobuf: (b) => decodeList('Ingress', b) })).items);
  t.deepEqual((ingresses.get('app/full') as any).spec.rules[0].http.paths[2].backend, { resource: { apiGroup: 'example.com', kind: 'Bucket', name: 'static' } });
  t.deepEqual((ingresses.get('app/with-status') as any).status.loadBalancer.ingress[0].ports[1], { port: 80, protocol: 'TCP', error: 'ConnectionRefused' });
});

test.serial('watch-list and watch events: protobuf and JSON give the same objects', async (t) => {
  for (const { kind, path } of KINDS) {
    const query = { watch: 'true', allowWatchBookmarks: 'true', sendInitialEvents: 'true', resourceVersionMatch: 'NotOlderThan' };
    const [json, protobuf] = await Promise.all([
      client.watch(path, query).then((s) => readWatch(s, kind, endOfInitialEvents)),
      client.watch(path, query, { protobuf: true }).then((s) => {
        t.is(s.encoding, 'protobuf', `${kind}: the watch is protobuf`);
        return readWatch(s, kind, endOfInitialEvents);
      }),
    ]);
    const objects = (events: WatchEvent[]) => narrowed(kind, events.filter((e) => e.type === 'ADDED').map((e) => e.object));
    t.deepEqual(objects(protobuf), objects(json), `${kind}: same initial events`);
    t.true(objects(protobuf).size >= (MINIMUM[kind] ?? ROUTES));
    const bookmark = protobuf.at(-1)!;
    t.is(bookmark.type, 'BOOKMARK');
    t.regex(bookmark.object.metadata.resourceVersion, /^\d+$/);
  }

  // Changes: a modified Service and a deleted slice, as events of a protobuf watch.
  const list = await client.request<{ metadata: { resourceVersion: string } }>({ method: 'GET', path: '/api/v1/namespaces/app/services', protobuf: (b) => decodeList('Service', b) });
  const watch = await client.watch('/api/v1/namespaces/app/services', { watch: 'true', resourceVersion: list.metadata.resourceVersion }, { protobuf: true });
  const events = readWatch(watch, 'Service', (seen) => seen.some((e) => e.type === 'DELETED'));
  await cluster.must('PATCH', '/api/v1/namespaces/app/services/s1', { metadata: { labels: { edited: 'yes' } } }, { contentType: 'application/merge-patch+json' });
  await cluster.must('DELETE', '/api/v1/namespaces/app/services/s2');
  const seen = await events;
  t.deepEqual(seen.map((e) => `${e.type} ${e.object.metadata.name}`), ['MODIFIED s1', 'DELETED s2']);
  t.deepEqual(seen[0]!.object.metadata.labels, { edited: 'yes' });
  t.deepEqual(seen[0]!.object.spec.ports, [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 'web' }]);
});

test.serial('without the CBORServingAndStorage gate a watch-list of Routes asking for CBOR is answered JSON, the same events', async (t) => {
  const path = '/apis/route.openshift.io/v1/routes';
  const query = { watch: 'true', allowWatchBookmarks: 'true', sendInitialEvents: 'true', resourceVersionMatch: 'NotOlderThan' };
  const [json, asked] = await Promise.all([
    client.watch(path, query).then((s) => readWatch(s, 'Route', endOfInitialEvents)),
    client.watch(path, query, { cbor: true }).then((s) => {
      t.is(s.encoding, 'json', 'CBOR asked for, JSON answered');
      return readWatch(s, 'Route', endOfInitialEvents);
    }),
  ]);
  const objects = (events: WatchEvent[]) => narrowed('Route', events.filter((e) => e.type === 'ADDED').map((e) => e.object));
  t.is(objects(asked).size, ROUTES);
  t.deepEqual(objects(asked), objects(json));
});

test.serial('errors come back as protobuf Status and read as such', async (t) => {
  const missing = await t.throwsAsync(client.request({ method: 'GET', path: '/api/v1/namespaces/app/services/nope', protobuf: (b) => decodeList('Service', b) }));
  t.true(missing instanceof KubeApiError);
  t.is((missing as KubeApiError).statusCode, 404);
  t.is((missing as KubeApiError).reason, 'NotFound');
  t.regex((missing as KubeApiError).detail, /services "nope" not found/);
  const refused = await t.throwsAsync(client.watch('/api/v1/services', { watch: 'true', sendInitialEvents: 'true', resourceVersionMatch: 'Exact' }, { protobuf: true }));
  t.is((refused as KubeApiError).statusCode, 422);
  t.regex((refused as KubeApiError).detail, /resourceVersionMatch/);
});

test.serial('a status PATCH answered with metadata only (PartialObjectMetadata, protobuf, for a custom resource): the new resourceVersion; a stale one: 409 as protobuf Status', async (t) => {
  const path = '/apis/route.openshift.io/v1/namespaces/app/routes/r0/status';
  const before = await client.request<{ metadata: { resourceVersion: string } }>({ method: 'GET', path });
  const patch = (resourceVersion: string, host: string) => client.request<{ kind?: string; metadata: { resourceVersion?: string; name?: string } }>({
    method: 'PATCH', path, contentType: 'application/merge-patch+json',
    body: { metadata: { resourceVersion }, status: { ingress: [{ host, routerName: 'test' }] } },
    protobuf: (body) => { decoded++; return decodePartialObjectMetadata(body); }, accept: PARTIAL_METADATA_ACCEPT,
  });
  let decoded = 0;
  const answer = await patch(before.metadata.resourceVersion, 'r0.apps.example.com');
  t.is(decoded, 1, 'answered as protobuf');
  t.is(answer.kind, 'PartialObjectMetadata');
  t.is(answer.metadata.name, 'r0');
  const after = await client.request<{ metadata: { resourceVersion: string }; status: unknown }>({ method: 'GET', path });
  t.is(answer.metadata.resourceVersion, after.metadata.resourceVersion);
  t.not(answer.metadata.resourceVersion, before.metadata.resourceVersion);
  t.deepEqual(after.status, { ingress: [{ host: 'r0.apps.example.com', routerName: 'test' }] });
  const stale = await t.throwsAsync(patch(before.metadata.resourceVersion, 'other.apps.example.com'));
  t.is((stale as KubeApiError).statusCode, 409);
  t.is((stale as KubeApiError).reason, 'Conflict');
  await client.request({ method: 'PATCH', path, contentType: 'application/merge-patch+json', body: { status: null } });
});

function start(node: string, args: string[]): Promise<RouterProcess> {
  return startRouter({
    args: ['--kubeconfig', kubeconfig, '--update-status=false', ...args],
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

test.serial('routers reading protobuf (the default reads, watch-list, paged lists) and JSON serve the same first table', async (t) => {
  t.timeout(240_000);
  const [mixed, streamed, paged, json] = await Promise.all([
    start('protobuf-default', []), start('protobuf-watch-list', ['--watch-list=true']), start('protobuf-pages', ['--watch-list=false']), start('json', ['--kube-protobuf=false']),
  ]);
  const [a, b, c, d] = await Promise.all([servedTable(mixed), servedTable(streamed), servedTable(paged), servedTable(json)]);
  t.is(a.hosts.filter((h: any) => h.host.endsWith('.apps.example.com')).length, ROUTES);
  t.deepEqual(a.hosts.map((h: any) => h.host).filter((h: string) => !h.endsWith('.apps.example.com')), ['*'], 'and the host-less rule of the Ingress of class switchyard');
  t.deepEqual(b.hosts, a.hosts);
  t.deepEqual(c.hosts, a.hosts);
  t.deepEqual(d.hosts, a.hosts);
  const host = a.hosts.find((h: any) => h.host === 'r4.apps.example.com') as any;
  t.deepEqual(host.routes[0].backends[0].endpoints.map((e: any) => `${e.address}:${e.port}`), ['198.51.100.5:8080']);
  for (const [router, encoding] of [[a, 'protobuf'], [b, 'protobuf'], [c, 'protobuf'], [d, 'json']] as const) {
    t.true((router.read[`services ${encoding}`] ?? 0) >= ROUTES, `services read as ${encoding}: ${JSON.stringify(router.read)}`);
    t.true((router.read[`endpointslices ${encoding}`] ?? 0) >= ROUTES, `endpointslices read as ${encoding}`);
    t.false(`services ${encoding === 'json' ? 'protobuf' : 'json'}` in router.read, 'and nothing the other way');
    t.true((router.read[`ingresses ${encoding}`] ?? 0) >= 3, `ingresses read as ${encoding}`);
    t.true((router.read['routes json'] ?? 0) >= ROUTES, 'routes (a custom resource) read as JSON');
    t.false('routes cbor' in router.read, 'CBOR asked for (but by the JSON router), JSON answered');
  }
});
