// One full garbage collection right after start-up, so the process gives back what V8 grew
// for the initial load. Building the table from 10k+ objects keeps nearly everything it
// allocates, and V8 answers a high survival rate by growing the young generation (up to 64 MB
// per semi-space on a large machine); an idle or lightly loaded router then never collects
// enough to shrink it again. Measured at 10k routes from a file: 329 MB RSS before, 205 MB
// after (the live heap did not change; the young generation did), for a 223 ms pause once.
// The memory-reducing ("last-resort") kind: a regular one leaves the young generation as it
// is while the recent allocation rate is high, which right after the load it is.
//
// Node has no public call for a collection; the `gc` function V8 installs with --expose-gc is
// taken from a fresh vm context, with the flag on only for that moment (jest's leak detector
// does the same). Where that is unavailable this does nothing. Called by the CLI only: an
// application that embeds the router decides about its own heap.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Logger } from './log.ts';
import { trimMalloc } from './malloc-trim.ts';

type GcFunction = (options?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async'; flavor?: 'regular' | 'last-resort' }) => void;

let gc: GcFunction | null | undefined;

function gcFunction(): GcFunction | null {
  if (gc !== undefined) return gc;
  const global = (globalThis as { gc?: unknown }).gc;
  if (typeof global === 'function') return (gc = global as GcFunction);
  try {
    setFlagsFromString('--expose-gc');
    const fn: unknown = runInNewContext('gc');
    gc = typeof fn === 'function' ? (fn as GcFunction) : null;
  } catch {
    gc = null;
  } finally {
    setFlagsFromString('--no-expose-gc'); // later vm contexts (plugins) get no `gc`
  }
  return gc;
}

/** Run one full collection now; returns false when no collection could be asked for. */
export function releaseStartupMemory(logger: Logger): boolean {
  const collect = gcFunction();
  if (collect === null) return false;
  const rssBefore = process.memoryUsage.rss();
  const started = performance.now();
  collect({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  // What the collection freed outside V8's heap (the native side of the objects it collected),
  // and what start-up freed before it, is malloc's: given back only by a trim (malloc-trim.ts).
  const trimmed = trimMalloc();
  const mb = (b: number) => Math.round(b / 2 ** 20);
  logger.info({ ms: Math.round(performance.now() - started), rssBeforeMb: mb(rssBefore), rssAfterMb: mb(process.memoryUsage.rss()), mallocTrimmed: trimmed }, 'start-up memory released');
  return true;
}
