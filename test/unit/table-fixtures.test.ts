// Table-driven over YAML fixtures in test/fixtures/table/: each file is a set of objects as a
// user would write them; the case asserts the whole resulting admission and table.

import test from 'ava';
import { readFileSync } from 'node:fs';
import { loadAll } from 'js-yaml';
import type { RouterConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/log.ts';
import type { Kind, KubeObject } from '../../src/objects/types.ts';
import { ObjectStore } from '../../src/store.ts';
import { Reconciler } from '../../src/controller/reconciler.ts';
import { RouteTable } from '../../src/table/route-table.ts';
import { config } from '../fixtures/table/builders.ts';

function load(name: string, overrides: Partial<RouterConfig>) {
  const store = new ObjectStore();
  const text = readFileSync(new URL(`../fixtures/table/${name}.yaml`, import.meta.url), 'utf8');
  for (const doc of loadAll(text) as KubeObject[]) store.upsert(doc.kind as Kind, doc);
  store.flush();
  const reconciler = new Reconciler(store, { config: config(overrides), logger: silentLogger });
  reconciler.start();
  const table = new RouteTable<string>((r) => r.key, () => {});
  table.apply(reconciler.snapshot());
  return { reconciler, table };
}

test('sharded-shop', (t) => {
  const { reconciler, table } = load('sharded-shop', { namespaceLabels: 'router=public' });
  const results = Object.fromEntries(reconciler.admissionResults().map((r) => [r.key, r.admitted ? 'admitted' : `${r.reason}`]));
  t.deepEqual(results, {
    'Route/shop/web': 'admitted',
    'Ingress/shop/api': 'admitted',
    'Route/intruder/steal': 'HostAlreadyClaimed',
    'Route/shop/everything': 'RouteNotAdmitted',
  });
  const snapshot = reconciler.snapshot();
  t.deepEqual(snapshot.upsert.map((e) => [e.key, e.routes.map((r) => r.key)]), [['shop.example.com', ['Ingress/shop/api/0/0', 'Route/shop/web']]]);
  const [api, web] = snapshot.upsert[0]!.routes;
  t.deepEqual(api!.services[0]!.endpoints.map((e) => `${e.address}:${e.port}`), ['10.1.0.1:8080']);
  t.deepEqual(web!.services[0]!.endpoints.map((e) => [`${e.address}:${e.port}`, e.acceptsNew]).sort(), [['10.2.0.1:80', true], ['10.2.0.2:80', false]]);
  t.is(web!.policy.balance, 'roundrobin');
  t.is(web!.policy.healthCheck?.type, 'tcp');
  t.is(api!.policy.healthCheck, null);
  t.is(table.match('shop.example.com', '/api/items'), 'Ingress/shop/api/0/0');
  t.is(table.match('shop.example.com', '/checkout'), 'Route/shop/web');
  t.is(table.match('other.example.com', '/'), null);
});
