// switchyard kube-relay between a real kube-apiserver (v1.36, the shipped RBAC: manifests/ and
// manifests/kube-relay) and routers that use it as their API server (issue 25): a router through
// the relay serves the table a router direct serves and follows edits; N routers cost the API
// server one list and watch per collection (its audit log); leader election and status writes go
// through it as the router's own identity; after a relay restart routers resume (410, then a list
// from the relay); and the relay answers from its cache only tokens the API server authenticates
// and authorizes for that very read (401, 403 as kube-apiserver words them); its watch semantics
// (initial events, 410 beyond its window, 504 ahead of it); a renewed certificate served without a
// restart; kubectl (client-go) through it.

import test from 'ava';
import { mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, fetch } from 'undici';
import { eventually, metricValue, request } from '../support/http-client.ts';
import { kubectlKustomize, startRealCluster, TEST_USER_AGENT, type AuditEvent, type RealCluster } from '../support/real-apiserver.ts';
import { relayTls, startRelay, type RelayProcess, type RelayTls } from '../support/relay-process.ts';
import { createCa, issueCertificate } from '../support/certs.ts';
import { startRouter, type RouterProcess } from '../support/router-process.ts';

const MANIFESTS = fileURLToPath(new URL('../../manifests/', import.meta.url));
const ROUTER_USER = 'system:serviceaccount:switchyard:switchyard-router';
const RELAY_USER = 'system:serviceaccount:switchyard:switchyard-kube-relay';
const ROUTES = 40;
const POD_ADDRESS = '198.51.100.7';

let cluster: RealCluster;
let tls: RelayTls;
let relay: RelayProcess;
let relayKubeconfig: string;
let routerToken: string;
let directKubeconfig: string;
const routers: RouterProcess[] = [];

const routes = (ns: string) => `/apis/route.openshift.io/v1/namespaces/${ns}/routes`;

