// Start-up on a real kube-apiserver (v1.36, WatchList on by default) every way (issue 25): a
// router with --watch-list=true reads the initial state through watch-list — one watch with
// sendInitialEvents=true per kind, no list; one with --watch-list=false through paged lists; and
// one with --watch-list=auto (the default) reads the Routes (a custom resource) by watch-list and
// Services and EndpointSlices (built-in kinds) by one unpaged list at resourceVersion=0 (from the
// watch cache); one with --watch-list=list reads every kind by such a list. Each serves the same first table
// at readiness, built by one table update, and watches from the version it read.

import test from 'ava';
import { fileURLToPath } from 'node:url';
import { request } from '../support/http-client.ts';
import { startRouter, type RouterProcess } from '../support/router-process.ts';
import { LIST_PAGE_SIZE } from '../../src/kube/informer.ts';
import { startRealCluster, TEST_USER_AGENT, type AuditEvent, type RealCluster } from '../support/real-apiserver.ts';

const MANIFESTS = fileURLToPath(new URL('../../manifests/', import.meta.url));
const ROUTER_USER = 'system:serviceaccount:switchyard:switchyard-router';
const ROUTES = 620;
/** One endpoint per slice: no health check is due (a router checks backends of more than one), so nothing is sent to it. */
const POD_ADDRESS = '198.51.100.7';
const STATE_KINDS = ['routes', 'services', 'endpointslices'];

let cluster: RealCluster;
let kubeconfig: string;
const routers: RouterProcess[] = [];

