// Is the relay ready to take routers: can it reach the API server with its own credentials? A
// `GET /version` as the relay (cheap: no etcd, no object) answered 2xx says yes; it is asked at
// start and then every few seconds. /readyz answers 503 until the first such answer, and again
// once none came for longer than `unreadyAfterMs` (a relay cut off from the API server serves a
// state that no longer moves, and cannot review tokens: its Service should send routers to a
// replica that can). /healthz is liveness only and does not look here: losing the API server is
// no reason to restart the relay.

import type { Logger } from '../log.ts';
import type { KubeClient } from '../kube/client.ts';

export interface ReadinessOptions {
  client: KubeClient;
  logger: Logger;
  /** The API server unanswered this long: not ready. */
  unreadyAfterMs: number;
}

export class ApiReadiness {
  readonly #options: ReadinessOptions;
  /** performance.now() of the last 2xx answer; undefined until the first. */
  #lastOk: number | undefined;
  #lastError = 'not asked yet';
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #wasReady = false;

  constructor(options: ReadinessOptions) {
    this.#options = options;
  }

  start(): void {
    void this.#probe();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  /** undefined when ready, else why not (said in /readyz's answer). */
  notReady(): string | undefined {
    if (this.#lastOk === undefined) return `the API server has not answered the relay yet (${this.#lastError})`;
    const silentMs = performance.now() - this.#lastOk;
    if (silentMs > this.#options.unreadyAfterMs) return `the API server has not answered the relay for ${Math.round(silentMs / 1000)} s (${this.#lastError})`;
    return undefined;
  }

  /** Often enough to notice a loss within about a third of the threshold; at most every 5 s, at least every 200 ms. */
  get #intervalMs(): number {
    const steady = Math.min(5_000, Math.max(200, Math.floor(this.#options.unreadyAfterMs / 3)));
    return this.#lastOk === undefined ? Math.min(steady, 1_000) : steady;
  }

  async #probe(): Promise<void> {
    if (this.#stopped) return;
    try {
      await this.#options.client.request({ method: 'GET', path: '/version', timeoutMs: Math.max(1_000, this.#intervalMs) });
      this.#lastOk = performance.now();
    } catch (err) {
      this.#lastError = (err as Error).message.slice(0, 200);
    }
    const ready = this.notReady() === undefined;
    if (ready !== this.#wasReady) {
      if (ready) this.#options.logger.info('the API server answers: ready');
      else this.#options.logger.warn({ reason: this.#lastError }, 'lost the API server: not ready');
      this.#wasReady = ready;
    }
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#probe(), this.#intervalMs);
    this.#timer.unref();
  }
}