async function addApp(ns: string, n: number): Promise<void> {
  await cluster.must('POST', `/api/v1/namespaces/${ns}/services`, {
    apiVersion: 'v1', kind: 'Service', metadata: { name: `s${n}`, namespace: ns },
    spec: { clusterIP: 'None', ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
  });
  await cluster.must('POST', `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`, {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { name: `s${n}-1`, namespace: ns, labels: { 'kubernetes.io/service-name': `s${n}` } },
    addressType: 'IPv4', ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: [{ addresses: [POD_ADDRESS], conditions: { ready: true } }],
  });
  await cluster.must('POST', routes(ns), {
    apiVersion: 'route.openshift.io/v1', kind: 'Route', metadata: { name: `r${n}`, namespace: ns },
    spec: { host: `r${n}.apps.example.com`, to: { kind: 'Service', name: `s${n}` } },
  });
}

test.before(async (t) => {
  t.timeout(300_000);
  cluster = await startRealCluster({ auditUsers: [ROUTER_USER, RELAY_USER] });
  await cluster.apply({ kustomization: MANIFESTS });
  await cluster.apply({ kustomization: `${MANIFESTS}kube-relay` });
  await cluster.waitEstablished('routes.route.openshift.io');
  await cluster.apply({ yaml: 'apiVersion: v1\nkind: Namespace\nmetadata: { name: app }\n' });
  for (let i = 0; i < ROUTES; i += 10) await Promise.all(Array.from({ length: 10 }, (_, j) => addApp('app', i + j)));
  let token: string;
  ({ token, kubeconfig: directKubeconfig } = await cluster.serviceAccountKubeconfig('switchyard', 'switchyard-router'));
  routerToken = token;
  ({ kubeconfig: relayKubeconfig } = await cluster.serviceAccountKubeconfig('switchyard', 'switchyard-kube-relay'));
  tls = await relayTls();
  relay = await startRelay({ kubeconfig: relayKubeconfig, tls });
});

test.after.always(async () => {
  for (const router of routers) await router.stop();
  await relay?.stop();
  await cluster?.stop();
});

function start(node: string, kubeconfig: string, extra: string[] = ['--update-status=false']): Promise<RouterProcess> {
  return startRouter({
    args: ['--kubeconfig', kubeconfig, ...extra],
    env: { POD_NAMESPACE: 'switchyard', ROUTER_LOG_LEVEL: 'info', NODE_NAME: node },
    timeoutMs: 120_000,
  }).then((router) => { routers.push(router); return router; });
}

/**
 * The kubeconfig manifests/overlays/kube-relay gives the routers, as they would read it in their
 * pod: the relay's CA and the ServiceAccount token as files at the paths its volumes mount (here
 * a directory of the test's), the server the relay's address (here 127.0.0.1).
 */
function overlayKubeconfig(token: string): string {
  const objects = kubectlKustomize(path.join(MANIFESTS, 'overlays/kube-relay'));
  const configMap = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'switchyard-kube-relay-kubeconfig')!;
  const router = objects.find((o) => o.kind === 'DaemonSet')!.spec.template.spec;
  const env = Object.fromEntries(router.containers[0].env.map((e: { name: string; value?: string }) => [e.name, e.value]));
  const mount = router.containers[0].volumeMounts.find((m: { name: string }) => m.name === 'kube-relay').mountPath as string;
  const volume = router.volumes.find((v: { name: string }) => v.name === 'kube-relay');
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-relay-pod-'));
  writeFileSync(path.join(dir, 'ca.crt'), tls.ca.cert);
  writeFileSync(path.join(dir, 'token'), token);
  // What the pod mounts where: the kubeconfig and the CA side by side in one projected volume.
  if (env['KUBECONFIG'] !== `${mount}/kubeconfig`) throw new Error(`KUBECONFIG ${env['KUBECONFIG']} is not in the mounted ${mount}`);
  const sources = volume.projected.sources.map((s: { configMap: { name: string } }) => s.configMap.name);
  if (sources.join() !== 'switchyard-kube-relay-kubeconfig,switchyard-kube-relay-ca') throw new Error(`projected ${sources.join()}`);
  const text = (configMap.data.kubeconfig as string)
    .replace('https://switchyard-kube-relay.switchyard.svc:443', relay.server)
    .replace(`${mount}/ca.crt`, path.join(dir, 'ca.crt'))
    .replace('/var/run/secrets/kubernetes.io/serviceaccount/token', path.join(dir, 'token'));
  const file = path.join(dir, 'kubeconfig');
  writeFileSync(file, text);
  return file;
}

async function servedHosts(router: RouterProcess): Promise<unknown[]> {
  const view = (await request(router.admin, { path: '/debug/routes' })).json<{ hosts: Array<{ host: string }> }>();
  return [...view.hosts].sort((a, b) => a.host.localeCompare(b.host));
}

async function hostServed(router: RouterProcess, host: string): Promise<boolean> {
  return (await servedHosts(router)).some((h) => (h as { host: string }).host === host);
}

/** The API server's audit log of one identity's requests (a watch when it starts, the rest when answered), less the test's own. */
function requestsBy(user: string, node?: string): AuditEvent[] {
  return cluster.auditEvents().filter((e) => e.user.username === user && e.userAgent !== TEST_USER_AGENT
    && (node === undefined || e.userAgent?.endsWith(`; ${node})`))
    && (e.verb === 'watch' ? e.stage === 'ResponseStarted' : e.stage === 'ResponseComplete'));
}

