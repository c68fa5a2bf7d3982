// The Gateway API against a real kube-apiserver: the upstream Standard-channel CRDs of the
// pinned release (sigs.k8s.io/gateway-api, see test/support/gateway-crds.ts) are installed,
// the router runs with the switchyard-router ServiceAccount and nothing but the RBAC of
// manifests/base, and a GatewayClass, Gateway, HTTPRoutes and a GRPCRoute applied with kubectl are
// served and get their status from the router — accepted by the CRDs' own schema on the way.
//
// Endpoint IPs are in 198.51.100.0/24 (the API server refuses loopback endpoints): the table
// shows them and no test connects to them; a RequestRedirect rule shows requests are served.

import test from 'ava';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually, request } from '../support/http-client.ts';
import { gatewayCrdFiles } from '../support/gateway-crds.ts';
import { freePort } from '../support/ports.ts';
import { startRouter, type RouterProcess } from '../support/router-process.ts';
import { startRealCluster, type RealCluster } from '../support/real-apiserver.ts';
import { echoClient, grpc } from '../support/grpc.ts';

const MANIFESTS = fileURLToPath(new URL('../../manifests/', import.meta.url));
const ROUTER_USER = 'system:serviceaccount:switchyard:switchyard-router';
const GW = 'gateway.networking.k8s.io';

let cluster: RealCluster;
let router: RouterProcess;
let httpPort: number;
let httpsPort: number;

test.before(async (t) => {
  t.timeout(300_000);
  const crds = gatewayCrdFiles();
  cluster = await startRealCluster({ auditUsers: [ROUTER_USER] });
  // The Route CRD and the router's namespace, ServiceAccount and RBAC exactly as deployed
  // (manifests/ without the DaemonSet, which this cluster's Pod policy would refuse).
  await cluster.apply({ kustomization: `${MANIFESTS}crd` });
  await cluster.apply({ files: ['namespace', 'service-account', 'cluster-role', 'cluster-role-binding', 'role', 'role-binding'].map((f) => `${MANIFESTS}base/${f}.yaml`) });
  // ListenerSets too (Standard channel since v1.5), from the same release.
  await cluster.apply({ files: [...crds, path.join(path.dirname(crds[0]!), `${GW}_listenersets.yaml`)] });
  const wait = await cluster.kubectl(['wait', '--for=condition=Established', '--timeout=60s',
    'crd/routes.route.openshift.io', ...['gatewayclasses', 'gateways', 'httproutes', 'grpcroutes', 'tlsroutes', 'referencegrants', 'listenersets'].map((p) => `crd/${p}.${GW}`)]);
  if (wait.code !== 0) throw new Error(wait.stderr);
  httpPort = await freePort();
  httpsPort = await freePort();
  await cluster.apply({ yaml: `
apiVersion: v1
kind: Namespace
metadata: { name: shop }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec: { ports: [{ name: http, port: 80, targetPort: 8080 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: web-1, namespace: shop, labels: { kubernetes.io/service-name: web } }
addressType: IPv4
ports: [{ name: http, port: 8080 }]
endpoints: [{ addresses: ["198.51.100.20"], conditions: { ready: true } }]
---
apiVersion: ${GW}/v1
kind: GatewayClass
metadata: { name: switchyard }
spec: { controllerName: switchyard.io/gateway-controller }
---
apiVersion: ${GW}/v1
kind: Gateway
metadata: { name: edge, namespace: shop }
spec:
  gatewayClassName: switchyard
  listeners:
    - { name: http, protocol: HTTP, port: ${httpPort} }
    - { name: elsewhere, protocol: HTTP, port: 1, hostname: elsewhere.example.com }
    - { name: tls, protocol: TLS, port: ${httpsPort}, hostname: db.example.com, tls: { mode: Passthrough } }
---
apiVersion: ${GW}/v1
kind: TLSRoute
metadata: { name: db, namespace: shop }
spec:
  parentRefs: [{ name: edge, sectionName: tls }]
  hostnames: [db.example.com]
  rules: [{ backendRefs: [{ name: web, port: 80 }] }]
---
apiVersion: ${GW}/v1
kind: HTTPRoute
metadata: { name: web, namespace: shop }
spec:
  parentRefs: [{ name: edge, sectionName: http }]
  hostnames: [shop.example.com]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /old } }]
      filters: [{ type: RequestRedirect, requestRedirect: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /new }, statusCode: 301 } }]
    - backendRefs: [{ name: web, port: 80 }]
---
apiVersion: ${GW}/v1
kind: HTTPRoute
metadata: { name: missing, namespace: shop }
spec:
  parentRefs: [{ name: edge, sectionName: http }]
  hostnames: [missing.example.com]
  rules: [{ backendRefs: [{ name: nope, port: 80 }] }]
---
apiVersion: ${GW}/v1
kind: GRPCRoute
metadata: { name: rpc, namespace: shop }
spec:
  parentRefs: [{ name: edge, sectionName: http }]
  hostnames: [rpc.example.com]
  rules:
    - matches: [{ method: { service: shop.Orders, method: Place } }, { method: { type: RegularExpression, service: 'shop\\.Admin.*' }, headers: [{ name: x-team, value: ops }] }]
      backendRefs: [{ name: nope, port: 80 }]
` });
  const { kubeconfig } = await cluster.serviceAccountKubeconfig('switchyard', 'switchyard-router');
  router = await startRouter({
    args: ['--kubeconfig', kubeconfig, '--http-port', String(httpPort), '--https-port', String(httpsPort), '--publish-status-address', '127.0.0.1',
      '--lease-duration', '4s', '--lease-renew-deadline', '3s', '--lease-retry-period', '500ms'],
    env: { POD_NAMESPACE: 'switchyard', ROUTER_LOG_LEVEL: 'info' },
    timeoutMs: 60_000,
  });
});

