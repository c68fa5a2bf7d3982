// What the relay holds of one collection (a path and its selectors, as the routers ask for it):
// every object as JSON text, encoded once and written to every router that reads it; the state's
// resourceVersion; and a window of the latest events, from which a watch at an earlier version is
// served (older than the window: 410 Gone, and the client lists again, as from kube-apiserver's
// watch cache). Events reach each watcher in the order the API server sent them.

import type { Logger } from '../log.ts';
import type { KubeApiError } from '../kube/client.ts';
import type { KubeListHead, ReflectorSink } from './upstream-reflector.ts';
import type { RelayMetrics } from './metrics.ts';
import { Watcher } from './watcher.ts';

interface Stored { rv: number; json: string }
interface RecentEvent { rv: number; line: string }

export interface WatchCacheOptions {
  /** metric label: the plural resource name */
  resource: string;
  /** Events kept for watches that start at an earlier version. */
  windowEvents: number;
  logger: Logger;
  metrics: RelayMetrics;
}

export type Readiness = 'synced' | 'failed' | 'timeout';

/** The annotation of the bookmark that ends a watch's initial events (sendInitialEvents). */
export const INITIAL_EVENTS_END = 'k8s.io/initial-events-end';

export class WatchCache implements ReflectorSink {
  readonly resource: string;
  /** The objects' kind and apiVersion, from the API server's list (`RouteList` → `Route`). */
  kind = '';
  apiVersion = '';
  /** The state's resourceVersion (0 before the first list). */
  resourceVersion = 0;
  /** Set when the collection cannot be read by the relay (proxied instead). */
  failure: KubeApiError | undefined;
  /** When a request last used this collection (ms): idle ones are stopped. */
  lastUsed = Date.now();
  readonly watchers = new Set<Watcher>();

  readonly #options: WatchCacheOptions;
  readonly #objects = new Map<string, Stored>();
  /** The window: events in order; a watch from a version at or after #oldest is served from it. */
  #recent: RecentEvent[] = [];
  #recentStart = 0;
  #oldest = 0;
  #synced = false;
  #readyWaiters: Array<(r: Readiness) => void> = [];
  #versionWaiters: Array<{ rv: number; resolve: (reached: boolean) => void }> = [];

  constructor(options: WatchCacheOptions) {
    this.#options = options;
    this.resource = options.resource;
  }