test.before(async (t) => {
  t.timeout(300_000);
  cluster = await startRealCluster({ auditUsers: [ROUTER_USER] });
  await cluster.apply({ kustomization: MANIFESTS });
  await cluster.waitEstablished('routes.route.openshift.io');
  await cluster.apply({ yaml: 'apiVersion: v1\nkind: Namespace\nmetadata: { name: app }\n' });
  for (let i = 0; i < ROUTES; i += 40) {
    await Promise.all(Array.from({ length: Math.min(40, ROUTES - i) }, async (_, j) => {
      const n = i + j;
      await cluster.must('POST', '/api/v1/namespaces/app/services', {
        apiVersion: 'v1', kind: 'Service', metadata: { name: `s${n}`, namespace: 'app' },
        spec: { clusterIP: 'None', ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
      });
      await cluster.must('POST', '/apis/discovery.k8s.io/v1/namespaces/app/endpointslices', {
        apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
        metadata: { name: `s${n}-1`, namespace: 'app', labels: { 'kubernetes.io/service-name': `s${n}` } },
        addressType: 'IPv4', ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
        endpoints: [{ addresses: [POD_ADDRESS], conditions: { ready: true } }],
      });
      await cluster.must('POST', '/apis/route.openshift.io/v1/namespaces/app/routes', {
        apiVersion: 'route.openshift.io/v1', kind: 'Route', metadata: { name: `r${n}`, namespace: 'app' },
        spec: { host: `r${n}.apps.example.com`, to: { kind: 'Service', name: `s${n}` }, tls: { termination: 'edge', insecureEdgeTerminationPolicy: 'Redirect' } },
      });
    }));
  }
  ({ kubeconfig } = await cluster.serviceAccountKubeconfig('switchyard', 'switchyard-router'));
});

test.after.always(async () => {
  for (const router of routers) await router.stop();
  await cluster?.stop();
});

function start(node: string, watchList: 'auto' | 'true' | 'false' | 'list' | undefined): Promise<RouterProcess> {
  return startRouter({
    args: ['--kubeconfig', kubeconfig, '--update-status=false', ...(watchList ? [`--watch-list=${watchList}`] : [])],
    env: { POD_NAMESPACE: 'switchyard', ROUTER_LOG_LEVEL: 'info', NODE_NAME: node },
    timeoutMs: 120_000,
  }).then((router) => { routers.push(router); return router; });
}

/** Requests of the router on `node`, one entry each (a watch when it starts, the rest when answered). */
function requestsOf(node: string): AuditEvent[] {
  return cluster.auditEvents().filter((e) => e.user.username === ROUTER_USER && e.userAgent !== TEST_USER_AGENT
    && e.userAgent?.endsWith(`; ${node})`) && (e.verb === 'watch' ? e.stage === 'ResponseStarted' : e.stage === 'ResponseComplete'));
}

const query = (e: AuditEvent) => new URL(e.requestURI, 'https://x').searchParams;

/** The table a router serves: its hosts with their routes, as /debug/routes shows them. */
async function servedTable(router: RouterProcess): Promise<{ hosts: unknown[]; updates: number }> {
  const view = (await request(router.admin, { path: '/debug/routes' })).json<{ hosts: Array<{ host: string }> }>();
  const metrics = (await request(router.admin, { path: '/metrics' })).body;
  const updates = Number(/^switchyard_table_updates_total (\d+)$/m.exec(metrics)?.[1]);
  return { hosts: [...view.hosts].sort((a, b) => a.host.localeCompare(b.host)), updates };
}

test.serial('watch-list, paged lists, auto (both by kind) and one list at resourceVersion=0: the same first table at readiness, read each its own way', async (t) => {
  t.timeout(240_000);
  const [streamed, paged, mixed, listed] = await Promise.all([start('by-watch-list', 'true'), start('by-pages', 'false'), start('by-auto', 'auto'), start('by-list', 'list')]);
  // At readiness, before anything else changes: the first table, built once.
  const [a, b, c, d] = await Promise.all([servedTable(streamed), servedTable(paged), servedTable(mixed), servedTable(listed)]);
  t.is(a.hosts.length, ROUTES);
  t.is(a.updates, 1, 'watch-list: one table update at readiness');
  t.is(b.updates, 1, 'paged lists: one table update at readiness');
  t.is(c.updates, 1, 'auto: one table update at readiness');
  t.is(d.updates, 1, 'one list: one table update at readiness');
  t.deepEqual(a.hosts, b.hosts);
  t.deepEqual(c.hosts, a.hosts);
  t.deepEqual(d.hosts, a.hosts);
  const last = a.hosts.find((h: any) => h.host === `r${ROUTES - 1}.apps.example.com`) as any;
  t.deepEqual(last?.routes[0].backends[0].endpoints.map((e: any) => `${e.address}:${e.port}`), [`${POD_ADDRESS}:8080`]);
  for (const router of [streamed, paged, mixed, listed]) {
    const reply = await request(router.http, { host: `r${ROUTES - 1}.apps.example.com`, path: '/' });
    t.is(reply.status, 302);
  }

  // How each read the state: the API server's audit log.
  const ofKind = (events: AuditEvent[], kind: string) => events.filter((e) => e.objectRef?.resource === kind && !e.objectRef.subresource);
  const readByWatchList = (events: AuditEvent[], kind: string, router: string) => {
    const streams = ofKind(events, kind).filter((e) => e.verb === 'watch' && query(e).get('sendInitialEvents') === 'true');
    t.is(streams.length, 1, `${router}, ${kind}: one streaming list`);
    t.deepEqual(ofKind(events, kind).filter((e) => e.verb === 'list').map((e) => e.requestURI), [], `${router}, ${kind}: no list`);
  };
  const readByPages = (events: AuditEvent[], kind: string, router: string) => {
    const lists = ofKind(events, kind).filter((e) => e.verb === 'list');
    t.true(lists.length >= 1 && lists.every((e) => Number(query(e).get('limit')) === LIST_PAGE_SIZE), `${router}, ${kind}: paged lists (${lists.map((e) => e.requestURI).join(', ')})`);
    t.deepEqual(ofKind(events, kind).filter((e) => query(e).get('sendInitialEvents') !== null).map((e) => e.requestURI), [], `${router}, ${kind}: no watch-list`);
    // Then a watch from the list's resourceVersion.
    const watches = ofKind(events, kind).filter((e) => e.verb === 'watch');
    t.true(watches.length >= 1 && watches.every((e) => /^\d+$/.test(query(e).get('resourceVersion') ?? '')), `${router}, ${kind}: a watch from the list's resourceVersion`);
  };
  const readByOneList = (events: AuditEvent[], kind: string, router: string) => {
    const lists = ofKind(events, kind).filter((e) => e.verb === 'list');
    t.deepEqual(lists.map((e) => `${query(e).get('resourceVersion')} ${query(e).get('limit')}`), ['0 null'], `${router}, ${kind}: one list at resourceVersion=0, unpaged`);
    t.deepEqual(ofKind(events, kind).filter((e) => query(e).get('sendInitialEvents') !== null).map((e) => e.requestURI), [], `${router}, ${kind}: no watch-list`);
    const watches = ofKind(events, kind).filter((e) => e.verb === 'watch');
    t.true(watches.length >= 1 && watches.every((e) => /^[1-9]\d*$/.test(query(e).get('resourceVersion') ?? '')), `${router}, ${kind}: a watch from the list's resourceVersion`);
  };
  const byWatchList = requestsOf('by-watch-list');
  const byList = requestsOf('by-list');
  const byPages = requestsOf('by-pages');
  const byAuto = requestsOf('by-auto');
  for (const kind of STATE_KINDS) {
    readByWatchList(byWatchList, kind, '--watch-list=true');
    readByPages(byPages, kind, '--watch-list=false');
    if (kind === 'routes') readByWatchList(byAuto, kind, '--watch-list=auto');
    else readByOneList(byAuto, kind, '--watch-list=auto');
    readByOneList(byList, kind, '--watch-list=list');
  }
  for (const router of [streamed, mixed]) t.false(router.logs.some((l) => String(l.msg).includes('does not stream lists')), 'the server did not refuse watch-list');
});
