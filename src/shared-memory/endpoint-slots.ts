// The state of every backend endpoint that all threads must agree on — in-flight count, active
// check verdict, passive ejection — in shared memory: one slot per endpoint id, whichever
// thread's table or health check uses it. So a verdict of the health checks (main thread) is
// seen by every proxy thread at once, an ejection after failures seen by one thread holds in all
// of them, and leastconn counts every thread's requests, as HAProxy's threads share a server.
//
// Two growable SharedArrayBuffers (grown in place, so every thread's views follow):
// - `slots`: STRIDE int32 per endpoint (fields below).
// - `index`: a header, then an open-addressing table from the id's 64-bit hash to its slot.
// Slots are taken and given back under one lock (table changes, not requests); the request path
// reads and writes its slot's fields directly (Atomics for counts, the slot's own lock for the
// passive-health read-modify-writes, see endpoint-state.ts).

import { hashString, hashed } from './key-hash.ts';
import { lock, unlock } from './spin-lock.ts';

/** int32 fields of a slot. */
export const REFS = 0; // registries (one per thread and purpose) holding the slot; -1: free
export const ACTIVE = 1; // requests and tunnels in flight, over all threads
export const DOWN = 2; // 1: the active checks hold it down
export const FAILURES = 3; // consecutive failures (passive); free slots: the next free slot + 1
export const EJECTIONS = 4; // ejections in a row
export const LOCK = 5; // the slot's lock (passive health updates)
// Times in ms since the epoch, as two int32 (high and low 32 bits; Atomics work on integers
// only). A read that races a write may mix halves: it then reads a time in the past (available),
// which is what the old or the new value would say unless the ejection just began.
export const EJECTED_UNTIL = 6; // and 7; 0: not ejected
export const EJECTED_AT = 8; // and 9; 0: never
const KEY_HI = 10;
const KEY_LO = 11;
export const STRIDE = 12;

/** Header of the index buffer (int32). */
const H_LOCK = 0;
const H_HIGH_WATER = 1; // slots ever handed out
const H_FREE = 2; // first free slot + 1 (0: none)
const H_CAPACITY = 3; // index entries (a power of 2)
const H_USED = 4; // index entries live or tombstoned
const H_LIVE = 5; // live entries (= slots in use)
const HEADER = 8;
/** Index entry: key hi, key lo, slot + 1 (0: empty, -1: tombstone). */
const ENTRY = 3;
const TOMBSTONE = -1;

const INITIAL_SLOTS = 256;
const INITIAL_ENTRIES = 512;
/** 2M endpoints: 150 MB of address space reserved, committed only as it is used. */
const MAX_SLOTS = 1 << 21;
const MAX_ENTRIES = 1 << 22;

export interface EndpointSlotBuffers { index: SharedArrayBuffer; slots: SharedArrayBuffer }

export class EndpointSlots {
  readonly buffers: EndpointSlotBuffers;
  /** The slots' fields (a view that follows the buffer as it grows). */
  readonly words: Int32Array;
  readonly #index: Int32Array;
  readonly #slots: SharedArrayBuffer;
  readonly #indexBuffer: SharedArrayBuffer;

  /** New, empty (the main thread); other threads attach to its `buffers`. */
  static create(): EndpointSlots {
    const index = new SharedArrayBuffer((HEADER + INITIAL_ENTRIES * ENTRY) * 4, { maxByteLength: (HEADER + MAX_ENTRIES * ENTRY) * 4 });
    new Int32Array(index)[H_CAPACITY] = INITIAL_ENTRIES;
    const slots = new SharedArrayBuffer(INITIAL_SLOTS * STRIDE * 4, { maxByteLength: MAX_SLOTS * STRIDE * 4 });
    return new EndpointSlots({ index, slots });
  }

  constructor(buffers: EndpointSlotBuffers) {
    this.buffers = buffers;
    this.#indexBuffer = buffers.index;
    this.#slots = buffers.slots;
    this.#index = new Int32Array(buffers.index);
    this.words = new Int32Array(buffers.slots);
  }

