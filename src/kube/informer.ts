// One resilient informer, as client-go's reflector: the initial state, then a watch from its
// resourceVersion, kept going for the life of the router.
//
// - The initial state comes from a streaming list where the server supports it (watch-list:
//   one watch with `sendInitialEvents=true` sends every object, a bookmark marking the end, then
//   the changes, on the same stream; no pages and no large list held by the server), else from a
//   paged list followed by a watch from the list's resourceVersion (the pages after the first
//   come from the same snapshot; the watch replays every change after it, so nothing falls
//   between). A server that refuses watch-list (kube-apiserver with the WatchList feature off,
//   or older than 1.27) is remembered and paged lists are used from then on. An informer may
//   also be told to read by pages, or by one unpaged list at resourceVersion=0 (`initialRead`),
//   as client-go's reflector lists: served whole from the API server's watch cache at the version
//   it holds (no etcd read, no watch events to encode), then a watch from the list's
//   resourceVersion as after pages (see sources/watched-resources.ts). After a 410 Gone such a
//   list is asked for at the current version instead (resourceVersion unset: a consistent read),
//   as client-go relists when its version is no longer available.
// - A watch that ends cleanly (the server's timeoutSeconds) or breaks is opened again from the
//   last resourceVersion seen (events and bookmarks move it): no re-list. Only when the server no
//   longer has that version (410 Gone) is the state read again, and the new state is diffed
//   against the store, so that only objects it proves gone are removed.
// - Services, EndpointSlices, Ingresses, IngressClasses and Namespaces are asked for as protobuf (as client-go asks for
//   built-in kinds: the API server encodes it several times cheaper than JSON, and every
//   router's start has it encode every Service and EndpointSlice of the cluster), decoded into
//   the JSON's shapes (protobuf-objects.ts); JSON is accepted too. Lists and watches of custom
//   resources (Routes) are asked for as CBOR, JSON accepted too: kube-apiserver serves CBOR behind
//   its alpha CBORServingAndStorage gate, and encodes it for about half the CPU of JSON
//   (cbor-objects.ts, cbor-watch-events.ts); without the gate they come as JSON. A watch's events
//   are handled the same whatever their encoding (`handle` in #session).
// - A page refused by API Priority and Fairness (429 with Retry-After) is asked for again after
//   that pause, the pages before it kept (as client-go retries such a request).
// - Failures retry after a capped, jittered exponential backoff; a watch silent (not even a
//   bookmark) for longer than the watchdog allows is restarted. During an outage nothing is
//   removed: the router keeps serving what it last knew.

import { systemClock, type Clock, type TimerHandle } from '../clock.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { objectKey, API_VERSION, type Kind, type KubeObject } from '../objects/types.ts';
import { narrowObject } from '../objects/narrow.ts';
import { KubeApiError, type KubeClient, type KubeWatchStream } from './client.ts';
import { CBOR_KINDS, decodeCbor } from './cbor-objects.ts';
import { CborWatchEventDecoder } from './cbor-watch-events.ts';
import { decodeList, PROTOBUF_KINDS } from './protobuf-objects.ts';
import { JsonListDecoder } from './json-list-decoder.ts';
import { ProtobufWatchEventDecoder } from './protobuf-watch-events.ts';
import type { WatchedResource } from './resources.ts';
import { WatchEventDecoder, WatchStatusError, type WatchEvent } from './watch-events.ts';

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

/** How an informer reads its initial state (see KubeInformerOptions.initialRead). */
export type InitialRead = 'watch-list' | 'pages' | 'list';

/** Whether informers start with watch-list; shared by the informers of one server (a refusal holds for all). */
export interface WatchListMode { use: boolean }

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
  /**
   * How this informer reads its initial state: 'watch-list' (the default) where the server
   * supports it (`watchList`), else paged lists; 'pages': paged lists always; 'list': one unpaged
   * list at resourceVersion=0 (any version the watch cache holds), after a 410 Gone at the
   * current version.
   */
  initialRead?: InitialRead;
  /** Whether the server takes watch-list (default: yes, until it refuses it). */
  watchList?: WatchListMode;
  /** Ask for protobuf where this kind has it (PROTOBUF_KINDS); default yes. false: JSON only. */
  protobuf?: boolean;
  /** Ask for a custom resource's lists and watches as CBOR (CBOR_KINDS), JSON accepted too; default yes. */
  cbor?: boolean;
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

