// A lock word in shared memory, for critical sections of a few dozen instructions between
// threads: 0 free, 1 held, 2 held and someone may sleep on it (Drepper's futex mutex, "Futexes
// Are Tricky"). A compare-and-swap, a short spin, then sleeping on the word; held only while a
// handful of integers change, so a waiter nearly always gets it while spinning.

const SPINS = 64;

export function lock(words: Int32Array, index: number): void {
  if (Atomics.compareExchange(words, index, 0, 1) === 0) return;
  for (let i = 0; i < SPINS; i++) {
    if (Atomics.load(words, index) === 0 && Atomics.compareExchange(words, index, 0, 1) === 0) return;
  }
  // Its holder was descheduled: sleep until it is released (0 from the exchange: it is ours).
  while (Atomics.exchange(words, index, 2) !== 0) Atomics.wait(words, index, 2);
}

export function unlock(words: Int32Array, index: number): void {
  if (Atomics.exchange(words, index, 0) === 2) Atomics.notify(words, index, 1);
}
