// Host ownership with passthrough Routes: the router never sees the path of a passthrough
// connection, so a passthrough Route cannot share its host (or wildcard domain) with any other
// claim, whatever the paths and namespaces; the older claim wins, deleting it promotes the next.
import test from 'ava';
import type { RouterConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/log.ts';
import type { KubeObject, Route } from '../../src/objects/types.ts';
import { ObjectStore } from '../../src/store.ts';
import { Reconciler } from '../../src/controller/reconciler.ts';
import type { TableDelta } from '../../src/table/types.ts';
import { config, created, route, simpleIngress } from '../fixtures/table/builders.ts';

function setup(overrides: Partial<RouterConfig> = {}) {
  const store = new ObjectStore();
  const reconciler = new Reconciler(store, { config: config(overrides), logger: silentLogger });
  const hosts = new Map<string, string[]>();
  reconciler.on('delta', (delta: TableDelta) => {
    for (const key of delta.remove) hosts.delete(key);
    for (const entry of delta.upsert) hosts.set(entry.key, entry.routes.map((r) => r.key));
  });
  reconciler.start();
  const admitted = () => reconciler.admissionResults().filter((r) => r.admitted).map((r) => r.name).sort();
  const result = (name: string) => reconciler.admissionResults().find((r) => r.name === name);
  return { store, admitted, result, hosts };
}

function add(store: ObjectStore, ...objects: KubeObject[]) {
  for (const o of objects) store.upsert(o.kind as 'Route', o);
  store.flush();
}

function remove(store: ObjectStore, kind: 'Route' | 'Ingress', key: string) {
  store.remove(kind, key);
  store.flush();
}

const passthrough = (ns: string, name: string, host: string, n: number, extra: Partial<Route['spec']> = {}): Route =>
  route(ns, name, { host, tls: { termination: 'passthrough' }, ...extra }, created(n));
const edge = (ns: string, name: string, host: string, path: string, n: number, extra: Partial<Route['spec']> = {}): Route =>
  route(ns, name, { host, ...(path ? { path } : {}), tls: { termination: 'edge' }, ...extra }, created(n));

test('an older passthrough route keeps its host: a younger edge route with a path is rejected, naming the owner and why', (t) => {
  const { store, admitted, result, hosts } = setup();
  add(store, passthrough('ns', 'pass', 'p.example.com', 1), edge('ns', 'api', 'p.example.com', '/api', 2));
  t.deepEqual(admitted(), ['pass']);
  const rejected = result('api')!;
  t.is(rejected.reason, 'HostAlreadyClaimed');
  t.regex(rejected.message!, /route ns\/pass/);
  t.regex(rejected.message!, /passthrough hosts cannot be shared/);
  t.deepEqual(hosts.get('p.example.com'), ['Route/ns/pass']);
});

test('a younger passthrough route cannot join a host already served by path-based routes', (t) => {
  const { store, admitted, result } = setup();
  add(store,
    edge('ns', 'api', 'p.example.com', '/api', 1),
    route('ns', 'plain', { host: 'p.example.com', path: '/web' }, created(2)),
    passthrough('ns', 'pass', 'p.example.com', 3));
  t.deepEqual(admitted(), ['api', 'plain']);
  const rejected = result('pass')!;
  t.is(rejected.reason, 'HostAlreadyClaimed');
  t.regex(rejected.message!, /route ns\/api already exposes p\.example\.com and is older; this route uses passthrough/);
});

test('deleting the older claim promotes the younger one, both ways', (t) => {
  const first = setup();
  add(first.store, passthrough('ns', 'pass', 'p.example.com', 1), edge('ns', 'api', 'p.example.com', '/api', 2), edge('ns', 'web', 'p.example.com', '/web', 3));
  t.deepEqual(first.admitted(), ['pass']);
  remove(first.store, 'Route', 'ns/pass');
  t.deepEqual(first.admitted(), ['api', 'web'], 'the edge routes do not conflict with each other');
  t.deepEqual(first.hosts.get('p.example.com')?.sort(), ['Route/ns/api', 'Route/ns/web']);

  const second = setup();
  add(second.store, edge('ns', 'api', 'p.example.com', '/api', 1), passthrough('ns', 'pass', 'p.example.com', 2));
  t.deepEqual(second.admitted(), ['api']);
  remove(second.store, 'Route', 'ns/api');
  t.deepEqual(second.admitted(), ['pass']);
  t.deepEqual(second.hosts.get('p.example.com'), ['Route/ns/pass']);
});

test('two passthrough routes on one host: the older wins, regardless of arrival order', (t) => {
  for (const order of [[1, 2], [2, 1]] as const) {
    const { store, admitted, result } = setup();
    const routes = { old: passthrough('ns', 'old', 'p.example.com', 1), young: passthrough('ns', 'young', 'p.example.com', 2) };
    const [a, b] = order[0] === 1 ? [routes.old, routes.young] : [routes.young, routes.old];
    add(store, a);
    add(store, b);
    t.deepEqual(admitted(), ['old']);
    t.regex(result('young')!.message!, /route ns\/old .*passthrough hosts cannot be shared/);
  }
});

test('--disable-namespace-ownership-check does not let another namespace share a passthrough host', (t) => {
  const { store, admitted, result } = setup({ disableNamespaceOwnershipCheck: true });
  add(store, passthrough('ns1', 'pass', 'p.example.com', 1), edge('ns2', 'api', 'p.example.com', '/api', 2), edge('ns2', 'other', 'q.example.com', '/api', 3));
  t.deepEqual(admitted(), ['other', 'pass']);
  t.is(result('api')!.reason, 'HostAlreadyClaimed');
});

test('an Ingress on a passthrough host is rejected for that host only; an older Ingress keeps the host', (t) => {
  const first = setup();
  add(first.store,
    passthrough('ns', 'pass', 'p.example.com', 1),
    simpleIngress('ns', 'ing', [{ host: 'p.example.com', path: '/api' }, { host: 'i.example.com' }], created(2)));
  t.deepEqual(first.admitted(), ['pass']);
  const ing = first.result('ing')!;
  t.is(ing.reason, 'HostAlreadyClaimed');
  t.regex(ing.message!, /host "p\.example\.com".*route ns\/pass.*passthrough/);
  t.truthy(first.hosts.get('i.example.com'), 'the Ingress still serves its other host');

  const second = setup();
  add(second.store,
    simpleIngress('ns', 'ing', [{ host: 'p.example.com', path: '/api' }], created(1)),
    passthrough('ns', 'pass', 'p.example.com', 2));
  t.deepEqual(second.admitted(), ['ing']);
  t.regex(second.result('pass')!.message!, /ingress ns\/ing already exposes p\.example\.com/);
});

test('wildcard passthrough: it owns its wildcard domain, exact hosts under it are separate scopes', (t) => {
  const { store, admitted, result } = setup({ allowWildcardRoutes: true });
  add(store,
    passthrough('ns', 'wild-pass', 'www.w.example.com', 1, { wildcardPolicy: 'Subdomain' }),
    edge('ns', 'wild-edge', 'any.w.example.com', '/api', 2, { wildcardPolicy: 'Subdomain' }),
    edge('ns', 'exact', 'exact.w.example.com', '/api', 3));
  t.deepEqual(admitted(), ['exact', 'wild-pass']);
  t.regex(result('wild-edge')!.message!, /route ns\/wild-pass already exposes \*\.w\.example\.com and is older; it uses passthrough/);
  remove(store, 'Route', 'ns/wild-pass');
  t.deepEqual(admitted(), ['exact', 'wild-edge']);
});

test('edge routes on different paths still share a host (no regression)', (t) => {
  const { store, admitted } = setup();
  add(store, edge('ns', 'a', 'e.example.com', '/a', 1), edge('ns', 'b', 'e.example.com', '/b', 2), passthrough('ns', 'pass', 'other.example.com', 3));
  t.deepEqual(admitted(), ['a', 'b', 'pass']);
});
