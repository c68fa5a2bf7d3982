// The in-memory source: a program pushes objects (the same JSON as in a file or the API) and
// the router serves them — for embedding switchyard and for tests.

import type { Kind } from '../objects/types.ts';
import type { ApplyResult, Source, SourceSink } from './source.ts';

export class MemorySource implements Source {
  readonly name: string;
  #sink: SourceSink | null = null;
  /** Objects applied before start(), delivered when it starts. */
  #pending: unknown[] = [];

  constructor(objects: readonly unknown[] = [], name = 'memory') {
    this.name = name;
    this.#pending = [...objects];
  }

  async start(sink: SourceSink): Promise<void> {
    this.#sink = sink;
    const pending = this.#pending;
    this.#pending = [];
    for (const object of pending) {
      const result = sink.apply(object);
      if (!result.ok) throw new Error(`memory source: ${result.error}`);
    }
    sink.flush();
  }

  /** Add or replace an object; throws with the reason when it is invalid (before start: queued, checked at start). */
  apply(object: unknown): ApplyResult {
    if (this.#sink === null) {
      this.#pending.push(object);
      return { ok: true, changed: true };
    }
    const result = this.#sink.apply(object);
    if (!result.ok) throw new Error(`memory source: ${result.error}`);
    this.#sink.flush();
    return result;
  }

  delete(kind: Kind, namespace: string | undefined, name: string): boolean {
    if (this.#sink === null) throw new Error('memory source: not started');
    const existed = this.#sink.delete(kind, namespace, name);
    this.#sink.flush();
    return existed;
  }

  stop(): void {
    this.#sink = null;
  }
}
