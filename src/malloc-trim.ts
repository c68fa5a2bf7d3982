// Gives the pages of malloc's free memory back to the kernel, now and then (glibc's
// malloc_trim(0), native/malloc-trim.c). glibc returns only the top of an arena when memory is
// freed; what a burst freed below live chunks stays resident for good. A router has such bursts:
// start-up (10k routes: the objects' parse and narrowing), and the first request of every route
// (10,000 upstream connections, each with a socket, a parser and read buffers, closed a few
// seconds later). At 10k routes a settled router kept 50–65 MB of free malloc memory resident, as
// much as its V8 heap grew for the routes. The variables that tune malloc (MALLOC_TRIM_THRESHOLD_,
// GLIBC_TUNABLES) cannot do it: the image runs `node` in secure mode (a file capability), where
// glibc ignores them.
//
// One call walks every arena (all threads') and madvises the free pages: milliseconds, so it runs
// on a slow unref'd timer, not per event. Without the module (no C compiler at build time, not
// glibc) this does nothing. The CLI starts it; embedders decide about their own process.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

type Trim = () => boolean;

let loaded: Trim | null | undefined;

function trimFunction(): Trim | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  // Beside this module in dist/; from src/ (tests run the sources), the build's copy.
  for (const at of ['./native/malloc-trim.node', '../dist/native/malloc-trim.node']) {
    const file = fileURLToPath(new URL(at, import.meta.url));
    if (!existsSync(file)) continue;
    try {
      const module = { exports: {} as { trim?: unknown } };
      process.dlopen(module, file);
      if (typeof module.exports.trim === 'function') loaded = module.exports.trim as Trim;
    } catch {
      // built for another platform or libc: run without it
    }
    break;
  }
  return loaded;
}

/** Whether this build can trim (the native module was built and loads). */
export function mallocTrimAvailable(): boolean {
  return trimFunction() !== null;
}

/** Trim now: true when memory was given back, false when none was, null when unavailable. */
export function trimMalloc(): boolean | null {
  const trim = trimFunction();
  return trim === null ? null : trim();
}

/** How often the CLI's router trims (ms). */
export const MALLOC_TRIM_INTERVAL_MS = 20_000;

/** Trim every `intervalMs` (unref'd: it keeps no process alive); returns the stop function. Nothing when unavailable. */
export function startMallocTrimming(intervalMs = MALLOC_TRIM_INTERVAL_MS): () => void {
  if (trimFunction() === null) return () => {};
  const timer = setInterval(trimMalloc, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
