import test from 'ava';
import { RouteTable } from '../../src/table/route-table.ts';
import type { CompiledRoute, HostEntry, PathMatch } from '../../src/table/types.ts';

function compiled(key: string, host: string, path: string, match: PathMatch = 'route', wildcard = false): CompiledRoute {
  return {
    key, kind: match === 'route' ? 'Route' : 'Ingress', namespace: 'ns', name: key, host, wildcard, path, match, services: [],
    policy: { balance: 'random', connectTimeoutMs: 1, serverTimeoutMs: 1, tunnelTimeoutMs: 1, healthCheck: null, traceSampling: 'default' },
    plugins: [],
    tls: null, annotations: {}, middlewares: [],
  };
}

function entry(key: string, routes: CompiledRoute[]): HostEntry {
  return { key, routes };
}

interface Item { key: string; generation: number }

function makeTable(): { table: RouteTable<Item>; disposed: Item[]; built: Array<[string, Item | undefined]> } {
  const disposed: Item[] = [];
  const built: Array<[string, Item | undefined]> = [];
  const table = new RouteTable<Item>((route, previous) => {
    built.push([route.key, previous]);
    return { key: route.key, generation: (previous?.generation ?? 0) + 1 };
  }, (item) => disposed.push(item));
  return { table, disposed, built };
}

test('match: exact host, path order, query ignored, host normalised', (t) => {
  const { table } = makeTable();
  table.apply({
    version: 1, remove: [],
    upsert: [entry('foo.com', [compiled('b', 'foo.com', '/api/v1', 'prefix'), compiled('c', 'foo.com', '/api', 'exact'), compiled('a', 'foo.com', '')])],
  });
  t.is(table.version, 1);
  t.is(table.match('FOO.com:8080', '/api/v1/x?y=1')?.key, 'b');
  t.is(table.match('foo.com.', '/api?z'), table.match('foo.com', '/api'));
  t.is(table.match('foo.com', '/api')?.key, 'c');
  t.is(table.match('foo.com', '/other')?.key, 'a');
  t.is(table.match('bar.com', '/'), null);
});

test('wildcard serves exactly one extra label; exact beats wildcard; default backend last', (t) => {
  const { table } = makeTable();
  table.apply({
    version: 1, remove: [],
    upsert: [
      entry('*.foo.com', [compiled('wild', 'foo.com', '', 'route', true)]),
      entry('www.foo.com', [compiled('www', 'www.foo.com', '/only', 'route')]),
    ],
    defaultBackend: compiled('default', '', '/', 'prefix'),
  });
  t.is(table.match('bar.foo.com', '/')?.key, 'wild');
  t.is(table.match('www.foo.com', '/only/x')?.key, 'www');
  // An exact host with no matching path falls back to the wildcard, as the HAProxy map does.
  t.is(table.match('www.foo.com', '/elsewhere')?.key, 'wild');
  t.is(table.match('baz.bar.foo.com', '/')?.key, 'default');
  t.is(table.match('foo.com', '/')?.key, 'default');
  t.deepEqual(table.lookupHost('bar.foo.com')?.key, '*.foo.com');
  t.deepEqual(table.lookupHost('WWW.foo.com')?.key, 'www.foo.com');
  t.is(table.lookupHost('foo.com'), null);
});

test('apply rebuilds only named hosts, passes the previous item, disposes what left', (t) => {
  const { table, disposed, built } = makeTable();
  table.apply({ version: 1, remove: [], upsert: [entry('a.com', [compiled('r1', 'a.com', '')]), entry('b.com', [compiled('r2', 'b.com', '')])] });
  const r2 = table.match('b.com', '/')!;
  built.length = 0;
  table.apply({ version: 2, remove: [], upsert: [entry('a.com', [compiled('r1', 'a.com', '/x'), compiled('r3', 'a.com', '')])] });
  t.deepEqual(built.map(([k, prev]) => [k, prev?.generation]), [['r1', 1], ['r3', undefined]]);
  t.is(table.match('a.com', '/x')?.generation, 2);
  t.is(table.match('b.com', '/'), r2, 'untouched host keeps its item');
  t.deepEqual(disposed.map((d) => d.key), ['r1'], 'the replaced r1 item is disposed');
  table.apply({ version: 3, remove: ['a.com'], upsert: [] });
  t.is(table.match('a.com', '/'), null);
  t.deepEqual(disposed.map((d) => d.key).sort(), ['r1', 'r1', 'r3']);
  t.deepEqual([...table.items()].map((i) => i.key), ['r2']);
});

test('a route moving between hosts in one delta keeps its state; a builder returning previous is not disposed', (t) => {
  const disposed: string[] = [];
  const table = new RouteTable<{ key: string }>((route, previous) => previous ?? { key: route.key }, (item) => disposed.push(item.key));
  table.apply({ version: 1, remove: [], upsert: [entry('a.com', [compiled('r', 'a.com', '')])] });
  const item = table.match('a.com', '/');
  table.apply({ version: 2, remove: ['a.com'], upsert: [entry('b.com', [compiled('r', 'b.com', '')])] });
  t.is(table.match('b.com', '/'), item);
  t.deepEqual(disposed, []);
  table.apply({ version: 3, remove: [], upsert: [], defaultBackend: compiled('d', '', '/', 'prefix') });
  t.is(table.match('x.com', '/')?.key, 'd');
  table.apply({ version: 4, remove: [], upsert: [], defaultBackend: null });
  t.is(table.match('x.com', '/'), null);
  t.deepEqual(disposed, ['d']);
});

