// Two routers of different names (the default router and a shard, each with its own Lease and so
// each a status writer) serving one Ingress, on a real API server under manifests/base RBAC:
// status.loadBalancer.ingress holds both routers' addresses, and a router that stops serving the
// Ingress takes out its own address only (issue 21, defect 1: each replaced the whole list).

import test from 'ava';
import { fileURLToPath } from 'node:url';
import { eventually } from '../support/http-client.ts';
import { startRouter, type RouterProcess } from '../support/router-process.ts';
import { startRealCluster, type RealCluster } from '../support/real-apiserver.ts';

const MANIFESTS = fileURLToPath(new URL('../../manifests/', import.meta.url));
const INGRESS = '/apis/networking.k8s.io/v1/namespaces/app/ingresses/shop';

let cluster: RealCluster;
const routers: RouterProcess[] = [];

test.before(async (t) => {
  t.timeout(240_000);
  cluster = await startRealCluster();
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
  ports: [{ name: http, port: 80, targetPort: 8080 }]
` });
  // `default` serves everything; `shard-b` only what is labelled shard=b (ROUTE_LABELS).
  for (const [name, labels] of [['default', ''], ['shard-b', 'shard=b']] as const) {
    const { kubeconfig } = await cluster.serviceAccountKubeconfig('switchyard', 'switchyard-router');
    routers.push(await startRouter({
      args: ['--kubeconfig', kubeconfig, '--router-name', name, '--canonical-hostname', `${name}.apps.example.com`,
        '--lease-duration', '4s', '--lease-renew-deadline', '3s', '--lease-retry-period', '500ms'],
      env: { POD_NAMESPACE: 'switchyard', ROUTER_LOG_LEVEL: 'info', ROUTE_LABELS: labels },
      timeoutMs: 60_000,
    }));
  }
});

test.after.always(async () => {
  for (const router of routers) await router.stop();
  await cluster?.stop();
});

function ingressYaml(labels: string): string {
  return `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: shop, namespace: app, labels: { ${labels} } }
spec:
  ingressClassName: switchyard
  rules:
    - host: shop.apps.example.com
      http:
        paths: [{ path: /, pathType: Prefix, backend: { service: { name: web, port: { number: 80 } } } }]
`;
}

async function published(): Promise<string[]> {
  const ingress = await cluster.must<any>('GET', INGRESS);
  return (ingress.status?.loadBalancer?.ingress ?? []).map((e: { hostname?: string; ip?: string }) => e.hostname ?? e.ip).sort();
}

async function waitFor(expected: string[]): Promise<string[]> {
  const want = JSON.stringify(expected);
  let last: string[] = [];
  try {
    return (await eventually<string[] | null>(async () => {
      last = await published();
      return JSON.stringify(last) === want ? last : null;
    }, 30_000, 100))!;
  } catch {
    return last; // the assertion shows what was there instead
  }
}

test.serial('both routers\' addresses are published; each router owns only its own', async (t) => {
  await cluster.apply({ yaml: ingressYaml('shard: b') });
  t.deepEqual(await waitFor(['default.apps.example.com', 'shard-b.apps.example.com']), ['default.apps.example.com', 'shard-b.apps.example.com']);

  // An address another controller wrote stays through both routers' writes.
  const current = await cluster.must<any>('GET', INGRESS);
  await cluster.must('PATCH', `${INGRESS}/status`, {
    metadata: { resourceVersion: current.metadata.resourceVersion },
    status: { loadBalancer: { ingress: [...current.status.loadBalancer.ingress, { ip: '192.0.2.99' }] } },
  }, { contentType: 'application/merge-patch+json' });

  // Out of the shard: shard-b takes out its address; default's and the other one stay.
  await cluster.apply({ yaml: ingressYaml('shard: a') });
  t.deepEqual(await waitFor(['192.0.2.99', 'default.apps.example.com']), ['192.0.2.99', 'default.apps.example.com']);

  // Back in: shard-b adds its own again, next to the others.
  await cluster.apply({ yaml: ingressYaml('shard: b') });
  t.deepEqual(await waitFor(['192.0.2.99', 'default.apps.example.com', 'shard-b.apps.example.com']),
    ['192.0.2.99', 'default.apps.example.com', 'shard-b.apps.example.com']);
});
