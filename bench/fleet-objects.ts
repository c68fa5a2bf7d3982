// The objects of the fleet benchmark on the real API server: R Routes, each with its Service and
// an EndpointSlice of 3 endpoints, and one ServiceAccount per router bound to the shipped RBAC, so
// that the audit log tells the routers apart whatever build they run. The Routes are edge routes
// with insecureEdgeTerminationPolicy Redirect, so a router answers their plain-HTTP requests
// itself; the endpoints are 3 pods in a network namespace of the benchmark's own
// (test/support/netns-hosts.ts), one port for all, so the routers' TCP health checks (a router
// checks backends of more than one endpoint) are 3 targets that never leave the machine.

import type { RealCluster } from '../test/support/real-apiserver.ts';

const NAMESPACE = 'app';
/** The pods' port (their echo servers listen on it). */
export const POD_PORT = 8080;

export function routeHost(i: number, version = 0): string {
  return version === 0 ? `r${i}.apps.example.com` : `r${i}-v${version}.apps.example.com`;
}

/** Run `work` for each index, `concurrency` at a time. */
async function each(count: number, concurrency: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) await work(next++);
  }));
}

export async function createRouteObjects(cluster: RealCluster, routes: number, podAddresses: readonly string[]): Promise<void> {
  await cluster.apply({ yaml: `apiVersion: v1\nkind: Namespace\nmetadata: { name: ${NAMESPACE} }\n` });
  await each(routes, 48, async (i) => {
    const name = `s${i}`;
    await cluster.must('POST', `/api/v1/namespaces/${NAMESPACE}/services`, {
      apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: NAMESPACE },
      // Headless: the router reads only the Service's ports, and a test cluster's service range is a /24.
      spec: { clusterIP: 'None', ports: [{ name: 'http', port: 80, targetPort: POD_PORT }] },
    });
    await cluster.must('POST', `/apis/discovery.k8s.io/v1/namespaces/${NAMESPACE}/endpointslices`, {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { name: `${name}-1`, namespace: NAMESPACE, labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4', ports: [{ name: 'http', port: POD_PORT, protocol: 'TCP' }],
      endpoints: podAddresses.map((address) => ({ addresses: [address], conditions: { ready: true } })),
    });
    await cluster.must('POST', `/apis/route.openshift.io/v1/namespaces/${NAMESPACE}/routes`, {
      apiVersion: 'route.openshift.io/v1', kind: 'Route', metadata: { name: `r${i}`, namespace: NAMESPACE },
      spec: { host: routeHost(i), to: { kind: 'Service', name }, tls: { termination: 'edge', insecureEdgeTerminationPolicy: 'Redirect' } },
    });
  });
}

/** Every Route's status emptied: the next routers deploy as for the first time. */
export async function clearRouteStatus(cluster: RealCluster, routes: number): Promise<void> {
  await each(routes, 48, async (i) => {
    await cluster.must('PATCH', `/apis/route.openshift.io/v1/namespaces/${NAMESPACE}/routes/r${i}/status`,
      { status: { ingress: null } }, { contentType: 'application/merge-patch+json' });
  });
}

/** Routes whose status holds an admitted entry of router `default`. */
export async function admittedRoutes(cluster: RealCluster): Promise<number> {
  let count = 0;
  let continueToken = '';
  do {
    const page = await cluster.must<any>('GET', `/apis/route.openshift.io/v1/namespaces/${NAMESPACE}/routes`, undefined,
      { query: { limit: '2000', ...(continueToken ? { continue: continueToken } : {}) } });
    for (const route of page.items) {
      if (route.status?.ingress?.some((e: any) => e.routerName === 'default' && e.conditions?.[0]?.status === 'True')) count++;
    }
    continueToken = page.metadata?.continue ?? '';
  } while (continueToken);
  return count;
}

/** Whether routes r0..r(count-1) carry router `default`'s entry for the host their spec names now. */
export async function statusesCurrent(cluster: RealCluster, count: number): Promise<boolean> {
  for (let i = 0; i < count; i++) {
    const route = await cluster.must<any>('GET', `/apis/route.openshift.io/v1/namespaces/${NAMESPACE}/routes/r${i}`);
    if (!route.status?.ingress?.some((e: any) => e.routerName === 'default' && e.host === route.spec.host)) return false;
  }
  return true;
}

export async function setRouteHost(cluster: RealCluster, i: number, version: number): Promise<void> {
  await cluster.must('PATCH', `/apis/route.openshift.io/v1/namespaces/${NAMESPACE}/routes/r${i}`,
    { spec: { host: routeHost(i, version) } }, { contentType: 'application/merge-patch+json' });
}

/** ServiceAccounts fleet-0..n-1 in the router's namespace, each bound as switchyard-router is. */
export async function routerAccounts(cluster: RealCluster, count: number): Promise<string[]> {
  const names = Array.from({ length: count }, (_, i) => `fleet-${i}`);
  for (const name of names) {
    await cluster.must('POST', '/api/v1/namespaces/switchyard/serviceaccounts', { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: 'switchyard' } });
  }
  const subjects = names.map((name) => ({ kind: 'ServiceAccount', name, namespace: 'switchyard' }));
  await cluster.must('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'switchyard-fleet' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'switchyard-router' }, subjects,
  });
  await cluster.must('POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/switchyard/rolebindings', {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'switchyard-fleet', namespace: 'switchyard' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'switchyard-router-leader-election' }, subjects,
  });
  return names;
}
