// Header-based canary: requests carrying the header (with the value, when one is configured)
// go to the canary endpoints; all other requests go to the other endpoints — the route's
// balancer never sends ordinary traffic to a canary. Endpoints are named `address:port`.

import { definePlugin, Type, type EndpointCandidate, type PluginContext } from 'switchyard';

export default definePlugin({
  name: 'header-canary',
  config: Type.Object({
    header: Type.String({ default: 'x-canary', pattern: '^[A-Za-z0-9-]+$' }),
    value: Type.Optional(Type.String()),
    endpoints: Type.Array(Type.String({ minLength: 3 }), { minItems: 1 }),
  }, { additionalProperties: false }),
  create(config) {
    const header = config.header.toLowerCase();
    const canary = new Set(config.endpoints);
    /** Round-robin position per group: [stable, canary]. */
    const next = [0, 0];
    /** Round robin over the available candidates of one group. */
    const pick = (candidates: readonly EndpointCandidate[], wantCanary: boolean): EndpointCandidate | null => {
      const now = Date.now();
      const group = wantCanary ? 1 : 0;
      for (let i = 0; i < candidates.length; i++) {
        const at = (next[group]! + i) % candidates.length;
        const c = candidates[at]!;
        if (canary.has(c.endpoint.name) === wantCanary && c.acceptsNew && c.endpoint.available(now)) {
          next[group] = (at + 1) % candidates.length;
          return c;
        }
      }
      return null;
    };
    return {
      selectEndpoint(ctx: PluginContext, candidates: readonly EndpointCandidate[]): EndpointCandidate | null {
        const sent = ctx.headers[header];
        const wantCanary = sent !== undefined && (config.value === undefined || sent === config.value);
        // No endpoint of the wanted group available: leave the choice to the route's balancer.
        return pick(candidates, wantCanary);
      },
    };
  },
});
