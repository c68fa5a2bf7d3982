// The router (dist/cli.js) against a real kube-apiserver, with the token of the switchyard-router
// ServiceAccount and nothing but the RBAC of manifests/base: it serves Routes and Ingresses,
// writes their status, holds its Lease; what it must not do, the server refuses; what it reads is
// what the audit log shows it asked for. Also `switchyard autoport` under the RBAC of
// manifests/examples/autoport, and EndpointSlices made by the real controller with traffic
// reaching the pods.
//
// The API server refuses loopback endpoints. Pods that traffic must reach get addresses in a
// network namespace the test creates (test/support/netns-hosts.ts, 203.0.113.0/24) with real
// echo servers there; the autoport pod's 198.51.100.21 (TEST-NET-2) is only read from the
// router's table, never connected to (one endpoint, so no health checks either).

import test from 'ava';
import { spawn } from 'node:child_process';
import path from 'node:path';
import tls from 'node:tls';
import { gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { createCa, issueCertificate } from '../support/certs.ts';
import { eventually, request } from '../support/http-client.ts';
import { CLI, startRouter, type RouterProcess } from '../support/router-process.ts';
import { createNetnsHosts, type NetnsHosts } from '../support/netns-hosts.ts';
import { startRealCluster, TEST_USER_AGENT, type RealCluster } from '../support/real-apiserver.ts';

const MANIFESTS = fileURLToPath(new URL('../../manifests/', import.meta.url));
const ROUTER_USER = 'system:serviceaccount:switchyard:switchyard-router';
const AUTOPORT_USER = 'system:serviceaccount:autoport-demo:autoport-demo';

let cluster: RealCluster;
let router: RouterProcess;
let routerToken: string;
let hosts: NetnsHosts | undefined;

test.before(async (t) => {
  t.timeout(240_000);
  cluster = await startRealCluster({ auditUsers: [ROUTER_USER, AUTOPORT_USER] });
  // The CRD and the router's namespace, ServiceAccount and RBAC, exactly as deployed.
  await cluster.apply({ kustomization: MANIFESTS });
  await cluster.waitEstablished('routes.route.openshift.io');
  await cluster.apply({ yaml: `
apiVersion: v1
kind: Namespace
metadata: { name: app }
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: { name: switchyard }
spec: { controller: switchyard.io/ingress-controller }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: app }
spec:
  selector: { app: web }
  ports: [{ name: http, port: 80, targetPort: 8080 }]
` });
  const { token, kubeconfig } = await cluster.serviceAccountKubeconfig('switchyard', 'switchyard-router');
  routerToken = token;
  router = await startRouter({
    args: ['--kubeconfig', kubeconfig, '--canonical-hostname', 'router.apps.example.com', '--lease-duration', '4s', '--lease-renew-deadline', '3s', '--lease-retry-period', '500ms'],
    env: { POD_NAMESPACE: 'switchyard', ROUTER_LOG_LEVEL: 'info' },
    timeoutMs: 60_000,
  });
});

test.after.always(async () => {
  await hosts?.close();
  await router?.stop();
  await cluster?.stop();
});

async function debugRoutes(): Promise<any> {
  const res = await fetch(`${router.adminUrl}/debug/routes`);
  return res.json();
}

async function routeOf(host: string): Promise<any | undefined> {
  const doc = await debugRoutes();
  return doc.hosts.find((h: any) => h.host === host)?.routes[0];
}

function routerRequests(): Array<{ verb: string; uri: string; resource: string; code: number }> {
  return cluster.auditEvents()
    .filter((e) => e.user.username === ROUTER_USER && e.userAgent !== TEST_USER_AGENT && (e.stage === 'ResponseComplete' || e.stage === 'ResponseStarted'))
    .map((e) => ({ verb: e.verb, uri: decodeURIComponent(e.requestURI), resource: e.objectRef?.subresource ? `${e.objectRef.resource}/${e.objectRef.subresource}` : e.objectRef?.resource ?? '', code: e.responseStatus?.code ?? 0 }));
}

test.serial('under manifests/base RBAC the router serves Routes and Ingresses, writes their status and holds the Lease', async (t) => {
  await cluster.apply({ yaml: `
apiVersion: route.openshift.io/v1
kind: Route
metadata: { name: web, namespace: app }
spec:
  host: web.apps.example.com
  to: { kind: Service, name: web }
  tls: { termination: edge, insecureEdgeTerminationPolicy: Redirect }
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: shop, namespace: app }
spec:
  ingressClassName: switchyard
  rules:
    - host: shop.apps.example.com
      http:
        paths: [{ path: /, pathType: Prefix, backend: { service: { name: web, port: { number: 80 } } } }]
` });
  // Served: the edge route's plain-HTTP redirect is answered by the router itself.
  const reply = (await eventually(async () => {
    const r = await request(router.http, { host: 'web.apps.example.com', path: '/x' });
    return r.status === 302 ? r : undefined;
  }, 20_000, 100))!;
  t.is(reply.headers['location'], 'https://web.apps.example.com/x');
  t.truthy(await eventually(() => routeOf('shop.apps.example.com'), 20_000, 100));

  // status.ingress[] written through the status subresource, with only get+patch on it.
  const admitted = await eventually(async () => {
    const route = await cluster.must('GET', '/apis/route.openshift.io/v1/namespaces/app/routes/web');
    const entry = route.status?.ingress?.find((e: any) => e.routerName === 'default');
    return entry?.conditions?.[0]?.status === 'True' ? entry : undefined;
  }, 30_000, 200);
  t.like(admitted, { host: 'web.apps.example.com', routerCanonicalHostname: 'router.apps.example.com', conditions: [{ type: 'Admitted', status: 'True' }] });
  const ingress = await eventually(async () => {
    const ing = await cluster.must('GET', '/apis/networking.k8s.io/v1/namespaces/app/ingresses/shop');
    return ing.status?.loadBalancer?.ingress?.length ? ing : undefined;
  }, 30_000, 200);
  t.deepEqual(ingress.status.loadBalancer.ingress, [{ hostname: 'router.apps.example.com' }]);
  // Every status call the router made was allowed: none refused under the shipped rules.
  const statusCalls = routerRequests().filter((r) => r.resource.endsWith('/status'));
  t.true(statusCalls.some((r) => r.verb === 'patch' && r.code === 200), JSON.stringify(statusCalls));
  t.deepEqual(statusCalls.filter((r) => r.code >= 400), []);

  // The Lease is held by this router.
  const lease = await eventually(async () => {
    const l = await cluster.api('GET', '/apis/coordination.k8s.io/v1/namespaces/switchyard/leases/switchyard-default');
    return l.status === 200 && l.body.spec?.holderIdentity ? l.body : undefined;
  }, 20_000, 200);
  t.truthy(lease.spec.holderIdentity);

  // `kubectl get routes -o wide` shows the printer columns with the status the router wrote.
  const get = await cluster.kubectl(['get', 'routes', '-n', 'app', '-o', 'wide']);
  t.is(get.code, 0, get.stderr);
  const [header, row] = get.stdout.trim().split('\n');
  t.deepEqual(header!.split(/\s{2,}/), ['NAME', 'HOST', 'PATH', 'SERVICES', 'PORT', 'TERMINATION', 'WILDCARD', 'ADMITTED', 'AGE']);
  t.regex(row!, /^web\s+web\.apps\.example\.com\s+web\s+edge\s+None\s+True\s+\S+$/);
});

test.serial('the status merge patch rewrites our entry and keeps another router\'s', async (t) => {
  await cluster.apply({ yaml: `
apiVersion: route.openshift.io/v1
kind: Route
metadata: { name: shared, namespace: app }
spec:
  host: shared-1.apps.example.com
  to: { kind: Service, name: web }
` });
  const path = '/apis/route.openshift.io/v1/namespaces/app/routes/shared';
  const entry = async (router: string) => ((await cluster.must('GET', path)).status?.ingress ?? []).find((e: any) => e.routerName === router);
  await eventually(async () => (await entry('default'))?.host === 'shared-1.apps.example.com', 30_000, 200);
  // Another router (OpenShift's own, say) adds its entry...
  await cluster.must('PATCH', `${path}/status`, [{ op: 'add', path: '/status/ingress/-', value: {
    host: 'shared-1.apps.example.com', routerName: 'other', conditions: [{ type: 'Admitted', status: 'True' }],
  } }], { contentType: 'application/json-patch+json' });
  // ...then the host changes: ours is rewritten, theirs stays.
  await cluster.must('PATCH', path, { spec: { host: 'shared-2.apps.example.com' } }, { contentType: 'application/merge-patch+json' });
  await eventually(async () => (await entry('default'))?.host === 'shared-2.apps.example.com', 30_000, 200);
  t.like(await entry('other'), { host: 'shared-1.apps.example.com', routerName: 'other' });
});

test.serial('least privilege is enforced by the server, not assumed', async (t) => {
  const can = (verb: string, resource: string, extra: { group?: string; subresource?: string; namespace?: string } = {}) =>
    cluster.can(routerToken, { verb, resource, ...extra });
  const routes = { group: 'route.openshift.io', namespace: 'app' };
  t.true(await can('list', 'routes', routes));
  t.true(await can('get', 'routes', { ...routes, subresource: 'status' }));
  t.true(await can('patch', 'routes', { ...routes, subresource: 'status' }));
  t.false(await can('update', 'routes', routes), 'a Route\'s spec is not the router\'s to change');
  t.false(await can('patch', 'routes', routes));
  t.false(await can('update', 'routes', { ...routes, subresource: 'status' }), 'status is patched, never replaced');
  t.false(await can('get', 'secrets', { namespace: 'app' }), 'no single Secret outside a watch');
  t.false(await can('create', 'pods', { namespace: 'app' }));
  t.false(await can('update', 'leases', { group: 'coordination.k8s.io', namespace: 'kube-system' }), 'Leases only in its own namespace');
  // And for real: a spec change and a Secret read with the router's own token are refused.
  const route = await cluster.must('GET', '/apis/route.openshift.io/v1/namespaces/app/routes/web');
  const put = await cluster.api('PUT', '/apis/route.openshift.io/v1/namespaces/app/routes/web',
    { ...route, spec: { ...route.spec, host: 'hijacked.example.com' } }, { token: routerToken });
  t.is(put.status, 403);
  await cluster.must('POST', '/api/v1/namespaces/app/secrets', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db' }, stringData: { password: 'x' } });
  t.is((await cluster.api('GET', '/api/v1/namespaces/app/secrets/db', undefined, { token: routerToken })).status, 403);
});

test.serial('the router reads only the Secrets routes reference, by name, and no Pods without an autoport route', async (t) => {
  const ca = await createCa();
  const cert = await issueCertificate(ca, ['secure.apps.example.com']);
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  await cluster.must('POST', '/api/v1/namespaces/app/secrets', {
    apiVersion: 'v1', kind: 'Secret', metadata: { name: 'secure-tls' }, type: 'kubernetes.io/tls',
    data: { 'tls.crt': b64(cert.cert), 'tls.key': b64(cert.key) },
  });
  await cluster.must('POST', '/api/v1/namespaces/app/secrets', {
    apiVersion: 'v1', kind: 'Secret', metadata: { name: 'other-tls' }, type: 'kubernetes.io/tls',
    data: { 'tls.crt': b64(cert.cert), 'tls.key': b64(cert.key) },
  });
  await cluster.apply({ yaml: `
apiVersion: route.openshift.io/v1
kind: Route
metadata: { name: secure, namespace: app }
spec:
  host: secure.apps.example.com
  to: { kind: Service, name: web }
  tls: { termination: edge, externalCertificate: { name: secure-tls } }
` });
  // The router serves the referenced Secret's certificate.
  const served = await eventually(async () => {
    const peer = await new Promise<tls.PeerCertificate>((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port: router.https, servername: 'secure.apps.example.com', rejectUnauthorized: false }, () => {
        resolve(socket.getPeerCertificate());
        socket.end();
      });
      socket.once('error', reject);
    });
    return peer.subjectaltname?.includes('secure.apps.example.com') ? peer : undefined;
  }, 20_000, 200);
  t.truthy(served);
  const secretCalls = routerRequests().filter((r) => r.resource === 'secrets');
  t.true(secretCalls.length > 0);
  for (const call of secretCalls) {
    t.regex(call.uri, /^\/api\/v1\/namespaces\/app\/secrets\?.*fieldSelector=metadata\.name=secure-tls,type=kubernetes\.io\/tls/, call.uri);
    t.true(call.verb === 'list' || call.verb === 'watch');
  }
  t.deepEqual(routerRequests().filter((r) => r.resource === 'pods'), [], 'no route reads autoport ports: Pods are never asked for');
});

