// A list or a watch answered from a collection's cache, with the semantics clients rely on:
// - list: the state the relay holds, whatever resourceVersion 0 or '' asks (as fresh as the
//   relay's watch); a resourceVersion N waits (bounded) until the relay has reached N. `limit` is
//   ignored (one answer, no continue token), as kube-apiserver ignores it at resourceVersion 0.
// - watch from N: the events after N from the cache's window; N older than the window: an ERROR
//   event 410 Gone; N newer than the relay has reached: a bounded wait, then 504 (retried).
// - watch from 0 or '', or with sendInitialEvents=true: an ADDED event per object first; with
//   sendInitialEvents and allowWatchBookmarks, then the bookmark annotated
//   `k8s.io/initial-events-end`. From 0 or '' with sendInitialEvents=false: the changes from now on.

import type { RelayMetrics } from './metrics.ts';
import type { CachedRead } from './request-info.ts';
import { expired, sendStatus, status, tooLarge, type RelayResponse } from './status.ts';
import type { WatchCache } from './watch-cache.ts';
import { Watcher } from './watcher.ts';

/** How long a read at a resourceVersion the relay has not reached waits for it (kube-apiserver: 3 s). */
const VERSION_WAIT_MS = 3_000;
/** Pieces of a list's items, in characters. */
const PIECE_CHARS = 256 * 1024;

export interface ServeOptions { metrics: RelayMetrics; watchTimeoutMs: () => number }

/** The version asked for, as a number (0 for '' and '0'), or undefined when it is not one. */
function askedVersion(read: CachedRead): number | undefined {
  if (read.resourceVersion === '' || read.resourceVersion === '0') return 0;
  return /^\d+$/.test(read.resourceVersion) ? Number(read.resourceVersion) : undefined;
}

export async function serveList(cache: WatchCache, read: CachedRead, res: RelayResponse, options: ServeOptions): Promise<void> {
  const asked = askedVersion(read);
  if (asked === undefined) return sendStatus(res, status(400, 'BadRequest', `invalid resource version: ${read.resourceVersion.slice(0, 64)}`));
  if (asked > cache.resourceVersion && !(await cache.reach(asked, VERSION_WAIT_MS))) {
    return sendStatus(res, tooLarge(read.resourceVersion, cache.resourceVersion), { 'retry-after': '1' });
  }
  options.metrics.cacheReads.inc({ verb: 'list', resource: cache.resource });
  const items = cache.snapshot();
  const head = `{"kind":${JSON.stringify(`${cache.kind}List`)},"apiVersion":${JSON.stringify(cache.apiVersion)},"metadata":{"resourceVersion":"${cache.resourceVersion}"},"items":[`;
  res.writeHead(200, { 'content-type': 'application/json' });
  let piece = head;
  for (let i = 0; i < items.length; i++) {
    piece += i === 0 ? items[i] : `,${items[i]}`;
    if (piece.length >= PIECE_CHARS) {
      const flowing = res.write(piece);
      piece = '';
      if (!flowing && !(await drained(res))) return;
    }
  }
  res.end(`${piece}]}`);
}

export async function serveWatch(cache: WatchCache, read: CachedRead, res: RelayResponse, options: ServeOptions): Promise<void> {
  const asked = askedVersion(read);
  if (asked === undefined) return sendStatus(res, status(400, 'BadRequest', `invalid resource version: ${read.resourceVersion.slice(0, 64)}`));
  const initial = read.sendInitialEvents || asked === 0 && !read.skipInitialEvents;
  if (read.sendInitialEvents && asked !== 0 && read.resourceVersionMatch !== 'NotOlderThan') {
    return sendStatus(res, status(422, 'Invalid', 'resourceVersionMatch: NotOlderThan is required with sendInitialEvents and a resourceVersion'));
  }
  if (asked > cache.resourceVersion && !(await cache.reach(asked, VERSION_WAIT_MS))) {
    return sendStatus(res, tooLarge(read.resourceVersion, cache.resourceVersion), { 'retry-after': '1' });
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  (res as { flushHeaders?: () => void }).flushHeaders?.();
  if (!initial && asked !== 0 && asked < cache.oldest) {
    // As kube-apiserver answers a watch from a compacted version: 200, then one ERROR event.
    res.end(`${JSON.stringify({ type: 'ERROR', object: expired(read.resourceVersion, cache.oldest) })}\n`);
    return;
  }
  options.metrics.cacheReads.inc({ verb: 'watch', resource: cache.resource });
  // The snapshot (or the replayed events) and the registration happen in one turn: every later
  // event is queued behind them, none is missed or sent twice.
  const objects = initial ? cache.snapshot() : [];
  const after = initial ? (read.sendInitialEvents && read.allowWatchBookmarks ? [cache.bookmarkLine(true)] : [])
    : asked === 0 ? [] : cache.eventsAfter(asked)!; // sendInitialEvents=false from 0: from now on
  const timeoutMs = read.timeoutSeconds !== undefined ? read.timeoutSeconds * 1000 : options.watchTimeoutMs();
  const gauge = options.metrics.watchers.labels({ resource: cache.resource });
  const watcher = new Watcher(res, {
    bookmarks: read.allowWatchBookmarks, timeoutMs,
    onEnd: (w) => { cache.watchers.delete(w); gauge.dec(); },
  });
  cache.watchers.add(watcher);
  gauge.inc();
  options.metrics.eventsRelayed.inc({ resource: cache.resource }, objects.length + after.length);
  await watcher.begin(objects, after);
}

/** Resolves true when the client took what was written, false when it went away. */
function drained(res: RelayResponse): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (flowing: boolean) => () => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(flowing);
    };
    const onDrain = done(true);
    const onClose = done(false);
    res.once('drain', onDrain);
    res.once('close', onClose);
  });
}
