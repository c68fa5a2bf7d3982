// The store: one typed cache per kind, fed by the sources (kubernetes.ts, file.ts) and read by
// the reconciler. Nothing after the store knows where an object came from.
//
// Changes are delivered to subscribers in batches: every upsert/remove made in the same tick
// is coalesced into one call, so a relist or a file reload produces one reconcile.
// An upsert that changes nothing significant (same spec/metadata; status and resourceVersion
// are ignored) updates the stored copy silently and produces no change.
//
// A listener that throws does not stop the others, and its batch is not silently lost: the
// error is reported (onListenerError) and the listener's resync (a full rebuild from the store)
// runs on the next tick, retried with a backoff while it keeps failing. Until it succeeds the
// store is not `healthy` (the router's readiness says so).

import {
  CLUSTER_SCOPED, creationMillis, objectKey,
  KINDS, type Kind, type KindMap, type KubeObject,
} from './objects/types.ts';
import { addTo, removeFrom, valuesOf, type KeyIndex } from './key-index.ts';
import { AGELESS } from './objects/narrow.ts';

export interface StoreChange {
  kind: Kind;
  key: string;
  /** The object before the change (undefined when it was added). */
  old: KubeObject | undefined;
  /** The object after the change (undefined when it was removed). */
  current: KubeObject | undefined;
}

export type StoreListener = (changes: readonly StoreChange[]) => void;

interface Subscription {
  listener: StoreListener;
  /** Rebuild everything from the store's current contents (after a failed delivery). */
  resync: (() => void) | null;
  retryMs: number;
  timer: NodeJS.Timeout | null;
}

const RESYNC_RETRY_MIN_MS = 1_000;
const RESYNC_RETRY_MAX_MS = 30_000;

export class ObjectStore {
  /** The objects by kind and key: the objects themselves, no entry object around each (~40 bytes, 3 per route). */
  #byKind = new Map<Kind, Map<string, KubeObject>>();
  /**
   * The order objects first arrived in, by kind and key (compareAge), for the kinds that are aged
   * (Routes, Ingresses, Gateway API objects): never Services, EndpointSlices, Pods or Secrets.
   */
  #arrivalOrder = new Map<Kind, Map<string, number>>();
  /** EndpointSlice keys by `namespace/serviceName` (label kubernetes.io/service-name); nearly every Service has one. */
  #slicesByService: KeyIndex = new Map();
  #subscriptions: Subscription[] = [];
  /** Subscriptions whose last delivery or resync threw. */
  #failing = new Set<Subscription>();
  /** Where listener errors are reported (the router logs and counts them). */
  onListenerError: (err: unknown, phase: 'delivery' | 'resync') => void = () => {};
  #pending: StoreChange[] = [];
  #flushScheduled = false;
  #arrival = 0;

  constructor() {
    for (const kind of KINDS) {
      this.#byKind.set(kind, new Map());
      if (!AGELESS.has(kind)) this.#arrivalOrder.set(kind, new Map());
    }
  }

  /** `resync` rebuilds the subscriber's state from the whole store after a delivery threw. */
  subscribe(listener: StoreListener, resync?: () => void): () => void {
    const sub: Subscription = { listener, resync: resync ?? null, retryMs: RESYNC_RETRY_MIN_MS, timer: null };
    this.#subscriptions.push(sub);
    return () => {
      this.#subscriptions = this.#subscriptions.filter((s) => s !== sub);
      this.#failing.delete(sub);
      if (sub.timer !== null) clearTimeout(sub.timer);
    };
  }

  /** false while a subscriber missed changes (its delivery or resync threw) and has not caught up. */
  get healthy(): boolean {
    return this.#failing.size === 0;
  }