test.serial('EndpointSlices made by the real controller: requests reach the pods, an unready or deleted pod leaves rotation', async (t) => {
  t.timeout(120_000);
  // Two pods with real echo servers, in a network namespace of this test (the API server
  // refuses loopback endpoints): the router connects to them over a veth pair.
  hosts = await createNetnsHosts(2);
  const [ip1, ip2] = hosts.addresses as [string, string];
  await hosts.startEcho(ip1, 8080);
  await hosts.startEcho(ip2, 8080);
  await cluster.apply({ yaml: `
apiVersion: v1
kind: Service
metadata: { name: pods, namespace: app }
spec:
  selector: { app: pods }
  ports: [{ name: http, port: 80, targetPort: 8080 }]
---
apiVersion: route.openshift.io/v1
kind: Route
metadata: { name: pods, namespace: app }
spec:
  host: pods.apps.example.com
  to: { kind: Service, name: pods }
` });
  await cluster.createPod({ namespace: 'app', name: 'pods-1', labels: { app: 'pods' }, ip: ip1, ready: true });
  await cluster.createPod({ namespace: 'app', name: 'pods-2', labels: { app: 'pods' }, ip: ip2, ready: true });
  const inRotation = (route: any): string[] => (route?.backends[0]?.endpoints ?? [])
    .filter((e: any) => e.acceptsNew).map((e: any) => `${e.address}:${e.port}`).sort();
  const untilRotation = (expected: string[]) => eventually(async () => {
    const route = await routeOf('pods.apps.example.com');
    return JSON.stringify(inRotation(route)) === JSON.stringify(expected) ? route : undefined;
  }, 30_000, 200);
  // Which pods answer `count` requests through the router (each answer names its pod's address).
  const answering = async (count: number, stopWhenBoth = false): Promise<Set<string>> => {
    const seen = new Set<string>();
    for (let i = 0; i < count && !(stopWhenBoth && seen.size === 2); i++) {
      const r = await request(router.http, { host: 'pods.apps.example.com', path: `/n/${i}` });
      t.is(r.status, 200, r.body);
      t.is(JSON.parse(r.body).url, `/n/${i}`);
      seen.add(String(r.headers['x-pod-address']));
    }
    return seen;
  };

  const both = await untilRotation([`${ip1}:8080`, `${ip2}:8080`].sort());
  t.deepEqual(both.backends[0].endpoints.map((e: any) => e.pod).sort(), ['app/pods-1', 'app/pods-2'], 'the slices the controller wrote name the pods');
  const slices = await cluster.must('GET', '/apis/discovery.k8s.io/v1/namespaces/app/endpointslices', undefined, { query: { labelSelector: 'kubernetes.io/service-name=pods' } });
  t.is(slices.items[0].metadata.labels['endpointslice.kubernetes.io/managed-by'], 'endpointslice-controller.k8s.io');
  // Random balancing: both pods answer long before 100 requests (a miss has odds 2^-99).
  t.deepEqual([...await answering(100, true)].sort(), [ip1, ip2].sort());

  // pods-1 turns unready: it leaves rotation, and every request reaches pods-2.
  await cluster.setPodReady('app', 'pods-1', false);
  await untilRotation([`${ip2}:8080`]);
  t.deepEqual([...await answering(20)], [ip2]);
  // Ready again: back in rotation.
  await cluster.setPodReady('app', 'pods-1', true);
  await untilRotation([`${ip1}:8080`, `${ip2}:8080`].sort());
  t.deepEqual([...await answering(100, true)].sort(), [ip1, ip2].sort());

  // pods-2 deleted (gracefully: with no kubelet to confirm, it stays Terminating and its
  // endpoint serving-but-terminating): no new requests reach it.
  await cluster.must('DELETE', '/api/v1/namespaces/app/pods/pods-2');
  await untilRotation([`${ip1}:8080`]);
  t.deepEqual([...await answering(20)], [ip1]);

  // `kubectl get routes` shows the route Admitted by this router.
  const get = await cluster.kubectl(['get', 'route', 'pods', '-n', 'app', '-o', 'wide']);
  t.is(get.code, 0, get.stderr);
  t.regex(get.stdout.trim().split('\n')[1]!, /^pods\s+pods\.apps\.example\.com\s+pods\s+None\s+True\s+\S+$/, get.stdout);
});

