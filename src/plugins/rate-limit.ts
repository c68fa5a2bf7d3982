// haproxy.router.openshift.io/rate-limit-connections*: per-source limits on one route, checked
// in the connection phase (so passthrough connections count too; the HTTP request rate only
// for requests). A held concurrency slot is given back in the log phase, which runs once per
// exchange however it ends. The counters are the router's shared ones (rate-limit-state.ts):
// every worker thread, and every rebuild of the route's runtime, counts against the same. As
// OpenShift: the limits apply only when rate-limit-connections is "true".

import type { Socket } from 'node:net';
import { Type } from 'typebox';
import { booleanAnnotation, boundedInt } from '../annotation-values.ts';
import { ProxyErrors } from '../errors.ts';
import type { PluginContext } from '../pipeline/context.ts';
import { definePlugin } from '../pipeline/define-plugin.ts';
import { phaseRunOf } from '../pipeline/phase-run.ts';
import { ADMIT_HOLDING, REFUSE, RouteRateLimit } from './rate-limit-state.ts';
import { builtinPolicy, builtinServices } from './route-policy.ts';

export const RATE_LIMIT_ANNOTATIONS = Object.freeze({
  enabled: 'haproxy.router.openshift.io/rate-limit-connections',
  concurrentTcp: 'haproxy.router.openshift.io/rate-limit-connections.concurrent-tcp',
  rateTcp: 'haproxy.router.openshift.io/rate-limit-connections.rate-tcp',
  rateHttp: 'haproxy.router.openshift.io/rate-limit-connections.rate-http',
});

const HOLDS_SLOT = true;

class RateLimit {
  readonly #limit: RouteRateLimit;
  readonly #now: () => number;
  constructor(limit: RouteRateLimit, now: () => number) {
    this.#limit = limit;
    this.#now = now;
  }

  connection(ctx: PluginContext): void {
    const run = phaseRunOf(ctx);
    const admitted = this.#limit.admit(run.socket as Socket, ctx.clientAddress, this.#now(), ctx.kind !== 'passthrough');
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

const LIMIT = Type.Union([Type.Integer({ minimum: 1, maximum: 1_000_000 }), Type.Null()]);

export const rateLimitPlugin = definePlugin({
  name: 'rate-limit',
  config: Type.Object({
    /** Concurrent connections (here: requests and tunnels in flight) from one address. */
    concurrentTcp: LIMIT,
    /** New connections from one address per 3 s. */
    rateTcp: LIMIT,
    /** HTTP requests from one address per 10 s. */
    rateHttp: LIMIT,
  }, { additionalProperties: false }),
  create(spec, services) {
    // Its counters are in the shared table (keyed by route and limit): a rebuilt runtime finds them there.
    const builtin = builtinServices(services);
    return new RateLimit(new RouteRateLimit(spec, builtin.limits, services.route.key), builtin.now ?? Date.now);
  },
});

export const rateLimitPolicy = builtinPolicy({
  plugin: rateLimitPlugin,
  position: 'guard',
  fromRoute({ annotations: a }) {
    const on = booleanAnnotation(a, RATE_LIMIT_ANNOTATIONS.enabled);
    const limits = {
      concurrentTcp: boundedInt(a, RATE_LIMIT_ANNOTATIONS.concurrentTcp, 1, 1_000_000),
      rateTcp: boundedInt(a, RATE_LIMIT_ANNOTATIONS.rateTcp, 1, 1_000_000),
      rateHttp: boundedInt(a, RATE_LIMIT_ANNOTATIONS.rateHttp, 1, 1_000_000),
    };
    return on === true && (limits.concurrentTcp ?? limits.rateTcp ?? limits.rateHttp) !== null ? limits : null;
  },
});
