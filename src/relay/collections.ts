// The collections the relay holds: one WatchCache (and one list + watch at the API server) per
// collection path and selectors, started by the first request for it. Routers of one fleet ask
// for the same collections, so N routers cost the API server one read of each; a router's
// narrow reads stay narrow (a Secret watched by name is one Secret read by the relay, never the
// namespace's Secrets). A collection no client has used for a while is dropped.
//
// Each collection is a list + watch under the relay's own identity, so its cost at the API server
// escapes API Priority and Fairness for whoever asked for it. Two bounds keep an authorized tenant
// (any token allowed to list something) from turning distinct selectors into upstream watches:
// the collections each user (the TokenReview's username) has opened and the relay still holds,
// and the collections held in all. Beyond either, the read is proxied with the client's own
// token (APF and the API server's limits apply to it as to any client): never refused, never
// served unauthenticated. A collection already held is served to anyone authorized, whoever
// opened it.

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
  /** Collections one user may have opened that are still held; that user's requests for more are proxied. */
  maxPerUser: number;
  /** Users not bound by maxPerUser (the routers' ServiceAccount: one named Secret collection per TLS Secret its routes reference). */
  uncappedUsers: ReadonlySet<string>;
  /** A collection with no watcher, unused for this long, is dropped. */
  idleMs: number;
  /** Bookmarks to idle watchers this often (kube-apiserver: about every minute). */
  bookmarkIntervalMs: number;
}

interface Held { cache: WatchCache; reflector: UpstreamReflector; openedBy: string }

export class Collections {
  readonly #options: CollectionsOptions;
  readonly #held = new Map<string, Held>();
  /** Collections held, by the user who opened them. */
  readonly #opened = new Map<string, number>();
  readonly #timer: NodeJS.Timeout;

  constructor(options: CollectionsOptions) {
    this.#options = options;
    this.#timer = setInterval(() => this.#tick(), Math.min(options.bookmarkIntervalMs, options.idleMs));
    this.#timer.unref();
  }

  /** The cache of this read's collection (its read started if new, opened by `user`), or undefined: proxy it (a cap reached, or a collection the relay cannot read). */
  get(read: CachedRead, user: string): WatchCache | undefined {
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
      if (this.#held.size >= this.#options.maxCollections) {
        this.#options.metrics.collectionsDeclined.inc({ cap: 'total' });
        return undefined;
      }
      const opened = this.#opened.get(user) ?? 0;
      if (opened >= this.#options.maxPerUser && !this.#options.uncappedUsers.has(user)) {
        this.#options.metrics.collectionsDeclined.inc({ cap: 'user' });
        return undefined;
      }
      const logger = this.#options.logger.child({ collection: read.path, labelSelector: read.labelSelector || undefined, fieldSelector: read.fieldSelector || undefined });
      const cache = new WatchCache({ resource: read.resource, windowEvents: this.#options.windowEvents, logger, metrics: this.#options.metrics });
      const reflector = new UpstreamReflector({ client: this.#options.client, path: read.path, labelSelector: read.labelSelector, fieldSelector: read.fieldSelector, sink: cache, logger });
      held = { cache, reflector, openedBy: user };
      this.#held.set(key, held);
      this.#opened.set(user, opened + 1);
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
    if (this.#held.get(key) === held) {
      this.#held.delete(key);
      const opened = (this.#opened.get(held.openedBy) ?? 1) - 1;
      if (opened > 0) this.#opened.set(held.openedBy, opened);
      else this.#opened.delete(held.openedBy);
    }
    this.#options.metrics.upstreamWatches.set(this.#held.size);
  }
}
