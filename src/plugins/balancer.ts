// The route's balancer (haproxy.router.openshift.io/balance) as the last endpoint-selection
// phase: it chooses when no earlier plugin did, and answers 503 when nothing can be chosen.

import { ProxyErrors } from '../errors.ts';
import type { Balancer } from '../balance/types.ts';
import type { PluginContext } from '../pipeline/context.ts';
import { phaseRunOf } from '../pipeline/phase-run.ts';
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

  selectEndpoint(ctx: PluginContext): null {
    const run = phaseRunOf(ctx);
    if (!this.#hasWeight) {
      run.respondError(run.owner.members.length === 0 ? ProxyErrors.NO_ENDPOINT : ProxyErrors.ZERO_WEIGHT);
      return null;
    }
    // The balancer chooses a member itself (no candidate view to make); on a retry, not one already tried.
    const tried = run.tried;
    const member = this.#balancer.pick(run.clientAddress, Date.now(), tried);
    if (member !== null) run.member = member;
    // Nothing left on a retry: the failure that caused it is answered instead.
    else if (tried === null) run.respondError(ProxyErrors.NO_ENDPOINT);
    return null;
  }
}

export const balancerPlugin = builtin<BalancerConfig>('balancer', (config) => new BalancerPhase(config));