test.after.always(async () => {
  await router?.stop();
  await cluster?.stop();
});

async function get(path: string): Promise<any> {
  return cluster.must('GET', path);
}

test.serial('the router serves the HTTPRoute from the table (redirect answered, endpoints of the Service listed)', async (t) => {
  const redirected = await eventually(async () => {
    const reply = await request(httpPort, { host: 'shop.example.com', path: '/old/page' });
    return reply.status === 301 ? reply : undefined;
  }, 20_000);
  t.is(redirected!.headers.location, `http://shop.example.com:${httpPort}/new/page`);
  const debug = (await request(router.admin, { path: '/debug/routes' })).json<any>();
  const entry = debug.hosts.find((h: any) => h.host === 'shop.example.com');
  const backendRule = entry.routes.find((r: any) => r.key === 'HTTPRoute/shop/web/1/0@shop.example.com');
  t.deepEqual(backendRule.backends[0].endpoints.map((e: any) => `${e.address}:${e.port}`), ['198.51.100.20:8080']);
});

test.serial('status written by the router through the CRDs\' status subresources, under its own RBAC', async (t) => {
  const path = {
    gatewayClass: `/apis/${GW}/v1/gatewayclasses/switchyard`,
    gateway: `/apis/${GW}/v1/namespaces/shop/gateways/edge`,
    route: `/apis/${GW}/v1/namespaces/shop/httproutes/web`,
    missing: `/apis/${GW}/v1/namespaces/shop/httproutes/missing`,
  };
  const done = async () => {
    const [c, g, r, m] = await Promise.all([get(path.gatewayClass), get(path.gateway), get(path.route), get(path.missing)]);
    return c.status?.conditions?.some((x: any) => x.type === 'Accepted' && x.status === 'True')
      && g.status?.listeners?.length === 3 && r.status?.parents?.length === 1 && m.status?.parents?.length === 1;
  };
  t.true(await eventually(done, 30_000));
  const gatewayClass = await get(path.gatewayClass);
  t.like(gatewayClass.status.conditions.find((c: any) => c.type === 'Accepted'), { status: 'True', reason: 'Accepted', observedGeneration: gatewayClass.metadata.generation });
  const gateway = await get(path.gateway);
  t.deepEqual(gateway.status.addresses, [{ type: 'IPAddress', value: '127.0.0.1' }]);
  t.like(gateway.status.conditions.find((c: any) => c.type === 'Accepted'), { status: 'True', reason: 'ListenersNotValid' });
  t.like(gateway.status.conditions.find((c: any) => c.type === 'Programmed'), { status: 'True' });
  const listener = (name: string) => gateway.status.listeners.find((l: any) => l.name === name);
  t.is(listener('http').attachedRoutes, 3);
  t.like(listener('http').conditions.find((c: any) => c.type === 'Programmed'), { status: 'True' });
  t.like(listener('elsewhere').conditions.find((c: any) => c.type === 'Accepted'), { status: 'False', reason: 'PortUnavailable' });
  const route = await get(path.route);
  const parent = route.status.parents[0];
  t.is(parent.controllerName, 'switchyard.io/gateway-controller');
  t.like(parent.conditions.find((c: any) => c.type === 'Accepted'), { status: 'True', observedGeneration: route.metadata.generation });
  t.like(parent.conditions.find((c: any) => c.type === 'ResolvedRefs'), { status: 'True' });
  const missing = await get(path.missing);
  t.like(missing.status.parents[0].conditions.find((c: any) => c.type === 'ResolvedRefs'), { status: 'False', reason: 'BackendNotFound' });
  t.is((await request(httpPort, { host: 'missing.example.com', path: '/' })).status, 500);
  // Every Gateway API call the router made was allowed by manifests/base.
  const denied = cluster.auditEvents().filter((e) => e.user.username === ROUTER_USER && (e.objectRef?.apiGroup === GW) && (e.responseStatus?.code ?? 0) === 403);
  t.deepEqual(denied.map((e) => e.requestURI), []);
});

