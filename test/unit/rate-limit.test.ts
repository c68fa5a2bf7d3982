import test from 'ava';
import net from 'node:net';
import { Worker } from 'node:worker_threads';
import { ADMIT, REFUSE, RouteRateLimit } from '../../src/plugins/rate-limit-state.ts';
import { rateLimitPolicy } from '../../src/plugins/rate-limit.ts';
import { RouteSettingError } from '../../src/annotation-values.ts';
import { HELD_SLOT, LimitTable, REFUSED, UNTRACKED } from '../../src/shared-memory/limit-table.ts';
import { keyPrefix } from '../../src/shared-memory/key-hash.ts';

const NOW = Date.now();

const tcp = keyPrefix(['Route/ns/r', 'rate-http', '5'].join('\0'));

test('LimitTable rate: at most `limit` events per window per source, sliding', (t) => {
  const table = LimitTable.create();
  let allowed = 0;
  for (let i = 0; i < 10; i++) if (table.allowRate(tcp, '1.1.1.1', 5, 10_000, NOW + i)) allowed++;
  t.is(allowed, 5);
  t.true(table.allowRate(tcp, '2.2.2.2', 5, 10_000, NOW), 'another source has its own budget');
  t.true(table.allowRate(keyPrefix(['Route/ns/other', 'rate-http', '5'].join('\0')), '1.1.1.1', 5, 10_000, NOW), 'another route has its own budget');
  // Just into the next window, 99 % of the previous window's five still count: room for one.
  t.true(table.allowRate(tcp, '1.1.1.1', 5, 10_000, NOW + 10_000 + 100));
  t.false(table.allowRate(tcp, '1.1.1.1', 5, 10_000, NOW + 10_000 + 101));
  // Two windows later everything is forgotten.
  let later = 0;
  for (let i = 0; i < 10; i++) if (table.allowRate(tcp, '1.1.1.1', 5, 10_000, NOW + 30_000 + i)) later++;
  t.is(later, 5);
});

test('LimitTable: memory is fixed; a full bucket drops the entry closest to expiring, never one holding a slot', (t) => {
  const table = LimitTable.create(1); // one bucket of 8 entries
  const held = keyPrefix('held');
  for (let i = 0; i < 4; i++) t.is(table.acquire(held, `h${i}`, 1, NOW), HELD_SLOT);
  for (let i = 0; i < 100; i++) table.allowRate(tcp, `10.0.0.${i}`, 1, 10_000, NOW + i);
  // The oldest sources were dropped: they get a fresh budget (bounded memory beats perfect memory).
  t.true(table.allowRate(tcp, '10.0.0.0', 1, 10_000, NOW + 200));
  for (let i = 0; i < 4; i++) t.is(table.held(held, `h${i}`), 1, 'held slots are never dropped');
  // Every entry holding a slot: a new key is let through untracked.
  for (let i = 4; i < 8; i++) t.is(table.acquire(held, `h${i}`, 1, NOW), HELD_SLOT);
  t.is(table.acquire(held, 'one-more', 1, NOW), UNTRACKED);
  t.true(table.allowRate(tcp, 'new-source', 1, 10_000, NOW));
});

test('LimitTable concurrency: acquire up to the limit, release frees a slot', (t) => {
  const table = LimitTable.create();
  const c = keyPrefix('concurrent');
  t.is(table.acquire(c, 'a', 2, NOW), HELD_SLOT);
  t.is(table.acquire(c, 'a', 2, NOW), HELD_SLOT);
  t.is(table.acquire(c, 'a', 2, NOW), REFUSED);
  t.is(table.acquire(c, 'b', 2, NOW), HELD_SLOT);
  table.release(c, 'a');
  t.is(table.acquire(c, 'a', 2, NOW), HELD_SLOT);
});

test('LimitTable: two threads count against one limit', async (t) => {
  const table = LimitTable.create();
  const limiter = ['Route/ns/r', 'concurrent-tcp', '10'].join('\0');
  // Another thread (its own isolate and event loop) takes six slots in the same buffer.
  const modules = { table: new URL('../../src/shared-memory/limit-table.ts', import.meta.url).href, hash: new URL('../../src/shared-memory/key-hash.ts', import.meta.url).href };
  const worker = new Worker(`
    const { workerData, parentPort } = require('node:worker_threads');
    Promise.all([import(workerData.modules.table), import(workerData.modules.hash)]).then(([{ LimitTable }, { keyPrefix }]) => {
      const table = new LimitTable(workerData.buffer);
      let held = 0;
      for (let i = 0; i < 6; i++) if (table.acquire(keyPrefix(workerData.limiter), '10.1.1.1', 10, Date.now()) === 1) held++;
      parentPort.postMessage(held);
    });
  `, { eval: true, workerData: { buffer: table.buffer, modules, limiter } });
  t.teardown(() => worker.terminate());
  t.is(await new Promise((resolve) => worker.once('message', resolve)), 6);
  let more = 0;
  for (let i = 0; i < 10; i++) if (table.acquire(keyPrefix(limiter), '10.1.1.1', 10, NOW) === HELD_SLOT) more++;
  t.is(more, 4, 'this thread sees the other one\'s six');
});

test('RouteRateLimit: rate-tcp counts each connection once; rate-http every request', (t) => {
  const limit = new RouteRateLimit({ concurrentTcp: null, rateTcp: 2, rateHttp: 3 }, LimitTable.create(), 'Route/ns/r');
  const s1 = new net.Socket();
  const s2 = new net.Socket();
  const s3 = new net.Socket();
  t.is(limit.admit(s1, 'ip', NOW), ADMIT);
  t.is(limit.admit(s1, 'ip', NOW + 1), ADMIT); // same connection: not a new one
  t.is(limit.admit(s2, 'ip', NOW + 2), ADMIT);
  t.is(limit.admit(s3, 'ip', NOW + 3), REFUSE, 'third connection in 3 s');
  t.is(limit.admit(s1, 'ip', NOW + 4), REFUSE, 'fourth request in 10 s');
});

test('annotations: limits apply only with rate-limit-connections "true"; bad values are rejected', (t) => {
  const fromRoute = (annotations: Record<string, string>) => rateLimitPolicy.fromRoute({ key: 'Route/ns/r', kind: 'Route', path: '', annotations, tls: null, defaults: { connectTimeoutMs: 1000, setForwardedHeaders: 'append' } });
  t.deepEqual(fromRoute({
    'haproxy.router.openshift.io/rate-limit-connections': 'true',
    'haproxy.router.openshift.io/rate-limit-connections.rate-http': '100',
  }), { concurrentTcp: null, rateTcp: null, rateHttp: 100 });
  t.is(fromRoute({ 'haproxy.router.openshift.io/rate-limit-connections.rate-http': '100' }), null);
  const error = t.throws(() => fromRoute({ 'haproxy.router.openshift.io/rate-limit-connections': 'true', 'haproxy.router.openshift.io/rate-limit-connections.concurrent-tcp': 'lots' }), { instanceOf: RouteSettingError });
  t.is(error?.annotation, 'haproxy.router.openshift.io/rate-limit-connections.concurrent-tcp');
});
