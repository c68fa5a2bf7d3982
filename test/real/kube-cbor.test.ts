// Routes (a custom resource) read as CBOR from a real kube-apiserver with its CBORServingAndStorage
// gate on (alpha in v1.36, off by default; issue 25: kube-apiserver encodes a custom resource as
// CBOR for about half the CPU of JSON). The same lists read as CBOR and as JSON are the same
// objects, whole and paged; an error comes back as a CBOR Status and reads as such; a router
// reading Routes by paged lists (--watch-list=false) as CBOR (the default: CBOR asked for, JSON
// accepted) and one with --kube-cbor=false serve the same first table, and their metrics say which
// encoding they read. (CBOR is asked for in lists; the default watch-list reads JSON.)
// Without the gate the same Accept header gets JSON: test/real/kube-protobuf.test.ts checks that a
// router with the defaults reads its Routes as JSON from a default API server.

import test from 'ava';
import { fileURLToPath } from 'node:url';
import { KubeApiError, KubeClient } from '../../src/kube/client.ts';
import { decodeCbor } from '../../src/kube/cbor-objects.ts';
import { loadKubeConfig } from '../../src/kube/kubeconfig.ts';
import { request } from '../support/http-client.ts';
import { startRouter, type RouterProcess } from '../support/router-process.ts';
import { startRealCluster, type RealCluster } from '../support/real-apiserver.ts';

const MANIFESTS = fileURLToPath(new URL('../../manifests/', import.meta.url));
const ROUTES = '/apis/route.openshift.io/v1/routes';
const COUNT = 24;

let cluster: RealCluster;
let client: KubeClient;
let kubeconfig: string;
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
  ({ kubeconfig } = await cluster.serviceAccountKubeconfig('switchyard', 'switchyard-router'));
});

test.after.always(async () => {
  for (const router of routers) await router.stop();
  await client?.close();
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