test.serial('a GRPCRoute: served over h2c (a gRPC status for each call), its status written under the RBAC of manifests/base', async (t) => {
  const client = echoClient(httpPort, 'rpc.example.com');
  try {
    const place = (path: string, metadata: Record<string, string> = {}) => new Promise<grpc.ServiceError | null>((resolve) => {
      const md = new grpc.Metadata();
      for (const [k, v] of Object.entries(metadata)) md.set(k, v);
      const id = (b: Buffer): Buffer => b;
      client.makeUnaryRequest(path, id, id, Buffer.from('x'), md, {}, (err) => resolve(err));
    });
    // The rule's Service does not exist: UNAVAILABLE; what no rule matches: UNIMPLEMENTED.
    t.true(await eventually(async () => (await place('/shop.Orders/Place'))?.code === grpc.status.UNAVAILABLE, 20_000));
    t.is((await place('/shop.AdminTools/Reset', { 'x-team': 'ops' }))?.code, grpc.status.UNAVAILABLE);
    t.is((await place('/shop.AdminTools/Reset'))?.code, grpc.status.UNIMPLEMENTED);
    t.is((await place('/shop.Orders/Cancel'))?.code, grpc.status.UNIMPLEMENTED);
  } finally {
    client.close();
  }
  const path = `/apis/${GW}/v1/namespaces/shop/grpcroutes/rpc`;
  t.true(await eventually(async () => (await get(path)).status?.parents?.length === 1, 30_000));
  const route = await get(path);
  const parent = route.status.parents[0];
  t.is(parent.controllerName, 'switchyard.io/gateway-controller');
  t.like(parent.conditions.find((c: any) => c.type === 'Accepted'), { status: 'True', observedGeneration: route.metadata.generation });
  t.like(parent.conditions.find((c: any) => c.type === 'ResolvedRefs'), { status: 'False', reason: 'BackendNotFound' });
  const gateway = await get(`/apis/${GW}/v1/namespaces/shop/gateways/edge`);
  const http = gateway.status.listeners.find((l: any) => l.name === 'http');
  t.deepEqual(http.supportedKinds.map((k: any) => k.kind), ['HTTPRoute', 'GRPCRoute']);
  t.is(http.attachedRoutes, 3);
  const denied = cluster.auditEvents().filter((e) => e.user.username === ROUTER_USER && (e.objectRef?.apiGroup === GW) && (e.responseStatus?.code ?? 0) === 403);
  t.deepEqual(denied.map((e) => e.requestURI), []);
});