/** One page of a list (limit/continue). */
interface ListPage { metadata?: { resourceVersion?: string; continue?: string }; items?: KubeObject[] }

/**
 * Objects per list page. A 100k-object list in one answer is one string of tens of MB parsed
 * into one object graph kept whole until its last item is narrowed: paging keeps that garbage
 * young, and the router parses page k while the API server prepares page k+1. But not client-go's
 * 500: kube-apiserver v1.36 serves each page from its watch cache by taking every object after
 * the continue key and cutting the page from them, so pages of 500 fetch 10.5 objects per object
 * returned at 10k (105,000 for 10,000) and cost it more per object than pages of 5,000 (1.5 per
 * object; 0.08–0.12 against 0.14–0.16 CPU-s for 10k Services or EndpointSlices as protobuf,
 * bench/apiserver-cost.ts). 5,000 Routes are a page of ~6 MB.
 */
export const LIST_PAGE_SIZE = 5000;

/** After a watch ran this long without trouble, the next failure starts the backoff afresh. */
const HEALTHY_RUN_MS = 30_000;

/** The bookmark that ends a watch-list's initial events carries this annotation. */
const INITIAL_EVENTS_END = 'k8s.io/initial-events-end';

/** A watch-list answered by a server that does not support it: use paged lists. */
class WatchListRefused extends Error {}

export class KubeInformer {
  readonly watched: WatchedResource;
  #options: KubeInformerOptions;
  #log: Logger;
  #clock: Clock;
  /** Bumped on every (re)start; callbacks of older sessions are ignored. */
  #generation = 0;
  #attempt = 0;
  #restartTimer: TimerHandle | undefined;
  #watchdog: TimerHandle | undefined;
  #stream: KubeWatchStream | undefined;
  #watchOpen = false;
  #watchStartedAt = 0;
  #lastActivity = 0;
  /** Where the watch goes on from; '' = read the whole state first. */
  #resourceVersion = '';
  /** The last watch ended with 410 Gone: the next list is a consistent read (not resourceVersion=0). */
  #expired = false;
  #stopped = true;
  #synced = false;
  #syncWaiters: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];

  /** Whether lists and watches ask for protobuf. */
  readonly #protobuf: boolean;
  /** Whether lists and watches ask for CBOR. */
  readonly #cbor: boolean;

  constructor(options: KubeInformerOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.watched = options.watched;
    this.#log = options.logger.child({ resource: options.watched.resource });
    this.#protobuf = (options.protobuf ?? true) && PROTOBUF_KINDS.has(options.watched.kind);
    this.#cbor = (options.cbor ?? true) && CBOR_KINDS.has(options.watched.kind);
  }

  get synced(): boolean { return this.#synced; }

  /** Start listing and watching; resolves after the first complete initial state. */
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
    this.#closeStream();
    const waiters = this.#syncWaiters;
    this.#syncWaiters = [];
    for (const w of waiters) w.reject(new Error(`${this.watched.resource} informer stopped before its first list`));
  }

