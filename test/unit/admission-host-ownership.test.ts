import test from 'ava';
import type { RouterConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/log.ts';
import type { KubeObject, Route } from '../../src/objects/types.ts';
import { ObjectStore } from '../../src/store.ts';
import { Reconciler } from '../../src/controller/reconciler.ts';
import { config, created, ingress, route, simpleIngress } from '../fixtures/table/builders.ts';

function setup(overrides: Partial<RouterConfig> = {}) {
  const store = new ObjectStore();
  const reconciler = new Reconciler(store, { config: config(overrides), logger: silentLogger });
  reconciler.start();
  const admitted = () => reconciler.admissionResults().filter((r) => r.admitted).map((r) => r.name).sort();
  const verdicts = () => Object.fromEntries(reconciler.admissionResults().map((r) => [r.key, r.admitted ? 'admitted' : r.reason!]));
  return { store, reconciler, admitted, verdicts };
}

function add(store: ObjectStore, ...objects: KubeObject[]) {
  for (const o of objects) store.upsert(o.kind as 'Route', o);
  store.flush();
}

test('OpenShift example: a (no path), b /foo, c /foo, d /foo, e /bar — deleting the owner promotes the next oldest', (t) => {
  const { store, admitted, verdicts } = setup();
  const r = (name: string, path: string, n: number): Route => route('ns', name, { host: 'example.com', ...(path ? { path } : {}) }, created(n));
  add(store, r('a', '', 1), r('b', '/foo', 2), r('c', '/foo', 3), r('d', '/foo', 4), r('e', '/bar', 5));
  t.deepEqual(admitted(), ['a', 'b', 'e']);
  t.is(verdicts()['Route/ns/c'], 'HostAlreadyClaimed');
  store.remove('Route', 'ns/b');
  store.flush();
  t.deepEqual(admitted(), ['a', 'c', 'e']);
  store.remove('Route', 'ns/c');
  store.flush();
  t.deepEqual(admitted(), ['a', 'd', 'e']);
});

test('same namespace: path "" and "/" are different paths', (t) => {
  const { store, admitted } = setup();
  add(store, route('ns', 'a', { host: 'x.com' }, created(1)), route('ns', 'b', { host: 'x.com', path: '/' }, created(2)));
  t.deepEqual(admitted(), ['a', 'b']);
});

test('different namespaces: same host is claimed by the oldest namespace; the message names the owner', (t) => {
  const { store, reconciler, admitted } = setup();
  add(store, route('ns1', 'old', { host: 'x.com', path: '/a' }, created(1)), route('ns2', 'new', { host: 'x.com', path: '/b' }, created(2)));
  t.deepEqual(admitted(), ['old']);
  const rejected = reconciler.admissionResults().find((r) => r.name === 'new')!;
  t.is(rejected.reason, 'HostAlreadyClaimed');
  t.regex(rejected.message!, /route ns1\/old/);
});

test('--disable-namespace-ownership-check: other namespaces may claim other paths', (t) => {
  const { store, admitted } = setup({ disableNamespaceOwnershipCheck: true });
  add(store,
    route('ns1', 'a', { host: 'x.com', path: '/a' }, created(1)),
    route('ns2', 'b', { host: 'x.com', path: '/b' }, created(2)),
    route('ns3', 'c', { host: 'x.com', path: '/a' }, created(3)));
  t.deepEqual(admitted(), ['a', 'b']);
});

test('wildcard ownership across namespaces works both ways, by age', (t) => {
  const first = setup({ allowWildcardRoutes: true });
  add(first.store,
    route('ns-a', 'wild', { host: 'www.foo.com', wildcardPolicy: 'Subdomain' }, created(1)),
    route('ns-b', 'bar', { host: 'bar.foo.com' }, created(2)),
    route('ns-a', 'same-ns', { host: 'baz.foo.com' }, created(3)),
    route('ns-c', 'other-domain', { host: 'foo.com' }, created(4)));
  t.deepEqual(first.admitted(), ['other-domain', 'same-ns', 'wild']);
  t.is(first.verdicts()['Route/ns-b/bar'], 'HostAlreadyClaimed');

  const second = setup({ allowWildcardRoutes: true });
  add(second.store,
    route('ns-b', 'bar', { host: 'bar.foo.com' }, created(1)),
    route('ns-a', 'wild', { host: 'www.foo.com', wildcardPolicy: 'Subdomain' }, created(2)));
  t.deepEqual(second.admitted(), ['bar']);
  // Deleting the older exact host lets the wildcard in.
  second.store.remove('Route', 'ns-b/bar');
  second.store.flush();
  t.deepEqual(second.admitted(), ['wild']);
});

test('an Ingress: its own paths never conflict; a conflicting host drops only that host', (t) => {
  const { store, reconciler } = setup();
  add(store, route('other', 'owner', { host: 'b.com' }, created(1)));
  add(store, simpleIngress('ns', 'ing', [
    { host: 'a.com', path: '/x' }, { host: 'a.com', path: '/x' }, { host: 'b.com', path: '/y' },
  ], created(2)));
  const result = reconciler.admissionResults().find((r) => r.kind === 'Ingress')!;
  t.false(result.admitted);
  t.is(result.reason, 'HostAlreadyClaimed');
  t.regex(result.message!, /host "b\.com"/);
  t.notRegex(result.message!, /host "a\.com"/);
  const hosts = reconciler.snapshot().upsert.map((e) => [e.key, e.routes.map((r) => r.key)]);
  t.deepEqual(hosts.sort(), [['a.com', ['Ingress/ns/ing/0/0', 'Ingress/ns/ing/1/0']], ['b.com', ['Route/other/owner']]]);
});

// ---- order independence ------------------------------------------------------------------

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function universe(): KubeObject[] {
  const objects: KubeObject[] = [];
  const hosts = ['a.foo.com', 'b.foo.com', 'www.foo.com', 'x.bar.com'];
  const paths = ['', '/', '/api', '/web'];
  let n = 0;
  for (let i = 0; i < 24; i++) {
    const ns = `ns${i % 3}`;
    const host = hosts[i % hosts.length]!;
    const wildcard = i % 7 === 0 ? { wildcardPolicy: 'Subdomain' as const } : {};
    // Some objects share a creation second: uid then decides, as in OpenShift.
    objects.push(route(ns, `r${i}`, { host, path: paths[(i * 5) % paths.length]!, ...wildcard }, created(Math.floor(n++ / 2))));
  }
  for (let i = 0; i < 4; i++) {
    objects.push(simpleIngress(`ns${i % 3}`, `ing${i}`, [{ host: hosts[(i + 1) % hosts.length]!, path: '/api' }, { host: `*.bar.com` }], created(5 + i)));
  }
  return objects;
}

test('seeded random add/delete orders and batchings give the same admission results', (t) => {
  const objects = universe();
  const finalSet = objects.filter((_, i) => i % 4 !== 1);
  const reference = setup({ allowWildcardRoutes: true });
  add(reference.store, ...finalSet);
  const expected = reference.verdicts();
  const expectedTable = JSON.stringify(reference.reconciler.snapshot().upsert.sort((a, b) => (a.key < b.key ? -1 : 1)));
  t.true(Object.values(expected).includes('HostAlreadyClaimed'), 'the universe has conflicts');
  t.true(Object.values(expected).includes('admitted'));
  for (let seed = 1; seed <= 20; seed++) {
    const random = mulberry32(seed);
    const run = setup({ allowWildcardRoutes: true });
    const shuffled = [...objects].sort(() => random() - 0.5);
    for (const o of shuffled) {
      run.store.upsert(o.kind as 'Route', o);
      if (random() < 0.3) run.store.flush();
    }
    run.store.flush();
    for (const o of [...objects].sort(() => random() - 0.5)) {
      if (!finalSet.includes(o)) {
        run.store.remove(o.kind as 'Route', `${o.metadata.namespace}/${o.metadata.name}`);
        if (random() < 0.5) run.store.flush();
      }
    }
    run.store.flush();
    t.deepEqual(run.verdicts(), expected, `seed ${seed}`);
    t.is(JSON.stringify(run.reconciler.snapshot().upsert.sort((a, b) => (a.key < b.key ? -1 : 1))), expectedTable, `seed ${seed} table`);
  }
});

// ---- Ingress rules without host -----------------------------------------------------------

function hostless(ns: string, name: string, paths: Array<[string, 'Exact' | 'Prefix']>, n: number, service = 'svc') {
  const backend = { service: { name: service, port: { number: 80 } } };
  return ingress(ns, name, { rules: [{ http: { paths: paths.map(([path, pathType]) => ({ path, pathType, backend })) } }] }, created(n));
}

test('rules without host: other namespaces conflict on a common path and pathType only; the oldest wins', (t) => {
  const { store, reconciler, admitted, verdicts } = setup();
  add(store,
    hostless('ns1', 'old', [['/a', 'Prefix']], 1),
    hostless('ns2', 'young', [['/a/', 'Prefix'], ['/z', 'Prefix']], 2),
    hostless('ns2', 'other-path', [['/b', 'Prefix']], 3),
    hostless('ns3', 'exact', [['/a', 'Exact']], 4),
    hostless('ns1', 'same-ns', [['/c', 'Prefix']], 5),
    hostless('ns1', 'same-ns-dup', [['/c', 'Prefix']], 6));
  t.deepEqual(admitted(), ['exact', 'old', 'other-path', 'same-ns']);
  t.is(verdicts()['Ingress/ns2/young'], 'HostAlreadyClaimed');
  t.is(verdicts()['Ingress/ns1/same-ns-dup'], 'HostAlreadyClaimed');
  const young = reconciler.admissionResults().find((r) => r.name === 'young')!;
  t.is(young.host, '');
  t.regex(young.message!, /^rules without host \(HostAlreadyClaimed\): ingress ns1\/old already serves path "\/a" \(Prefix\) for requests of any host/);
  // One conflicting path drops all the rules without host of that Ingress (its /z too).
  const entry = reconciler.snapshot().upsert.find((e) => e.key === '*')!;
  t.deepEqual(entry.routes.map((r) => r.key), ['Ingress/ns3/exact/0/0', 'Ingress/ns1/old/0/0', 'Ingress/ns1/same-ns/0/0', 'Ingress/ns2/other-path/0/0']);
  t.true(entry.routes.every((r) => r.host === '' && !r.wildcard));
  // Deleting the owner promotes the younger claim.
  store.remove('Ingress', 'ns1/old');
  store.flush();
  t.is(verdicts()['Ingress/ns2/young'], 'admitted');
});

test('rules without host never clash with hosts or wildcards of other namespaces', (t) => {
  const { store, admitted } = setup({ allowWildcardRoutes: true });
  add(store,
    hostless('ns1', 'catch', [['/', 'Prefix']], 1),
    simpleIngress('ns2', 'wild', [{ host: '*.foo.com' }], created(2)),
    route('ns3', 'exact', { host: 'a.foo.org' }, created(3)),
    hostless('ns4', 'late', [['/x', 'Prefix']], 4));
  t.deepEqual(admitted(), ['catch', 'exact', 'late', 'wild']);
});

test('an Ingress with host rules and rules without host: a conflict drops only its own part', (t) => {
  const { store, reconciler } = setup();
  const backend = { service: { name: 'svc', port: { number: 80 } } };
  add(store, hostless('ns1', 'owner', [['/', 'Prefix']], 1));
  add(store, ingress('ns2', 'mixed', {
    rules: [
      { host: 'a.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend }] } },
      { http: { paths: [{ path: '/', pathType: 'Prefix', backend }] } },
    ],
  }, created(2)));
  const result = reconciler.admissionResults().find((r) => r.name === 'mixed')!;
  t.false(result.admitted);
  t.regex(result.message!, /^rules without host \(HostAlreadyClaimed\)/);
  const hosts = Object.fromEntries(reconciler.snapshot().upsert.map((e) => [e.key, e.routes.map((r) => r.key)]));
  t.deepEqual(hosts, { 'a.com': ['Ingress/ns2/mixed/0/0'], '*': ['Ingress/ns1/owner/0/0'] });
});

test('seeded random orders: rules without host give the same results whatever the order', (t) => {
  const objects: KubeObject[] = [];
  const paths: Array<[string, 'Exact' | 'Prefix']> = [['/', 'Prefix'], ['/api', 'Prefix'], ['/api', 'Exact'], ['/web/', 'Prefix'], ['/web', 'Prefix']];
  for (let i = 0; i < 15; i++) objects.push(hostless(`ns${i % 4}`, `h${i}`, [paths[(i * 3) % paths.length]!], Math.floor(i / 3)));
  const reference = setup();
  add(reference.store, ...objects);
  const expected = reference.verdicts();
  t.true(Object.values(expected).includes('HostAlreadyClaimed'));
  const expectedTable = JSON.stringify(reference.reconciler.snapshot().upsert);
  for (let seed = 1; seed <= 15; seed++) {
    const random = mulberry32(seed);
    const run = setup();
    for (const o of [...objects].sort(() => random() - 0.5)) {
      run.store.upsert('Ingress', o);
      if (random() < 0.4) run.store.flush();
    }
    run.store.flush();
    t.deepEqual(run.verdicts(), expected, `seed ${seed}`);
    t.is(JSON.stringify(run.reconciler.snapshot().upsert), expectedTable, `seed ${seed} table`);
  }
});
