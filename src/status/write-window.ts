// How many status writes may be in flight at once, adapted to what the API server says, the way
// TCP adapts its window: one more per window's worth of fast successes (additive increase), a
// quarter fewer when answers slow down (API Priority and Fairness queueing the requests), half
// when the server refuses (429 Too Many Requests, 5xx), and no new write until its Retry-After
// has passed. Over HTTP/2 the writes are streams of one connection, so the window is the rate:
// about window ÷ latency writes per second.

export interface WriteWindowOptions {
  initial?: number;
  max?: number;
  /** An answer slower than this (ms) is taken as the server queueing us. */
  slowMs?: number;
}

export class WriteWindow {
  #size: number;
  readonly #max: number;
  readonly #slowMs: number;
  #pausedUntil = 0;

  constructor(options: WriteWindowOptions = {}) {
    this.#max = options.max ?? 64;
    this.#size = Math.min(this.#max, options.initial ?? 8);
    this.#slowMs = options.slowMs ?? 1_000;
  }

  /** Writes allowed in flight now. */
  get limit(): number { return Math.max(1, Math.floor(this.#size)); }

  /** No write may start before this time (ms, the writer's clock); 0 = none. */
  get pausedUntil(): number { return this.#pausedUntil; }

  /** A write answered (2xx, 404, 409) after `latencyMs`. */
  answered(latencyMs: number): void {
    if (latencyMs >= this.#slowMs) this.#size = Math.max(1, this.#size * 0.75);
    else this.#size = Math.min(this.#max, this.#size + 1 / this.#size);
  }

  /** Refused (429, 5xx) at `now`; `retryAfterMs`: the server's Retry-After, if it sent one. */
  refused(now: number, retryAfterMs: number | undefined): void {
    this.#size = Math.max(1, this.#size / 2);
    this.#pausedUntil = Math.max(this.#pausedUntil, now + Math.max(retryAfterMs ?? 0, 250));
  }
}
