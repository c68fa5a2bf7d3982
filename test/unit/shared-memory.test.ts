// The shared-memory structures behind --workers N: the endpoint slots (one per endpoint id, seen
// by every registry made on them, in any thread), the lock word, and what a registry does with a
// slot when it lets its endpoint go.
import test from 'ava';
import { Worker } from 'node:worker_threads';
import { EndpointSlots } from '../../src/shared-memory/endpoint-slots.ts';
import { EndpointRegistry } from '../../src/health/endpoint-registry.ts';
import { createPassiveHealth } from '../../src/health/passive.ts';

const ep = (n: number) => ({ id: `id-${n}`, address: `10.0.${n >> 8}.${n & 255}`, port: 8080 });

test('two registries on one set of slots see one state per id: verdict, ejection, in-flight count', (t) => {
  const slots = EndpointSlots.create();
  const health = new EndpointRegistry(slots);
  const proxy = new EndpointRegistry(slots);
  const checked = health.acquire(ep(1));
  const served = proxy.acquire(ep(1));
  t.not(checked, served, 'each registry has its own object');
  checked.activeUp = false;
  t.false(served.activeUp);
  t.false(served.available(Date.now()));
  checked.activeUp = true;
  createPassiveHealth({ threshold: 1, baseMs: 60_000 }).recordFailure(served, Date.now());
  t.true(checked.ejectedUntil > Date.now(), 'an ejection seen by one is seen by the other');
  served.started();
  served.started();
  t.is(checked.active, 2);
  t.is(slots.size, 1);
});

test('a slot is freed when the last registry lets go, and a new endpoint starts from zero in it', (t) => {
  const slots = EndpointSlots.create();
  const a = new EndpointRegistry(slots);
  const b = new EndpointRegistry(slots);
  const first = a.acquire(ep(1));
  b.acquire(ep(1));
  first.activeUp = false;
  a.release(first);
  t.is(slots.size, 1, 'b still holds it');
  t.false(b.get('id-1')!.activeUp);
  b.release(b.get('id-1')!);
  t.is(slots.size, 0);
  const next = a.acquire(ep(2)); // takes the freed slot
  t.true(next.activeUp);
  t.is(next.active, 0);
  t.is(next.ejectedUntil, 0);
});

test('requests in flight on a released endpoint count on in its own memory, out of the shared count', (t) => {
  const slots = EndpointSlots.create();
  const a = new EndpointRegistry(slots);
  const b = new EndpointRegistry(slots);
  const old = a.acquire(ep(1));
  const other = b.acquire(ep(1));
  old.started();
  other.started();
  t.is(other.active, 2);
  a.release(old); // its route was replaced while a request was in flight
  t.is(other.active, 1, 'the shared count keeps only b\'s request');
  t.is(old.active, 1);
  old.ended();
  t.is(old.active, 0);
  t.is(other.active, 1, 'a late end does not touch the shared slot');
});

test('thousands of endpoints: the index and the slots grow, every id keeps its slot', (t) => {
  const slots = EndpointSlots.create();
  const registry = new EndpointRegistry(slots);
  const states = Array.from({ length: 5000 }, (_, i) => registry.acquire(ep(i)));
  states.forEach((s, i) => { if (i % 3 === 0) s.started(); });
  t.is(slots.size, 5000);
  const again = new EndpointRegistry(slots);
  for (let i = 0; i < 5000; i++) t.is(again.acquire(ep(i)).active, i % 3 === 0 ? 1 : 0);
  for (const s of states) registry.release(s);
  for (let i = 0; i < 5000; i++) again.release(again.get(`id-${i}`)!);
  t.is(slots.size, 0);
  // Freed entries are reused, not grown past.
  for (let round = 0; round < 3; round++) {
    const churn = Array.from({ length: 5000 }, (_, i) => registry.acquire(ep(10_000 + i)));
    for (const s of churn) registry.release(s);
  }
  t.is(slots.size, 0);
});

test('another thread attached to the buffers sees and changes the same slots', async (t) => {
  const slots = EndpointSlots.create();
  const registry = new EndpointRegistry(slots);
  const state = registry.acquire(ep(7));
  state.activeUp = false;
  const barrier = new Int32Array(new SharedArrayBuffer(4));
  const modules = { registry: new URL('../../src/health/endpoint-registry.ts', import.meta.url).href, slots: new URL('../../src/shared-memory/endpoint-slots.ts', import.meta.url).href };
  const worker = new Worker(`
    const { workerData, parentPort } = require('node:worker_threads');
    Promise.all([import(workerData.modules.registry), import(workerData.modules.slots)]).then(([{ EndpointRegistry }, { EndpointSlots }]) => {
      const registry = new EndpointRegistry(new EndpointSlots(workerData.buffers));
      const state = registry.acquire(workerData.endpoint);
      const sawDown = !state.activeUp;
      Atomics.add(workerData.barrier, 0, 1);
      while (Atomics.load(workerData.barrier, 0) < 2);
      for (let i = 0; i < 100000; i++) { state.started(); state.ended(); }
      for (let i = 0; i < 3; i++) state.started();
      parentPort.postMessage(sawDown);
    });
  `, { eval: true, workerData: { buffers: slots.buffers, modules, endpoint: ep(7), barrier } });
  t.teardown(() => worker.terminate());
  // Meanwhile this thread counts on the same slot.
  Atomics.add(barrier, 0, 1);
  while (Atomics.load(barrier, 0) < 2);
  for (let i = 0; i < 100000; i++) { state.started(); state.ended(); }
  t.true(await new Promise((resolve) => worker.once('message', resolve)), 'the worker saw the verdict');
  t.is(state.active, 3, 'no update lost between the threads');
});

test('concurrent passive failures in two threads: none is lost, one ejection', async (t) => {
  const slots = EndpointSlots.create();
  const state = new EndpointRegistry(slots).acquire(ep(9));
  const modules = { registry: new URL('../../src/health/endpoint-registry.ts', import.meta.url).href, slots: new URL('../../src/shared-memory/endpoint-slots.ts', import.meta.url).href, passive: new URL('../../src/health/passive.ts', import.meta.url).href };
  const barrier = new Int32Array(new SharedArrayBuffer(4));
  const source = `
    const { workerData, parentPort } = require('node:worker_threads');
    Promise.all([import(workerData.modules.registry), import(workerData.modules.slots), import(workerData.modules.passive)]).then(([{ EndpointRegistry }, { EndpointSlots }, { createPassiveHealth }]) => {
      const state = new EndpointRegistry(new EndpointSlots(workerData.buffers)).acquire(workerData.endpoint);
      const passive = createPassiveHealth({ threshold: 200000, baseMs: 60000 });
      // Both threads start failing at the same moment.
      Atomics.add(workerData.barrier, 0, 1);
      while (Atomics.load(workerData.barrier, 0) < 2);
      let ejected = 0;
      for (let i = 0; i < 100000; i++) if (passive.recordFailure(state, 1e12)) ejected++;
      parentPort.postMessage(ejected);
    });
  `;
  const workers = [0, 1].map(() => new Worker(source, { eval: true, workerData: { buffers: slots.buffers, modules, endpoint: ep(9), barrier } }));
  t.teardown(() => { for (const w of workers) void w.terminate(); });
  const ejections = await Promise.all(workers.map((w) => new Promise<number>((resolve) => w.once('message', resolve))));
  // 200,000 failures at threshold 200,000: the endpoint is ejected, once, only if not one was lost.
  t.is(ejections[0]! + ejections[1]!, 1);
  t.is(state.ejections, 1);
  t.is(state.consecutiveFailures, 0);
});
