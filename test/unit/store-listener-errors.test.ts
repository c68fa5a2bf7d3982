// A throwing store listener (issue 10): the other listeners still get the batch, the error is
// reported, and the failed subscriber is rebuilt from the whole store so the table is never left
// stale; until then the store is not healthy (readiness).
import test from 'ava';
import { once } from 'node:events';
import { silentLogger } from '../../src/log.ts';
import { ObjectStore } from '../../src/store.ts';
import { Reconciler } from '../../src/controller/reconciler.ts';
import { RouteTable } from '../../src/table/route-table.ts';
import type { TableDelta } from '../../src/table/types.ts';
import { config, endpoint, route, slice } from '../fixtures/table/builders.ts';

test('one throwing listener: the others get the batch, the error is reported', (t) => {
  const store = new ObjectStore();
  const errors: unknown[] = [];
  store.onListenerError = (err) => errors.push(err);
  const seen: number[] = [];
  store.subscribe(() => { throw new Error('bug'); });
  store.subscribe((changes) => seen.push(changes.length));
  store.upsert('Route', route('ns', 'r', { host: 'a.com' }));
  store.flush();
  t.deepEqual(seen, [1]);
  t.is(errors.length, 1);
  t.false(store.healthy, 'no resync to catch up with: stays unhealthy');
});

test('the table is rebuilt after a batch was lost half-way (the delta consumer threw once)', async (t) => {
  const store = new ObjectStore();
  const errors: Array<[unknown, string]> = [];
  store.onListenerError = (err, phase) => errors.push([err, phase]);
  const reconciler = new Reconciler(store, { config: config(), logger: silentLogger });
  const table = new RouteTable<string>((r) => r.key, () => {});
  let failNext = false;
  reconciler.on('delta', (d: TableDelta) => {
    if (failNext) { failNext = false; throw new Error('apply failed'); }
    table.apply(d);
  });
  store.upsert('Route', route('ns', 'old', { host: 'old.com' }));
  store.upsert('EndpointSlice', slice('ns', 'svc', [endpoint('10.0.0.1')]));
  store.flush();
  reconciler.start();
  t.is(table.match('old.com', '/'), 'Route/ns/old');

  failNext = true;
  store.upsert('Route', route('ns', 'new', { host: 'new.com' }));
  store.remove('Route', 'ns/old');
  store.flush(); // the delta is lost: the table still serves old.com, not new.com
  t.is(table.match('new.com', '/'), null);
  t.false(store.healthy);
  t.is(errors[0]?.[1], 'delivery');

  // The store's resync timer is unref'd (it must not keep a stopping router alive); hold the
  // event loop open while waiting for it, or a test file with nothing else pending ends first.
  const hold = setTimeout(() => {}, 30_000);
  const [resent] = await once(reconciler, 'delta').finally(() => clearTimeout(hold)) as [TableDelta];
  t.true(store.healthy);
  t.true(resent.upsert.some((e) => e.key === 'new.com'));
  t.true(resent.reset);
  t.is(table.match('new.com', '/'), 'Route/ns/new');
  t.is(table.match('old.com', '/'), null);
});