  /** The slot of endpoint `id` (taken when no thread holds it: all fields zero), with one more holder. */
  acquire(id: string): number {
    hashString(id);
    const { hi, lo } = hashed;
    const index = this.#index;
    lock(index, H_LOCK);
    try {
      let entry = this.#find(hi, lo);
      if (entry >= 0 && index[entry + 2]! > 0) {
        const slot = index[entry + 2]! - 1;
        Atomics.add(this.words, slot * STRIDE + REFS, 1);
        return slot;
      }
      if ((index[H_USED]! + 1) * 2 > index[H_CAPACITY]!) {
        this.#rehash();
        entry = this.#find(hi, lo);
      }
      const slot = this.#takeSlot();
      const words = this.words;
      const base = slot * STRIDE;
      for (let i = 0; i < STRIDE; i++) Atomics.store(words, base + i, 0);
      words[base + KEY_HI] = hi;
      words[base + KEY_LO] = lo;
      Atomics.store(words, base + REFS, 1);
      const at = -entry - 1; // where the probe stopped: an empty entry or the first tombstone
      if (index[at + 2] === 0) index[H_USED]!++;
      index[at] = hi;
      index[at + 1] = lo;
      index[at + 2] = slot + 1;
      index[H_LIVE]!++;
      return slot;
    } finally {
      unlock(index, H_LOCK);
    }
  }

  /** One holder fewer; the last one frees the slot (its in-flight count is then 0: see EndpointState.detach). */
  release(slot: number): void {
    const index = this.#index;
    const words = this.words;
    const base = slot * STRIDE;
    lock(index, H_LOCK);
    try {
      if (words[base + REFS]! <= 0) return; // released twice: harmless
      if (Atomics.sub(words, base + REFS, 1) !== 1) return;
      const entry = this.#find(words[base + KEY_HI]!, words[base + KEY_LO]!);
      if (entry >= 0) {
        index[entry + 2] = TOMBSTONE;
        index[H_LIVE]!--;
      }
      Atomics.store(words, base + REFS, -1);
      Atomics.store(words, base + FAILURES, index[H_FREE]!);
      index[H_FREE] = slot + 1;
    } finally {
      unlock(index, H_LOCK);
    }
  }

  /** Slots in use (endpoints some thread holds). */
  get size(): number {
    return Atomics.load(this.#index, H_LIVE);
  }

  /** Entry offset of the key, or -(offset + 1) of where it would go (the first tombstone, else the empty entry). */
  #find(hi: number, lo: number): number {
    const index = this.#index;
    const mask = index[H_CAPACITY]! - 1;
    let insertAt = -1;
    for (let i = (lo ^ (hi >>> 7)) & mask; ; i = (i + 1) & mask) {
      const entry = HEADER + i * ENTRY;
      const ref = index[entry + 2]!;
      if (ref === 0) return -((insertAt >= 0 ? insertAt : entry) + 1);
      if (ref === TOMBSTONE) {
        if (insertAt < 0) insertAt = entry;
      } else if (index[entry] === hi && index[entry + 1] === lo) {
        return entry;
      }
    }
  }

  /** Rebuild the index at twice the live entries' room (tombstones dropped); under the lock. */
  #rehash(): void {
    const index = this.#index;
    const capacity = index[H_CAPACITY]!;
    const live: number[] = [];
    for (let i = 0; i < capacity; i++) {
      const entry = HEADER + i * ENTRY;
      if (index[entry + 2]! > 0) live.push(index[entry]!, index[entry + 1]!, index[entry + 2]!);
    }
    let next = capacity;
    while ((live.length / ENTRY + 1) * 4 > next) next *= 2; // at most a quarter full after
    if (next > MAX_ENTRIES) throw new RangeError(`more than ${MAX_ENTRIES / 2} endpoints`);
    const bytes = (HEADER + next * ENTRY) * 4;
    if (bytes > this.#indexBuffer.byteLength) this.#indexBuffer.grow(bytes);
    index.fill(0, HEADER, HEADER + next * ENTRY);
    index[H_CAPACITY] = next;
    index[H_USED] = live.length / ENTRY;
    for (let j = 0; j < live.length; j += ENTRY) {
      const at = -this.#find(live[j]!, live[j + 1]!) - 1;
      index[at] = live[j]!;
      index[at + 1] = live[j + 1]!;
      index[at + 2] = live[j + 2]!;
    }
  }

  #takeSlot(): number {
    const index = this.#index;
    const free = index[H_FREE]!;
    if (free > 0) {
      index[H_FREE] = this.words[(free - 1) * STRIDE + FAILURES]!;
      return free - 1;
    }
    const slot = index[H_HIGH_WATER]!;
    const bytes = (slot + 1) * STRIDE * 4;
    if (bytes > this.#slots.byteLength) {
      if (slot >= MAX_SLOTS) throw new RangeError(`more than ${MAX_SLOTS} endpoints`);
      this.#slots.grow(Math.min(MAX_SLOTS * STRIDE * 4, this.#slots.byteLength * 2));
    }
    index[H_HIGH_WATER] = slot + 1;
    return slot;
  }
}
