// The dashboard's rows from a real reconciler: one per served route and per rejected one,
// filtered, sorted and paginated on the router; endpoint health from the shared endpoint states;
// Middlewares shown by name and plugin only (their config may hold credentials).
import test from 'ava';
import { EventEmitter } from 'node:events';
import { silentLogger } from '../../src/log.ts';
import { Metrics } from '../../src/metrics.ts';
import { ObjectStore } from '../../src/store.ts';
import { Reconciler } from '../../src/controller/reconciler.ts';
import { ActiveHealthMonitor } from '../../src/health/active-monitor.ts';
import { EndpointRegistry } from '../../src/health/endpoint-registry.ts';
import { DashboardViews, type LiveFigures } from '../../src/admin/dashboard-views.ts';
import { ProbeResults } from '../../src/admin/probe-results.ts';
import type { KubeObject } from '../../src/objects/types.ts';
import type { CompiledRoute, TableDelta } from '../../src/table/types.ts';
import { config, created, endpoint, route, service, slice } from '../fixtures/table/builders.ts';

const noFigures: LiveFigures = { stats: new Map(), windowSeconds: null, endpoints: new Map() };

function setup(objects: KubeObject[]) {
  const store = new ObjectStore();
  for (const o of objects) store.upsert(o.kind as 'Route', o);
  store.flush();
  const reconciler = new Reconciler(store, { config: config(), logger: silentLogger, metrics: new Metrics({ defaultMetrics: false }) });
  reconciler.start();
  const registry = new EndpointRegistry();
  for (const entry of reconciler.snapshot().upsert) for (const r of entry.routes) for (const s of r.services) for (const ep of s.endpoints) registry.acquire(ep);
  const monitor = new ActiveHealthMonitor({ logger: silentLogger });
  const views = new DashboardViews(reconciler, registry, new ProbeResults(monitor));
  return { store, reconciler, registry, views };
}

function shop(): KubeObject[] {
  const objects: KubeObject[] = [service('store', 'shop'), slice('store', 'shop', [endpoint('10.0.0.1'), endpoint('10.0.0.2')])];
  objects.push(route('store', 'shop', { host: 'shop.example.test', to: { kind: 'Service', name: 'shop', weight: 100 } }, created(1)));
  // Newer claim on the same host from another namespace: HostAlreadyClaimed.
  objects.push(route('press', 'copy', { host: 'shop.example.test', to: { kind: 'Service', name: 'shop', weight: 100 } }, created(2)));
  for (let i = 0; i < 250; i++) {
    objects.push(service('bulk', `s${i}`), slice('bulk', `s${i}`, [endpoint(`10.1.${i >> 8}.${i & 255}`)]));
    objects.push(route('bulk', `r${String(i).padStart(3, '0')}`, { host: `r${i}.bulk.test`, to: { kind: 'Service', name: `s${i}`, weight: 100 } }, created(10 + i)));
  }
  return objects;
}

test('one row per route, admitted or rejected with its reason; pages of at most the limit', (t) => {
  const { views } = setup(shop());
  const all = views.routes({ limit: 100 }, noFigures);
  t.is(all.total, 252);
  t.is(all.items.length, 100);
  t.deepEqual(all.namespaces, ['bulk', 'press', 'store']);
  const last = views.routes({ offset: 200, limit: 100 }, noFigures);
  t.is(last.items.length, 52);
  const rejected = views.routes({ state: 'rejected' }, noFigures);
  t.is(rejected.total, 1);
  t.like(rejected.items[0], { key: 'Route/press/copy', state: 'rejected', reason: 'HostAlreadyClaimed', host: 'shop.example.test', backends: [] });
  const admitted = views.routes({ q: 'shop.example', state: 'admitted' }, noFigures);
  t.is(admitted.total, 1);
  t.like(admitted.items[0], { key: 'Route/store/shop', termination: 'http', endpoints: 2, available: 2, stats: null });
  t.is(views.routes({ namespace: 'store' }, noFigures).total, 1);
  t.is(views.routes({ q: 'r042.BULK', limit: 5 }, noFigures).total, 0, 'matches host or namespace/name');
  t.is(views.routes({ q: 'bulk/r042' }, noFigures).total, 1);
});

test('an endpoint down by active check makes its route degraded, then down; figures from the sample', (t) => {
  const { views, registry } = setup(shop());
  const row = () => views.routes({ q: 'store/shop' }, noFigures).items[0]!;
  const [a, b] = row().backends[0]!.endpoints;
  registry.get(a!.id)!.activeUp = false;
  t.is(views.routes({ state: 'degraded' }, noFigures).total, 1);
  t.is(views.routes({ state: 'down' }, noFigures).total, 0);
  const live: LiveFigures = {
    stats: new Map([['store/shop', { requests: 30, rate: 0.5, errorRatio: 0.1, p50: 0.01, p99: 0.2, grpc: null, windowSeconds: 60 }]]),
    windowSeconds: 60,
    endpoints: new Map([[b!.name, { inFlight: 3, ejectedUntil: Date.now() + 60_000 }]]),
  };
  const ejected = views.routes({ state: 'down' }, live);
  t.is(ejected.total, 1, 'the other endpoint is ejected in a worker: nothing available');
  const view = ejected.items[0]!;
  t.like(view.backends[0]!.endpoints[1], { up: true, inFlight: 3, available: false });
  t.true(view.backends[0]!.endpoints[1]!.ejectedUntil! > Date.now());
  t.is(view.stats!.rate, 0.5);
  // Routes without series had no requests in the window: zero, not unknown.
  t.like(views.routes({ q: 'bulk/r001' }, live).items[0]!.stats, { requests: 0, rate: 0, errorRatio: null });
  t.is(views.routes({ sort: 'rate', limit: 1 }, live).items[0]!.key, 'Route/store/shop');
  const counts = views.counts(live);
  t.like(counts, { routes: 252, admitted: 251, rejected: 1, down: 1, endpoints: 252, endpointsAvailable: 250 });
});

test('a route\'s Middlewares show by name and plugin, never with their config', (t) => {
  const compiled = {
    key: 'Route/ns/a', kind: 'Route', namespace: 'ns', name: 'a', host: 'a.test', wildcard: false, path: '', match: 'route',
    services: [], tls: null, policy: {},
    middlewares: [{ name: 'ns/auth', plugin: 'basic-auth', config: { password: 'hunter2' } }],
  } as unknown as CompiledRoute;
  const reconciler = Object.assign(new EventEmitter(), {
    snapshot: (): TableDelta => ({ version: 1, upsert: [{ key: 'a.test', routes: [compiled] }], remove: [] }),
    admissionResults: () => [{ key: 'Route/ns/a', kind: 'Route' as const, namespace: 'ns', name: 'a', host: 'a.test', wildcardPolicy: 'None' as const, admitted: true }],
  }) as unknown as Reconciler;
  const registry = new EndpointRegistry();
  const views = new DashboardViews(reconciler, registry, new ProbeResults(new ActiveHealthMonitor({ logger: silentLogger })));
  const row = views.routes({}, noFigures).items[0]!;
  t.deepEqual(row.middlewares, [{ name: 'ns/auth', plugin: 'basic-auth' }]);
  t.false(JSON.stringify(views.detail('Route/ns/a', noFigures)).includes('hunter2'));
});
