// The status the Gateway API objects should have, once host ownership has judged the HTTPRoute
// candidates: the evaluation's statuses (evaluate.ts), with an HTTPRoute whose hosts another
// namespace's Route or Ingress already serves reported on each parent it had attached to
// (Accepted=False, reason HostAlreadyClaimed, when none of its hosts is left).

import type { ClassStatusData, GatewayEvaluation, GatewayStatusData, RouteStatusData } from './evaluate.ts';

export interface GatewayStatusSet {
  classes: ClassStatusData[];
  gateways: GatewayStatusData[];
  routes: RouteStatusData[];
}

/** Candidates of one HTTPRoute rejected by host ownership: how many of how many, and why. */
export interface OwnershipOutcome { rejected: number; total: number; message: string }

export function gatewayStatusSet(evaluation: GatewayEvaluation, ownership: ReadonlyMap<string, OwnershipOutcome>): GatewayStatusSet {
  const routes: RouteStatusData[] = [];
  for (const [key, status] of evaluation.routes) {
    const outcome = ownership.get(key);
    if (!outcome || outcome.rejected === 0) {
      routes.push(status);
      continue;
    }
    const all = outcome.rejected === outcome.total;
    routes.push({
      ...status,
      parents: status.parents.map((p) => ({
        ...p,
        conditions: p.conditions.map((c) => {
          if (c.type !== 'Accepted' || c.status !== 'True') return c;
          return all
            ? { type: 'Accepted', status: 'False', reason: 'HostAlreadyClaimed', message: outcome.message }
            : { ...c, message: `${c.message}; some hosts are not served: ${outcome.message}` };
        }),
      })),
    });
  }
  return { classes: [...evaluation.classes.values()], gateways: [...evaluation.gateways.values()], routes };
}