/** A request to the relay over HTTP/1.1 (the routers speak HTTP/2 to it). */
async function relayGet(path: string, token?: string): Promise<{ status: number; body: any }> {
  const dispatcher = new Agent({ connect: { ca: tls.ca.cert } });
  try {
    const reply = await fetch(`${relay.server}${path}`, { dispatcher, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
    return { status: reply.status, body: await reply.json() };
  } finally {
    await dispatcher.close();
  }
}

test.serial('a router through the relay (the kubeconfig of overlays/kube-relay) serves the table a router direct serves, and follows Route, Service and EndpointSlice edits', async (t) => {
  t.timeout(240_000);
  // Ready: the API server answers the relay's own ServiceAccount (GET /version).
  t.true(await eventually(async () => (await fetch(`${relay.adminUrl}/readyz`)).status === 200, 30_000, 50));
  const [direct, relayed] = await Promise.all([start('direct', directKubeconfig), start('relayed', overlayKubeconfig(routerToken))]);
  const first = await servedHosts(direct);
  t.is(first.length, ROUTES);
  t.deepEqual(await servedHosts(relayed), first);
  t.is((await request(relayed.http, { host: 'r3.apps.example.com', path: '/' })).status, (await request(direct.http, { host: 'r3.apps.example.com', path: '/' })).status);

  // A new app, an edited host, new endpoints, a deleted Route: both routers follow, and agree.
  await addApp('app', ROUTES);
  await cluster.must('PATCH', `${routes('app')}/r1`, { spec: { host: 'moved.apps.example.com' } }, { contentType: 'application/merge-patch+json' });
  await cluster.must('PATCH', '/apis/discovery.k8s.io/v1/namespaces/app/endpointslices/s2-1',
    { endpoints: [{ addresses: [POD_ADDRESS], conditions: { ready: true } }, { addresses: ['198.51.100.8'], conditions: { ready: true } }] },
    { contentType: 'application/merge-patch+json' });
  await cluster.must('DELETE', `${routes('app')}/r5`);
  const settled = async (router: RouterProcess) => {
    const hosts = await servedHosts(router) as Array<{ host: string; routes: Array<{ backends: Array<{ endpoints: unknown[] }> }> }>;
    const names = new Set(hosts.map((h) => h.host));
    return names.has(`r${ROUTES}.apps.example.com`) && names.has('moved.apps.example.com') && !names.has('r1.apps.example.com') && !names.has('r5.apps.example.com')
      && hosts.find((h) => h.host === 'r2.apps.example.com')?.routes[0]?.backends[0]?.endpoints.length === 2;
  };
  t.true(await eventually(() => settled(relayed), 30_000, 50), 'the router through the relay follows the edits');
  t.true(await eventually(() => settled(direct), 30_000, 50));
  t.deepEqual(await servedHosts(relayed), await servedHosts(direct));

  // It read through the relay: no list or watch of its own at the API server.
  const own = requestsBy(ROUTER_USER, 'relayed').filter((e) => ['routes', 'services', 'endpointslices'].includes(e.objectRef?.resource ?? '') && !e.objectRef?.subresource);
  t.deepEqual(own.map((e) => e.requestURI), []);
  const metrics = await relay.metrics();
  t.true((metricValue(metrics, 'switchyard_relay_cache_reads_total', { verb: 'watch', resource: 'routes' }) ?? 0) >= 1);
  t.true((metricValue(metrics, 'switchyard_relay_events_relayed_total', { resource: 'routes' }) ?? 0) >= ROUTES);
  for (const router of [direct, relayed]) await router.stop();
});

test.serial('N routers through the relay cost the API server one list and watch per collection, not N', async (t) => {
  t.timeout(240_000);
  const before = new Set(requestsBy(RELAY_USER));
  const fleet = await Promise.all(['fleet-1', 'fleet-2', 'fleet-3', 'fleet-4'].map((node) => start(node, relay.kubeconfig(routerToken))));
  const hosts = await servedHosts(fleet[0]!);
  for (const router of fleet.slice(1)) t.deepEqual(await servedHosts(router), hosts);
  // Collections the relay already held (from the test before) are not read again; none is read twice.
  const relayReads = requestsBy(RELAY_USER).filter((e) => !before.has(e) && ['list', 'watch'].includes(e.verb) && e.objectRef?.resource !== 'tokenreviews');
  const lists = new Map<string, number>();
  for (const e of relayReads.filter((r) => r.verb === 'list')) lists.set(new URL(e.requestURI, 'https://x').pathname, (lists.get(new URL(e.requestURI, 'https://x').pathname) ?? 0) + 1);
  for (const [path, count] of lists) t.is(count, 1, `${path}: listed once for ${fleet.length} routers`);
  const all = requestsBy(RELAY_USER).filter((e) => e.verb === 'list');
  for (const resource of ['routes', 'services', 'endpointslices']) {
    t.is(all.filter((e) => e.objectRef?.resource === resource).length, 1, `${resource}: one list by the relay over both tests (7 routers)`);
  }
  for (const node of ['fleet-1', 'fleet-2', 'fleet-3', 'fleet-4']) {
    const own = requestsBy(ROUTER_USER, node);
    t.deepEqual(own.filter((e) => ['routes', 'services', 'endpointslices', 'ingresses', 'ingressclasses'].includes(e.objectRef?.resource ?? '')).map((e) => e.requestURI), [], `${node}: no list or watch of its own`);
    // What it does send on — discovery — reaches the API server as the router itself, with its User-Agent.
    t.true(own.length >= 1, `${node}: discovery passed on as the router`);
  }
  t.is(metricValue(await relay.metrics(), 'switchyard_relay_watchers', { resource: 'routes' }), 4);
  for (const router of fleet) await router.stop();
});

test.serial('every way a router reads its state works through the relay: watch-list, paged lists (limit ignored), one list, JSON only', async (t) => {
  t.timeout(240_000);
  const reference = await start('reads-direct', directKubeconfig);
  const direct = await servedHosts(reference);
  await reference.stop();
  const ways = ['--watch-list=true', '--watch-list=false', '--watch-list=list', '--kube-protobuf=false', '--kube-cbor=false'];
  const routers = await Promise.all(ways.map((flag, i) => start(`reads-${i}`, relay.kubeconfig(routerToken), ['--update-status=false', flag])));
  for (const [i, router] of routers.entries()) t.deepEqual(await servedHosts(router), direct, ways[i]);
  for (const router of routers) await router.stop();
});

test.serial('leader election and status writes go through the relay, as the router', async (t) => {
  t.timeout(180_000);
  const leader = await start('leader', relay.kubeconfig(routerToken), ['--canonical-hostname', 'edge.example.com']);
  const admitted = await eventually(async () => {
    const route = await cluster.must('GET', `${routes('app')}/r7`);
    return (route.status?.ingress ?? []).find((i: any) => i.routerName === 'default' && i.conditions?.some((c: any) => c.type === 'Admitted' && c.status === 'True'));
  }, 60_000, 100);
  t.is(admitted.routerCanonicalHostname, 'edge.example.com');
  const own = requestsBy(ROUTER_USER, 'leader');
  t.true(own.some((e) => e.objectRef?.resource === 'leases' && ['create', 'update'].includes(e.verb)), 'the Lease written as the router');
  t.true(own.some((e) => e.objectRef?.resource === 'routes' && e.objectRef.subresource === 'status' && e.verb === 'patch' && e.responseStatus?.code === 200), 'status PATCHed as the router');
  const lease = await cluster.must('GET', '/apis/coordination.k8s.io/v1/namespaces/switchyard/leases/switchyard-default');
  t.truthy(lease.spec.holderIdentity);
  await leader.stop();
});

test.serial('after a relay restart routers resume: a watch from a version the new relay does not hold gets 410 and lists again from the relay', async (t) => {
  t.timeout(180_000);
  const router = await start('resume', relay.kubeconfig(routerToken));
  t.true(await hostServed(router, 'r9.apps.example.com'));
  const port = Number(new URL(relay.server).port);
  await relay.stop();
  // Changed while no relay runs: the new relay's state starts after it, so the router's version is too old there.
  await cluster.must('PATCH', `${routes('app')}/r9`, { spec: { host: 'while-down.apps.example.com' } }, { contentType: 'application/merge-patch+json' });
  relay = await startRelay({ kubeconfig: relayKubeconfig, tls, port });
  t.true(await eventually(() => hostServed(router, 'while-down.apps.example.com'), 60_000, 100));
  t.true(router.logs.some((l) => String(l['msg']).includes('resourceVersion expired')), 'the router listed again after 410 Gone');
  await cluster.must('PATCH', `${routes('app')}/r9`, { spec: { host: 'after.apps.example.com' } }, { contentType: 'application/merge-patch+json' });
  t.true(await eventually(() => hostServed(router, 'after.apps.example.com'), 30_000, 50));
  await router.stop();
});

test.serial('cached reads need a token the API server authenticates and a grant for that very read: 401, 403 as kube-apiserver answers', async (t) => {
  await cluster.must('POST', '/api/v1/namespaces/app/secrets', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'cert' }, type: 'Opaque', stringData: { key: 'value' } });
  // A ServiceAccount that may list Services in app, and not Secrets.
  await cluster.apply({ yaml: `apiVersion: v1
kind: ServiceAccount
metadata: { name: reader, namespace: app }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: { name: services-reader, namespace: app }
rules: [{ apiGroups: [""], resources: ["services"], verbs: ["list", "watch"] }]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: reader, namespace: app }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: services-reader }
subjects: [{ kind: ServiceAccount, name: reader, namespace: app }]
` });
  const { token: reader } = await cluster.serviceAccountKubeconfig('app', 'reader');
  const secrets = '/api/v1/namespaces/app/secrets';

  const allowed = await relayGet(secrets, routerToken);
  t.is(allowed.status, 200);
  t.is(allowed.body.kind, 'SecretList');
  t.deepEqual(allowed.body.items.map((s: any) => s.metadata.name).filter((n: string) => n === 'cert'), ['cert']);
  t.is(allowed.body.items.find((s: any) => s.metadata.name === 'cert').data.key, Buffer.from('value').toString('base64'));

  const denied = await relayGet(secrets, reader);
  t.is(denied.status, 403);
  t.like(denied.body, { kind: 'Status', reason: 'Forbidden', code: 403 });
  t.is(denied.body.message, 'secrets is forbidden: User "system:serviceaccount:app:reader" cannot list resource "secrets" in API group "" in the namespace "app"');
  // The same words as kube-apiserver's own answer.
  const direct = await cluster.api('GET', secrets, undefined, { token: reader });
  t.is(direct.status, 403);
  t.is(denied.body.message, direct.body.message);
  t.is((await relayGet(`${secrets}?watch=true&fieldSelector=metadata.name%3Dcert`, reader)).status, 403, 'a watch by name too');
  t.is((await relayGet('/api/v1/namespaces/app/services', reader)).status, 200, 'what the Role grants is served');

  const anonymous = await relayGet(secrets);
  t.is(anonymous.status, 401);
  t.like(anonymous.body, { kind: 'Status', reason: 'Unauthorized', code: 401 });
  t.is((await relayGet(secrets, 'not-a-token')).status, 401);
  // Another scheme is not a bearer token: passed on, and the API server refuses it itself.
  const impersonating = await fetch(`${relay.server}${secrets}`, {
    dispatcher: new Agent({ connect: { ca: tls.ca.cert } }),
    headers: { authorization: `Bearer ${reader}`, 'impersonate-user': ROUTER_USER },
  });
  t.is(impersonating.status, 403, 'Impersonate-User is passed on to the API server, never served from the cache as the impersonated user');
  const metrics = await relay.metrics();
  t.true((metricValue(metrics, 'switchyard_relay_refused_total', { code: '403' }) ?? 0) >= 2);
  t.true((metricValue(metrics, 'switchyard_relay_refused_total', { code: '401' }) ?? 0) >= 2);
  t.false(relay.logs.some((l) => JSON.stringify(l).includes(reader) || JSON.stringify(l).includes(routerToken)), 'no token in the relay log');
});

