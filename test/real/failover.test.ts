// Leadership and faults against a real control plane: two routers of one name share a Lease, only
// the holder writes status, and the other takes over when the holder is killed; kube-apiserver
// killed for 20 s under a steady request loop loses no request and the changes made meanwhile
// are applied after; etcd compaction forcing 410 Gone on the router's watches makes it re-list
// without dropping a route. The tests run in order and share one cluster and router pair.
//
// Traffic goes to the routers only (127.0.0.1): the routes are edge routes whose plain-HTTP
// requests the router answers itself with a redirect, so a route is served exactly when its
// redirect comes back (an unknown host gets 503 instead).

import test from 'ava';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { eventually, request } from '../support/http-client.ts';
import { startRouter, type RouterProcess } from '../support/router-process.ts';
import { startRealCluster, TEST_USER_AGENT, type RealCluster } from '../support/real-apiserver.ts';

const MANIFESTS = fileURLToPath(new URL('../../manifests/', import.meta.url));
const ROUTER_USER = 'system:serviceaccount:switchyard:switchyard-router';
const LEASE = '/apis/coordination.k8s.io/v1/namespaces/switchyard/leases/switchyard-default';
const LEASE_DURATION_MS = 4_000;

let cluster: RealCluster;
const routers: RouterProcess[] = [];

test.before(async (t) => {
  t.timeout(240_000);
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
  for (const name of ['a', 'b']) {
    const { kubeconfig } = await cluster.serviceAccountKubeconfig('switchyard', 'switchyard-router');
    routers.push(await startRouter({
      args: [
        '--kubeconfig', kubeconfig, '--canonical-hostname', `router-${name}.apps.example.com`,
        '--lease-duration', `${LEASE_DURATION_MS}ms`, '--lease-renew-deadline', '3s', '--lease-retry-period', '500ms',
      ],
      env: { POD_NAMESPACE: 'switchyard', ROUTER_LOG_LEVEL: 'info' },
      timeoutMs: 60_000,
    }));
  }
});

test.after.always(async () => {
  for (const router of routers) await router.stop();
  await cluster?.stop();
});

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

/** Whether `router` serves the edge route of this name (its redirect comes back). */
async function serves(router: RouterProcess, name: string): Promise<boolean> {
  const reply = await request(router.http, { host: `${name}.apps.example.com`, path: '/' });
  return reply.status === 302 && reply.headers['location'] === `https://${name}.apps.example.com/`;
}

