import test from 'ava';
import net from 'node:net';
import { pickFreePorts, shuffledRange } from '../../src/autoport/port-picker.ts';
import { PortRangeExhaustedError } from '../../src/autoport/autoport-errors.ts';
import { freeBlock, listenOn as listen } from '../support/ports.ts';

const HOST = '127.0.0.1';

function close(s: net.Server): Promise<void> {
  return new Promise((resolve) => s.close(() => resolve()));
}

/** Can somebody else bind the port now? */
async function isFree(port: number): Promise<boolean> {
  const s = await listen(port);
  if (s === null) return false;
  await close(s);
  return true;
}

test('shuffledRange is a permutation of the range', (t) => {
  const ports = shuffledRange(100, 150);
  t.is(ports.length, 50);
  t.deepEqual([...ports].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => 100 + i));
});

test('picks distinct ports within the range, holds them until release', async (t) => {
  const base = await freeBlock(10);
  const held = await pickFreePorts({ count: 3, start: base, end: base + 10, host: HOST });
  t.teardown(() => held.release());
  t.is(held.ports.length, 3);
  t.is(new Set(held.ports).size, 3);
  for (const p of held.ports) {
    t.true(p >= base && p < base + 10, `port ${p} outside [${base}, ${base + 10})`);
    t.false(await isFree(p), `port ${p} should be held`);
  }
  await held.release();
  for (const p of held.ports) t.true(await isFree(p), `port ${p} should be free after release`);
  await t.notThrowsAsync(held.release()); // idempotent
});

test('a taken port is skipped: the picker retries on collision', async (t) => {
  const base = await freeBlock(4);
  const occupied = await Promise.all([base + 1, base + 2, base + 3].map(listen));
  t.teardown(() => Promise.all(occupied.map((s) => (s ? close(s) : undefined))));
  t.true(occupied.every((s) => s !== null));
  // random() → 0 always: the shuffle tries the three taken ports first and the free one last.
  t.deepEqual(shuffledRange(base, base + 4, () => 0), [base + 1, base + 2, base + 3, base]);
  const held = await pickFreePorts({ count: 1, start: base, end: base + 4, host: HOST, random: () => 0 });
  t.teardown(() => held.release());
  t.deepEqual(held.ports, [base]);
});

test('range exhaustion after trying every port: clear error, nothing left held', async (t) => {
  const base = await freeBlock(3);
  const occupied = await listen(base + 1);
  t.teardown(() => (occupied ? close(occupied) : undefined));
  const err = await t.throwsAsync(pickFreePorts({ count: 3, start: base, end: base + 3, host: HOST }), { instanceOf: PortRangeExhaustedError });
  t.regex(err!.message, new RegExp(`cannot pick 3 free ports in \\[${base}, ${base + 3}\\).*tried all 3, 1 in use`));
  t.is(err!.exitCode, 1);
  // the two ports it could hold were let go
  t.true(await isFree(base));
  t.true(await isFree(base + 2));
});

test('asking for more ports than the range holds fails without binding', async (t) => {
  await t.throwsAsync(pickFreePorts({ count: 5, start: 40000, end: 40002, host: HOST }), { instanceOf: PortRangeExhaustedError, message: /the range holds only 2/ });
});

test('a held port survives a connection that ends in RST (a router\'s TCP check of the port\'s previous owner)', async (t) => {
  const base = await freeBlock(2);
  const held = await pickFreePorts({ count: 2, start: base, end: base + 2, host: HOST });
  t.teardown(() => held.release());
  for (const port of held.ports) {
    // Connect, send something the holder never reads, and reset — as src/health/probe.ts does.
    const socket = net.connect({ port, host: HOST });
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write('GET / HTTP/1.1\r\n\r\n');
    socket.resetAndDestroy();
    await new Promise((resolve) => socket.once('close', resolve));
  }
  // The holder closed the connections itself and still holds both ports (an uncaught ECONNRESET
  // would have failed this test's process).
  await new Promise((resolve) => setImmediate(resolve));
  for (const port of held.ports) t.false(await isFree(port), `port ${port} should still be held`);
});
