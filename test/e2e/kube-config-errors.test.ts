// Objects the Kubernetes source refuses show on the admin dashboard's "recent configuration
// errors", like a file's: a real router reads the fake API server, whose invalid Routes (listed at
// start and added by a watch event) appear in /dashboard/overview.json with kind, namespace/name,
// field and message — and a refused field's value (here key material) appears nowhere.

import test from 'ava';
import { FakeApiServer } from '../support/fake-apiserver.ts';
import { startBackend, type Backend } from '../support/backends.ts';
import { eventually, request } from '../support/http-client.ts';
import { startRouter } from '../support/router-process.ts';

const KEY_MATERIAL = 'BEGIN-PRIVATE-KEY-do-not-show';

let api: FakeApiServer;
let backend: Backend;

test.before(async () => {
  api = await FakeApiServer.start();
  backend = await startBackend('a');
});

test.after.always(async () => {
  await api?.close();
  await backend?.close();
});

function route(name: string, spec: Record<string, unknown>) {
  return { apiVersion: 'route.openshift.io/v1', kind: 'Route', metadata: { namespace: 'shop', name }, spec };
}

test('refused Routes are listed in the dashboard with their object and field, without field values', async (t) => {
  api.create({ apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'shop', name: 'web' }, spec: { ports: [{ name: 'http', port: 80 }] } });
  api.create({
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { namespace: 'shop', name: 'web-slice', labels: { 'kubernetes.io/service-name': 'web' } },
    addressType: 'IPv4', ports: [{ name: 'http', port: backend.port }],
    endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
  });
  api.create(route('good', { host: 'good.example.test', to: { kind: 'Service', name: 'web' } }));
  api.create(route('no-target', { host: 'no-target.example.test' }));

  const router = await startRouter({ args: ['--kubeconfig', api.kubeconfigPath, '--router-name', 'e2e', '--watch-timeout', '30s'] });
  t.teardown(() => router.stop());
  // Serving the valid Route means the first list was read, refused objects included.
  t.is(await eventually(async () => (await request(router.http, { host: 'good.example.test' })).status === 200, 5000), true);

  const overview = async () => (await fetch(`${router.adminUrl}/dashboard/overview.json`)).json() as Promise<any>;
  const listed = (await overview()).configErrors;
  t.is(listed.total, 1);
  t.like(listed.recent[0], { source: 'kubernetes', kind: 'Route', namespace: 'shop', name: 'no-target', field: 'spec.to', error: 'spec.to: required object' });

  // A refused Route that arrives by a watch event, with a field whose value must not leak.
  api.create(route('bad-key', { host: 'bad-key.example.test', to: { kind: 'Service', name: 'web' }, tls: { termination: 'edge', key: { pem: KEY_MATERIAL } } }));
  const after = await eventually(async () => {
    const errors = (await overview()).configErrors;
    return errors.recent[0]?.name === 'bad-key' ? errors : undefined;
  }, 5000);
  t.is(after.total, 2);
  t.like(after.recent[0], { source: 'kubernetes', kind: 'Route', namespace: 'shop', name: 'bad-key', field: 'spec.tls.key' });
  t.regex(after.recent[0].error, /^spec\.tls\.key: /);
  t.like(after.recent[1], { name: 'no-target', field: 'spec.to' });
  t.false(JSON.stringify(after).includes(KEY_MATERIAL));
  t.false(JSON.stringify(router.logs).includes(KEY_MATERIAL) || router.stderr().includes(KEY_MATERIAL));
  // Same count as the metric the dashboard figure sits next to.
  const metrics = await (await fetch(`${router.adminUrl}/metrics`)).text();
  t.regex(metrics, /switchyard_config_errors_total\{source="kubernetes"\} 2\b/);
});