  get synced(): boolean { return this.#synced; }
  get size(): number { return this.#objects.size; }
  /** The earliest version a watch may start from. */
  get oldest(): number { return this.#oldest; }

  /** Resolves once the collection is read (or cannot be), or after `timeoutMs`. */
  ready(timeoutMs: number): Promise<Readiness> {
    if (this.failure) return Promise.resolve('failed');
    if (this.#synced) return Promise.resolve('synced');
    return new Promise((resolve) => {
      const timer = setTimeout(() => done('timeout'), timeoutMs);
      const done = (r: Readiness) => {
        clearTimeout(timer);
        this.#readyWaiters = this.#readyWaiters.filter((w) => w !== done);
        resolve(r);
      };
      this.#readyWaiters.push(done);
    });
  }

  /** Resolves true once the state reaches `rv`, false after `timeoutMs` without. */
  reach(rv: number, timeoutMs: number): Promise<boolean> {
    if (this.resourceVersion >= rv) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = { rv, resolve: (reached: boolean) => { clearTimeout(timer); resolve(reached); } };
      const timer = setTimeout(() => {
        this.#versionWaiters = this.#versionWaiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      this.#versionWaiters.push(waiter);
    });
  }

  /** The current objects' JSON, in no particular order (a snapshot: later events do not change it). */
  snapshot(): string[] {
    const out = new Array<string>(this.#objects.size);
    let i = 0;
    for (const stored of this.#objects.values()) out[i++] = stored.json;
    return out;
  }

  /** The event lines after `rv`, or undefined when the window no longer reaches back to it. */
  eventsAfter(rv: number): string[] | undefined {
    if (rv < this.#oldest) return undefined;
    const out: string[] = [];
    for (let i = this.#recentStart; i < this.#recent.length; i++) {
      const event = this.#recent[i]!;
      if (event.rv > rv) out.push(event.line);
    }
    return out;
  }

  /** A BOOKMARK event line at the current version (`initialEventsEnd`: the one ending a watch's initial events). */
  bookmarkLine(initialEventsEnd = false): string {
    const metadata: Record<string, unknown> = { resourceVersion: String(this.resourceVersion) };
    if (initialEventsEnd) metadata['annotations'] = { [INITIAL_EVENTS_END]: 'true' };
    return `${JSON.stringify({ type: 'BOOKMARK', object: { kind: this.kind, apiVersion: this.apiVersion, metadata } })}\n`;
  }

  // ---- ReflectorSink ----

  replace(head: KubeListHead, items: Array<Record<string, any>>): void {
    this.kind = (head.kind ?? '').replace(/List$/, '');
    this.apiVersion = head.apiVersion ?? '';
    const again = this.#synced;
    this.#objects.clear();
    for (const item of items) this.#store(item);
    this.resourceVersion = Number(head.metadata?.resourceVersion);
    // A new state: no event leads to it from the old one, so the window starts here and watchers
    // of the old state end with 410 Gone (they list again, from here).
    this.#recent = [];
    this.#recentStart = 0;
    this.#oldest = this.resourceVersion;
    if (again) {
      for (const watcher of [...this.watchers]) watcher.expire(this.resourceVersion);
      this.#options.logger.info({ objects: this.#objects.size }, 'listed again after 410 Gone: watchers sent 410');
    }
    this.#synced = true;
    this.#advanced();
    for (const w of [...this.#readyWaiters]) w('synced');
  }

  event(type: 'ADDED' | 'MODIFIED' | 'DELETED', object: Record<string, any>): void {
    const rv = Number(object['metadata']?.resourceVersion);
    if (!(rv > this.resourceVersion)) return; // already in the state (never expected: the watch goes on from its last version)
    const json = type === 'DELETED' ? this.#remove(object) : this.#store(object);
    const line = `{"type":"${type}","object":${json}}\n`;
    this.#recent.push({ rv, line });
    if (this.#recent.length - this.#recentStart > this.#options.windowEvents) {
      this.#oldest = this.#recent[this.#recentStart]!.rv;
      this.#recent[this.#recentStart++] = undefined as never;
      if (this.#recentStart > 1024 && this.#recentStart * 2 > this.#recent.length) {
        this.#recent = this.#recent.slice(this.#recentStart);
        this.#recentStart = 0;
      }
    }
    this.resourceVersion = rv;
    for (const watcher of this.watchers) watcher.send(line);
    this.#options.metrics.eventsRelayed.inc({ resource: this.resource }, this.watchers.size);
    this.#advanced();
  }

  bookmark(resourceVersion: string): void {
    const rv = Number(resourceVersion);
    if (!(rv > this.resourceVersion)) return;
    this.resourceVersion = rv;
    this.sendBookmarks();
    this.#advanced();
  }

  failed(err: KubeApiError): void {
    this.failure = err;
    for (const w of [...this.#readyWaiters]) w('failed');
  }

  /** A bookmark at the current version to every watcher that takes them (periodically, and as the API server sends them). */
  sendBookmarks(): void {
    if (!this.#synced) return;
    let line: string | undefined;
    for (const watcher of this.watchers) {
      if (!watcher.bookmarks) continue;
      line ??= this.bookmarkLine();
      watcher.send(line);
    }
  }

  /** End every watcher (the relay stops, or the collection is dropped). */
  closeWatchers(): void {
    for (const watcher of [...this.watchers]) watcher.end();
  }

  #store(object: Record<string, any>): string {
    // Items of a built-in kind's JSON list come without kind and apiVersion; watch events carry them.
    if (object['kind'] === undefined && this.kind) {
      object = { apiVersion: this.apiVersion, kind: this.kind, ...object };
    }
    const json = JSON.stringify(object);
    const meta = object['metadata'] ?? {};
    this.#objects.set(`${meta.namespace ?? ''}/${meta.name ?? ''}`, { rv: Number(meta.resourceVersion), json });
    return json;
  }

  #remove(object: Record<string, any>): string {
    const meta = object['metadata'] ?? {};
    this.#objects.delete(`${meta.namespace ?? ''}/${meta.name ?? ''}`);
    return JSON.stringify(object);
  }

  #advanced(): void {
    if (this.#versionWaiters.length === 0) return;
    const reached = this.#versionWaiters.filter((w) => w.rv <= this.resourceVersion);
    if (reached.length === 0) return;
    this.#versionWaiters = this.#versionWaiters.filter((w) => w.rv > this.resourceVersion);
    for (const w of reached) w.resolve(true);
  }
}