  /** Start a session: the initial state if needed, then the watch; again at once when it ends cleanly. */
  #run(): void {
    const generation = ++this.#generation;
    const current = () => generation === this.#generation && !this.#stopped;
    this.#session(current).then(
      () => { if (current()) this.#run(); },
      (err: unknown) => {
        if (!current()) return;
        if (err instanceof WatchListRefused) {
          this.#run();
          return;
        }
        if (isGone(err)) {
          // The version we watched from is compacted away: read the whole state again, at once.
          this.#log.info({ reason: describe(err) }, 'resourceVersion expired: reading the state again');
          this.#resourceVersion = '';
          this.#expired = true;
          this.#closeStream();
          this.#run();
          return;
        }
        this.#failed(err);
      });
  }

  async #session(current: () => boolean): Promise<void> {
    const { watched, client } = this.#options;
    const initial = this.#resourceVersion === '';
    const watchList = initial && (this.#options.initialRead ?? 'watch-list') === 'watch-list' && (this.#options.watchList?.use ?? true);
    if (initial && !watchList) await this.#list(current);
    if (!current()) return;
    // Bookmarks prove a quiet watch alive; the server ends the watch now and then (as client-go
    // asks), and it goes on from the last resourceVersion without a re-list.
    const query: Record<string, string | undefined> = {
      watch: 'true', allowWatchBookmarks: 'true', timeoutSeconds: String(300 + Math.floor(Math.random() * 300)),
      labelSelector: watched.labelSelector, fieldSelector: watched.fieldSelector,
      resourceVersion: this.#resourceVersion,
    };
    if (watchList) Object.assign(query, { sendInitialEvents: 'true', resourceVersionMatch: 'NotOlderThan' });
    let stream: KubeWatchStream;
    try {
      stream = await client.watch(watched.path, query, { protobuf: this.#protobuf, cbor: this.#cbor });
    } catch (err) {
      if (watchList && refusesWatchList(err)) {
        this.#options.watchList!.use = false;
        this.#log.info({ reason: describe(err) }, 'the API server does not stream lists (watch-list): using paged lists');
        throw new WatchListRefused();
      }
      throw err;
    }
    if (!current()) {
      stream.close();
      return;
    }
    this.#stream = stream;
    this.#watchOpen = true;
    this.#watchStartedAt = this.#lastActivity = this.#clock.now();
    // Keys of a watch-list's initial events, until its end bookmark; then undefined.
    let initialKeys: Set<string> | undefined = watchList ? new Set() : undefined;
    const read = this.#options.metrics?.kubeObjectsRead.labels({ resource: watched.resource, encoding: stream.encoding });
    const handle = (event: WatchEvent): void => {
      this.#lastActivity = this.#clock.now();
      this.#attempt = 0;
      this.#touchSync();
      if (event.type === 'ERROR') throw new WatchStatusError(event.object);
      const resourceVersion: string | undefined = event.object?.metadata?.resourceVersion;
      if (event.type === 'BOOKMARK') {
        if (initialKeys && event.object?.metadata?.annotations?.[INITIAL_EVENTS_END] === 'true') {
          this.#removeMissing(initialKeys);
          initialKeys = undefined;
          this.#markSynced();
        }
        if (!initialKeys && resourceVersion) this.#resourceVersion = resourceVersion;
        return;
      }
      read?.inc();
      if (event.type === 'DELETED') this.#remove(event.object);
      else {
        const key = this.#upsert(narrowObject(watched.kind, { ...event.object, apiVersion: API_VERSION[watched.kind], kind: watched.kind }));
        if (initialKeys && key) initialKeys.add(key);
      }
      // During a watch-list's initial events, objects carry their own versions, not the state's.
      if (!initialKeys && resourceVersion) this.#resourceVersion = resourceVersion;
    };
    try {
      const ended = stream.encoding === 'json'
        ? await readEvents(stream.body, new WatchEventDecoder(), handle, current)
        : await readEvents(stream.body, stream.encoding === 'protobuf' ? new ProtobufWatchEventDecoder(watched.kind) : new CborWatchEventDecoder(), handle, current);
      if (!ended) return;
    } finally {
      if (current()) this.#closeStream(); // ended, broken, or a bad event: the next session opens a new one
    }
    if (initialKeys) throw new Error('the watch ended before its initial events were complete');
  }

  /**
   * The whole state by paged list, or by one list at resourceVersion=0 ('list'); sets the
   * resourceVersion the watch goes on from.
   */
  async #list(current: () => boolean): Promise<void> {
    const { watched } = this.#options;
    const whole = this.#options.initialRead === 'list';
    const pageSize = whole ? 0 : this.#options.listPageSize ?? LIST_PAGE_SIZE;
    // resourceVersion=0: whatever the watch cache holds, served from it with no etcd request
    // (kube-apiserver ignores a limit there, hence no pages). After a 410 the version we had is
    // gone: read at the current one, as client-go does then.
    const askedVersion = whole && !this.#expired ? '0' : undefined;
    const keys = new Set<string>();
    let resourceVersion = '';
    let continueToken: string | undefined;
    let paged = pageSize > 0;
    let refusals = 0;
    // Narrowed item by item: the full objects (managedFields, last-applied annotations) die young
    // instead of a page's or the whole list's staying alive until its end.
    const take = (item: KubeObject) => {
      const key = this.#upsert(narrowObject(watched.kind, { ...item, apiVersion: API_VERSION[watched.kind], kind: watched.kind }));
      if (key) keys.add(key);
    };
    for (;;) {
      let metadata: ListPage['metadata'];
      try {
        const query = {
          labelSelector: watched.labelSelector, fieldSelector: watched.fieldSelector,
          limit: paged ? String(pageSize) : undefined, continue: continueToken,
          resourceVersion: continueToken === undefined ? askedVersion : undefined,
        };
        metadata = paged ? await this.#page(query, take) : await this.#wholeList(query, take, current);
      } catch (err) {
        // Refused by API Priority and Fairness (429 with Retry-After): the same page again after
        // the pause it asked for, as client-go's client retries it, rather than the whole read
        // again (at a fleet's start, a refused second page of Routes threw away a first page the
        // server had spent as much to encode).
        const pause = refusedFor(err);
        if (pause !== undefined && refusals < MAX_PAGE_REFUSALS) {
          refusals++;
          this.#log.info({ listed: keys.size, retryInMs: pause }, 'list page refused (429): asking for it again');
          await new Promise<void>((resolve) => this.#clock.setTimeout(() => resolve(), pause));
          if (!current()) return;
          continue;
        }
        // The snapshot the pages come from was compacted away: list again, whole (as client-go's pager does).
        if (continueToken !== undefined && isGone(err)) {
          this.#log.warn({ listed: keys.size }, 'list continue token expired: listing again without pages');
          keys.clear();
          continueToken = undefined;
          paged = false;
          continue;
        }
        throw err;
      }
      if (!current()) return;
      resourceVersion = metadata?.resourceVersion ?? '';
      continueToken = metadata?.continue || undefined;
      if (continueToken === undefined) break;
    }
    this.#removeMissing(keys);
    this.#resourceVersion = resourceVersion;
    this.#expired = false;
    this.#markSynced();
    this.#touchSync();
  }

  /** One list page (or one unpaged list), read whole and parsed: each item to `take`; the page's metadata. */
  async #page(query: Record<string, string | undefined>, take: (item: KubeObject) => void): Promise<ListPage['metadata']> {
    const { watched, client } = this.#options;
    let encoding = 'json';
    const page = await client.request<ListPage>({
      method: 'GET', path: watched.path, query,
      timeoutMs: this.#options.listTimeoutMs ?? 60_000,
      protobuf: this.#protobuf ? (body: Buffer) => { encoding = 'protobuf'; return decodeList(watched.kind, body); } : undefined,
      cbor: this.#cbor ? (body: Buffer) => { encoding = 'cbor'; return decodeCbor(body); } : undefined,
    });
    this.#options.metrics?.kubeObjectsRead.inc({ resource: watched.resource, encoding }, page.items?.length ?? 0);
    for (const item of page.items ?? []) take(item);
    return page.metadata;
  }

  /**
   * One unpaged list, JSON read item by item as it arrives (json-list-decoder.ts): at 100k Routes
   * it is over 100 MB of JSON, never one string or one object graph here. A protobuf or CBOR answer
   * is decoded whole.
   */
  async #wholeList(query: Record<string, string | undefined>, take: (item: KubeObject) => void, current: () => boolean): Promise<ListPage['metadata']> {
    const { watched, client } = this.#options;
    const answer = await client.getStreamed(watched.path, query, { timeoutMs: this.#options.listTimeoutMs ?? 60_000, protobuf: this.#protobuf, cbor: this.#cbor });
    if (answer.encoding !== 'json') {
      const list = (answer.encoding === 'protobuf' ? decodeList(watched.kind, answer.bytes) : decodeCbor(answer.bytes)) as ListPage;
      this.#options.metrics?.kubeObjectsRead.inc({ resource: watched.resource, encoding: answer.encoding }, list.items?.length ?? 0);
      for (const item of list.items ?? []) take(item);
      return list.metadata;
    }
    const read = this.#options.metrics?.kubeObjectsRead.labels({ resource: watched.resource, encoding: 'json' });
    const decoder = new JsonListDecoder();
    for await (const chunk of answer.body) {
      if (!current()) return undefined;
      for (const item of decoder.push(chunk)) {
        read?.inc();
        take(item as KubeObject);
      }
    }
    return (decoder.end() as ListPage).metadata;
  }

  /** Remove from the store the objects of this informer's scope that a complete state proves gone. */
  #removeMissing(listed: Set<string>): void {
    const { kind, namespace, name } = this.watched;
    const store = this.#options.store;
    if (store.size(kind) === 0) return;
    const prefix = namespace ? `${namespace}/` : undefined;
    const gone: string[] = [];
    const scope = name !== undefined ? [`${namespace}/${name}`].filter((key) => store.has(kind, key)) : store.keys(kind);
    for (const key of scope) {
      if (prefix && !key.startsWith(prefix)) continue;
      if (!listed.has(key)) gone.push(key);
    }
    for (const key of gone) store.remove(kind, key);
    if (gone.length > 0) this.#log.info({ removed: gone.length }, 're-list removed objects that are gone');
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

  /** Give up the current session; a new one starts after the backoff. */
  #restart(reason: string): void {
    if (this.#stopped || this.#restartTimer) return;
    this.#generation++; // late callbacks of the old session are ignored from here on
    const ranHealthy = this.#watchOpen && this.#clock.now() - this.#watchStartedAt > HEALTHY_RUN_MS;
    this.#closeStream();
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

  #closeStream(): void {
    this.#watchOpen = false;
    const stream = this.#stream;
    this.#stream = undefined;
    stream?.close();
  }

  /** The object's store key when it was taken (or refused: a refused one is still present on the server). */
  #upsert(candidate: KubeObject): string | undefined {
    const { kind } = this.watched;
    const name = stringOrUndefined(candidate.metadata?.name);
    if (name === undefined) return undefined;
    const key = objectKey(kind, candidate.metadata);
    const result = this.#options.accept(candidate);
    if ('error' in result) {
      // Validation messages name the field, never its value: nothing of a Secret's data gets out.
      const namespace = stringOrUndefined(candidate.metadata?.namespace);
      this.#log.warn({ object: `${namespace ?? ''}/${name}`, error: result.error },
        'invalid object ignored (its previous version, if any, stays)');
      this.#options.onRefused?.({ kind, namespace, name, field: result.field, error: result.error });
      return key;
    }
    this.#options.store.upsert(kind, result.object);
    return key;
  }

  #remove(raw: { metadata?: { name?: string; namespace?: string } } | undefined): void {
    if (!raw?.metadata?.name) return;
    this.#options.store.remove(this.watched.kind, objectKey(this.watched.kind, raw.metadata as KubeObject['metadata']));
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