test.serial('a TLSRoute: read from its CRD, its stream in the table, its status written under the RBAC of manifests/base', async (t) => {
  const path = `/apis/${GW}/v1/namespaces/shop/tlsroutes/db`;
  t.true(await eventually(async () => (await get(path)).status?.parents?.length === 1, 30_000));
  const route = await get(path);
  const parent = route.status.parents[0];
  t.like(parent.conditions.find((c: any) => c.type === 'Accepted'), { status: 'True', observedGeneration: route.metadata.generation });
  t.like(parent.conditions.find((c: any) => c.type === 'ResolvedRefs'), { status: 'True' });
  const gateway = await get(`/apis/${GW}/v1/namespaces/shop/gateways/edge`);
  const listener = gateway.status.listeners.find((l: any) => l.name === 'tls');
  t.deepEqual(listener.supportedKinds.map((k: any) => k.kind), ['TLSRoute']);
  t.is(listener.attachedRoutes, 1);
  const debug = (await request(router.admin, { path: '/debug/routes' })).json<any>();
  const entry = debug.hosts.find((h: any) => h.host === 'db.example.com');
  t.deepEqual(entry.routes.map((r: any) => r.key), ['TLSRoute/shop/db/0/passthrough@db.example.com']);
  const denied = cluster.auditEvents().filter((e) => e.user.username === ROUTER_USER && (e.objectRef?.apiGroup === GW) && (e.responseStatus?.code ?? 0) === 403);
  t.deepEqual(denied.map((e) => e.requestURI), []);
});

test.serial('an edit through the API moves the route (watch), and status follows the new generation', async (t) => {
  await cluster.must('PATCH', `/apis/${GW}/v1/namespaces/shop/httproutes/web`, { spec: { hostnames: ['moved.example.com'] } }, { contentType: 'application/merge-patch+json' });
  t.true(await eventually(async () => (await request(httpPort, { host: 'moved.example.com', path: '/old/x' })).status === 301, 20_000));
  t.is((await request(httpPort, { host: 'shop.example.com', path: '/old/x' })).status, 404);
  t.true(await eventually(async () => {
    const route = await get(`/apis/${GW}/v1/namespaces/shop/httproutes/web`);
    return route.status.parents[0].conditions.every((c: any) => c.observedGeneration === route.metadata.generation);
  }, 20_000));
});

test.serial('a Gateway\'s client-certificate CA ConfigMap is read by name under manifests/base (no pool: the listener is refused, not served unchecked)', async (t) => {
  await cluster.apply({ yaml: `
apiVersion: v1
kind: ConfigMap
metadata: { name: client-ca, namespace: shop }
data: { ca.crt: "not read for its content here" }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: unrelated, namespace: shop }
data: { key: value }
---
apiVersion: ${GW}/v1
kind: Gateway
metadata: { name: mtls, namespace: shop }
spec:
  gatewayClassName: switchyard
  tls: { frontend: { default: { validation: { caCertificateRefs: [{ group: "", kind: ConfigMap, name: client-ca }] } } } }
  listeners:
    - { name: https, protocol: HTTPS, port: ${httpsPort}, hostname: secure.example.com, tls: { certificateRefs: [{ name: nope }] } }
` });
  const path = `/apis/${GW}/v1/namespaces/shop/gateways/mtls`;
  const listener = async () => (await get(path)).status?.listeners?.[0];
  t.true(await eventually(async () => (await listener())?.conditions?.some((c: any) => c.type === 'Accepted' && c.reason === 'UnsupportedValue'), 30_000));
  const reads = () => cluster.auditEvents().filter((e) => e.user.username === ROUTER_USER && e.objectRef?.resource === 'configmaps');
  t.true(await eventually(() => reads().some((e) => (e.responseStatus?.code ?? 0) === 200), 30_000));
  for (const e of reads()) {
    t.regex(e.requestURI, /^\/api\/v1\/namespaces\/shop\/configmaps\?.*fieldSelector=metadata\.name(=|%3D)client-ca/, e.requestURI);
    t.not(e.responseStatus?.code, 403, e.requestURI);
  }
  await cluster.must('DELETE', path);
});

