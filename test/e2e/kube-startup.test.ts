// Start-up through the Kubernetes source (fake API server, real router process): the states of
// Routes, Services and EndpointSlices come in pages (or streamed, watch-list) and land at
// different times, yet the first
// table is built once, after the sync — every Route served with its endpoints at readiness, by a
// single table update — and changes after readiness are applied incrementally.

import test from 'ava';
import { FakeApiServer } from '../support/fake-apiserver.ts';
import { startBackend } from '../support/backends.ts';
import { eventually, request } from '../support/http-client.ts';
import { startRouter } from '../support/router-process.ts';
import { LIST_PAGE_SIZE } from '../../src/kube/informer.ts';

/** More than one list page of each kind. */
const ROUTES = LIST_PAGE_SIZE + 120;

async function tableUpdates(admin: number): Promise<number> {
  const text = (await request(admin, { path: '/metrics' })).body;
  const line = text.split('\n').find((l) => l.startsWith('switchyard_table_updates_total '));
  return Number(line?.split(' ')[1]);
}

for (const mode of ['paged lists', 'watch-list', 'one list'] as const) {
test(`${mode}: at readiness every Route is served with its endpoints, from one table update`, async (t) => {
  const api = await FakeApiServer.start();
  const backend = await startBackend('web');
  t.teardown(async () => { await api.close(); await backend.close(); });
  // Routes first: their Services and EndpointSlices are listed by other requests, answered later.
  for (let i = 0; i < ROUTES; i++) {
    api.create({ apiVersion: 'route.openshift.io/v1', kind: 'Route', metadata: { namespace: 'default', name: `r${i}` }, spec: { host: `r${i}.example.com`, to: { kind: 'Service', name: `s${i}` } } });
  }
  for (let i = 0; i < ROUTES; i++) {
    api.create({ apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'default', name: `s${i}` }, spec: { ports: [{ name: 'http', port: 80 }] } });
    api.create({
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4',
      metadata: { namespace: 'default', name: `s${i}-1`, labels: { 'kubernetes.io/service-name': `s${i}` } },
      ports: [{ name: 'http', port: backend.port }], endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
    });
  }
  const router = await startRouter({
    args: ['--kubeconfig', api.kubeconfigPath, '--update-status=false', `--watch-list=${mode === 'one list' ? 'list' : mode === 'watch-list'}`],
    env: { ROUTER_LOG_LEVEL: 'info' }, timeoutMs: 60_000,
  });
  t.teardown(() => router.stop());
  if (mode === 'paged lists') t.true(api.continuedPages('Route') >= 1 && api.continuedPages('EndpointSlice') >= 1, 'the lists came in pages');
  else if (mode === 'watch-list') t.true(api.listRequests('Route') === 0 && api.watchListRequests('Route') === 1, 'one streaming list, no list');
  else {
    t.true(api.listRequests('Route') === 1 && api.continuedPages('Route') === 0 && api.watchListRequests('Route') === 0, 'one list, unpaged');
    t.deepEqual(api.listVersions('Route'), ['0'], 'at resourceVersion=0');
  }

  t.is(await tableUpdates(router.admin), 1);
  for (const i of [0, LIST_PAGE_SIZE - 1, LIST_PAGE_SIZE, ROUTES - 1]) {
    const reply = await request(router.http, { host: `r${i}.example.com` });
    t.is(reply.status, 200, `r${i}`);
    t.is(reply.headers['x-backend'], 'web');
  }

  // After readiness, a change is one more update.
  api.create({ apiVersion: 'route.openshift.io/v1', kind: 'Route', metadata: { namespace: 'default', name: 'late' }, spec: { host: 'late.example.com', to: { kind: 'Service', name: 's0' } } });
  await eventually(async () => (await request(router.http, { host: 'late.example.com' })).status === 200, 10_000);
  t.is(await tableUpdates(router.admin), 2);
});
}
