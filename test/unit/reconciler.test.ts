import test from 'ava';
import type { RouterConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/log.ts';
import { Metrics } from '../../src/metrics.ts';
import type { KubeObject } from '../../src/objects/types.ts';
import { ObjectStore } from '../../src/store.ts';
import { Reconciler, type UnselectedRoute } from '../../src/controller/reconciler.ts';
import { RouteTable } from '../../src/table/route-table.ts';
import type { AdmissionResult, TableDelta } from '../../src/table/types.ts';
import {
  config, created, endpoint, ingress, ingressClass, namespace, pod, route, service, simpleIngress, slice, tlsSecret,
} from '../fixtures/table/builders.ts';
import { selfSignedCertificate } from '../support/certs.ts';

function setup(overrides: Partial<RouterConfig> = {}, initial: KubeObject[] = []) {
  const store = new ObjectStore();
  for (const o of initial) store.upsert(o.kind as 'Route', o);
  store.flush();
  const metrics = new Metrics({ defaultMetrics: false });
  const reconciler = new Reconciler(store, { config: config(overrides), logger: silentLogger, metrics });
  const deltas: TableDelta[] = [];
  const admissions: Array<[AdmissionResult[], UnselectedRoute[]]> = [];
  reconciler.on('delta', (d: TableDelta) => deltas.push(d));
  reconciler.on('admission', (changed: AdmissionResult[], unselected: UnselectedRoute[]) => admissions.push([changed, unselected]));
  reconciler.start();
  const table = new RouteTable<string>((r) => r.key, () => {});
  table.apply(reconciler.snapshot());
  const apply = (...objects: KubeObject[]) => {
    deltas.length = 0;
    admissions.length = 0;
    for (const o of objects) store.upsert(o.kind as 'Route', o);
    store.flush();
    for (const d of deltas) table.apply(d);
  };
  const remove = (kind: 'Route' | 'Ingress' | 'EndpointSlice' | 'Pod' | 'Secret' | 'IngressClass' | 'Namespace', key: string) => {
    deltas.length = 0;
    admissions.length = 0;
    store.remove(kind, key);
    store.flush();
    for (const d of deltas) table.apply(d);
  };
  return { store, reconciler, deltas, admissions, metrics, table, apply, remove };
}

test('start compiles what is already in the store; snapshot is the whole table', (t) => {
  const s = setup({}, [route('ns', 'r', { host: 'a.com' }), slice('ns', 'svc', [endpoint('10.0.0.1')])]);
  t.is(s.table.match('a.com', '/'), 'Route/ns/r');
  const snap = s.reconciler.snapshot();
  t.deepEqual(snap.remove, []);
  t.is(snap.upsert[0]!.routes[0]!.services[0]!.endpoints[0]!.address, '10.0.0.1');
  t.is(snap.defaultBackend, null);
});

test('incremental: one Service\'s slice change re-emits only the hosts using it', (t) => {
  const objects: KubeObject[] = [];
  for (let i = 0; i < 40; i++) {
    objects.push(route('ns', `r${i}`, { host: `h${i}.example.com`, to: { kind: 'Service', name: `svc${i % 20}` } }));
    objects.push(slice('ns', `svc${i % 20}`, [endpoint(`10.0.${i % 20}.1`)]));
  }
  const s = setup({}, objects);
  let slicesCalls = 0;
  const original = s.store.slicesOf.bind(s.store);
  s.store.slicesOf = (key: string) => { slicesCalls++; return original(key); };
  s.apply(slice('ns', 'svc3', [endpoint('10.0.3.1'), endpoint('10.0.3.2')]));
  t.is(s.deltas.length, 1);
  t.deepEqual(s.deltas[0]!.upsert.map((e) => e.key).sort(), ['h23.example.com', 'h3.example.com']);
  t.deepEqual(s.deltas[0]!.remove, []);
  t.is(slicesCalls, 2, 'only the two hosts using svc3 were recompiled');
  t.is(s.admissions.length, 0, 'no admission change');
  // A change that alters nothing compiled emits no delta.
  s.apply(slice('ns', 'svc3', [endpoint('10.0.3.1'), endpoint('10.0.3.2')], [{ port: 8080 }], 'svc3-other'));
  t.is(s.deltas.length, 0);
  // A Route change (all 40 hosts share the parent domain) recompiles its own host only.
  slicesCalls = 0;
  s.apply(route('ns', 'r5', { host: 'h5.example.com', path: '/x', to: { kind: 'Service', name: 'svc5' } }));
  t.deepEqual(s.deltas[0]!.upsert.map((e) => e.key), ['h5.example.com']);
  t.is(slicesCalls, 1);
  t.is(s.admissions.length, 0, 'still admitted on the same host: no status change');
});

test('host changes move the route; deletion removes the host and reports the route as unselected', (t) => {
  const s = setup({}, [route('ns', 'r', { host: 'a.com' }, created(1))]);
  s.apply(route('ns', 'r', { host: 'b.com' }, created(1)));
  t.deepEqual(s.deltas[0]!.remove, ['a.com']);
  t.deepEqual(s.deltas[0]!.upsert.map((e) => e.key), ['b.com']);
  t.is(s.table.match('a.com', '/'), null);
  t.is(s.table.match('b.com', '/'), 'Route/ns/r');
  t.is(s.admissions[0]![0][0]!.host, 'b.com');
  s.remove('Route', 'ns/r');
  t.deepEqual(s.deltas[0]!.remove, ['b.com']);
  t.deepEqual(s.admissions[0], [[], [{ kind: 'Route', namespace: 'ns', name: 'r' }]]);
  t.deepEqual(s.reconciler.admissionResults(), []);
});

test('rejections are reported once per change, with reason; metrics count states', async (t) => {
  const s = setup();
  s.apply(route('ns', 'bad', { host: 'Not_Valid' }), route('ns', 'good', { host: 'ok.com' }));
  const [changed] = s.admissions[0]!;
  t.deepEqual(changed.map((r) => [r.name, r.admitted, r.reason]).sort(), [['bad', false, 'InvalidHost'], ['good', true, undefined]]);
  s.apply(route('ns', 'bad', { host: 'Not_Valid' }, { labels: { touched: 'yes' } }));
  t.is(s.admissions.length, 0, 'same result, no event');
  const text = await s.metrics.registry.metrics();
  t.regex(text, /switchyard_routes\{state="admitted"\} 1/);
  t.regex(text, /switchyard_routes\{state="rejected"\} 1/);
  t.regex(text, /switchyard_table_updates_total [1-9]/);
});

test('namespace label changes re-evaluate that namespace\'s routes (shard)', (t) => {
  const s = setup({ namespaceLabels: 'router=public' }, [namespace('a', { router: 'public' }), namespace('b'), route('a', 'r', { host: 'a.com' }), route('b', 'r', { host: 'b.com' })]);
  t.deepEqual(s.reconciler.admissionResults().map((r) => r.key), ['Route/a/r']);
  t.is(s.table.match('b.com', '/'), null);
  s.apply(namespace('b', { router: 'public' }));
  t.is(s.table.match('b.com', '/'), 'Route/b/r');
  t.deepEqual(s.admissions[0]![0].map((r) => r.key), ['Route/b/r']);
  s.apply(namespace('a', { router: 'internal' }));
  t.is(s.table.match('a.com', '/'), null);
  t.deepEqual(s.admissions[0], [[], [{ kind: 'Route', namespace: 'a', name: 'r' }]]);
});

test('an invalid --route-labels selector fails construction with a clear message', (t) => {
  t.throws(() => new Reconciler(new ObjectStore(), { config: config({ routeLabels: 'a in (b' }), logger: silentLogger }), { message: /invalid label selector "a in \(b"/ });
});

test('IngressClass changes re-evaluate Ingresses; Ingresses not ours get no result', (t) => {
  const ing = ingress('ns', 'i', { ingressClassName: 'edge', rules: [{ host: 'i.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 's', port: { number: 80 } } } }] } }] });
  const s = setup({}, [ing, ingress('ns', 'nginx', { ingressClassName: 'nginx', rules: [] })]);
  t.deepEqual(s.reconciler.admissionResults(), []);
  s.apply(ingressClass('edge', 'switchyard.io/ingress-controller'));
  t.is(s.table.match('i.com', '/x'), 'Ingress/ns/i/0/0');
  t.deepEqual(s.reconciler.admissionResults().map((r) => [r.key, r.admitted]), [['Ingress/ns/i', true]]);
  s.remove('IngressClass', 'edge');
  t.is(s.table.match('i.com', '/x'), null);
  t.deepEqual(s.admissions[0], [[], [{ kind: 'Ingress', namespace: 'ns', name: 'i' }]]);
});

test('Ingress default backend: the oldest admitted one wins; deletion promotes the next', (t) => {
  const withDefault = (name: string, svc: string, n: number) => ingress('ns', name, { defaultBackend: { service: { name: svc, port: { number: 80 } } } }, created(n));
  const s = setup({}, [withDefault('young', 'y', 2), withDefault('old', 'o', 1), route('ns', 'r', { host: 'a.com' })]);
  t.is(s.table.match('unknown.com', '/'), 'Ingress/ns/old/default');
  t.is(s.table.match('a.com', '/'), 'Route/ns/r');
  s.remove('Ingress', 'ns/old');
  t.is(s.deltas[0]!.defaultBackend?.key, 'Ingress/ns/young/default');
  t.is(s.table.match('unknown.com', '/'), 'Ingress/ns/young/default');
  // Endpoints of the default backend's service are tracked too.
  s.apply(service('ns', 'y', [{ port: 80, targetPort: 8080 }]), slice('ns', 'y', [endpoint('10.9.9.9')]));
  t.is(s.deltas[0]!.defaultBackend?.services[0]!.endpoints[0]!.address, '10.9.9.9');
  s.remove('Ingress', 'ns/young');
  t.is(s.deltas[0]!.defaultBackend, null);
  t.is(s.table.match('unknown.com', '/'), null);
});

test('Pod annotation changes recompile autoport routes; skipped endpoints are a gauge', async (t) => {
  const annotations = { 'switchyard.io/target-port-annotation': 'AUTO_PORT0' };
  const s = setup({}, [
    route('ns', 'r', { host: 'a.com' }, { annotations }),
    slice('ns', 'svc', [endpoint('10.0.0.1', { targetRef: { kind: 'Pod', name: 'p', namespace: 'ns' } })]),
    pod('ns', 'p'),
  ]);
  t.deepEqual(s.reconciler.snapshot().upsert[0]!.routes[0]!.services[0]!.endpoints, []);
  t.regex(await s.metrics.registry.metrics(), /switchyard_endpoints_skipped\{route="Route\/ns\/r",reason="annotation-missing"\} 1/);
  s.apply(pod('ns', 'p', { AUTO_PORT0: '20005' }));
  t.is(s.deltas[0]!.upsert[0]!.routes[0]!.services[0]!.endpoints[0]!.port, 20005);
  t.notRegex(await s.metrics.registry.metrics(), /switchyard_endpoints_skipped\{/);
});

test('Secret changes recompile routes that reference them', async (t) => {
  const [first, second] = await Promise.all([selfSignedCertificate(['a.com']), selfSignedCertificate(['a.com'])]);
  const s = setup({}, [route('ns', 'r', { host: 'a.com', tls: { termination: 'edge', externalCertificate: { name: 'cert' } } })]);
  t.is(s.reconciler.snapshot().upsert.length, 0, 'a missing externalCertificate Secret rejects the Route');
  s.apply(tlsSecret('ns', 'cert', first.cert, first.key));
  t.deepEqual(s.deltas[0]!.upsert[0]!.routes[0]!.tls!.certificate, { cert: first.cert, key: first.key });
  s.apply(tlsSecret('ns', 'cert', second.cert, second.key));
  t.deepEqual(s.deltas[0]!.upsert[0]!.routes[0]!.tls!.certificate, { cert: second.cert, key: second.key });
  s.apply(tlsSecret('ns', 'unrelated', 'X', 'Y'));
  t.is(s.deltas.length, 0);
});

test('a Route and an Ingress on one host are ordered by path specificity and both served', (t) => {
  const s = setup({}, [
    route('ns', 'r', { host: 'x.com', path: '/app' }, created(1)),
    simpleIngress('ns', 'i', [{ host: 'x.com', path: '/app/api', pathType: 'Prefix' }], created(2)),
  ]);
  t.is(s.table.match('x.com', '/app/api/v1'), 'Ingress/ns/i/0/0');
  t.is(s.table.match('x.com', '/app/other'), 'Route/ns/r');
  t.is(s.table.match('x.com', '/apple'), null);
});

test('a malformed object is rejected, not fatal', (t) => {
  const broken = { apiVersion: 'route.openshift.io/v1', kind: 'Route', metadata: { name: 'x', namespace: 'ns' } } as unknown as KubeObject;
  const s = setup({}, [broken, route('ns', 'ok', { host: 'ok.com' })]);
  t.is(s.table.match('ok.com', '/'), 'Route/ns/ok');
  const result = s.reconciler.admissionResults().find((r) => r.name === 'x')!;
  t.false(result.admitted);
});

test('Ingress rules without host: compiled into the "*" entry, served for any Host, tracked and removed incrementally', (t) => {
  const backend = (name: string) => ({ service: { name, port: { number: 80 } } });
  const catchAll = ingress('ns', 'catch', {
    tls: [{ hosts: ['a.com'], secretName: 'a-tls' }],
    defaultBackend: backend('fallback'),
    rules: [
      { host: 'a.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: backend('a') }] } },
      { http: { paths: [{ path: '/api', pathType: 'Prefix', backend: backend('api') }, { path: '/api', pathType: 'Exact', backend: backend('exact') }] } },
    ],
  }, created(1));
  const s = setup({}, [catchAll, service('ns', 'api', [{ port: 80, targetPort: 8080 }]), slice('ns', 'api', [endpoint('10.1.1.1')])]);
  const entry = s.reconciler.snapshot().upsert.find((e) => e.key === '*')!;
  t.deepEqual(entry.routes.map((r) => [r.key, r.host, r.match, r.tls]), [['Ingress/ns/catch/1/1', '', 'exact', null], ['Ingress/ns/catch/1/0', '', 'prefix', null]]);
  t.deepEqual(s.reconciler.admissionResults().map((r) => [r.key, r.admitted]), [['Ingress/ns/catch', true]]);
  t.is(s.table.match('a.com', '/api'), 'Ingress/ns/catch/0/0');
  t.is(s.table.match('b.com', '/api'), 'Ingress/ns/catch/1/1');
  t.is(s.table.match('10.0.0.7', '/api/x'), 'Ingress/ns/catch/1/0');
  t.is(s.table.match('b.com', '/other'), 'Ingress/ns/catch/default');
  // A change to a Service the slot uses recompiles that entry only.
  s.apply(slice('ns', 'api', [endpoint('10.1.1.1'), endpoint('10.1.1.2')]));
  t.deepEqual(s.deltas.map((d) => d.upsert.map((e) => e.key)), [['*']]);
  t.deepEqual(s.deltas[0]!.upsert[0]!.routes[1]!.services[0]!.endpoints.map((e) => e.address).sort(), ['10.1.1.1', '10.1.1.2']);
  // Dropping the rule without host removes the entry; the host rule and default stay.
  s.apply(ingress('ns', 'catch', { ...catchAll.spec, rules: [catchAll.spec!.rules![0]!] }, created(1)));
  t.deepEqual(s.deltas.map((d) => d.remove), [['*']]);
  t.is(s.table.match('b.com', '/api'), 'Ingress/ns/catch/default');
  t.is(s.table.match('a.com', '/api'), 'Ingress/ns/catch/0/0');
});
