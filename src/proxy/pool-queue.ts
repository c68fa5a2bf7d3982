// undici's Pool keeps a queue for requests that wait for a connection, and allocates it whole
// with the pool: a 2,048-slot array, 16 KB. Our endpoint pools are uncapped (http1-forwarder.ts:
// a request gets an idle connection or a new one), so that queue is never used — yet with
// endpoints of their own per route, as pods have, it was the largest single cost of a route
// (bench:scale's pods shape at 10k routes, heap snapshot: 15 KB of 50 KB per route, one
// FixedCircularBuffer per pool). The pool's queue is swapped for one that costs nothing until a
// request waits in it. It is found by its symbol's description; if a later undici names it
// otherwise, or it is not the queue this expects, the pool keeps its own (only memory is lost).

interface PoolQueue<T> {
  isEmpty(): boolean;
  push(item: T): void;
  shift(): T | null;
}

/** A FIFO over a plain array, empty until used; the same interface as undici's FixedQueue. */
export class SmallQueue<T> implements PoolQueue<T> {
  #items: Array<T | undefined> = [];
  #head = 0;

  isEmpty(): boolean {
    return this.#head === this.#items.length;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  shift(): T | null {
    if (this.#head === this.#items.length) return null;
    const item = this.#items[this.#head]!;
    this.#items[this.#head++] = undefined;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    }
    return item;
  }
}

/** Swap an undici pool's preallocated request queue for a SmallQueue (while it is still empty). Returns whether it did. */
export function useSmallQueue(pool: object): boolean {
  const key = Object.getOwnPropertySymbols(pool).find((s) => s.description === 'queue');
  if (key === undefined) return false;
  const queue = (pool as Record<symbol, unknown>)[key] as Partial<PoolQueue<unknown>> | undefined;
  if (queue === undefined || queue === null || queue.constructor?.name !== 'FixedQueue' || typeof queue.isEmpty !== 'function' || !queue.isEmpty()) return false;
  (pool as Record<symbol, unknown>)[key] = new SmallQueue();
  return true;
}