/** A watch through the relay (HTTP/1.1), read event by event until `until` says stop; the events read. */
async function watchEvents(server: string, path: string, token: string, until: (event: any, all: any[]) => boolean): Promise<{ status: number; events: any[] }> {
  const dispatcher = new Agent({ connect: { ca: tls.ca.cert } });
  const controller = new AbortController();
  try {
    const reply = await fetch(`${server}${path}`, { dispatcher, signal: controller.signal, headers: { authorization: `Bearer ${token}` } });
    if (reply.status !== 200) return { status: reply.status, events: [await reply.json()] };
    const events: any[] = [];
    let rest = '';
    const decoder = new TextDecoder();
    for await (const chunk of reply.body!) {
      rest += decoder.decode(chunk as Uint8Array, { stream: true });
      let nl: number;
      while ((nl = rest.indexOf('\n')) !== -1) {
        const event = JSON.parse(rest.slice(0, nl));
        rest = rest.slice(nl + 1);
        events.push(event);
        if (until(event, events)) return { status: 200, events };
      }
    }
    return { status: 200, events };
  } finally {
    controller.abort();
    await dispatcher.destroy();
  }
}

test.serial('watch semantics: initial events and their end bookmark, a version beyond the window (410), a version not reached yet (504, retried)', async (t) => {
  t.timeout(120_000);
  await cluster.apply({ yaml: 'apiVersion: v1\nkind: Namespace\nmetadata: { name: semantics }\n' });
  for (let n = 0; n < 3; n++) await addApp('semantics', n);
  const services = '/api/v1/namespaces/semantics/services';
  // A relay of its own with a window of 2 events per collection.
  const small = await startRelay({ kubeconfig: relayKubeconfig, tls, args: ['--watch-cache-events', '2'] });
  try {
    const initial = await watchEvents(small.server, `${services}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true`, routerToken,
      (e) => e.type === 'BOOKMARK' && e.object.metadata.annotations?.['k8s.io/initial-events-end'] === 'true');
    t.deepEqual(initial.events.filter((e) => e.type === 'ADDED').map((e) => e.object.metadata.name).sort(), ['s0', 's1', 's2']);
    t.true(initial.events.every((e) => e.type === 'ADDED' ? e.object.kind === 'Service' && e.object.apiVersion === 'v1' : true));
    const from = initial.events.at(-1).object.metadata.resourceVersion as string;

    // Three changes: the window of 2 no longer reaches back to `from`.
    for (const n of [0, 1, 2]) await cluster.must('PATCH', `${services}/s${n}`, { metadata: { labels: { edited: 'yes' } } }, { contentType: 'application/merge-patch+json' });
    const list = await eventually(async () => {
      const reply = await fetch(`${small.server}${services}?resourceVersion=0`, { dispatcher: new Agent({ connect: { ca: tls.ca.cert } }), headers: { authorization: `Bearer ${routerToken}` } });
      const body = await reply.json() as any;
      return body.items.every((s: any) => s.metadata.labels?.edited === 'yes') ? body : undefined;
    }, 30_000, 50);
    t.is(list.kind, 'ServiceList');
    const gone = await watchEvents(small.server, `${services}?watch=true&resourceVersion=${from}`, routerToken, () => true);
    t.is(gone.status, 200);
    t.like(gone.events[0], { type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired' } });
    // From the list's version: nothing to replay, then the next change.
    const next = watchEvents(small.server, `${services}?watch=true&resourceVersion=${list.metadata.resourceVersion}`, routerToken, (e) => e.type === 'MODIFIED');
    await cluster.must('PATCH', `${services}/s0`, { metadata: { labels: { again: 'yes' } } }, { contentType: 'application/merge-patch+json' });
    t.like((await next).events.at(-1), { type: 'MODIFIED', object: { metadata: { name: 's0', labels: { again: 'yes' } } } });

    // sendInitialEvents=false from no version: the changes from now on, no ADDED for what exists.
    // (When the relay registers the watch is not observable: edits go on until one comes through.)
    let answered = false;
    const fromNow = watchEvents(small.server, `${services}?watch=true&sendInitialEvents=false`, routerToken, () => true).finally(() => { answered = true; });
    for (let n = 0; !answered; n++) {
      await cluster.must('PATCH', `${services}/s1`, { metadata: { labels: { again: String(n) } } }, { contentType: 'application/merge-patch+json' });
      await Promise.race([fromNow, new Promise((resolve) => setTimeout(resolve, 200))]);
    }
    t.like((await fromNow).events[0], { type: 'MODIFIED', object: { metadata: { name: 's1' } } });

    // A version the relay has not reached: 504 "Too large resource version" after a bounded wait, which clients retry.
    const ahead = String(Number(list.metadata.resourceVersion) + 1_000_000);
    const tooLarge = await watchEvents(small.server, `${services}?watch=true&resourceVersion=${ahead}`, routerToken, () => true);
    t.is(tooLarge.status, 504);
    t.like(tooLarge.events[0], { kind: 'Status', code: 504, reason: 'Timeout', details: { causes: [{ reason: 'ResourceVersionTooLarge' }] } });
  } finally {
    await small.stop();
  }
});

test.serial('a renewed serving certificate is served without a restart, over HTTP/2 and HTTP/1.1', async (t) => {
  t.timeout(120_000);
  const own = await relayTls();
  const renewing = await startRelay({ kubeconfig: relayKubeconfig, tls: own });
  try {
    const ca = await createCa('kube relay renewed CA');
    const leaf = await issueCertificate(ca, ['localhost'], { ips: ['127.0.0.1'] });
    // As the kubelet updates a Secret volume: the new files appear whole.
    for (const [name, text] of [['tls.key', leaf.key], ['tls.crt', leaf.cert]] as const) {
      writeFileSync(path.join(own.dir, `.${name}.new`), text);
      renameSync(path.join(own.dir, `.${name}.new`), path.join(own.dir, name));
    }
    const get = async (trust: string, allowH2: boolean) => {
      const dispatcher = new Agent({ connect: { ca: trust }, allowH2 });
      try {
        const reply = await fetch(`${renewing.server}/api/v1/namespaces/app/services`, { dispatcher, headers: { authorization: `Bearer ${routerToken}` } });
        return reply.status;
      } catch {
        return 0;
      } finally {
        await dispatcher.destroy();
      }
    };
    t.is(await eventually(async () => (await get(ca.cert, false)) === 200 || undefined, 30_000, 100), true);
    t.is(await get(ca.cert, true), 200, 'HTTP/2 with the renewed certificate');
    t.is(await get(own.ca.cert, false), 0, 'the old CA no longer verifies it');
    t.true(renewing.logs.some((l) => l['msg'] === 'serving certificate reloaded'));
  } finally {
    await renewing.stop();
  }
});

test.serial('kubectl (client-go) through the relay: a JSON list from the cache, its Table passed on, a refusal in the API server\'s words', async (t) => {
  const kubeconfig = relay.kubeconfig(routerToken);
  const cachedBefore = metricValue(await relay.metrics(), 'switchyard_relay_cache_reads_total', { verb: 'list', resource: 'services' }) ?? 0;
  const json = await cluster.kubectl(['get', 'services', '-n', 'app', '-o', 'json'], { kubeconfig });
  t.is(json.code, 0, json.stderr);
  t.true((JSON.parse(json.stdout).items as unknown[]).length >= ROUTES);
  t.is(metricValue(await relay.metrics(), 'switchyard_relay_cache_reads_total', { verb: 'list', resource: 'services' }), cachedBefore + 1, 'answered from the cache');
  // `kubectl get` asks for a Table first: passed on, and printed in the Route CRD's columns (only the API server's Table has them).
  const table = await cluster.kubectl(['get', 'routes', '-n', 'app'], { kubeconfig });
  t.is(table.code, 0, table.stderr);
  t.regex(table.stdout, /^NAME\s+HOST\s+PATH\s+SERVICES\s+PORT\s+TERMINATION/m);
  t.regex(table.stdout, /^r3\s+r3\.apps\.example\.com/m);
  const { kubeconfig: readerKubeconfig } = await cluster.serviceAccountKubeconfig('app', 'reader');
  const readerToken = /token: (\S+)/.exec(readFileSync(readerKubeconfig, 'utf8'))![1]!;
  const refused = await cluster.kubectl(['get', 'secrets', '-n', 'app', '-o', 'json'], { kubeconfig: relay.kubeconfig(readerToken) });
  t.not(refused.code, 0);
  t.regex(refused.stderr, /secrets is forbidden: User "system:serviceaccount:app:reader" cannot list resource "secrets" in API group "" in the namespace "app"/);
});

/** A list through `server` (HTTP/1.1) with `token`. */
async function listThrough(server: string, path: string, token: string): Promise<{ status: number; body: any }> {
  const dispatcher = new Agent({ connect: { ca: tls.ca.cert } });
  try {
    const reply = await fetch(`${server}${path}`, { dispatcher, headers: { authorization: `Bearer ${token}` } });
    return { status: reply.status, body: await reply.json() };
  } finally {
    await dispatcher.close();
  }
}

test.serial('a tenant sweeping selectors opens at most 32 collections: its 33rd is proxied with its own token, another user still opens one, and a held one serves anyone authorized', async (t) => {
  t.timeout(120_000);
  await cluster.apply({ yaml: `apiVersion: v1
kind: ServiceAccount
metadata: { name: sweeper, namespace: app }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: { name: services-sweeper, namespace: app }
rules: [{ apiGroups: [""], resources: ["services"], verbs: ["list", "watch"] }]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: sweeper, namespace: app }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: services-sweeper }
subjects: [{ kind: ServiceAccount, name: sweeper, namespace: app }]
` });
  const { token: sweeper } = await cluster.serviceAccountKubeconfig('app', 'sweeper');
  // A relay of its own, with the default caps: its collection count starts at 0.
  const capped = await startRelay({ kubeconfig: relayKubeconfig, tls });
  try {
    const services = (selector: string) => `/api/v1/namespaces/app/services?labelSelector=${encodeURIComponent(`sweep=${selector}`)}`;
    const gauge = async () => metricValue(await capped.metrics(), 'switchyard_relay_upstream_collections');
    const cacheReads = async () => metricValue(await capped.metrics(), 'switchyard_relay_cache_reads_total', { verb: 'list', resource: 'services' }) ?? 0;
    for (let i = 0; i < 32; i++) {
      const reply = await listThrough(capped.server, services(String(i)), sweeper);
      t.is(reply.status, 200, `selector ${i}`);
    }
    t.is(await gauge(), 32);
    t.is(await cacheReads(), 32);

    // The 33rd: answered (by the API server, as the sweeper), not cached, no new upstream watch.
    const proxiedBefore = metricValue(await capped.metrics(), 'switchyard_relay_proxied_requests_total', { code: '200' }) ?? 0;
    const over = await listThrough(capped.server, services('32'), sweeper);
    t.is(over.status, 200);
    t.is(over.body.kind, 'ServiceList');
    let metrics = await capped.metrics();
    t.is(metricValue(metrics, 'switchyard_relay_upstream_collections'), 32, 'no 33rd collection');
    t.is(metricValue(metrics, 'switchyard_relay_collections_declined_total', { cap: 'user' }), 1);
    t.is(metricValue(metrics, 'switchyard_relay_proxied_requests_total', { code: '200' }), proxiedBefore + 1, 'passed on to the API server');
    t.is(await cacheReads(), 32);
    t.false(requestsBy(RELAY_USER).some((e) => e.verb === 'list' && e.requestURI.includes(encodeURIComponent('sweep=32'))), 'the relay never listed it');

    // Another user is not bound by the sweeper's count: a new selector of its own is cached.
    t.is((await listThrough(capped.server, services('router'), routerToken)).status, 200);
    t.is(await gauge(), 33);
    t.is(await cacheReads(), 33);
    // A collection the sweeper opened serves another authorized user, and the sweeper again.
    t.is((await listThrough(capped.server, services('5'), routerToken)).status, 200);
    t.is((await listThrough(capped.server, services('6'), sweeper)).status, 200);
    metrics = await capped.metrics();
    t.is(metricValue(metrics, 'switchyard_relay_upstream_collections'), 33);
    t.is(metricValue(metrics, 'switchyard_relay_cache_reads_total', { verb: 'list', resource: 'services' }), 35);
    t.is(metricValue(metrics, 'switchyard_relay_collections_declined_total', { cap: 'user' }), 1);
  } finally {
    await capped.stop();
  }
});
