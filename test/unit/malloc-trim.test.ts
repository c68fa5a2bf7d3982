// malloc_trim (src/malloc-trim.ts, native/malloc-trim.c): on glibc Linux the build makes the
// module, and a trim gives back what malloc kept of freed memory — here Buffers' backing stores,
// which Node allocates with malloc: thousands freed below a few kept ones stay resident until
// a trim.

import test from 'ava';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { mallocTrimAvailable, startMallocTrimming, trimMalloc } from '../../src/malloc-trim.ts';

const glibc = process.platform === 'linux' && typeof (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime === 'string';

function fullGc(): void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as (options?: object) => void;
  setFlagsFromString('--no-expose-gc');
  gc({ type: 'major', execution: 'sync' });
}

test('on glibc Linux the build made the module, and a trim gives freed malloc memory back', (t) => {
  if (!glibc) {
    t.is(trimMalloc(), null, 'elsewhere it does nothing');
    return;
  }
  t.true(mallocTrimAvailable(), 'npm run build compiles native/malloc-trim.c (needs cc)');
  trimMalloc(); // start from a trimmed process
  // 96 MB in 4 KB backing stores (below malloc's mmap threshold: from its arenas), every 64th kept
  // so that the freed ones lie below live chunks and free() alone cannot give them back.
  let buffers: Buffer[] | null = Array.from({ length: 24_576 }, () => Buffer.allocUnsafeSlow(4096).fill(1));
  const kept = buffers.filter((_, i) => i % 64 === 63);
  buffers = null;
  // Backing stores are freed by a sweeper that runs after a collection; the next collection
  // waits for it to finish.
  fullGc();
  fullGc();
  const before = process.memoryUsage.rss();
  t.true(trimMalloc(), 'memory was given back');
  const released = before - process.memoryUsage.rss();
  t.true(released > 32 * 2 ** 20, `RSS fell by ${Math.round(released / 2 ** 20)} MB`);
  t.is(kept.length, 384);
});

test('trimming on a timer starts and stops', (t) => {
  const stop = startMallocTrimming(60_000);
  t.is(typeof stop, 'function');
  stop();
});
