// The store: one typed cache per kind, fed by the sources (kubernetes.ts, file.ts) and read by
// the reconciler. Nothing after the store knows where an object came from.
//
// Changes are delivered to subscribers in batches: every upsert/remove made in the same tick
// is coalesced into one call, so a relist or a file reload produces one reconcile.
// An upsert that changes nothing significant (same spec/metadata; status and resourceVersion
// are ignored) updates the stored copy silently and produces no change.

import {
  CLUSTER_SCOPED, creationMillis, objectKey,
  KINDS, type Kind, type KindMap, type KubeObject,
} from './objects/types.ts';

export interface StoreChange {
  kind: Kind;
  key: string;
  /** The object before the change (undefined when it was added). */
  old: KubeObject | undefined;
  /** The object after the change (undefined when it was removed). */
  current: KubeObject | undefined;
}

export type StoreListener = (changes: readonly StoreChange[]) => void;

interface Entry { object: KubeObject; order: number; fingerprint: string }

export class ObjectStore {
  #byKind = new Map<Kind, Map<string, Entry>>();
  /** EndpointSlices indexed by `namespace/serviceName` (label kubernetes.io/service-name). */
  #slicesByService = new Map<string, Set<string>>();
  #listeners: StoreListener[] = [];
  #pending: StoreChange[] = [];
  #flushScheduled = false;
  #arrival = 0;

  constructor() {
    for (const kind of KINDS) {
      this.#byKind.set(kind, new Map());
    }
  }

  subscribe(listener: StoreListener): () => void {
    this.#listeners.push(listener);
    return () => { this.#listeners = this.#listeners.filter((l) => l !== listener); };
  }

  /** Insert or replace an object. Returns true when it was a significant change. */
  upsert(kind: Kind, object: KubeObject): boolean {
    if (!CLUSTER_SCOPED.has(kind) && !object.metadata.namespace) {
      object = { ...object, metadata: { ...object.metadata, namespace: 'default' } };
    }
    const key = objectKey(kind, object.metadata);
    const map = this.#map(kind);
    const previous = map.get(key);
    const fingerprint = significantFingerprint(object);
    if (previous && previous.fingerprint === fingerprint) {
      previous.object = object; // fresh resourceVersion/status, nothing to recompute
      return false;
    }
    map.set(key, { object, order: previous?.order ?? ++this.#arrival, fingerprint });
    if (kind === 'EndpointSlice') this.#indexSlice(key, previous?.object, object);
    this.#queue({ kind, key, old: previous?.object, current: object });
    return true;
  }

  /** Remove an object by key. Returns true when it existed. */
  remove(kind: Kind, key: string): boolean {
    const map = this.#map(kind);
    const previous = map.get(key);
    if (!previous) return false;
    map.delete(key);
    if (kind === 'EndpointSlice') this.#indexSlice(key, previous.object, undefined);
    this.#queue({ kind, key, old: previous.object, current: undefined });
    return true;
  }

  get<K extends Kind>(kind: K, key: string): KindMap[K] | undefined {
    return this.#map(kind).get(key)?.object as KindMap[K] | undefined;
  }

  has(kind: Kind, key: string): boolean {
    return this.#map(kind).has(key);
  }

  keys(kind: Kind): IterableIterator<string> {
    return this.#map(kind).keys();
  }

  *list<K extends Kind>(kind: K): IterableIterator<KindMap[K]> {
    for (const entry of this.#map(kind).values()) yield entry.object as KindMap[K];
  }

  size(kind: Kind): number {
    return this.#map(kind).size;
  }

  /** EndpointSlices of a Service (`namespace/name`). */
  *slicesOf(serviceKey: string): IterableIterator<KindMap['EndpointSlice']> {
    const keys = this.#slicesByService.get(serviceKey);
    if (!keys) return;
    for (const key of keys) {
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
      const oa = this.#map(kind).get(objectKey(kind, a.metadata))?.order ?? Infinity;
      const ob = this.#map(kind).get(objectKey(kind, b.metadata))?.order ?? Infinity;
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
    for (const listener of this.#listeners) listener(batch);
  }

  #queue(change: StoreChange): void {
    this.#pending.push(change);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  #map(kind: Kind): Map<string, Entry> {
    const map = this.#byKind.get(kind);
    if (!map) throw new Error(`unknown kind ${kind}`);
    return map;
  }

  #indexSlice(key: string, before: KubeObject | undefined, after: KubeObject | undefined): void {
    const oldService = before ? sliceServiceKey(before) : undefined;
    const newService = after ? sliceServiceKey(after) : undefined;
    if (oldService === newService) return;
    if (oldService) {
      const set = this.#slicesByService.get(oldService);
      set?.delete(key);
      if (set && set.size === 0) this.#slicesByService.delete(oldService);
    }
    if (newService) {
      let set = this.#slicesByService.get(newService);
      if (!set) this.#slicesByService.set(newService, (set = new Set()));
      set.add(key);
    }
  }
}

export function sliceServiceKey(slice: KubeObject): string | undefined {
  const name = slice.metadata.labels?.['kubernetes.io/service-name'];
  return name ? `${slice.metadata.namespace ?? 'default'}/${name}` : undefined;
}

/** What decides whether an update matters: everything but status and bookkeeping metadata. */
function significantFingerprint(object: KubeObject): string {
  const { status, metadata, ...rest } = object;
  const { resourceVersion, managedFields, generation, ...meta } = metadata as KubeObject['metadata'] & { managedFields?: unknown };
  void resourceVersion; void managedFields; void generation;
  // Pods: the router reads status.podIP (and phase); other kinds' status is ours or irrelevant.
  const podStatus = status as { podIP?: string; phase?: string } | undefined;
  const keptStatus = object.kind === 'Pod' ? [podStatus?.podIP, podStatus?.phase] : undefined;
  return JSON.stringify([meta, rest, keptStatus]);
}
