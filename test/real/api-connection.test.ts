// One router, one connection to a real kube-apiserver (issue 25): its lists (or streaming lists),
// watches, Lease and status writes all travel on one long-lived HTTP/2 connection, counted by a
// TCP proxy between the router and the server; every request carries the router's User-Agent,
// as the audit log shows. Cut, the connection is opened again once and everything carries on.

import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient } from '../../src/kube/client.ts';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCa, issueCertificate } from '../support/certs.ts';
import { eventually, request } from '../support/http-client.ts';
import { startRouter, type RouterProcess } from '../support/router-process.ts';
import { kubeconfigYaml } from '../support/real-apiserver-pki.ts';
import { startRealCluster, TEST_USER_AGENT, type AuditEvent, type RealCluster } from '../support/real-apiserver.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';

const MANIFESTS = fileURLToPath(new URL('../../manifests/', import.meta.url));
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const ROUTER_USER = 'system:serviceaccount:switchyard:switchyard-router';
const LEASE = '/apis/coordination.k8s.io/v1/namespaces/switchyard/leases/switchyard-default';

let cluster: RealCluster;
let proxy: TcpProxy;
let router: RouterProcess;

test.before(async (t) => {
  t.timeout(240_000);
  cluster = await startRealCluster({ auditUsers: [ROUTER_USER] });
  await cluster.apply({ kustomization: MANIFESTS });
  await cluster.waitEstablished('routes.route.openshift.io');
  const ca = await createCa();
  const cert = await issueCertificate(ca, ['shop.apps.example.com']);
  const b64 = (s: string) => Buffer.from(s).toString('base64');
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
  ports: [{ name: http, port: 80, targetPort: 8080 }]
---
apiVersion: v1
kind: Secret
metadata: { name: shop-tls, namespace: app }
type: kubernetes.io/tls
data: { tls.crt: ${b64(cert.cert)}, tls.key: ${b64(cert.key)} }
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: shop, namespace: app }
spec:
  ingressClassName: switchyard
  tls: [{ hosts: [shop.apps.example.com], secretName: shop-tls }]
  rules:
    - host: shop.apps.example.com
      http:
        paths: [{ path: /, pathType: Prefix, backend: { service: { name: web, port: { number: 80 } } } }]
` });
  const { token } = await cluster.serviceAccountKubeconfig('switchyard', 'switchyard-router');
  proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(cluster.server).port) });
  const kubeconfig = path.join(cluster.dir, 'through-proxy.kubeconfig');
  writeFileSync(kubeconfig, kubeconfigYaml(`https://127.0.0.1:${proxy.port}`, cluster.caCert, { token }), { mode: 0o600 });
  router = await startRouter({
    args: ['--kubeconfig', kubeconfig, '--canonical-hostname', 'router.apps.example.com',
      '--lease-duration', '4s', '--lease-renew-deadline', '3s', '--lease-retry-period', '500ms'],
    env: { POD_NAMESPACE: 'switchyard', ROUTER_LOG_LEVEL: 'info', NODE_NAME: 'edge-7' },
    timeoutMs: 60_000,
  });
});

test.after.always(async () => {
  await router?.stop();
  await proxy?.close();
  await cluster?.stop();
});

function routerEvents(): AuditEvent[] {
  return cluster.auditEvents().filter((e) => e.user.username === ROUTER_USER && e.userAgent !== TEST_USER_AGENT && e.stage !== 'RequestReceived');
}

function resourceOf(e: AuditEvent): string {
  const ref = e.objectRef;
  return ref?.subresource ? `${ref.resource}/${ref.subresource}` : ref?.resource ?? '';
}

function edgeRoute(name: string): string {
  return `
apiVersion: route.openshift.io/v1
kind: Route
metadata: { name: ${name}, namespace: app }
spec:
  host: ${name}.apps.example.com
  to: { kind: Service, name: web }
  tls: { termination: edge, insecureEdgeTerminationPolicy: Redirect }
`;
}

