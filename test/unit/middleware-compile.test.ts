// A Middleware is validated and compiled once per generation, not per route or per rebuild
// (issue 19 item 6): 300 routes naming one Middleware cost one validation, share one compiled
// (frozen) config, and an EndpointSlice change validates nothing; a config over the size cap is
// refused with a clear reason (its routes fail closed); a table delta crossing to the workers
// carries each config once, not once per route.
import test from 'ava';
import { silentLogger } from '../../src/log.ts';
import type { KubeObject, Kind } from '../../src/objects/types.ts';
import { ObjectStore } from '../../src/store.ts';
import { Reconciler } from '../../src/controller/reconciler.ts';
import { MIDDLEWARE_CONFIG_MAX_BYTES, type PluginCatalog } from '../../src/admission/middlewares.ts';
import { deserialize, serialize } from 'node:v8';
import type { CompiledRoute, TableDelta } from '../../src/table/types.ts';
import { config, created, endpoint, route, service, slice } from '../fixtures/table/builders.ts';

const ROUTES = 300;

function counting(): PluginCatalog & { calls: number } {
  const catalog = {
    calls: 0,
    validate(_plugin: string, value: unknown) {
      catalog.calls++;
      return { ok: true as const, value: structuredClone(value ?? {}) };
    },
  };
  return catalog;
}

function middleware(keys: string[], generation = 1): KubeObject {
  return { apiVersion: 'switchyard.io/v1alpha1', kind: 'Middleware', metadata: { name: 'big', namespace: 'ns', generation }, spec: { plugin: 'api-key', config: { keys } } } as KubeObject;
}

function setup(keys: string[]) {
  const store = new ObjectStore();
  const catalog = counting();
  const add = (...objects: KubeObject[]) => {
    for (const o of objects) store.upsert(o.kind as Kind, o);
    store.flush();
  };
  add(service('ns', 'web'), slice('ns', 'web', [endpoint('10.0.0.1')]), middleware(keys));
  for (let i = 0; i < ROUTES; i++) add(route('ns', `r${i}`, { host: `r${i}.test`, to: { kind: 'Service', name: 'web' } }, { ...created(i + 1), annotations: { 'switchyard.io/middlewares': 'big' } }));
  const reconciler = new Reconciler(store, { config: config(), logger: silentLogger, plugins: catalog });
  const deltas: TableDelta[] = [];
  reconciler.on('delta', (d: TableDelta) => deltas.push(d));
  reconciler.start();
  const routes = () => reconciler.snapshot().upsert.flatMap((e) => e.routes);
  return { store, catalog, reconciler, add, routes, deltas };
}

const keys = Array.from({ length: 200 }, (_, i) => `key-${String(i).padStart(20, '0')}`);

test('300 routes naming one Middleware: one validation, one shared frozen config', (t) => {
  const s = setup(keys);
  t.is(s.catalog.calls, 1);
  const routes = s.routes();
  t.is(routes.length, ROUTES);
  const first = routes[0]!.middlewares[0]!;
  t.true(routes.every((r) => r.middlewares[0] === first), 'one compiled Middleware shared by every route');
  t.true(Object.isFrozen(first.config) && Object.isFrozen((first.config as { keys: string[] }).keys), 'the config is frozen');
  t.is(typeof first.version, 'string');
});

test('an EndpointSlice change validates nothing; a new generation of the Middleware validates once', (t) => {
  const s = setup(keys);
  s.add(slice('ns', 'web', [endpoint('10.0.0.1'), endpoint('10.0.0.2')]));
  t.is(s.catalog.calls, 1, 'no validation for an endpoint change');
  const before = s.routes()[0]!.middlewares[0]!;
  s.add(middleware([...keys, 'key-another-one-0000000'], 2));
  t.is(s.catalog.calls, 2, 'one validation for the new generation, whatever the number of routes');
  const after = s.routes()[0]!.middlewares[0]!;
  t.not(after.version, before.version);
});

test(`a config over ${MIDDLEWARE_CONFIG_MAX_BYTES} bytes of JSON is refused with its size; its routes fail closed`, (t) => {
  const huge = Array.from({ length: Math.ceil(MIDDLEWARE_CONFIG_MAX_BYTES / 20) }, (_, i) => `k-${String(i).padStart(16, '0')}`);
  const s = setup(huge);
  t.is(s.catalog.calls, 0, 'not even validated');
  const result = s.reconciler.admissionResults().find((r) => r.name === 'r0')!;
  t.like(result, { admitted: false, reason: 'InvalidMiddleware' });
  t.regex(result.message!, /middleware "ns\/big": spec\.config is \d+ bytes of JSON, more than the 262144 a Middleware config may have/);
  t.regex(s.routes()[0]!.middlewareError!, /more than the 262144/);
});

test('a delta posted to the worker threads carries each config once, and arrives with one shared config per Middleware', (t) => {
  const s = setup(keys);
  const snapshot = s.reconciler.snapshot();
  const configBytes = JSON.stringify(s.routes()[0]!.middlewares[0]!.config).length;
  // postMessage's structured clone (v8 serializer): an object referenced by every route is written once.
  const wire = serialize(snapshot);
  t.true(wire.length < ROUTES * configBytes, `${wire.length} bytes for ${ROUTES} routes of a ${configBytes}-byte config`);
  const received = deserialize(wire) as TableDelta;
  const routes: CompiledRoute[] = received.upsert.flatMap((e) => e.routes);
  t.deepEqual(routes[0]!.middlewares[0]!.config, s.routes()[0]!.middlewares[0]!.config);
  t.true(routes.every((r) => r.middlewares[0]!.config === routes[0]!.middlewares[0]!.config));
});
