// What happens when a plugin phase throws, rejects or does not settle: the exchange is answered
// (500 SY_MIDDLEWARE_ERROR, 504 SY_MIDDLEWARE_TIMEOUT, 413 for a body over a plugin's limit),
// switchyard_middleware_errors_total{middleware} counts it, and one log line per middleware per
// interval says why — so a plugin failing on every request cannot flood the log.

import type { Counter } from 'prom-client';
import { ProxyErrors, type ProxyErrorSpec } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { BodyTooLargeError } from '../pipeline/phase-run.ts';

const LOG_INTERVAL_MS = 10_000;

export class MiddlewareFailures {
  readonly #logger: Logger;
  readonly #counter: Counter<'middleware'>;
  readonly #lastLogged = new Map<string, { at: number; suppressed: number }>();

  constructor(logger: Logger, metrics: Metrics) {
    this.#logger = logger;
    this.#counter = metrics.middlewareErrors;
  }

  /** Record a failure of `link` on `route`; returns the error to answer with. */
  record(route: string, link: string, error: unknown, timedOut: boolean): ProxyErrorSpec {
    if (error instanceof BodyTooLargeError) return ProxyErrors.BODY_TOO_LARGE;
    this.#counter.labels(link).inc();
    const now = Date.now();
    const last = this.#lastLogged.get(link);
    if (last !== undefined && now - last.at < LOG_INTERVAL_MS) {
      last.suppressed++;
    } else {
      const suppressed = last?.suppressed ?? 0;
      this.#lastLogged.set(link, { at: now, suppressed: 0 });
      const message = error instanceof Error ? error.message : String(error);
      this.#logger.error({ middleware: link, route, err: message, ...(suppressed > 0 ? { suppressed } : {}) },
        timedOut ? 'middleware did not finish within the route timeout' : 'middleware failed');
    }
    return timedOut ? ProxyErrors.MIDDLEWARE_TIMEOUT : ProxyErrors.MIDDLEWARE_ERROR;
  }

  /** A log phase failed: counted and logged the same way, nothing to answer. */
  logPhase(route: string, link: string, error: unknown): void {
    this.record(route, link, error, false);
  }
}