/** A decoder of one encoding's watch events: the events each chunk completes, and the stream's end (which may complete one, or find it cut). */
interface WatchEventSource<Chunk> {
  push(chunk: Chunk): Iterable<WatchEvent>;
  end(): Iterable<WatchEvent> | void;
}

/** Each event of a watch's body to `handle`, in order; false if the session ended (not `current`) before the stream did. */
async function readEvents<Chunk>(body: AsyncIterable<Chunk>, decoder: WatchEventSource<Chunk>, handle: (event: WatchEvent) => void, current: () => boolean): Promise<boolean> {
  for await (const chunk of body) {
    if (!current()) return false;
    for (const event of decoder.push(chunk)) handle(event);
  }
  if (!current()) return false;
  for (const event of decoder.end() ?? []) handle(event);
  return true;
}

function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** Refusals of one read's pages retried in place (client-go retries a request 10 times). */
const MAX_PAGE_REFUSALS = 10;

/**
 * The pause (ms) a 429 refusal asked for, as client-go honours it: only with a Retry-After (API
 * Priority and Fairness sends 1 s), jittered up to a quarter more so that a fleet refused together
 * does not come back together; undefined for anything else.
 */
function refusedFor(err: unknown): number | undefined {
  if (!(err instanceof KubeApiError) || err.statusCode !== 429 || err.retryAfterSeconds === undefined) return undefined;
  const ms = Math.min(err.retryAfterSeconds, 10) * 1000;
  return Math.round(ms + Math.random() * Math.max(ms, 200) / 4);
}

/** 410 Gone, as an HTTP answer or as a watch ERROR event: the resourceVersion is no longer there. */
function isGone(err: unknown): boolean {
  return (err instanceof KubeApiError || err instanceof WatchStatusError) && err.statusCode === 410;
}

/** The server's validation refused sendInitialEvents / resourceVersionMatch on a watch: no watch-list there. */
function refusesWatchList(err: unknown): boolean {
  return err instanceof KubeApiError && (err.statusCode === 400 || err.statusCode === 422)
    && /sendInitialEvents|resourceVersionMatch/.test(err.detail);
}

/** A short reason for a log line: status code and message, never headers or tokens. */
function describe(err: unknown): string {
  if (err && typeof err === 'object') {
    const e = err as { statusCode?: number; code?: unknown; message?: string; name?: string };
    const status = e.statusCode ?? (typeof e.code === 'number' ? e.code : undefined);
    const message = e.message ?? e.name ?? 'error';
    return status && !message.includes(String(status)) ? `${status} ${message}` : message;
  }
  return String(err);
}