  /** Insert or replace an object. Returns true when it was a significant change. */
  upsert(kind: Kind, object: KubeObject): boolean {
    if (!CLUSTER_SCOPED.has(kind) && !object.metadata.namespace) {
      object = { ...object, metadata: { ...object.metadata, namespace: 'default' } };
    }
    const key = objectKey(kind, object.metadata);
    const map = this.#map(kind);
    const previous = map.get(key);
    map.set(key, object);
    if (previous && significantlyEqual(previous, object)) return false; // fresh resourceVersion/status, nothing to recompute
    if (previous === undefined) {
      const order = this.#arrivalOrder.get(kind);
      if (order !== undefined) order.set(key, ++this.#arrival);
    }
    if (kind === 'EndpointSlice') this.#indexSlice(key, previous, object);
    this.#queue({ kind, key, old: previous, current: object });
    return true;
  }

  /** Remove an object by key. Returns true when it existed. */
  remove(kind: Kind, key: string): boolean {
    const map = this.#map(kind);
    const previous = map.get(key);
    if (!previous) return false;
    map.delete(key);
    this.#arrivalOrder.get(kind)?.delete(key);
    if (kind === 'EndpointSlice') this.#indexSlice(key, previous, undefined);
    this.#queue({ kind, key, old: previous, current: undefined });
    return true;
  }

  get<K extends Kind>(kind: K, key: string): KindMap[K] | undefined {
    return this.#map(kind).get(key) as KindMap[K] | undefined;
  }

  has(kind: Kind, key: string): boolean {
    return this.#map(kind).has(key);
  }

  keys(kind: Kind): IterableIterator<string> {
    return this.#map(kind).keys();
  }

  *list<K extends Kind>(kind: K): IterableIterator<KindMap[K]> {
    for (const object of this.#map(kind).values()) yield object as KindMap[K];
  }

  size(kind: Kind): number {
    return this.#map(kind).size;
  }

  /** EndpointSlices of a Service (`namespace/name`). */
  *slicesOf(serviceKey: string): IterableIterator<KindMap['EndpointSlice']> {
    for (const key of valuesOf(this.#slicesByService, serviceKey)) {
      const slice = this.get('EndpointSlice', key);
      if (slice) yield slice;
    }
  }

  /**
   * Age order of two objects of one kind, as OpenShift settles conflicts: creationTimestamp,
   * then (for objects without one, e.g. from files) the order they first arrived in, then
   * uid, then name. Negative when `a` is older.
   */
  compareAge(kind: Kind, a: KubeObject, b: KubeObject): number {
    const ta = creationMillis(a.metadata);
    const tb = creationMillis(b.metadata);
    if (ta !== tb) {
      if (ta === undefined) return 1;
      if (tb === undefined) return -1;
      return ta - tb;
    }
    if (ta === undefined) {
      const order = this.#arrivalOrder.get(kind);
      const oa = order?.get(objectKey(kind, a.metadata)) ?? Infinity;
      const ob = order?.get(objectKey(kind, b.metadata)) ?? Infinity;
      if (oa !== ob) return oa < ob ? -1 : 1;
    }
    const ua = a.metadata.uid ?? '';
    const ub = b.metadata.uid ?? '';
    if (ua !== ub) return ua < ub ? -1 : 1;
    const na = objectKey(kind, a.metadata);
    const nb = objectKey(kind, b.metadata);
    return na < nb ? -1 : na > nb ? 1 : 0;
  }

  /** Deliver queued changes now (tests and sources that need a synchronous barrier). */
  flush(): void {
    this.#flushScheduled = false;
    if (this.#pending.length === 0) return;
    const batch = this.#pending;
    this.#pending = [];
    for (const sub of this.#subscriptions) {
      try {
        sub.listener(batch);
      } catch (err) {
        this.onListenerError(err, 'delivery');
        this.#failing.add(sub);
        this.#scheduleResync(sub, 0);
      }
    }
  }

  #scheduleResync(sub: Subscription, delayMs: number): void {
    if (sub.resync === null || sub.timer !== null) return;
    sub.timer = setTimeout(runResync, delayMs, this, sub);
    sub.timer.unref?.();
  }

  /** (module function's entry) run a subscriber's resync; on failure retry with backoff. */
  resyncNow(sub: Subscription): void {
    sub.timer = null;
    if (!this.#subscriptions.includes(sub)) return;
    try {
      sub.resync!();
      sub.retryMs = RESYNC_RETRY_MIN_MS;
      this.#failing.delete(sub);
    } catch (err) {
      this.onListenerError(err, 'resync');
      this.#failing.add(sub);
      const delay = sub.retryMs;
      sub.retryMs = Math.min(RESYNC_RETRY_MAX_MS, sub.retryMs * 2);
      this.#scheduleResync(sub, delay);
    }
  }

  #queue(change: StoreChange): void {
    this.#pending.push(change);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  #map(kind: Kind): Map<string, KubeObject> {
    const map = this.#byKind.get(kind);
    if (!map) throw new Error(`unknown kind ${kind}`);
    return map;
  }

  #indexSlice(key: string, before: KubeObject | undefined, after: KubeObject | undefined): void {
    const oldService = before ? sliceServiceKey(before) : undefined;
    const newService = after ? sliceServiceKey(after) : undefined;
    if (oldService === newService) return;
    if (oldService) removeFrom(this.#slicesByService, oldService, key);
    if (newService) addTo(this.#slicesByService, newService, key);
  }
}

function runResync(store: ObjectStore, sub: Subscription): void {
  store.resyncNow(sub);
}

export function sliceServiceKey(slice: KubeObject): string | undefined {
  const name = slice.metadata.labels?.['kubernetes.io/service-name'];
  return name ? `${slice.metadata.namespace ?? 'default'}/${name}` : undefined;
}

/**
 * Whether an update matters: everything but status and bookkeeping metadata is compared.
 * Compared in place rather than through a stored fingerprint, which cost a JSON string per object.
 */
function significantlyEqual(a: KubeObject, b: KubeObject): boolean {
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (key === 'status' || key === 'metadata') continue;
    if (!deepEqual(a[key], b[key])) return false;
  }
  const ma = a.metadata as unknown as Record<string, unknown>;
  const mb = b.metadata as unknown as Record<string, unknown>;
  for (const key of new Set([...Object.keys(ma), ...Object.keys(mb)])) {
    if (key === 'resourceVersion' || key === 'managedFields' || key === 'generation') continue;
    if (!deepEqual(ma[key], mb[key])) return false;
  }
  // Pods: the router reads status.podIP (and phase); other kinds' status is ours or irrelevant.
  if (a.kind === 'Pod' || b.kind === 'Pod') {
    const sa = a.status as { podIP?: string; phase?: string } | undefined;
    const sb = b.status as { podIP?: string; phase?: string } | undefined;
    if (sa?.podIP !== sb?.podIP || sa?.phase !== sb?.phase) return false;
  }
  return true;
}

/** Structural equality of JSON-like values (a missing key equals an undefined one). */
function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (a instanceof Date || b instanceof Date) {
    return a instanceof Date && b instanceof Date ? a.getTime() === b.getTime() : false;
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bs = b as unknown[];
    if (a.length !== bs.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], bs[i])) return false;
    return true;
  }
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  for (const key in ra) if (!deepEqual(ra[key], rb[key])) return false;
  for (const key in rb) if (!(key in ra) && rb[key] !== undefined) return false;
  return true;
}
