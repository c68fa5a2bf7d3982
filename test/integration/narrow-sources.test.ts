// Both sources store narrowed objects: what the API server or a file adds for bookkeeping
// (managedFields, kubectl's last-applied copy, unused status) is not retained per route.

import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient } from '../../src/kube/client.ts';
import { defaultConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/log.ts';
import { LAST_APPLIED_ANNOTATION } from '../../src/objects/narrow.ts';
import { FileSource } from '../../src/sources/file.ts';
import { KubernetesSource } from '../../src/sources/kubernetes.ts';
import { ObjectStore } from '../../src/store.ts';
import { FakeApiServer } from '../support/fake-apiserver.ts';

const managedFields = [{ manager: 'kubectl-client-side-apply', operation: 'Update', apiVersion: 'v1', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': {} } }];

function service(name: string) {
  return {
    apiVersion: 'v1', kind: 'Service',
    metadata: { name, namespace: 'shop', managedFields, annotations: { [LAST_APPLIED_ANNOTATION]: '{"kind":"Service"}', keep: 'yes' } },
    spec: { ports: [{ name: 'http', port: 80 }], clusterIPs: ['10.0.0.1'], ipFamilies: ['IPv4'] },
    status: { loadBalancer: {} },
  };
}

function assertNarrow(t: import('ava').ExecutionContext, store: ObjectStore, key: string): void {
  const stored = store.get('Service', key)!;
  t.truthy(stored, key);
  t.false('managedFields' in stored.metadata, `${key}: managedFields`);
  t.deepEqual(stored.metadata.annotations, { keep: 'yes' }, `${key}: annotations`);
  t.false('status' in stored, `${key}: status`);
  t.deepEqual(Object.keys(stored.spec).sort(), ['ports'], `${key}: spec`);
}

async function eventually(check: () => boolean, timeoutMs = 3000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return check();
}

test('the file source stores narrowed objects', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-narrow-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'objects.json');
  await writeFile(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [service('web')] }));
  const store = new ObjectStore();
  const source = new FileSource([file], store, { logger: silentLogger, debounceMs: 20 });
  t.teardown(() => source.stop());
  await source.start();
  assertNarrow(t, store, 'shop/web');
});

test('the Kubernetes source stores narrowed objects, listed and watched', async (t) => {
  const api = await FakeApiServer.start();
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(api.kubeconfigPath);
  const store = new ObjectStore();
  const source = new KubernetesSource({ config: defaultConfig(), store, logger: silentLogger, client: new KubeClient(kubeConfig), backoffInitialMs: 50, backoffMaxMs: 300 });
  t.teardown(async () => { await source.stop(); await api.close(); });
  api.create(service('listed'));
  await source.start();
  assertNarrow(t, store, 'shop/listed');
  api.create(service('watched'));
  t.true(await eventually(() => store.has('Service', 'shop/watched')));
  assertNarrow(t, store, 'shop/watched');
});
