// How many status writes may be in flight at once, adapted to what the API server says, the way
// TCP adapts its window: one more per window's worth of fast successes (additive increase), a
// quarter fewer when answers slow down (API Priority and Fairness queueing the requests), half
// when the server refuses (429 Too Many Requests, 5xx). Like TCP's congestion window, it is cut
// at most once per round: answers to writes started before the last cut do not cut it again.
// Over HTTP/2 the writes are streams of one connection, so the window is the rate: about
// window ÷ latency writes per second.

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
  /** When the window was last cut (ms, the writer's clock). */
  #cutAt = -Infinity;

  constructor(options: WriteWindowOptions = {}) {
    this.#max = options.max ?? 64;
    this.#size = Math.min(this.#max, options.initial ?? 8);
    this.#slowMs = options.slowMs ?? 1_000;
  }

  /** Writes allowed in flight now. */
  get limit(): number { return Math.max(1, Math.floor(this.#size)); }

  /** A write started at `startedAt` was answered (2xx, 404, 409) at `now`. */
  answered(startedAt: number, now: number): void {
    if (now - startedAt >= this.#slowMs) this.#cut(startedAt, now, 0.75);
    else this.#size = Math.min(this.#max, this.#size + 1 / this.#size);
  }

  /** A write started at `startedAt` was refused (429, 5xx) at `now`. */
  refused(startedAt: number, now: number): void {
    this.#cut(startedAt, now, 0.5);
  }

  #cut(startedAt: number, now: number, factor: number): void {
    if (startedAt < this.#cutAt) return; // this round was cut already
    this.#size = Math.max(1, this.#size * factor);
    this.#cutAt = now;
  }
}
