// The route's balancer (haproxy.router.openshift.io/balance) as the last endpoint-selection
// phase: it chooses when no earlier plugin did, and answers 503 when nothing can be chosen.

import { ProxyErrors } from '../errors.ts';
import type { Balancer } from '../balance/types.ts';
import type { PluginContext } from '../pipeline/context.ts';
import type { EndpointCandidate } from '../pipeline/types.ts';
import { builtin } from './define.ts';

export interface BalancerConfig {
  balancer: Balancer;
  hasWeight: boolean;
}

class BalancerPhase {
  readonly #balancer: Balancer;
  readonly #hasWeight: boolean;
  constructor(config: BalancerConfig) {
    this.#balancer = config.balancer;
    this.#hasWeight = config.hasWeight;
  }

  selectEndpoint(ctx: PluginContext, candidates: readonly EndpointCandidate[]): EndpointCandidate | null {
    if (!this.#hasWeight) {
      ctx.respondError(candidates.length === 0 ? ProxyErrors.NO_ENDPOINT : ProxyErrors.ZERO_WEIGHT);
      return null;
    }
    const member = this.#balancer.pick(ctx.clientAddress, Date.now(), null);
    if (member === null) ctx.respondError(ProxyErrors.NO_ENDPOINT);
    return member;
  }
}

export const balancerPlugin = builtin<BalancerConfig>('balancer', (config) => new BalancerPhase(config));
