// Times in shared memory: milliseconds since the epoch in two int32 words (high and low 32 bits),
// because Atomics work on integers only and a plain Float64Array read may tear. 0 means "none".

const TWO_32 = 4294967296;

export function readTime(words: Int32Array, at: number): number {
  return Atomics.load(words, at) * TWO_32 + (Atomics.load(words, at + 1) >>> 0);
}

export function writeTime(words: Int32Array, at: number, ms: number): void {
  Atomics.store(words, at + 1, ms % TWO_32 | 0);
  Atomics.store(words, at, Math.floor(ms / TWO_32));
}
