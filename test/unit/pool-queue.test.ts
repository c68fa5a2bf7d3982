// Endpoint pools without undici's preallocated 16 KB request queue (src/proxy/pool-queue.ts).
import test from 'ava';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';
import { SmallQueue, useSmallQueue } from '../../src/proxy/pool-queue.ts';
import { createPool } from '../../src/proxy/http1-forwarder.ts';

const queueOf = (pool: object): unknown => {
  const key = Object.getOwnPropertySymbols(pool).find((s) => s.description === 'queue');
  return key === undefined ? undefined : (pool as Record<symbol, unknown>)[key];
};

test('SmallQueue: first in, first out; null when empty; reusable after emptying', (t) => {
  const q = new SmallQueue<number>();
  t.true(q.isEmpty());
  t.is(q.shift(), null);
  for (let i = 0; i < 5; i++) q.push(i);
  t.false(q.isEmpty());
  t.deepEqual([q.shift(), q.shift()], [0, 1]);
  q.push(5);
  t.deepEqual([q.shift(), q.shift(), q.shift(), q.shift()], [2, 3, 4, 5]);
  t.true(q.isEmpty());
  q.push(6);
  t.is(q.shift(), 6);
  t.is(q.shift(), null);
});

test('an endpoint pool holds no preallocated request queue (fails if undici renames or reshapes it: check pool-queue.ts)', async (t) => {
  const pool = createPool('http://127.0.0.1:1', 1000);
  t.teardown(() => pool.destroy());
  t.true(queueOf(pool) instanceof SmallQueue);
});

test('a pool whose requests do queue (one connection, 20 at once) answers all of them in order through the small queue', async (t) => {
  let n = 0;
  const server = http.createServer((_req, res) => res.end(String(n++)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const pool = new Pool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { connections: 1, pipelining: 1 });
  t.teardown(() => pool.destroy());
  t.true(useSmallQueue(pool));
  const bodies = await Promise.all(Array.from({ length: 20 }, async () => {
    const res = await pool.request({ path: '/', method: 'GET' });
    return res.body.text();
  }));
  t.deepEqual(bodies.map(Number), Array.from({ length: 20 }, (_, i) => i));
  t.true(queueOf(pool) instanceof SmallQueue);
});