test.serial('a Middleware of a built-in plugin (compress) applies with no --plugin: the router reads Middlewares wherever their CRD is installed', async (t) => {
  t.timeout(120_000);
  // Before, Middlewares were watched only when --plugin loaded a plugin, so this route (no
  // --plugin on this router) answered 500 SY_MIDDLEWARE_INVALID: its Middleware was never read.
  hosts ??= await createNetnsHosts(2);
  const ip = hosts.addresses[0]!;
  await hosts.startEcho(ip, 8081);
  await cluster.apply({ yaml: `
apiVersion: v1
kind: Service
metadata: { name: zipped, namespace: app }
spec:
  selector: { app: zipped }
  ports: [{ name: http, port: 80, targetPort: 8081 }]
---
apiVersion: switchyard.io/v1alpha1
kind: Middleware
metadata: { name: gzip, namespace: app }
spec: { plugin: compress, config: { encodings: [gzip], minSize: 1 } }
---
apiVersion: route.openshift.io/v1
kind: Route
metadata: { name: zipped, namespace: app, annotations: { switchyard.io/middlewares: gzip } }
spec:
  host: zipped.apps.example.com
  to: { kind: Service, name: zipped }
` });
  await cluster.createPod({ namespace: 'app', name: 'zipped-1', labels: { app: 'zipped' }, ip, ready: true });
  const reply = await eventually(async () => {
    const r = await request(router.http, { host: 'zipped.apps.example.com', path: '/z', headers: { 'accept-encoding': 'gzip' } });
    return r.status === 200 ? r : undefined;
  }, 30_000, 200);
  t.truthy(reply, JSON.stringify(await routeOf('zipped.apps.example.com')));
  t.is(reply!.headers['content-encoding'], 'gzip');
  t.is(JSON.parse(gunzipSync(reply!.raw).toString()).url, '/z');
  // Its list and watch are in the audit log, and allowed by the shipped RBAC.
  const reads = routerRequests().filter((r) => r.resource === 'middlewares');
  t.true(reads.some((r) => r.verb === 'watch' && r.code === 200) || reads.some((r) => r.verb === 'list' && r.code === 200), JSON.stringify(reads));
});