/** switchyard_watch_restarts_total summed over resources, from the router's admin port. */
async function watchRestarts(router: RouterProcess): Promise<number> {
  const reply = await request(router.admin, { path: '/metrics' });
  let total = 0;
  for (const line of reply.body.split('\n')) {
    if (line.startsWith('switchyard_watch_restarts_total{')) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

async function statusHostname(name: string): Promise<string | undefined> {
  const route = await cluster.must('GET', `/apis/route.openshift.io/v1/namespaces/app/routes/${name}`);
  const entry = route.status?.ingress?.find((e: any) => e.routerName === 'default');
  return entry?.conditions?.[0]?.status === 'True' ? entry.routerCanonicalHostname : undefined;
}

function holderOf(lease: any): RouterProcess | undefined {
  return routers.find((r) => r.child.exitCode === null && lease?.spec?.holderIdentity?.endsWith(`-${r.child.pid}`));
}

let survivor: RouterProcess;

test.serial('two routers of one name: only the Lease holder writes status; SIGKILL it and the other takes over', async (t) => {
  const leaseBefore = await eventually(async () => {
    const lease = await cluster.api('GET', LEASE);
    return lease.status === 200 && holderOf(lease.body) ? lease.body : undefined;
  }, 30_000, 200);
  const leader = holderOf(leaseBefore)!;
  const follower = routers.find((r) => r !== leader)!;
  const leaderName = leader === routers[0] ? 'a' : 'b';
  const followerName = leaderName === 'a' ? 'b' : 'a';

  await cluster.apply({ yaml: edgeRoute('ha') });
  t.true(await eventually(async () => (await serves(leader, 'ha')) && (await serves(follower, 'ha')), 20_000, 100), 'both serve');
  t.is(await eventually(() => statusHostname('ha'), 20_000, 200), `router-${leaderName}.apps.example.com`);
  // A second route written after the first is a barrier: by then the follower, had it been
  // writing status, would have written its own hostname into one of them.
  await cluster.apply({ yaml: edgeRoute('ha-2') });
  t.is(await eventually(() => statusHostname('ha-2'), 20_000, 200), `router-${leaderName}.apps.example.com`);
  t.is(await statusHostname('ha'), `router-${leaderName}.apps.example.com`);

  const renewedBefore = (await cluster.must('GET', LEASE)).spec.renewTime as string;
  const killedAt = Date.now();
  leader.child.kill('SIGKILL');
  await leader.exited;
  const leaseAfter = await eventually(async () => {
    const lease = await cluster.must('GET', LEASE);
    return holderOf(lease) === follower ? lease : undefined;
  }, 30_000, 100);
  t.log(`takeover ${Date.now() - killedAt} ms after SIGKILL (lease duration ${LEASE_DURATION_MS} ms)`);
  t.is(leaseAfter.spec.leaseTransitions, (leaseBefore.spec.leaseTransitions ?? 0) + 1);
  // Never early: the lease is taken only once it went a whole duration without renewal.
  const lastRenew = Math.max(Date.parse(renewedBefore), Date.parse(leaseBefore.spec.renewTime));
  t.true(Date.parse(leaseAfter.spec.acquireTime) >= lastRenew + LEASE_DURATION_MS - 1, `${leaseAfter.spec.acquireTime} vs ${renewedBefore}`);
  // The new holder writes status: its own canonical hostname replaces the dead leader's.
  t.is(await eventually(async () => ((await statusHostname('ha')) === `router-${followerName}.apps.example.com` ? 'ok' : undefined), 20_000, 200), 'ok');
  survivor = follower;
});

test.serial('kube-apiserver killed for 20 s under a request loop: no failed request, changes made meanwhile applied after', async (t) => {
  t.timeout(180_000);
  const router = survivor;
  await cluster.apply({ yaml: edgeRoute('steady') + '---' + edgeRoute('doomed') });
  t.true(await eventually(async () => (await serves(router, 'steady')) && (await serves(router, 'doomed')), 20_000, 100));
  const doomed = await cluster.must('GET', '/apis/route.openshift.io/v1/namespaces/app/routes/doomed');

  // A bounded loop (about 50 requests a second) against a route that must stay served.
  const counts = { before: 0, outage: 0, after: 0 };
  const failures: string[] = [];
  let phase: keyof typeof counts = 'before';
  let looping = true;
  const loop = (async () => {
    while (looping) {
      try {
        if (await serves(router, 'steady')) counts[phase]++;
        else failures.push(`${phase}: not served`);
      } catch (err) {
        failures.push(`${phase}: ${(err as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  await eventually(() => counts.before > 5, 10_000, 20);

  await cluster.killApiServer();
  phase = 'outage';
  // Changes made while the API server is down, as another API server replica would: written to
  // etcd directly, in the JSON the API server stores custom resources as. A new Route appears,
  // and "doomed" is deleted.
  const born = {
    apiVersion: 'route.openshift.io/v1', kind: 'Route',
    metadata: { name: 'born', namespace: 'app', uid: randomUUID(), creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), generation: 1 },
    spec: { host: 'born.apps.example.com', to: { kind: 'Service', name: 'web', weight: 100 }, tls: { termination: 'edge', insecureEdgeTerminationPolicy: 'Redirect' }, wildcardPolicy: 'None' },
  };
  await cluster.etcdPut('/registry/route.openshift.io/routes/app/born', JSON.stringify(born));
  await cluster.etcdDelete('/registry/route.openshift.io/routes/app/doomed');
  // The outage lasts 20 s (the scenario), and the assertion below waits for the router to have
  // noticed it (its watches failed and restarted), so "still served" is not read too early.
  const restartsAtKill = await watchRestarts(router);
  await new Promise((r) => setTimeout(r, 20_000)); // the outage itself
  await eventually(async () => (await watchRestarts(router)) > restartsAtKill, 60_000, 200);
  t.true(await serves(router, 'doomed'), 'during the outage the router keeps what it last knew');
  await cluster.startApiServer();
  phase = 'after';

  // The router resyncs: the route born during the outage is served, the deleted one is not.
  t.true(await eventually(async () => (await serves(router, 'born')) && !(await serves(router, 'doomed')), 90_000, 200));
  t.is((await cluster.api('GET', '/apis/route.openshift.io/v1/namespaces/app/routes/doomed')).status, 404, `${doomed.metadata.name} is gone from the API too`);
  // And it writes status again (leadership survived or was re-acquired).
  t.truthy(await eventually(() => statusHostname('born'), 60_000, 200));
  // The loop serves after the outage too (on a loaded machine the checks above can finish before
  // its next round).
  await eventually(() => counts.after > 0 || failures.length > 0, 30_000, 20);
  looping = false;
  await loop;
  t.log(`requests: ${JSON.stringify(counts)}`);
  t.deepEqual(failures, []);
  t.true(counts.outage > 100, 'the loop ran through the outage');
  t.true(counts.after > 0);
});

test.serial('etcd compaction forcing 410 Gone on the router\'s watches: it re-lists and drops no route', async (t) => {
  t.timeout(180_000);
  const router = survivor;
  const names = ['keep-1', 'keep-2', 'keep-3'];
  await cluster.apply({ yaml: names.map(edgeRoute).join('---') });
  t.true(await eventually(async () => (await Promise.all(names.map((n) => serves(router, n)))).every(Boolean), 20_000, 100));
  const routeCalls = () => cluster.auditEvents().filter((e) => e.user.username === ROUTER_USER && e.userAgent !== TEST_USER_AGENT &&
    e.objectRef?.resource === 'routes' && !e.objectRef.subresource);
  // Reads of the whole state: a list, or a watch-list (a watch with sendInitialEvents=true).
  const routeLists = () => routeCalls().filter((e) => (e.stage === 'ResponseComplete' && e.verb === 'list')
    || (e.stage === 'ResponseStarted' && e.verb === 'watch' && new URL(e.requestURI, 'https://x').searchParams.get('sendInitialEvents') === 'true')).length;
  const listsBefore = routeLists();
  const watches = () => routeCalls().filter((e) => e.verb === 'watch' && e.stage === 'ResponseStarted')
    .map((e) => new URL(e.requestURI, 'https://x').searchParams.get('resourceVersion') ?? '');
  const watchesBefore = watches().length;

  // Move etcd far past the router's last resourceVersion and compact everything before it...
  for (let i = 0; i < 20; i++) await cluster.must('POST', '/api/v1/namespaces/app/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `churn-${i}` } });
  await cluster.etcdCompact(await cluster.etcdRevision());
  // ...then end the router's Route watches cleanly: a change of the CRD's spec replaces the
  // API server's storage for Routes (and its watch cache). The router re-watches from its last
  // resourceVersion, which no longer exists: 410 Gone, and a re-list.
  await cluster.must('PATCH', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/routes.route.openshift.io',
    { spec: { names: { categories: ['all', 'switchyard'] } } }, { contentType: 'application/merge-patch+json' });
  const compactedAt = await cluster.etcdRevision();
  await eventually(() => routeLists() > listsBefore, 60_000, 200);
  t.true(routeLists() > listsBefore, 'the router read the Routes again');
  // What the router met: its watch ended, it re-watched from the resourceVersion it had (from
  // before the compaction), and such a watch is answered 410 Gone.
  const watchedFrom = watches()[watchesBefore]!;
  t.true(Number(watchedFrom) > 0 && Number(watchedFrom) < compactedAt, `re-watch from ${watchedFrom}, compacted at ${compactedAt}`);
  const gone = await cluster.api('GET', '/apis/route.openshift.io/v1/routes', undefined, { query: { watch: 'true', resourceVersion: watchedFrom, timeoutSeconds: '2' } });
  t.regex(JSON.stringify(gone.body), /"code":410/, `a watch from ${watchedFrom} after compaction`);
  for (const name of names) t.true(await serves(router, name), `${name} still served`);
  // The informer is live again: a new route is picked up.
  await cluster.apply({ yaml: edgeRoute('after-410') });
  t.true(await eventually(() => serves(router, 'after-410'), 30_000, 100));
});

test.serial('a follower sends no Lease request while the leader renews (it watches); a stopped leader releases the Lease and is followed at once', async (t) => {
  const leader = survivor;
  const { kubeconfig } = await cluster.serviceAccountKubeconfig('switchyard', 'switchyard-router');
  const follower = await startRouter({
    args: ['--kubeconfig', kubeconfig, '--canonical-hostname', 'router-c.apps.example.com',
      '--lease-duration', `${LEASE_DURATION_MS}ms`, '--lease-renew-deadline', '3s', '--lease-retry-period', '500ms'],
    env: { POD_NAMESPACE: 'switchyard', ROUTER_LOG_LEVEL: 'info', NODE_NAME: 'edge-c' },
    timeoutMs: 60_000,
  });
  routers.push(follower);
  const leaseCalls = (mine: boolean) => cluster.auditEvents().filter((e) => e.user.username === ROUTER_USER && e.userAgent !== TEST_USER_AGENT
    && e.objectRef?.resource === 'leases' && e.stage === 'ResponseComplete' && (e.userAgent?.endsWith('; edge-c)') ?? false) === mine);
  // Ten renewals by the leader (PUTs: it renews from its last write, no GET first)...
  const renewals = () => leaseCalls(false).filter((e) => e.verb === 'update').length;
  const target = renewals() + 10;
  t.true(await eventually(() => renewals() >= target, 30_000, 100));
  // ...and the follower has only listed the Lease once and watches it.
  t.deepEqual(leaseCalls(true).map((e) => e.verb), ['list']);
  t.true(cluster.auditEvents().some((e) => e.verb === 'watch' && e.objectRef?.resource === 'leases' && e.userAgent?.endsWith('; edge-c)')));
  const lastRenew = Date.parse((await cluster.must<any>('GET', LEASE)).spec.renewTime);
  await leader.stop(); // SIGTERM: the leader releases the Lease on its way out
  const taken = await eventually(async () => {
    const lease = await cluster.must<any>('GET', LEASE);
    return holderOf(lease) === follower ? lease : undefined;
  }, 30_000, 100);
  t.true(Date.parse(taken.spec.acquireTime) - lastRenew < LEASE_DURATION_MS,
    `taken ${Date.parse(taken.spec.acquireTime) - lastRenew} ms after the last renewal: before the Lease would have expired`);
});
