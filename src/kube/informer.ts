// One resilient informer: the client library's ListWatch, restarted by us. The library's
// informer stops for good when a watch connection breaks (it emits `error` and never re-watches),
// so every failure — list error, broken watch, a watch silent for longer than the watchdog
// allows — tears the informer down and starts a fresh one after a capped, jittered exponential
// backoff. A fresh informer re-lists; the list is diffed against the store so that only objects
// the new list proves gone are removed. During an outage nothing is removed: the router keeps
// serving what it last knew.

import { ListWatch, Watch, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import { systemClock, type Clock, type TimerHandle } from '../clock.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { objectKey, API_VERSION, type Kind, type KubeObject } from '../objects/types.ts';
import { narrowObject } from '../objects/narrow.ts';
import { KubeApiError, type KubeClient } from './client.ts';
import type { WatchedResource } from './resources.ts';

/** Where an informer keeps what it lists and watches (the router's ObjectStore is one). */
export interface InformerCache {
  upsert(kind: Kind, object: KubeObject): unknown;
  remove(kind: Kind, key: string): unknown;
  has(kind: Kind, key: string): boolean;
  size(kind: Kind): number;
  keys(kind: Kind): Iterable<string>;
}

/** An object `accept` refused: where it is, and why (a field path and message, never a value). */
export interface RefusedObject { kind: Kind; namespace?: string; name?: string; field?: string; error: string }

export interface KubeInformerOptions {
  client: KubeClient;
  watched: WatchedResource;
  store: InformerCache;
  logger: Logger;
  metrics?: Metrics;
  /** Restart a watch that sent nothing, not even a bookmark, for this long. */
  watchTimeoutMs: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  listTimeoutMs?: number;
  /** Objects per list page (limit/continue); 0 = one unpaged list. Default LIST_PAGE_SIZE. */
  listPageSize?: number;
  /** Turns an API object into a store object, or returns an error message (object skipped). */
  accept: (object: KubeObject) => { object: KubeObject } | { error: string; field?: string };
  /** Told of each refused object (after the informer has logged it). */
  onRefused?: (refused: RefusedObject) => void;
  /**
   * A list refused with 403 Forbidden counts as the first sync (of nothing): for objects that
   * routes reference, which RBAC may not grant. The informer keeps retrying meanwhile.
   */
  syncOnForbidden?: boolean;
  /** Time for the watchdog and the restart backoff (tests drive it by hand). Default: the system clock. */
  clock?: Clock;
}

/** Watch line callback and done callback of the client's Watch. */
type WatchCallback = (phase: string, object: any, raw?: any) => void;
type DoneCallback = (err: unknown) => void;

/** One page of a list (limit/continue). */
interface ListPage { metadata?: { resourceVersion?: string; continue?: string }; items?: KubeObject[] }

/**
 * Objects per list page (client-go's default). A 100k-object list in one answer is one string
 * of tens of MB parsed into one object graph kept whole until its last item is narrowed: paging
 * keeps that garbage young, and the router parses page k while the API server prepares page k+1.
 */
const LIST_PAGE_SIZE = 500;

/** After a watch ran this long without trouble, the next failure starts the backoff afresh. */
const HEALTHY_RUN_MS = 30_000;

export class KubeInformer {
  readonly watched: WatchedResource;
  #options: KubeInformerOptions;
  #log: Logger;
  #clock: Clock;
  #watch: Watch;
  #informer: ListWatch<KubernetesObject> | undefined;
  /** Bumped on every (re)start; callbacks of older informers are ignored. */
  #generation = 0;
  #attempt = 0;
  #restartTimer: TimerHandle | undefined;
  #watchdog: TimerHandle | undefined;
  #watchOpen = false;
  #watchStartedAt = 0;
  #lastActivity = 0;
  #stopped = true;
  #synced = false;
  #syncWaiters: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];

  constructor(options: KubeInformerOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.watched = options.watched;
    this.#log = options.logger.child({ resource: options.watched.resource });
    this.#watch = new Watch(options.client.kubeConfig);
    // The client aborts a watch silent for 30 s on its own (a private field, default 30 s); our
    // watchdog, with its configured timeout and restart accounting, is meant to act first.
    (this.#watch as unknown as { requestTimeoutMs: number }).requestTimeoutMs = options.watchTimeoutMs + 30_000;
  }

  get synced(): boolean { return this.#synced; }

  /** Start listing and watching; resolves after the first successful list. */
  start(): Promise<void> {
    if (this.#stopped) {
      this.#stopped = false;
      this.#run();
      this.#armWatchdog();
    }
    if (this.#synced) return Promise.resolve();
    return new Promise((resolve, reject) => this.#syncWaiters.push({ resolve, reject }));
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#generation++;
    this.#clock.clearTimeout(this.#restartTimer);
    this.#clock.clearTimeout(this.#watchdog);
    this.#restartTimer = undefined;
    this.#watchdog = undefined;
    const informer = this.#informer;
    this.#informer = undefined;
    this.#watchOpen = false;
    const waiters = this.#syncWaiters;
    this.#syncWaiters = [];
    for (const w of waiters) w.reject(new Error(`${this.watched.resource} informer stopped before its first list`));
    await informer?.stop();
  }

  #run(): void {
    const generation = ++this.#generation;
    const { path, labelSelector, fieldSelector } = this.watched;
    const current = () => generation === this.#generation;
    const watchProxy = {
      watch: (watchPath: string, params: Record<string, string | number | boolean | undefined>, callback: WatchCallback, done: DoneCallback) =>
        this.#openWatch(current, watchPath, params, callback, done),
    } as unknown as Watch;
    const informer = new ListWatch<KubernetesObject>(path, watchProxy, () => this.#list(current), false, labelSelector, fieldSelector);
    informer.on('add', (o) => { if (current()) this.#upsert(o); });
    informer.on('update', (o) => { if (current()) this.#upsert(o); });
    informer.on('delete', (o) => { if (current()) this.#remove(o); });
    informer.on('error', (err) => { if (current()) this.#failed(err); });
    this.#informer = informer;
    informer.start().catch((err: unknown) => { if (current()) this.#failed(err); });
  }

  async #list(current: () => boolean): Promise<KubernetesListObject<KubernetesObject>> {
    const { watched } = this;
    const pageSize = this.#options.listPageSize ?? LIST_PAGE_SIZE;
    const items: KubeObject[] = [];
    let resourceVersion = '';
    let continueToken: string | undefined;
    let paged = pageSize > 0;
    for (;;) {
      let page: ListPage;
      try {
        page = await this.#options.client.request<ListPage>({
          method: 'GET', path: watched.path,
          query: {
            labelSelector: watched.labelSelector, fieldSelector: watched.fieldSelector,
            limit: paged ? String(pageSize) : undefined, continue: continueToken,
          },
          timeoutMs: this.#options.listTimeoutMs ?? 60_000,
        });
      } catch (err) {
        // The snapshot the pages come from was compacted away: list again, whole (as client-go's pager does).
        if (continueToken !== undefined && err instanceof KubeApiError && err.statusCode === 410) {
          this.#log.warn({ listed: items.length }, 'list continue token expired: listing again without pages');
          items.length = 0;
          continueToken = undefined;
          paged = false;
          continue;
        }
        throw err;
      }
      // A list that lands after a restart belongs to a dead informer: make it give up quietly.
      if (!current()) throw new Error('superseded');
      // Narrowed page by page, before the client library caches them: its cache and the store
      // share one copy, and the full objects of a page (managedFields, last-applied annotations)
      // die young instead of the whole list's staying alive until its last item is narrowed.
      for (const item of page.items ?? []) items.push(narrowObject(watched.kind, { ...item, apiVersion: API_VERSION[watched.kind], kind: watched.kind }));
      resourceVersion = page.metadata?.resourceVersion ?? '';
      continueToken = page.metadata?.continue || undefined;
      if (continueToken === undefined) break;
    }
    this.#removeMissing(items);
    this.#markSynced();
    this.#touchSync();
    return { metadata: { resourceVersion }, items } as unknown as KubernetesListObject<KubernetesObject>;
  }

  /** Remove from the store the objects of this informer's scope that the list proves gone. */
  #removeMissing(items: KubeObject[]): void {
    const { kind, namespace, name } = this.watched;
    if (this.#options.store.size(kind) === 0) return; // the first list: nothing to compare with
    const listed = new Set(items.map((item) => objectKey(kind, item.metadata)));
    const prefix = namespace ? `${namespace}/` : undefined;
    const gone: string[] = [];
    const scope = name !== undefined ? [`${namespace}/${name}`].filter((key) => this.#options.store.has(kind, key)) : this.#options.store.keys(kind);
    for (const key of scope) {
      if (prefix && !key.startsWith(prefix)) continue;
      if (!listed.has(key)) gone.push(key);
    }
    for (const key of gone) this.#options.store.remove(kind, key);
    if (gone.length > 0) this.#log.info({ removed: gone.length }, 're-list removed objects that are gone');
  }

  async #openWatch(current: () => boolean, path: string, params: Record<string, string | number | boolean | undefined>,
    callback: WatchCallback, done: DoneCallback): Promise<AbortController> {
    // A dead informer must not open a watch: hand it a controller nobody will ever abort.
    if (!current()) return new AbortController();
    this.#watchOpen = true;
    this.#watchStartedAt = this.#lastActivity = this.#clock.now();
    // Ask for bookmarks, so a quiet but healthy watch still proves it is alive; and let the
    // server end the watch cleanly now and then (as client-go does), which re-watches from
    // the last resourceVersion without a re-list.
    const timeoutSeconds = 300 + Math.floor(Math.random() * 300);
    const query = { ...params, allowWatchBookmarks: true, timeoutSeconds };
    return this.#watch.watch(path, query,
      (phase, object, raw) => {
        if (!current()) return;
        this.#lastActivity = this.#clock.now();
        this.#attempt = 0;
        this.#touchSync();
        callback(phase, phase === 'ADDED' || phase === 'MODIFIED' ? narrowObject(this.watched.kind, object) : object, raw);
      },
      (err) => {
        if (!current()) return;
        this.#watchOpen = false;
        done(err);
      });
  }

  #failed(err: unknown): void {
    if (!this.#synced && this.#options.syncOnForbidden && err instanceof KubeApiError && err.statusCode === 403) {
      this.#log.error({ path: this.watched.path, fieldSelector: this.watched.fieldSelector }, 'reading this is forbidden by RBAC: carrying on without it, still retrying');
      this.#markSynced();
    }
    this.#restart(describe(err));
  }

  /** Check the watch every quarter of the watchdog timeout (50 ms to 1 s), re-arming each time. */
  #armWatchdog(): void {
    const interval = Math.max(50, Math.min(1000, Math.floor(this.#options.watchTimeoutMs / 4)));
    this.#watchdog = this.#clock.setTimeout(() => {
      if (this.#stopped) return;
      this.#armWatchdog();
      this.#checkWatchdog();
    }, interval);
    (this.#watchdog as { unref?: () => void }).unref?.();
  }

  #checkWatchdog(): void {
    if (this.#stopped || !this.#watchOpen) return;
    const silentMs = this.#clock.now() - this.#lastActivity;
    if (silentMs > this.#options.watchTimeoutMs) this.#restart(`watch sent nothing for ${Math.round(silentMs / 1000)}s`);
  }

  #restart(reason: string): void {
    if (this.#stopped || this.#restartTimer) return;
    const old = this.#informer;
    this.#informer = undefined;
    this.#generation++; // late callbacks of the old informer are ignored from here on
    const ranHealthy = this.#watchOpen && this.#clock.now() - this.#watchStartedAt > HEALTHY_RUN_MS;
    this.#watchOpen = false;
    void old?.stop();
    if (ranHealthy) this.#attempt = 0;
    const initial = this.#options.backoffInitialMs ?? 200;
    const max = this.#options.backoffMaxMs ?? 30_000;
    const base = Math.min(max, initial * 2 ** this.#attempt);
    this.#attempt = Math.min(this.#attempt + 1, 30);
    const delay = Math.round(base / 2 + Math.random() * base / 2); // jitter: [base/2, base]
    this.#options.metrics?.watchRestarts.inc({ resource: this.watched.resource });
    this.#log.warn({ reason, retryInMs: delay }, 'restarting watch');
    this.#restartTimer = this.#clock.setTimeout(() => {
      this.#restartTimer = undefined;
      if (!this.#stopped) this.#run();
    }, delay);
  }

  #upsert(raw: KubernetesObject): void {
    const { kind } = this.watched;
    const candidate = { ...raw, apiVersion: raw.apiVersion ?? API_VERSION[kind], kind: raw.kind ?? kind } as KubeObject;
    const result = this.#options.accept(candidate);
    if ('error' in result) {
      // Validation messages name the field, never its value: nothing of a Secret's data gets out.
      const namespace = stringOrUndefined(candidate.metadata?.namespace);
      const name = stringOrUndefined(candidate.metadata?.name);
      this.#log.warn({ object: `${namespace ?? ''}/${name ?? '?'}`, error: result.error },
        'invalid object ignored (its previous version, if any, stays)');
      this.#options.onRefused?.({ kind, namespace, name, field: result.field, error: result.error });
      return;
    }
    this.#options.store.upsert(kind, result.object);
  }

  #remove(raw: KubernetesObject): void {
    if (!raw.metadata?.name) return;
    const meta = raw.metadata as KubeObject['metadata'];
    this.#options.store.remove(this.watched.kind, objectKey(this.watched.kind, meta));
  }

  #markSynced(): void {
    if (this.#synced) return;
    this.#synced = true;
    const waiters = this.#syncWaiters;
    this.#syncWaiters = [];
    for (const w of waiters) w.resolve();
  }

  #touchSync(): void {
    this.#options.metrics?.lastSync.set({ resource: this.watched.resource }, this.#clock.now() / 1000);
  }
}

function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** A short reason for a log line: status code and message, never headers or tokens. */
function describe(err: unknown): string {
  if (err && typeof err === 'object') {
    const e = err as { statusCode?: number; code?: unknown; message?: string; name?: string };
    const status = e.statusCode ?? (typeof e.code === 'number' ? e.code : undefined);
    const message = e.message ?? e.name ?? 'error';
    return status ? `${status} ${message}` : message;
  }
  return String(err);
}
