// Middlewares on a cluster: the router watches switchyard.io/v1alpha1 Middlewares (only when
// plugins are loaded); a Route attaches one; edits and deletions apply live; an invalid config
// is written to the Route's status as InvalidMiddleware (and the route answers 500 meanwhile).
import test from 'ava';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FakeApiServer } from '../support/fake-apiserver.ts';
import { startBackend } from '../support/backends.ts';
import { eventually, request } from '../support/http-client.ts';
import { startRouter } from '../support/router-process.ts';

const apiKey = fileURLToPath(new URL('../../examples/plugins/api-key.ts', import.meta.url));

function middleware(keys: string[]) {
  return { apiVersion: 'switchyard.io/v1alpha1', kind: 'Middleware', metadata: { namespace: 'default', name: 'auth' }, spec: { plugin: 'api-key', config: { keys } } };
}

test('a Middleware from the API: attached, edited live, invalid config on the Route status, deleted', async (t) => {
  const api = await FakeApiServer.start();
  t.teardown(() => api.close());
  const backend = await startBackend('web');
  t.teardown(() => backend.close());
  api.create({ apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'default', name: 'web' }, spec: { ports: [{ name: 'http', port: 80 }] } });
  api.create({
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4',
    metadata: { namespace: 'default', name: 'web-1', labels: { 'kubernetes.io/service-name': 'web' } },
    ports: [{ name: 'http', port: backend.port }], endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
  });
  api.create(middleware(['cluster-key-1']));
  api.create({ apiVersion: 'route.openshift.io/v1', kind: 'Route', metadata: { namespace: 'default', name: 'web', annotations: { 'switchyard.io/middlewares': 'auth' } }, spec: { host: 'web.example.com', to: { kind: 'Service', name: 'web' } } });
  const router = await startRouter({ args: ['--kubeconfig', api.kubeconfigPath, '--router-name', 'mw', '--lease-name', 'mw', '--plugin', path.resolve(apiKey)] });
  t.teardown(() => router.stop());

  t.is((await request(router.http, { host: 'web.example.com' })).status, 401);
  t.is((await request(router.http, { host: 'web.example.com', headers: { 'x-api-key': 'cluster-key-1' } })).status, 200);

  api.update(middleware(['cluster-key-2']));
  await eventually(async () => (await request(router.http, { host: 'web.example.com', headers: { 'x-api-key': 'cluster-key-2' } })).status === 200, 5000);

  api.update(middleware(['short']));
  const status = await eventually(() => {
    const conditions = (api.get({ kind: 'Route', namespace: 'default', name: 'web' }) as { status?: { ingress?: Array<{ conditions?: Array<{ reason?: string; message?: string }> }> } })?.status?.ingress?.[0]?.conditions;
    return conditions?.find((c) => c.reason === 'InvalidMiddleware');
  }, 5000);
  t.regex(status!.message!, /middleware "default\/auth": spec\.config\.keys\[0\]/);
  t.is((await request(router.http, { host: 'web.example.com' })).status, 500, 'fails closed');

  api.delete({ kind: 'Middleware', namespace: 'default', name: 'auth' });
  await eventually(() => {
    const conditions = (api.get({ kind: 'Route', namespace: 'default', name: 'web' }) as { status?: { ingress?: Array<{ conditions?: Array<{ message?: string }> }> } })?.status?.ingress?.[0]?.conditions;
    return conditions?.some((c) => /not found/.test(c.message ?? ''));
  }, 5000);
  t.pass();
});
