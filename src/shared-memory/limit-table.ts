// The counters of rate limits, concurrency limits and token buckets (HTTP/2 glitch budgets),
// shared by every thread of the router, as HAProxy's stick tables are shared by its threads and
// nginx's limit zones by its workers: a limit of 10 lets 10 through however many threads accept
// the connections.
//
// One fixed SharedArrayBuffer: BUCKETS buckets of WAYS entries, a key (a 64-bit hash of limiter
// and source, key-hash.ts) lives in the bucket its hash names, and every operation holds that
// bucket's lock for a few dozen instructions. An entry is reused once it holds nothing (no slot
// held or waited for, its rate window over); when a bucket has no such entry the one closest to
// expiring is dropped (as a full stick table drops its oldest), and when every entry of the
// bucket holds a slot the request is let through untracked (a full stick table does not track it
// either). 2^18 entries of 44 bytes: 11.5 MB of address space, committed as entries are used.

import { hashKey, hashed, type KeyPrefix } from './key-hash.ts';
import { lock, unlock } from './spin-lock.ts';
import { readTime, writeTime } from './shared-time.ts';

const BUCKETS = 1 << 15;
const WAYS = 8;
/** Per bucket: its lock, and a sequence number bumped when a waited-for slot is given back. */
const B_LOCK = 0;
const B_SEQ = 1;
const BUCKET_WORDS = 2;
/** int32 fields of an entry. */
const KEY_HI = 0;
const KEY_LO = 1;
const USED = 2;
const COUNT = 3; // events in the current window; token buckets: thousandths of a token
const PREVIOUS = 4; // events in the window before; token buckets: 1 while it ran out (see tokensLow)
const HELD = 5; // concurrency slots held
const WAITING = 6; // requests waiting for a slot, over all threads
const START = 7; // and 8 (shared-time.ts): start of the current window; token buckets: last refill
const EXPIRES = 9; // and 10: when the windows say nothing any more
const STRIDE = 11;

/** acquire() results. */
export const REFUSED = 0;
/** Admitted and counted: release() follows. */
export const HELD_SLOT = 1;
/** Admitted without counting (the bucket is full of held slots): nothing to release. */
export const UNTRACKED = 2;

export class LimitTable {
  readonly buffer: SharedArrayBuffer;
  readonly #words: Int32Array;
  readonly #bucketMask: number;
  /** Where the entries begin (after every bucket's words). */
  readonly #entries: number;
  /** After acquireOrWait() returned REFUSED: the sequence number to wait on, and where. */
  waitIndex = 0;
  waitSeq = 0;

  /** `buckets`: a power of 2 (fewer only in tests). */
  static create(buckets = BUCKETS): LimitTable {
    if (!(buckets > 0 && (buckets & (buckets - 1)) === 0)) throw new RangeError('buckets must be a power of 2');
    return new LimitTable(new SharedArrayBuffer(buckets * (BUCKET_WORDS + WAYS * STRIDE) * 4));
  }

  constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.#words = new Int32Array(buffer);
    const buckets = buffer.byteLength / 4 / (BUCKET_WORDS + WAYS * STRIDE);
    this.#bucketMask = buckets - 1;
    this.#entries = buckets * BUCKET_WORDS;
  }

  /** The words `Atomics.waitAsync` waits on (waitIndex). */
  get words(): Int32Array {
    return this.#words;
  }

  /**
   * One event of `source` under a sliding-window rate limit (the previous fixed window weighted
   * by its overlap, plus this one): true and counted, or false (not counted) over `limit`.
   */
  allowRate(limiter: KeyPrefix, source: string, limit: number, windowMs: number, now: number): boolean {
    hashKey(limiter, source);
    const words = this.#words;
    const bucket = this.#lock();
    try {
      const entry = this.#entry(bucket, now, true);
      if (entry < 0) return true; // untracked
      let start = readTime(words, entry + START);
      if (start === 0) {
        start = now;
        writeTime(words, entry + START, now);
      }
      const elapsed = now - start;
      if (elapsed >= windowMs) {
        words[entry + PREVIOUS] = elapsed >= 2 * windowMs ? 0 : words[entry + COUNT]!;
        start = now - (elapsed % windowMs);
        writeTime(words, entry + START, start);
        words[entry + COUNT] = 0;
      }
      const overlap = 1 - (now - start) / windowMs;
      if (words[entry + PREVIOUS]! * overlap + words[entry + COUNT]! >= limit) return false;
      words[entry + COUNT]!++;
      writeTime(words, entry + EXPIRES, now + 2 * windowMs);
      return true;
    } finally {
      unlock(words, bucket + B_LOCK);
    }
  }

  /**
   * Take one token from `key`'s bucket (`budget` tokens, all regained over `periodMs`): true, or
   * false when none was left (the bucket is then marked as run out, see tokensLow).
   */
  spendToken(limiter: KeyPrefix, key: string, budget: number, periodMs: number, now: number): boolean {
    hashKey(limiter, key);
    const words = this.#words;
    const bucket = this.#lock();
    try {
      const entry = this.#entry(bucket, now, true);
      if (entry < 0) return true; // untracked
      const full = budget * 1000;
      let tokens = this.#refill(entry, full, periodMs, now);
      if (tokens < 1000) {
        words[entry + PREVIOUS] = 1;
        return false;
      }
      tokens -= 1000;
      words[entry + COUNT] = tokens;
      writeTime(words, entry + EXPIRES, now + Math.ceil(((full - tokens) * periodMs) / full));
      return true;
    } finally {
      unlock(words, bucket + B_LOCK);
    }
  }

  /** True from when `key`'s bucket ran out until it holds half its budget again. */
  tokensLow(limiter: KeyPrefix, key: string, budget: number, periodMs: number, now: number): boolean {
    hashKey(limiter, key);
    const words = this.#words;
    const bucket = this.#lock();
    try {
      const entry = this.#find(bucket);
      if (entry < 0 || words[entry + PREVIOUS] !== 1) return false;
      if (this.#refill(entry, budget * 1000, periodMs, now) >= budget * 500) words[entry + PREVIOUS] = 0;
      return words[entry + PREVIOUS] === 1;
    } finally {
      unlock(words, bucket + B_LOCK);
    }
  }

  /** The bucket's tokens (thousandths) at `now`, regained since its last refill; a new entry starts full. */
  #refill(entry: number, full: number, periodMs: number, now: number): number {
    const words = this.#words;
    const at = readTime(words, entry + START);
    let tokens = words[entry + COUNT]!;
    if (at === 0) tokens = full;
    else if (now > at) tokens = Math.min(full, tokens + Math.floor(((now - at) * full) / periodMs));
    else return tokens;
    words[entry + COUNT] = tokens;
    writeTime(words, entry + START, now);
    return tokens;
  }

  /** Take one of `limit` slots of `key`: HELD_SLOT, UNTRACKED, or REFUSED (none free). */
  acquire(limiter: KeyPrefix, key: string, limit: number, now: number): number {
    return this.#acquire(limiter, key, limit, now, false);
  }

  /** acquire(), but REFUSED registers a waiter of the key (see waitIndex/waitSeq; leave with cancelWait or takeWaiting). */
  acquireOrWait(limiter: KeyPrefix, key: string, limit: number, now: number): number {
    return this.#acquire(limiter, key, limit, now, true);
  }

  /** One more waiter of the key (queued behind others of this thread), with waitIndex/waitSeq set. */
  addWaiter(limiter: KeyPrefix, key: string, now: number): void {
    hashKey(limiter, key);
    const bucket = this.#lock();
    try {
      const entry = this.#entry(bucket, now, true);
      if (entry >= 0) this.#words[entry + WAITING]!++;
      this.#noteWait(bucket);
    } finally {
      unlock(this.#words, bucket + B_LOCK);
    }
  }

  /** A waiter takes a free slot: HELD_SLOT, UNTRACKED, or REFUSED (then waitIndex/waitSeq say what to wait on). */
  takeWaiting(limiter: KeyPrefix, key: string, limit: number, now: number): number {
    hashKey(limiter, key);
    const words = this.#words;
    const bucket = this.#lock();
    try {
      const entry = this.#entry(bucket, now, false);
      if (entry < 0) return UNTRACKED; // nothing tracked: nothing to wait for
      if (words[entry + HELD]! >= limit) {
        this.#noteWait(bucket);
        return REFUSED;
      }
      words[entry + HELD]!++;
      if (words[entry + WAITING]! > 0) words[entry + WAITING]!--;
      return HELD_SLOT;
    } finally {
      unlock(words, bucket + B_LOCK);
    }
  }

  /** A waiter leaves without a slot (timed out, client gone), or got one handed over by its own thread. */
  cancelWait(limiter: KeyPrefix, key: string): void {
    hashKey(limiter, key);
    const words = this.#words;
    const bucket = this.#lock();
    try {
      const entry = this.#find(bucket);
      if (entry >= 0 && words[entry + WAITING]! > 0) words[entry + WAITING]!--;
    } finally {
      unlock(words, bucket + B_LOCK);
    }
  }

  /** Give a held slot back; waiters in any thread are woken to take it. */
  release(limiter: KeyPrefix, key: string): void {
    hashKey(limiter, key);
    const words = this.#words;
    const bucket = this.#lock();
    let wake = false;
    try {
      const entry = this.#find(bucket);
      if (entry < 0 || words[entry + HELD]! <= 0) return;
      words[entry + HELD]!--;
      if (words[entry + WAITING]! > 0) {
        Atomics.add(words, bucket + B_SEQ, 1);
        wake = true;
      }
    } finally {
      unlock(words, bucket + B_LOCK);
    }
    if (wake) Atomics.notify(words, bucket + B_SEQ);
  }

  /** Slots of the key held now (tests, the dashboard). */
  held(limiter: KeyPrefix, key: string): number {
    hashKey(limiter, key);
    const bucket = this.#lock();
    try {
      const entry = this.#find(bucket);
      return entry < 0 ? 0 : this.#words[entry + HELD]!;
    } finally {
      unlock(this.#words, bucket + B_LOCK);
    }
  }

  #acquire(limiter: KeyPrefix, key: string, limit: number, now: number, wait: boolean): number {
    hashKey(limiter, key);
    const words = this.#words;
    const bucket = this.#lock();
    try {
      const entry = this.#entry(bucket, now, true);
      if (entry < 0) return UNTRACKED;
      if (words[entry + HELD]! < limit) {
        words[entry + HELD]!++;
        return HELD_SLOT;
      }
      if (wait) {
        words[entry + WAITING]!++;
        this.#noteWait(bucket);
      }
      return REFUSED;
    } finally {
      unlock(words, bucket + B_LOCK);
    }
  }

  #noteWait(bucket: number): void {
    this.waitIndex = bucket + B_SEQ;
    this.waitSeq = Atomics.load(this.#words, bucket + B_SEQ);
  }

  /** Lock the bucket of the key in `hashed`; returns its offset. */
  #lock(): number {
    const bucket = ((hashed.lo >>> 0) & this.#bucketMask) * BUCKET_WORDS;
    lock(this.#words, bucket + B_LOCK);
    return bucket;
  }

  /** The entry of the key in `hashed` in the locked bucket, or -1. */
  #find(bucket: number): number {
    const words = this.#words;
    const first = this.#entries + (bucket / BUCKET_WORDS) * WAYS * STRIDE;
    const { hi, lo } = hashed;
    for (let i = 0, entry = first; i < WAYS; i++, entry += STRIDE) {
      if (words[entry + USED] === 1 && words[entry + KEY_HI] === hi && words[entry + KEY_LO] === lo) return entry;
    }
    return -1;
  }

  /** The key's entry, made if `create` (reusing an idle one, else dropping the one closest to expiring); -1: none. */
  #entry(bucket: number, now: number, create: boolean): number {
    const found = this.#find(bucket);
    if (found >= 0 || !create) return found;
    const words = this.#words;
    const first = this.#entries + (bucket / BUCKET_WORDS) * WAYS * STRIDE;
    let victim = -1;
    let victimLeft = Infinity;
    for (let i = 0, entry = first; i < WAYS; i++, entry += STRIDE) {
      if (words[entry + USED] !== 1) { victim = entry; break; }
      if (words[entry + HELD] !== 0 || words[entry + WAITING] !== 0) continue;
      const left = readTime(words, entry + EXPIRES) - now;
      if (left <= 0) { victim = entry; break; }
      if (left < victimLeft) { victim = entry; victimLeft = left; }
    }
    if (victim < 0) return -1;
    words.fill(0, victim, victim + STRIDE);
    words[victim + KEY_HI] = hashed.hi;
    words[victim + KEY_LO] = hashed.lo;
    words[victim + USED] = 1;
    return victim;
  }
}
