// The status writer as the router runs it: compared with the informers' copies (a real
// KubernetesSource and store on the fake API server) instead of reading each object. Statuses
// already current cost no request; a missing one costs one PATCH and no GET; a stale copy one
// conflict and one GET; a refusal (429 + Retry-After) sends that write again after it.

import test from 'ava';
import { KubeConfig } from '@kubernetes/client-node';
import { defaultConfig } from '../../src/config.ts';
import { KubeClient } from '../../src/kube/client.ts';
import { silentLogger } from '../../src/log.ts';
import type { Ingress, Route } from '../../src/objects/types.ts';
import { KubernetesSource } from '../../src/sources/kubernetes.ts';
import { StatusWriter, type StatusRef, type StatusWriterOptions } from '../../src/status/status-writer.ts';
import { ObjectStore } from '../../src/store.ts';
import type { AdmissionResult } from '../../src/table/types.ts';
import { eventually } from '../support/http-client.ts';
import { FakeApiServer } from '../support/fake-apiserver.ts';
import { ManualClock } from '../support/manual-clock.ts';

const CONFIG = { ...defaultConfig(), routerName: 'edge', canonicalHostname: 'router.apps.example.com', watchTimeout: 60_000 };

function ours(name: string) {
  return {
    host: `${name}.example.com`, routerName: 'edge', routerCanonicalHostname: 'router.apps.example.com', wildcardPolicy: 'None',
    conditions: [{ type: 'Admitted', status: 'True', lastTransitionTime: '2024-01-01T00:00:00Z' }],
  };
}

function route(name: string, status?: unknown[]) {
  return {
    apiVersion: 'route.openshift.io/v1', kind: 'Route', metadata: { namespace: 'a', name },
    spec: { host: `${name}.example.com`, to: { kind: 'Service', name: 'web' } },
    ...(status ? { status: { ingress: status } } : {}),
  };
}

function admitted(name: string): AdmissionResult {
  return { key: `Route/a/${name}`, kind: 'Route', namespace: 'a', name, host: `${name}.example.com`, wildcardPolicy: 'None', admitted: true };
}

async function setUp(t: any, writerOptions: Partial<StatusWriterOptions> = {}) {
  const api = await FakeApiServer.start();
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(api.kubeconfigPath);
  const client = new KubeClient(kubeConfig);
  const store = new ObjectStore();
  const source = new KubernetesSource({ config: CONFIG, store, logger: silentLogger, client, backoffInitialMs: 50, backoffMaxMs: 300 });
  const current = (ref: StatusRef) => store.get(ref.kind, `${ref.namespace}/${ref.name}`) as Route | Ingress | undefined;
  const writer = new StatusWriter({ client, config: CONFIG, logger: silentLogger, current, ...writerOptions });
  const requests: string[] = [];
  api.onRequest = ({ method, path }) => { if (path.endsWith('/status')) requests.push(`${method} ${path.split('/').slice(-2, -1)[0]}`); };
  t.teardown(async () => { writer.stop(); await source.stop(); await client.close(); await api.close(); });
  return { api, store, source, writer, requests };
}

test('statuses the informers already hold as current cost no request', async (t) => {
  const { api, source, writer, requests } = await setUp(t);
  const names = Array.from({ length: 200 }, (_, i) => `r${i}`);
  for (const name of names) api.create(route(name, [ours(name)]));
  await source.start();
  writer.sync(names.map(admitted));
  await writer.idle();
  t.deepEqual(requests, []);
  t.deepEqual(writer.counts, { written: 0, read: 0, conflicts: 0, refused: 0 });
});

test('missing statuses: one PATCH each, no GET', async (t) => {
  const { api, source, writer, requests } = await setUp(t);
  const names = Array.from({ length: 100 }, (_, i) => `r${i}`);
  for (const name of names) api.create(route(name));
  await source.start();
  writer.sync(names.map(admitted));
  await writer.idle();
  t.is(requests.length, 100);
  t.true(requests.every((r) => r.startsWith('PATCH ')));
  for (const name of names) t.is(api.get<any>({ kind: 'Route', namespace: 'a', name }).status.ingress[0].routerName, 'edge');
  t.deepEqual(writer.counts, { written: 100, read: 0, conflicts: 0, refused: 0 });
});