test.serial('a ListenerSet\'s status: written while it attaches to a Gateway of ours, taken out when its parentRef moves away or its Gateway goes', async (t) => {
  await cluster.apply({ yaml: `
apiVersion: ${GW}/v1
kind: GatewayClass
metadata: { name: someone-else }
spec: { controllerName: example.com/other-controller }
---
apiVersion: ${GW}/v1
kind: Gateway
metadata: { name: foreign, namespace: shop }
spec: { gatewayClassName: someone-else, listeners: [{ name: http, protocol: HTTP, port: 80 }] }
---
apiVersion: ${GW}/v1
kind: Gateway
metadata: { name: sets, namespace: shop }
spec:
  gatewayClassName: switchyard
  allowedListeners: { namespaces: { from: Same } }
  listeners: [{ name: http, protocol: HTTP, port: ${httpPort}, hostname: sets.example.com }]
---
apiVersion: ${GW}/v1
kind: ListenerSet
metadata: { name: extra, namespace: shop }
spec:
  parentRef: { name: sets }
  listeners: [{ name: web, protocol: HTTP, port: ${httpPort}, hostname: extra.example.com }]
` });
  const setPath = `/apis/${GW}/v1/namespaces/shop/listenersets/extra`;
  const status = async () => (await get(setPath)).status ?? {};
  const condition = (s: any, type: string) => s.conditions?.find((c: any) => c.type === type);
  const patch = (p: string, body: unknown) => cluster.must('PATCH', p, body, { contentType: 'application/merge-patch+json' });
  const attached = async () => {
    const s = await status();
    return condition(s, 'Accepted')?.status === 'True' && condition(s, 'Programmed')?.status === 'True' && s.listeners?.length === 1;
  };
  const takenOut = async () => {
    const s = await status();
    return (s.conditions ?? []).length === 0 && (s.listeners ?? []).length === 0;
  };
  t.true(await eventually(attached, 30_000));
  t.like((await status()).listeners[0], { name: 'web', attachedRoutes: 0 });

  // allowedListeners stops admitting it: still its Gateway's controller's to report — NotAllowed, no listener statuses.
  await patch(`/apis/${GW}/v1/namespaces/shop/gateways/sets`, { spec: { allowedListeners: { namespaces: { from: 'None' } } } });
  t.true(await eventually(async () => {
    const s = await status();
    return condition(s, 'Accepted')?.reason === 'NotAllowed' && (s.listeners ?? []).length === 0;
  }, 30_000));
  await patch(`/apis/${GW}/v1/namespaces/shop/gateways/sets`, { spec: { allowedListeners: { namespaces: { from: 'Same' } } } });
  t.true(await eventually(attached, 30_000));

  // Its parentRef names a Gateway of another controller: what we wrote is taken out.
  await patch(setPath, { spec: { parentRef: { name: 'foreign' } } });
  t.true(await eventually(takenOut, 30_000));

  // Back to ours, then that Gateway is deleted: taken out again.
  await patch(setPath, { spec: { parentRef: { name: 'sets' } } });
  t.true(await eventually(attached, 30_000));
  await cluster.must('DELETE', `/apis/${GW}/v1/namespaces/shop/gateways/sets`);
  t.true(await eventually(takenOut, 30_000));
  const denied = cluster.auditEvents().filter((e) => e.user.username === ROUTER_USER && (e.objectRef?.apiGroup === GW) && (e.responseStatus?.code ?? 0) === 403);
  t.deepEqual(denied.map((e) => e.requestURI), []);
  await cluster.must('DELETE', setPath);
  await cluster.must('DELETE', `/apis/${GW}/v1/namespaces/shop/gateways/foreign`);
});
