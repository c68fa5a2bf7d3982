// autoport pods read from the cluster (fake API server): the router routes to podIP:AUTO_PORT0
// for three host-network pods sharing one IP; a pod without the annotation is skipped;
// an endpoint that turns unready, or whose pod is deleted, leaves the rotation.

import test from 'ava';
import { FakeApiServer } from '../support/fake-apiserver.ts';
import { startBackend, type Backend } from '../support/backends.ts';
import { eventually, request } from '../support/http-client.ts';
import { startRouter } from '../support/router-process.ts';

function pod(name: string, annotations: Record<string, string>) {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { namespace: 'default', name, labels: { app: 'auto', 'switchyard.io/autoport': 'true' }, annotations },
    spec: { hostNetwork: true, containers: [{ name: 'app', image: 'app:1' }] },
    status: { podIP: '127.0.0.1' },
  };
}

function slice(pods: Array<{ name: string; ready: boolean }>) {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { namespace: 'default', name: 'auto-x1', labels: { 'kubernetes.io/service-name': 'auto' } },
    addressType: 'IPv4',
    endpoints: pods.map((p) => ({ addresses: ['127.0.0.1'], conditions: { ready: p.ready }, targetRef: { kind: 'Pod', namespace: 'default', name: p.name } })),
  };
}

async function backendsSeen(port: number, requests = 12): Promise<string[]> {
  const seen = new Set<string>();
  for (let i = 0; i < requests; i++) {
    const reply = await request(port, { host: 'auto.apps.example.com' });
    seen.add(reply.status === 200 ? String(reply.headers['x-backend']) : `status ${reply.status}`);
  }
  return [...seen].sort();
}

test('three pods on one IP by their AUTO_PORT0; unreported skipped; unready or deleted pods leave the rotation', async (t) => {
  const api = await FakeApiServer.start();
  const backends: Backend[] = await Promise.all(['a', 'b', 'c'].map((n) => startBackend(n)));
  t.teardown(async () => { await api.close(); await Promise.all(backends.map((b) => b.close())); });
  api.create({ apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'default', name: 'auto' }, spec: { clusterIP: 'None', selector: { app: 'auto' } } });
  for (const b of backends) api.create(pod(`pod-${b.name}`, { AUTO_PORT0: String(b.port) }));
  api.create(pod('pod-unreported', {}));
  api.create(slice([{ name: 'pod-a', ready: true }, { name: 'pod-b', ready: true }, { name: 'pod-c', ready: true }, { name: 'pod-unreported', ready: true }]));
  api.create({
    apiVersion: 'route.openshift.io/v1', kind: 'Route',
    metadata: {
      namespace: 'default', name: 'auto',
      annotations: { 'switchyard.io/target-port-annotation': 'AUTO_PORT0', 'haproxy.router.openshift.io/balance': 'roundrobin', 'haproxy.router.openshift.io/disable_cookies': 'true' },
    },
    spec: { host: 'auto.apps.example.com', to: { kind: 'Service', name: 'auto' } },
  });
  const router = await startRouter({ args: ['--kubeconfig', api.kubeconfigPath, '--update-status=false'] });
  t.teardown(() => router.stop());

  t.deepEqual(await backendsSeen(router.http), ['a', 'b', 'c']);
  const debug = (await request(router.admin, { path: '/debug/routes' })).json<{ hosts: Array<{ routes: Array<{ notes: string[]; backends: Array<{ endpoints: Array<{ port: number }> }> }> }> }>();
  const compiled = debug.hosts[0]!.routes[0]!;
  t.deepEqual(compiled.backends[0]!.endpoints.map((e) => e.port).sort(), backends.map((b) => b.port).sort());
  t.true(compiled.notes.some((n) => n.includes('pod-unreported')), JSON.stringify(compiled.notes));

  // pod-a turns unready: out of rotation within a second or so.
  api.update(slice([{ name: 'pod-a', ready: false }, { name: 'pod-b', ready: true }, { name: 'pod-c', ready: true }, { name: 'pod-unreported', ready: true }]));
  await eventually(async () => JSON.stringify(await backendsSeen(router.http)) === JSON.stringify(['b', 'c']), 5000);

  // pod-b is deleted (its endpoint may linger in the slice a moment): never routed to a guessed port.
  api.delete({ kind: 'Pod', namespace: 'default', name: 'pod-b' });
  await eventually(async () => JSON.stringify(await backendsSeen(router.http)) === JSON.stringify(['c']), 5000);
});
