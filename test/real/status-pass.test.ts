// The status pass on a real kube-apiserver (issue 25), 1,000 Routes: a first leader writes each
// missing status with one PATCH and reads nothing; a new leader over statuses that are current
// makes no status request at all; and a leader whose writes API Priority and Fairness refuses
// (a FlowSchema that gives the router's status patches a few seats and rejects the rest) backs
// off and still writes every status. Routers are told apart in the audit log by the node their
// User-Agent names.

import test from 'ava';
import { fileURLToPath } from 'node:url';
import { eventually } from '../support/http-client.ts';
import { startRouter, type RouterProcess } from '../support/router-process.ts';
import { startRealCluster, TEST_USER_AGENT, type AuditEvent, type RealCluster } from '../support/real-apiserver.ts';

const MANIFESTS = fileURLToPath(new URL('../../manifests/', import.meta.url));
const ROUTER_USER = 'system:serviceaccount:switchyard:switchyard-router';
const ROUTES = 1000;

let cluster: RealCluster;
let kubeconfig: string;
const routers: RouterProcess[] = [];

test.before(async (t) => {
  t.timeout(300_000);
  cluster = await startRealCluster({ auditUsers: [ROUTER_USER] });
  await cluster.apply({ kustomization: MANIFESTS });
  await cluster.waitEstablished('routes.route.openshift.io');
  await cluster.apply({ yaml: `
apiVersion: v1
kind: Namespace
metadata: { name: app }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: app }
spec:
  ports: [{ name: http, port: 80, targetPort: 8080 }]
` });
  const names = Array.from({ length: ROUTES }, (_, i) => `r${i}`);
  for (let i = 0; i < names.length; i += 50) {
    await Promise.all(names.slice(i, i + 50).map((name) => cluster.must('POST', '/apis/route.openshift.io/v1/namespaces/app/routes', {
      apiVersion: 'route.openshift.io/v1', kind: 'Route', metadata: { name, namespace: 'app' },
      spec: { host: `${name}.apps.example.com`, to: { kind: 'Service', name: 'web' } },
    })));
  }
  ({ kubeconfig } = await cluster.serviceAccountKubeconfig('switchyard', 'switchyard-router'));
});

test.after.always(async () => {
  for (const router of routers) await router.stop();
  await cluster?.stop();
});

function start(node: string, canonicalHostname = 'router.apps.example.com'): Promise<RouterProcess> {
  return startRouter({
    args: ['--kubeconfig', kubeconfig, '--canonical-hostname', canonicalHostname,
      '--lease-duration', '4s', '--lease-renew-deadline', '3s', '--lease-retry-period', '500ms'],
    env: { POD_NAMESPACE: 'switchyard', ROUTER_LOG_LEVEL: 'info', NODE_NAME: node },
    timeoutMs: 120_000,
  }).then((router) => { routers.push(router); return router; });
}

/** Requests on routes/status by the router on `node`. */
function statusRequests(node: string): AuditEvent[] {
  return cluster.auditEvents().filter((e) => e.user.username === ROUTER_USER && e.userAgent !== TEST_USER_AGENT
    && e.userAgent?.endsWith(`; ${node})`) && e.stage === 'ResponseComplete'
    && e.objectRef?.resource === 'routes' && e.objectRef.subresource === 'status');
}

/** Routes whose status has our entry, admitted, with this canonical hostname. */
async function admittedCount(canonicalHostname: string): Promise<number> {
  const list = await cluster.must<any>('GET', '/apis/route.openshift.io/v1/namespaces/app/routes');
  return list.items.filter((r: any) => r.status?.ingress?.some((e: any) => e.routerName === 'default'
    && e.routerCanonicalHostname === canonicalHostname && e.conditions?.[0]?.status === 'True')).length;
}

function passOf(router: RouterProcess): Promise<Record<string, unknown>> {
  return router.waitForLog((l) => l.msg === 'status pass complete', 120_000);
}

test.serial('a first leader writes 1,000 missing statuses: one PATCH each, no GET', async (t) => {
  t.timeout(180_000);
  const a = await start('edge-a');
  const pass = await passOf(a);
  t.is(await admittedCount('router.apps.example.com'), ROUTES);
  t.log(`1,000 missing statuses written in ${pass.ms} ms (${JSON.stringify({ written: pass.written, read: pass.read, conflicts: pass.conflicts, refused: pass.refused })})`);
  const requests = statusRequests('edge-a');
  t.is(requests.filter((e) => e.verb === 'patch' && e.responseStatus?.code === 200).length, ROUTES);
  t.deepEqual(requests.filter((e) => e.verb !== 'patch').map((e) => e.verb), [], 'no GET per route');
  t.like(pass, { objects: ROUTES, written: ROUTES, read: 0 });
});

test.serial('a new leader over 1,000 current statuses makes no status request', async (t) => {
  t.timeout(180_000);
  const b = await start('edge-b');
  const a = routers.find((r) => r !== b)!;
  await a.stop(); // releases the Lease: b takes over at its next try
  const pass = await passOf(b);
  t.like(pass, { objects: ROUTES, written: 0, read: 0, conflicts: 0, refused: 0 });
  t.deepEqual(statusRequests('edge-b').map((e) => `${e.verb} ${e.objectRef?.name}`), []);
});

test.serial('refused by API Priority and Fairness (429), a leader backs off and still writes every status', async (t) => {
  t.timeout(240_000);
  // Two or three seats for the router's status patches, none borrowed; whatever does not fit is rejected.
  await cluster.apply({ yaml: `
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: PriorityLevelConfiguration
metadata: { name: switchyard-status-tight }
spec:
  type: Limited
  limited:
    nominalConcurrencyShares: 1
    lendablePercent: 0
    borrowingLimitPercent: 0
    limitResponse: { type: Reject }
---
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: FlowSchema
metadata: { name: switchyard-status-tight }
spec:
  priorityLevelConfiguration: { name: switchyard-status-tight }
  matchingPrecedence: 100
  distinguisherMethod: { type: ByUser }
  rules:
    - subjects: [{ kind: ServiceAccount, serviceAccount: { name: switchyard-router, namespace: switchyard } }]
      resourceRules: [{ verbs: [patch], apiGroups: [route.openshift.io], resources: [routes/status], namespaces: ['*'] }]
` });
  // A new canonical hostname: every entry must be written again, by the next leader.
  const c = await start('edge-c', 'router-c.apps.example.com');
  const b = routers.find((r) => r.logs.some((l) => l.msg === 'status pass complete') && r !== c && r.child.exitCode === null)!;
  await b.stop();
  const pass = await passOf(c);
  t.is(await admittedCount('router-c.apps.example.com'), ROUTES);
  const refused = statusRequests('edge-c').filter((e) => e.responseStatus?.code === 429).length;
  t.log(`${ROUTES} statuses rewritten in ${pass.ms} ms under APF; ${refused} PATCHes refused with 429`);
  t.true(refused > 0, 'the FlowSchema did refuse some writes');
  t.is(pass.refused, refused);
  t.is(pass.written, ROUTES);
});
