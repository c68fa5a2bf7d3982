// The collections the relay holds: one WatchCache (and one list + watch at the API server) per
// collection path and selectors, started by the first request for it. Routers of one fleet ask
// for the same collections, so N routers cost the API server one read of each; a router's
// narrow reads stay narrow (a Secret watched by name is one Secret read by the relay, never the
// namespace's Secrets). A collection no client has used for a while is dropped.

import type { Logger } from '../log.ts';
import type { KubeClient } from '../kube/client.ts';
import type { RelayMetrics } from './metrics.ts';
import type { CachedRead } from './request-info.ts';
import { UpstreamReflector } from './upstream-reflector.ts';
import { WatchCache } from './watch-cache.ts';

export interface CollectionsOptions {
  client: KubeClient;
  logger: Logger;
  metrics: RelayMetrics;
  windowEvents: number;
  /** Collections held at most; requests for more are proxied. */
  maxCollections: number;
  /** A collection with no watcher, unused for this long, is dropped. */
  idleMs: number;
  /** Bookmarks to idle watchers this often (kube-apiserver: about every minute). */
  bookmarkIntervalMs: number;
}

interface Held { cache: WatchCache; reflector: UpstreamReflector }

export class Collections {
  readonly #options: CollectionsOptions;
  readonly #held = new Map<string, Held>();
  readonly #timer: NodeJS.Timeout;

  constructor(options: CollectionsOptions) {
    this.#options = options;
    this.#timer = setInterval(() => this.#tick(), Math.min(options.bookmarkIntervalMs, options.idleMs));
    this.#timer.unref();
  }

  /** The cache of this read's collection (its read started if new), or undefined when the relay holds as many as it may. */
  get(read: CachedRead): WatchCache | undefined {
    const key = `${read.path}?l=${read.labelSelector}&f=${read.fieldSelector}`;
    let held = this.#held.get(key);
    if (held?.cache.failure) {
      // The relay could not read it (its own RBAC, a CRD not installed): proxied, and tried again on a later request.
      held.reflector.stop();
      this.#drop(key, held);
      held = undefined;
      return undefined;
    }
    if (!held) {
      if (this.#held.size >= this.#options.maxCollections) return undefined;
      const logger = this.#options.logger.child({ collection: read.path, labelSelector: read.labelSelector || undefined, fieldSelector: read.fieldSelector || undefined });
      const cache = new WatchCache({ resource: read.resource, windowEvents: this.#options.windowEvents, logger, metrics: this.#options.metrics });
      const reflector = new UpstreamReflector({ client: this.#options.client, path: read.path, labelSelector: read.labelSelector, fieldSelector: read.fieldSelector, sink: cache, logger });
      held = { cache, reflector };
      this.#held.set(key, held);
      this.#options.metrics.upstreamWatches.set(this.#held.size);
      reflector.start();
    }
    held.cache.lastUsed = Date.now();
    return held.cache;
  }

  get size(): number { return this.#held.size; }

  stop(): void {
    clearInterval(this.#timer);
    for (const [key, held] of this.#held) {
      held.reflector.stop();
      held.cache.closeWatchers();
      this.#drop(key, held);
    }
  }

  #tick(): void {
    const now = Date.now();
    for (const [key, held] of this.#held) {
      held.cache.sendBookmarks();
      if (held.cache.watchers.size === 0 && now - held.cache.lastUsed > this.#options.idleMs) {
        held.reflector.stop();
        this.#drop(key, held);
      }
    }
  }

  #drop(key: string, held: Held): void {
    if (this.#held.get(key) === held) this.#held.delete(key);
    this.#options.metrics.upstreamWatches.set(this.#held.size);
  }
}