async function admitted(name: string): Promise<boolean> {
  const route = await cluster.must<any>('GET', `/apis/route.openshift.io/v1/namespaces/app/routes/${name}`);
  return route.status?.ingress?.some((e: any) => e.routerName === 'default' && e.conditions?.[0]?.status === 'True') ?? false;
}

/** Lease writes by the router so far (each acquire or renew is one). */
function leaseWrites(): number {
  return routerEvents().filter((e) => e.objectRef?.resource === 'leases' && (e.verb === 'update' || e.verb === 'create' || e.verb === 'patch') && e.stage === 'ResponseComplete').length;
}

test.serial('lists, watches, the Lease and status writes share one connection', async (t) => {
  await cluster.apply({ yaml: edgeRoute('web') });
  t.true(await eventually(() => admitted('web'), 30_000, 100));
  t.true(await eventually(async () => (await cluster.must<any>('GET', '/apis/networking.k8s.io/v1/namespaces/app/ingresses/shop')).status?.loadBalancer?.ingress?.length > 0, 30_000, 100));
  // Several Lease renewals more (events, not time): an idle router's connection stays the one.
  const renewed = leaseWrites() + 6;
  t.true(await eventually(() => leaseWrites() >= renewed, 30_000, 100));

  const events = routerEvents();
  const used = new Set(events.map((e) => `${e.verb} ${resourceOf(e)}`));
  for (const call of ['watch routes', 'watch services', 'watch endpointslices', 'watch ingresses', 'watch secrets', 'patch routes/status', 'patch ingresses/status']) {
    t.true(used.has(call), `${call} in ${[...used].join(', ')}`);
  }
  t.true([...used].some((u) => u.endsWith(' leases')), 'the Lease');
  // Watches are held open at the same time on that one connection: HTTP/2 streams.
  t.true(events.filter((e) => e.verb === 'watch' && e.stage === 'ResponseStarted').length >= 6);
  t.is(proxy.connections(), 1, 'one TCP (TLS) connection to the API server for everything');
  t.is(proxy.open(), 1);
  const metrics = (await request(router.admin, { path: '/metrics' })).body;
  t.regex(metrics, /^switchyard_kube_connections_total 1$/m);
});

test.serial('every request carries the User-Agent switchyard/<version> (<router name>; <node>)', (t) => {
  const agents = new Set(routerEvents().map((e) => e.userAgent));
  t.deepEqual([...agents], [`switchyard/${VERSION} (default; edge-7)`]);
});

test.serial('a cut connection is opened again once, and watches, Lease and status carry on over it', async (t) => {
  const before = proxy.connections();
  proxy.dropAll();
  await cluster.apply({ yaml: edgeRoute('after-cut') });
  t.true(await eventually(() => admitted('after-cut'), 30_000, 100));
  const served = await eventually(async () => {
    const reply = await request(router.http, { host: 'after-cut.apps.example.com', path: '/' });
    return reply.status === 302 ? reply : undefined;
  }, 30_000, 100);
  t.is(served?.headers['location'], 'https://after-cut.apps.example.com/');
  const lease = await cluster.must<any>('GET', LEASE);
  t.truthy(lease.spec.holderIdentity);
  t.is(proxy.connections(), before + 1);
  t.is(proxy.open(), 1);
});

test.serial('past the server\'s 100 streams a connection, another opens; emptied, it closes again', async (t) => {
  // The client itself (src/kube/client.ts), as the admin, through a proxy of its own.
  const own = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(cluster.server).port) });
  t.teardown(() => own.close());
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(readFileSync(cluster.adminKubeconfig, 'utf8').replace(cluster.server, `https://127.0.0.1:${own.port}`));
  const client = new KubeClient(kubeConfig);
  t.teardown(() => client.close());
  const watches = await Promise.all(Array.from({ length: 250 }, () => client.stream('/api/v1/namespaces/app/configmaps', { watch: 'true' })));
  t.is(own.connections(), 3);
  for (const watch of watches) watch.close();
  // One more request, once the closed streams have released their connections: on the first one.
  await eventually(() => own.open() === 1, 10_000, 20);
  await client.request({ method: 'GET', path: '/api/v1/namespaces/app/configmaps' });
  t.is(own.connections(), 3);
  t.is(own.open(), 1);
});