test('rules without host (key "*"): after exact and wildcard hosts, before the default backend; longest path, Exact on a tie', (t) => {
  const { table, disposed } = makeTable();
  table.apply({
    version: 1, remove: [],
    upsert: [
      entry('www.foo.com', [compiled('www', 'www.foo.com', '/www', 'prefix')]),
      entry('*.foo.com', [compiled('wild', 'foo.com', '/wild', 'prefix', true)]),
      entry('*', [
        compiled('any-api-exact', '', '/api', 'exact'),
        compiled('any-api', '', '/api', 'prefix'),
        compiled('any-a', '', '/a', 'prefix'),
      ]),
    ],
    defaultBackend: compiled('default', '', '/', 'prefix'),
  });
  t.is(table.match('www.foo.com', '/www/x')?.key, 'www');
  t.is(table.match('www.foo.com', '/wild')?.key, 'wild');
  t.is(table.match('www.foo.com', '/api')?.key, 'any-api-exact');
  t.is(table.match('anything.example', '/api/v1?q')?.key, 'any-api');
  t.is(table.match('', '/a/b')?.key, 'any-a');
  t.is(table.match('10.0.0.1:8080', '/ab')?.key, 'default');
  // A Host header naming the slot's key selects nothing by name.
  t.is(table.match('*', '/zzz')?.key, 'default');
  t.is(table.match('*', '/a')?.key, 'any-a');
  // The slot has no certificate: host-only (SNI) lookups never return it.
  t.is(table.lookupHost('anything.example'), null);
  t.is(table.lookupHost('*'), null);
  t.deepEqual(table.routesOf('*')?.map((r) => r.key), ['any-api-exact', 'any-api', 'any-a']);
  table.apply({ version: 2, remove: ['*'], upsert: [] });
  t.is(table.match('anything.example', '/api'), table.match('anything.example', '/zzz'));
  t.is(table.match('anything.example', '/api')?.key, 'default');
  t.is(table.routesOf('*'), null);
  t.deepEqual(disposed.map((i) => i.key).sort(), ['any-a', 'any-api', 'any-api-exact']);
  t.deepEqual([...table.items()].map((i) => i.key).sort(), ['default', 'wild', 'www']);
});

test('an owned host falls through only to rules without host and a default backend of its own namespace', (t) => {
  const { table } = makeTable();
  const inNs = (r: CompiledRoute, namespace: string): CompiledRoute => ({ ...r, namespace });
  table.apply({
    version: 1, remove: [],
    upsert: [
      { key: 'c.test', routes: [inNs(compiled('a-login', 'c.test', '/app'), 'a')], ownerNamespace: 'a' },
      { key: '*.a.test', routes: [inNs(compiled('a-wild', 'a.test', '/app', 'route', true), 'a')], ownerNamespace: 'a' },
      { key: '*', routes: [inNs(compiled('b-login', '', '/login', 'prefix'), 'b'), inNs(compiled('a-any', '', '/', 'prefix'), 'a')] },
    ],
    defaultBackend: inNs(compiled('b-default', '', '', 'prefix'), 'b'),
  });
  t.is(table.match('c.test', '/login')?.key, 'a-any', "b's rule is skipped, a's own rule serves");
  t.is(table.match('x.a.test', '/login')?.key, 'a-any');
  t.is(table.match('free.test', '/login')?.key, 'b-login', 'a host nobody owns: every rule without host');
  table.apply({ version: 2, remove: ['*'], upsert: [] });
  t.is(table.match('c.test', '/login'), null, "b's default backend does not serve a's host");
  t.is(table.match('free.test', '/login')?.key, 'b-default');
});

// Regression: the owned-host fall-through to rules without host skipped HTTPRoute conditions, so
// a hostless HTTPRoute attached only to another listener (or with a method match) served them.
test('an owned host falls through to hostless HTTPRoutes only when their conditions hold', (t) => {
  const { table } = makeTable();
  const httpRoute = (key: string, conditions: Partial<import('../../src/table/types.ts').RequestConditions>): CompiledRoute => ({
    ...compiled(key, '', '/', 'prefix'), kind: 'HTTPRoute', namespace: 'a',
    gateway: {
      conditions: { method: null, headers: [], query: [], http: false, https: false, listeners: null, patterns: null, ...conditions } as import('../../src/table/types.ts').RequestConditions,
      age: 0, owner: `a/${key}`, rule: 0, matchIndex: 0, requestHeaders: null, responseHeaders: null, redirect: null, rewrite: null, invalidShare: 0,
    },
  });
  table.apply({
    version: 1, remove: [],
    upsert: [
      { key: 'c.test', routes: [{ ...compiled('a-login', 'c.test', '/app'), namespace: 'a' }], ownerNamespace: 'a' },
      { key: '*', routes: [httpRoute('post-only', { method: 'POST', http: true }), httpRoute('https-only', { https: true }), httpRoute('own-address', { listeners: ['infra/gw/http'] })] },
    ],
  });
  t.is(table.match('c.test', '/x', { method: 'POST', headers: {} })?.key, 'post-only');
  t.is(table.match('c.test', '/x', { method: 'GET', headers: {} }), null, 'not a POST, and no other rule is attached to the plain HTTP port');
  t.is(table.match('c.test', '/x', { method: 'GET', headers: {} }, true)?.key, 'https-only');
  t.is(table.match('c.test', '/x', { method: 'GET', headers: {} }, false, { address: '127.0.0.2', port: 80, protocol: 'HTTP', listeners: [{ key: 'infra/gw/http', hostname: '', certificate: null }] })?.key, 'own-address');
});
