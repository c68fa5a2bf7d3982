// The status writer against the fake API server: Route status.ingress[] (our entry only, written
// once per change, flips, forget), 409 conflicts, Ingress loadBalancer status.

import test from 'ava';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient } from '../../src/kube/client.ts';
import { defaultConfig, type RouterConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/log.ts';
import { Metrics } from '../../src/metrics.ts';
import { StatusWriter } from '../../src/status/status-writer.ts';
import type { AdmissionResult } from '../../src/table/types.ts';
import { FakeApiServer } from '../support/fake-apiserver.ts';
import { ManualClock } from '../support/manual-clock.ts';

const ROUTE = { kind: 'Route', namespace: 'a', name: 'web' };

function route(otherRouters: unknown[] = []) {
  return {
    apiVersion: 'route.openshift.io/v1', kind: 'Route', metadata: { namespace: 'a', name: 'web' },
    spec: { host: 'web.example.com', to: { kind: 'Service', name: 'web' } },
    status: { ingress: otherRouters },
  };
}

function result(admitted: boolean, extra: Partial<AdmissionResult> = {}): AdmissionResult {
  return {
    key: 'Route/a/web', kind: 'Route', namespace: 'a', name: 'web', host: 'web.example.com', wildcardPolicy: 'None', admitted,
    ...(admitted ? {} : { reason: 'HostAlreadyClaimed', message: 'route older claims web.example.com' }),
    ...extra,
  };
}

const OTHER = {
  host: 'web.example.com', routerName: 'other-shard', wildcardPolicy: 'None',
  conditions: [{ type: 'Admitted', status: 'True', lastTransitionTime: '2020-01-01T00:00:00Z' }],
};

async function setUp(t: any, overrides: Partial<RouterConfig> = {}, clock?: ManualClock) {
  const api = await FakeApiServer.start();
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(api.kubeconfigPath);
  const config = { ...defaultConfig(), routerName: 'edge', canonicalHostname: 'router.apps.example.com', ...overrides };
  const metrics = new Metrics({ defaultMetrics: false });
  const writer = new StatusWriter({ client: new KubeClient(kubeConfig), config, logger: silentLogger, metrics, clock });
  t.teardown(async () => { writer.stop(); await api.close(); });
  return { api, writer, metrics };
}

function ourEntry(api: FakeApiServer, ref = ROUTE) {
  return api.get<any>(ref)?.status?.ingress?.find((e: any) => e.routerName === 'edge');
}

test('writes our entry once per change and preserves other routers\' entries', async (t) => {
  const { api, writer, metrics } = await setUp(t);
  api.create(route([OTHER]));
  writer.sync([result(true)]);
  await writer.idle();
  const ingress = api.get<any>(ROUTE).status.ingress;
  t.is(ingress.length, 2);
  t.deepEqual(ingress[0], OTHER);
  const ours = ingress[1];
  t.is(ours.host, 'web.example.com');
  t.is(ours.routerCanonicalHostname, 'router.apps.example.com');
  t.is(ours.wildcardPolicy, 'None');
  t.is(ours.conditions.length, 1);
  t.like(ours.conditions[0], { type: 'Admitted', status: 'True' });
  t.regex(ours.conditions[0].lastTransitionTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  const writes = api.writes(ROUTE);
  t.is(writes, 1);

  // The same desired state again: no write.
  writer.sync([result(true)]);
  writer.sync([result(true)]);
  await writer.idle();
  t.is(api.writes(ROUTE), 1);
  const ok = (await metrics.statusWrites.get()).values.find((v) => v.labels.kind === 'Route' && v.labels.result === 'ok');
  t.is(ok?.value, 1);
});

test('status flips when admission flips, keeping lastTransitionTime only while unchanged', async (t) => {
  const clock = new ManualClock(Date.parse('2026-01-01T00:00:00Z'));
  const { api, writer } = await setUp(t, {}, clock);
  api.create(route());
  writer.sync([result(true)]);
  await writer.idle();
  const first = ourEntry(api).conditions[0].lastTransitionTime;
  t.is(first, '2026-01-01T00:00:00Z');
  clock.advance(1000); // transition times have one-second resolution
  writer.sync([result(false)]);
  await writer.idle();
  const rejected = ourEntry(api).conditions[0];
  t.like(rejected, { type: 'Admitted', status: 'False', reason: 'HostAlreadyClaimed', message: 'route older claims web.example.com' });
  t.is(rejected.lastTransitionTime, '2026-01-01T00:00:01Z');
  // A new message with the same status is a change, but not a transition.
  clock.advance(1000);
  writer.sync([result(false, { message: 'another reason text' })]);
  await writer.idle();
  const again = ourEntry(api).conditions[0];
  t.is(again.message, 'another reason text');
  t.is(again.lastTransitionTime, rejected.lastTransitionTime);
  t.is(api.writes(ROUTE), 3);
  writer.sync([result(true)]);
  await writer.idle();
  t.like(ourEntry(api).conditions[0], { status: 'True', lastTransitionTime: '2026-01-01T00:00:02Z' });
  t.is(ourEntry(api).conditions[0].reason, undefined);
});

test('forget removes our entry and only ours', async (t) => {
  const { api, writer } = await setUp(t);
  api.create(route([OTHER]));
  writer.sync([result(true)]);
  await writer.idle();
  t.truthy(ourEntry(api));
  writer.forget([{ kind: 'Route', namespace: 'a', name: 'web' }]);
  await writer.idle();
  t.deepEqual(api.get<any>(ROUTE).status.ingress, [OTHER]);
  const writes = api.writes(ROUTE);
  writer.forget([{ kind: 'Route', namespace: 'a', name: 'web' }]);
  await writer.idle();
  t.is(api.writes(ROUTE), writes, 'nothing to remove: no write');
  // Forgetting a deleted route is quiet.
  writer.forget([{ kind: 'Route', namespace: 'a', name: 'gone' }]);
  await writer.idle();
  t.pass();
});

test('a 409 conflict is retried with a fresh GET and keeps the concurrent change', async (t) => {
  const { api, writer, metrics } = await setUp(t);
  api.create(route());
  let raced = false;
  api.onRequest = ({ method, path }) => {
    if (method === 'PATCH' && path.endsWith('/routes/web/status') && !raced) {
      raced = true;
      // Another router writes its entry between our GET and our PATCH.
      const current = api.get<any>(ROUTE);
      api.update({ ...current, status: { ingress: [OTHER] } });
    }
  };
  writer.sync([result(true)]);
  await writer.idle();
  t.true(raced);
  const ingress = api.get<any>(ROUTE).status.ingress;
  t.deepEqual(ingress.map((e: any) => e.routerName), ['other-shard', 'edge']);
  const values = (await metrics.statusWrites.get()).values;
  t.is(values.find((v) => v.labels.result === 'conflict')?.value, 1);
  t.is(values.find((v) => v.labels.result === 'ok')?.value, 1);
});

test('writes to many routes are all made, each once', async (t) => {
  const { api, writer } = await setUp(t);
  const results: AdmissionResult[] = [];
  for (let i = 0; i < 30; i++) {
    api.create({ ...route(), metadata: { namespace: 'a', name: `r${i}` } });
    results.push(result(true, { key: `Route/a/r${i}`, name: `r${i}`, host: `r${i}.example.com` }));
  }
  writer.sync(results);
  await writer.idle();
  for (let i = 0; i < 30; i++) {
    const ref = { kind: 'Route', namespace: 'a', name: `r${i}` };
    t.is(ourEntry(api, ref)?.host, `r${i}.example.com`);
    t.is(api.writes(ref), 1);
  }
});

test('Ingress status.loadBalancer: canonical hostname or published IPs, only on change', async (t) => {
  const ingress = {
    apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { namespace: 'a', name: 'ing' },
    spec: { ingressClassName: 'switchyard', rules: [{ host: 'i.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } }] },
  };
  const ref = { kind: 'Ingress', namespace: 'a', name: 'ing' };
  const ingressResult: AdmissionResult = { key: 'Ingress/a/ing', kind: 'Ingress', namespace: 'a', name: 'ing', host: 'i.example.com', wildcardPolicy: 'None', admitted: true };
  {
    const { api, writer } = await setUp(t);
    api.create(ingress);
    writer.sync([ingressResult]);
    await writer.idle();
    t.deepEqual(api.get<any>(ref).status.loadBalancer.ingress, [{ hostname: 'router.apps.example.com' }]);
    writer.sync([ingressResult]);
    await writer.idle();
    t.is(api.writes(ref), 1);
    writer.forget([{ kind: 'Ingress', namespace: 'a', name: 'ing' }]);
    await writer.idle();
    t.deepEqual(api.get<any>(ref).status.loadBalancer.ingress, []);
  }
  {
    const { api, writer } = await setUp(t, { publishStatusAddress: ['192.0.2.10', '192.0.2.11'] });
    api.create(ingress);
    writer.sync([ingressResult]);
    await writer.idle();
    t.deepEqual(api.get<any>(ref).status.loadBalancer.ingress, [{ ip: '192.0.2.10' }, { ip: '192.0.2.11' }]);
  }
  {
    // Another router's (or controller's) address is kept, ours added beside it and later taken out alone.
    const { api, writer } = await setUp(t);
    api.create({ ...ingress, status: { loadBalancer: { ingress: [{ hostname: 'shard-b.apps.example.com' }] } } });
    writer.sync([ingressResult]);
    await writer.idle();
    t.deepEqual(api.get<any>(ref).status.loadBalancer.ingress, [{ hostname: 'shard-b.apps.example.com' }, { hostname: 'router.apps.example.com' }]);
    writer.sync([{ ...ingressResult, admitted: false, reason: 'NotOurs' }]);
    await writer.idle();
    t.deepEqual(api.get<any>(ref).status.loadBalancer.ingress, [{ hostname: 'shard-b.apps.example.com' }]);
  }
});
