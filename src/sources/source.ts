// The public Source interface: something that emits Kubernetes objects (add/update/delete) into
// the router's store and says when its initial load is complete. The file source, the in-memory
// source and any source a program writes implement it; everything after the store is shared.

import { validateObject } from '../objects/validate.ts';
import { objectKey, type Kind } from '../objects/types.ts';
import type { ObjectStore } from '../store.ts';

export type ApplyResult = { ok: true; changed: boolean } | { ok: false; error: string };

export interface SourceSink {
  /** Add or replace an object (the same JSON the API server serves); an invalid one is refused with the reason. */
  apply(object: unknown): ApplyResult;
  /** Remove an object; `namespace` is ignored for cluster-scoped kinds. True when it existed. */
  delete(kind: Kind, namespace: string | undefined, name: string): boolean;
  /** Deliver pending changes now (otherwise they go at the end of the current tick, as one batch). */
  flush(): void;
}

export interface Source {
  readonly name: string;
  /** Begin emitting into `sink`; resolves once the initial objects are in (the router turns ready after every source has). */
  start(sink: SourceSink): Promise<void>;
  stop(): void | Promise<void>;
}

/** The sink the router gives its sources: validation in front of its store. */
export class StoreSink implements SourceSink {
  readonly store: ObjectStore;
  constructor(store: ObjectStore) {
    this.store = store;
  }

  apply(object: unknown): ApplyResult {
    const result = validateObject(object);
    if (!result.ok) return { ok: false, error: result.ignored ? result.error : `${result.kind ?? 'object'} ${result.name ?? ''}: ${result.field ? `${result.field}: ` : ''}${result.error}`.trim() };
    return { ok: true, changed: this.store.upsert(result.kind, result.object) };
  }

  delete(kind: Kind, namespace: string | undefined, name: string): boolean {
    return this.store.remove(kind, objectKey(kind, { name, namespace: namespace ?? 'default' }));
  }

  flush(): void {
    this.store.flush();
  }
}