test('a stale copy: the PATCH conflicts, the object is read once, and the write keeps the other change', async (t) => {
  const { api, store, source, writer, requests } = await setUp(t);
  api.create(route('web'));
  await source.start();
  // Another router writes its entry; the informer has not seen it yet.
  api.stallWatches(true);
  const other = { ...ours('web'), routerName: 'other-shard' };
  api.update({ ...api.get<any>({ kind: 'Route', namespace: 'a', name: 'web' }), status: { ingress: [other] } });
  t.is((store.get('Route', 'a/web') as Route).status?.ingress, undefined);
  writer.sync([admitted('web')]);
  await writer.idle();
  t.deepEqual(requests, ['PATCH web', 'GET web', 'PATCH web']);
  t.deepEqual(api.get<any>({ kind: 'Route', namespace: 'a', name: 'web' }).status.ingress.map((e: any) => e.routerName), ['other-shard', 'edge']);
  t.deepEqual(writer.counts, { written: 1, read: 1, conflicts: 1, refused: 0 });
  api.stallWatches(false);
});

test('a desired state that changes while its write is in flight, the copy behind our write: the last one is written', async (t) => {
  const { api, source, writer, requests } = await setUp(t);
  api.create(route('web', [ours('web')]));
  await source.start();
  // The informer does not see our writes yet: its copy stays the one from before them.
  api.stallWatches(true);
  // The host edited and edited back (a route's desired entry changes twice in a row).
  writer.sync([{ ...admitted('web'), host: 'web-v1.example.com' }]);
  writer.sync([admitted('web')]);
  await writer.idle();
  // Compared with the stale copy, the second state looked current and was never written (the entry stayed web-v1).
  t.is(api.get<any>({ kind: 'Route', namespace: 'a', name: 'web' }).status.ingress[0].host, 'web.example.com');
  t.deepEqual(requests, ['PATCH web', 'GET web', 'PATCH web']);
  api.stallWatches(false);
});

test('once the copy has caught up with our write, the next change is compared with it: no read', async (t) => {
  const { api, store, source, writer, requests } = await setUp(t);
  api.create(route('web', [ours('web')]));
  await source.start();
  writer.sync([{ ...admitted('web'), host: 'web-v1.example.com' }]);
  await writer.idle();
  await eventually(() => (store.get('Route', 'a/web') as Route).status?.ingress?.[0]?.host === 'web-v1.example.com', 10_000, 10);
  writer.sync([admitted('web')]);
  await writer.idle();
  t.is(api.get<any>({ kind: 'Route', namespace: 'a', name: 'web' }).status.ingress[0].host, 'web.example.com');
  t.deepEqual(requests, ['PATCH web', 'PATCH web']);
});

test('an object the store does not hold (it left the shard) is read, and only our entry taken out', async (t) => {
  const { api, source, writer, requests } = await setUp(t);
  await source.start();
  api.create(route('gone', [{ ...ours('gone'), routerName: 'other-shard' }, ours('gone')]));
  writer.forget([{ kind: 'Route', namespace: 'a', name: 'gone' }]);
  await writer.idle();
  t.deepEqual(requests, ['GET gone', 'PATCH gone']);
  t.deepEqual(api.get<any>({ kind: 'Route', namespace: 'a', name: 'gone' }).status.ingress.map((e: any) => e.routerName), ['other-shard']);
});

test('429 with Retry-After: that write waits it out while the others go on, then it is written', async (t) => {
  const clock = new ManualClock();
  const { api, source, writer, requests } = await setUp(t, { clock, window: { initial: 1, max: 1 } });
  const names = Array.from({ length: 10 }, (_, i) => `r${i}`);
  for (const name of names) api.create(route(name));
  await source.start();
  api.failWrites(429, 1, 2);
  writer.sync(names.map(admitted));
  // r0 is refused and waits 2 s on the clock; r1..r9 are written meanwhile, one at a time.
  t.true(await eventually(() => requests.length === 10 && clock.pending > 0, 5000, 10));
  t.deepEqual(requests, names.map((name) => `PATCH ${name}`));
  t.is(api.get<any>({ kind: 'Route', namespace: 'a', name: 'r0' }).status, undefined);
  clock.advance(1_999);
  t.is(requests.length, 10);
  clock.advance(1);
  await writer.idle();
  t.deepEqual(requests.slice(10), ['PATCH r0']);
  t.deepEqual(writer.counts, { written: 10, read: 0, conflicts: 0, refused: 1 });
  for (const name of names) t.is(api.get<any>({ kind: 'Route', namespace: 'a', name }).status.ingress[0].routerName, 'edge');
});
