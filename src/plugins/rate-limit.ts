// haproxy.router.openshift.io/rate-limit-connections*: per-source limits on one route, checked
// in the connection phase (so passthrough connections count too; the HTTP request rate only
// for requests). A held concurrency slot is given back in the log phase, which runs once per
// exchange however it ends. The limiter is retained across rebuilds of the route's runtime,
// so an endpoint change does not reset the windows.

import type { Socket } from 'node:net';
import { ProxyErrors } from '../errors.ts';
import type { PluginContext } from '../pipeline/context.ts';
import { phaseRunOf } from '../pipeline/phase-run.ts';
import type { RateLimitSpec } from '../table/types.ts';
import { builtin } from './define.ts';
import { RouteRateLimit } from './rate-limit-state.ts';

const HOLDS_SLOT = true;

class RateLimit {
  readonly #limit: RouteRateLimit;
  constructor(limit: RouteRateLimit) {
    this.#limit = limit;
  }

  connection(ctx: PluginContext): void {
    const run = phaseRunOf(ctx);
    if (!this.#limit.admit(run.socket as Socket, ctx.clientAddress, Date.now(), ctx.kind !== 'passthrough')) {
      run.respondError(ProxyErrors.RATE_LIMITED);
      return;
    }
    if (this.#limit.holdsSlot) ctx.local = HOLDS_SLOT;
  }

  log(ctx: PluginContext): void {
    if (ctx.local === HOLDS_SLOT) {
      ctx.local = undefined;
      this.#limit.release(ctx.clientAddress);
    }
  }
}

export const rateLimitPlugin = builtin<RateLimitSpec>('rate-limit', (spec, services) => {
  const limit = services.retain(`rate-limit:${spec.concurrentTcp}:${spec.rateTcp}:${spec.rateHttp}`, () => new RouteRateLimit(spec));
  return new RateLimit(limit);
});
