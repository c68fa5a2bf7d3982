// haproxy.router.openshift.io/rate-limit-connections*: per-source limits on one route, checked
// in the connection phase (so passthrough connections count too; the HTTP request rate only
// for requests). A held concurrency slot is given back in the log phase, which runs once per
// exchange however it ends. The counters are the router's shared ones (rate-limit-state.ts):
// every worker thread, and every rebuild of the route's runtime, counts against the same.

import type { Socket } from 'node:net';
import { ProxyErrors } from '../errors.ts';
import type { PluginContext } from '../pipeline/context.ts';
import { phaseRunOf } from '../pipeline/phase-run.ts';
import type { RateLimitSpec } from '../table/types.ts';
import { builtin } from './define.ts';
import { ADMIT_HOLDING, REFUSE, RouteRateLimit } from './rate-limit-state.ts';
import type { LimitTable } from '../shared-memory/limit-table.ts';

export interface RateLimitConfig {
  spec: RateLimitSpec;
  /** The router's shared limit table. */
  limits: LimitTable;
}

const HOLDS_SLOT = true;

class RateLimit {
  readonly #limit: RouteRateLimit;
  constructor(limit: RouteRateLimit) {
    this.#limit = limit;
  }

  connection(ctx: PluginContext): void {
    const run = phaseRunOf(ctx);
    const admitted = this.#limit.admit(run.socket as Socket, ctx.clientAddress, Date.now(), ctx.kind !== 'passthrough');
    if (admitted === REFUSE) {
      run.respondError(ProxyErrors.RATE_LIMITED);
      return;
    }
    if (admitted === ADMIT_HOLDING) ctx.local = HOLDS_SLOT;
  }

  log(ctx: PluginContext): void {
    if (ctx.local === HOLDS_SLOT) {
      ctx.local = undefined;
      this.#limit.release(ctx.clientAddress);
    }
  }
}

export const rateLimitPlugin = builtin<RateLimitConfig>('rate-limit', (config, services) =>
  new RateLimit(new RouteRateLimit(config.spec, config.limits, services.route.key)));
