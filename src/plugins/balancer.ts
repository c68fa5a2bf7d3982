// The route's balancer (haproxy.router.openshift.io/balance, read with the route's settings) as
// the last endpoint-selection phase: it chooses when no earlier plugin did, and answers 503 when
// nothing can be chosen. Always on a route's chain (the proxy hands it the route's balancer).

import { Type } from 'typebox';
import { ProxyErrors } from '../errors.ts';
import type { Balancer } from '../balance/types.ts';
import type { PluginContext } from '../pipeline/context.ts';
import { definePlugin } from '../pipeline/define-plugin.ts';
import { phaseRunOf } from '../pipeline/phase-run.ts';
import { builtinServices } from './route-policy.ts';

class BalancerPhase {
  readonly #balancer: Balancer;
  readonly #hasWeight: boolean;
  constructor(balancer: Balancer, hasWeight: boolean) {
    this.#balancer = balancer;
    this.#hasWeight = hasWeight;
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

export const balancerPlugin = definePlugin({
  name: 'balancer',
  config: Type.Object({}),
  create(_config, services) {
    const s = builtinServices(services);
    return new BalancerPhase(s.balancer, s.hasWeight);
  },
});
