// 64-bit keys for the shared tables, from strings: two 32-bit multiplicative hashes over the
// UTF-16 code units with a final mix (cyrb53's rounds, both halves kept). A key may be hashed in
// two parts — a fixed prefix once (a route and its limit), the varying rest per request (the
// client address) — with no allocation per call: the result is read off `hashed`.

export interface KeyPrefix { readonly h1: number; readonly h2: number }

/** The result of the last hashKey(): read it before the next call. */
export const hashed = { hi: 0, lo: 0 };

const SEED: KeyPrefix = { h1: 0xdeadbeef | 0, h2: 0x41c6ce57 | 0 };

/** The hash state after `prefix` (not finished: more text follows). */
export function keyPrefix(prefix: string): KeyPrefix {
  let h1 = SEED.h1;
  let h2 = SEED.h2;
  for (let i = 0; i < prefix.length; i++) {
    const c = prefix.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  // A separator, so ("ab", "c") and ("a", "bc") differ.
  h1 = Math.imul(h1 ^ 0xffff, 2654435761);
  h2 = Math.imul(h2 ^ 0xffff, 1597334677);
  return { h1, h2 };
}

/** Hash `prefix` then `rest` into `hashed` (hi/lo: two int32). */
export function hashKey(prefix: KeyPrefix, rest: string): void {
  let h1 = prefix.h1;
  let h2 = prefix.h2;
  for (let i = 0; i < rest.length; i++) {
    const c = rest.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  hashed.hi = h1 | 0;
  hashed.lo = h2 | 0;
}

const EMPTY_PREFIX = SEED;

/** The key of a whole string. */
export function hashString(s: string): void {
  hashKey(EMPTY_PREFIX, s);
}