test.serial('switchyard autoport under the example RBAC patches its own pod, and can do nothing else', async (t) => {
  await cluster.apply({ files: [path.join(MANIFESTS, 'examples/autoport/namespace.yaml'), path.join(MANIFESTS, 'examples/autoport/rbac.yaml')] });
  await cluster.createPod({ namespace: 'autoport-demo', name: 'demo-1', labels: { app: 'autoport-demo' }, ip: '198.51.100.21', ready: true, hostNetwork: true });
  const { token, kubeconfig } = await cluster.serviceAccountKubeconfig('autoport-demo', 'autoport-demo');
  const child = spawn(process.execPath, [CLI, 'autoport', '--count', '1', '--range', '30000-30100', '--bind-host', '127.0.0.1', '--', process.execPath, '-e', 'process.exit(0)'], {
    env: { ...process.env, KUBECONFIG: kubeconfig, POD_NAME: 'demo-1', POD_NAMESPACE: 'autoport-demo' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  t.is(code, 0, stderr);
  const pod = await cluster.must('GET', '/api/v1/namespaces/autoport-demo/pods/demo-1');
  const port = Number(pod.metadata.annotations.AUTO_PORT0);
  t.true(port >= 30000 && port < 30100);
  t.is(pod.metadata.labels['switchyard.io/autoport'], 'true');
  // Exactly the one call it needs, and allowed.
  const calls = cluster.auditEvents().filter((e) => e.user.username === AUTOPORT_USER && e.userAgent !== TEST_USER_AGENT && e.stage === 'ResponseComplete');
  t.deepEqual(calls.map((e) => [e.verb, e.objectRef?.resource, e.objectRef?.name, e.responseStatus?.code]), [['patch', 'pods', 'demo-1', 200]]);
  // Refused by the server: reading pods (the unused `get` is gone), anything in another namespace.
  t.false(await cluster.can(token, { verb: 'get', resource: 'pods', namespace: 'autoport-demo' }));
  t.is((await cluster.api('GET', '/api/v1/namespaces/autoport-demo/pods/demo-1', undefined, { token })).status, 403);
  t.false(await cluster.can(token, { verb: 'patch', resource: 'pods', namespace: 'app' }));

  // The router reads the pod's port once a route asks for it (and only then watches Pods).
  await cluster.apply({ yaml: `
apiVersion: v1
kind: Service
metadata: { name: autoport-demo, namespace: autoport-demo }
spec:
  clusterIP: None
  selector: { app: autoport-demo }
---
apiVersion: route.openshift.io/v1
kind: Route
metadata:
  name: autoport-demo
  namespace: autoport-demo
  annotations: { switchyard.io/target-port-annotation: AUTO_PORT0 }
spec:
  host: autoport.apps.example.com
  to: { kind: Service, name: autoport-demo }
` });
  const route = await eventually(async () => {
    const r = await routeOf('autoport.apps.example.com');
    return r?.backends[0]?.endpoints.length === 1 ? r : undefined;
  }, 30_000, 200);
  t.like(route.backends[0].endpoints[0], { address: '198.51.100.21', port });
  const podCalls = routerRequests().filter((r) => r.resource === 'pods');
  t.true(podCalls.length > 0);
  for (const call of podCalls) t.regex(call.uri, /labelSelector=switchyard\.io\/autoport/, call.uri);
});
