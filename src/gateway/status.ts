// The status the Gateway API objects should have, once host ownership has judged the HTTPRoute
// and GRPCRoute candidates: the evaluation's statuses (evaluate.ts), with a route whose hosts another
// namespace's Route or Ingress already serves (or whose hosts are outside --allowed-domains)
// reported on each parent it had attached to:
// Accepted=False with the admission reason (HostAlreadyClaimed, RouteNotAdmitted) when nothing
// of it is served, a note in the message when some is. A rule whose ExtensionRef Middleware
// cannot be resolved is served (it answers 500): ResolvedRefs=False, reason InvalidMiddleware.

import type { PolicyStatusData } from './backend-tls.ts';
import type { ClassStatusData, GatewayEvaluation, GatewayStatusData, ListenerSetStatusData, RouteStatusData } from './evaluate.ts';

export interface GatewayStatusSet {
  classes: ClassStatusData[];
  gateways: GatewayStatusData[];
  routes: RouteStatusData[];
  /** BackendTLSPolicies used through Gateways of ours (backend-tls.ts). */
  policies: PolicyStatusData[];
  /** ListenerSets naming Gateways of ours (listener-sets.ts). */
  listenerSets: ListenerSetStatusData[];
}

/**
 * Candidates of one HTTPRoute (GRPCRoute) rejected by admission (host ownership, domains): how many of how
 * many, and the first reason; and why a served rule's ExtensionRef Middlewares fail closed ('' if none).
 */
export interface OwnershipOutcome { rejected: number; total: number; reason: string; message: string; invalidMiddleware?: string }

export function gatewayStatusSet(evaluation: GatewayEvaluation, ownership: ReadonlyMap<string, OwnershipOutcome>): GatewayStatusSet {
  const routes: RouteStatusData[] = [];
  for (const [key, evaluated] of evaluation.routes) {
    const outcome = ownership.get(key);
    // A filter that cannot be applied is not skipped: its rule answers 500 (spec); ResolvedRefs says why.
    const status = outcome?.invalidMiddleware ? withUnresolvedMiddleware(evaluated, outcome.invalidMiddleware) : evaluated;
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
            ? { type: 'Accepted', status: 'False', reason: outcome.reason, message: outcome.message }
            : { ...c, message: `${c.message}; not all of its rules and hosts are served: ${outcome.message}` };
        }),
      })),
    });
  }
  return { classes: [...evaluation.classes.values()], gateways: [...evaluation.gateways.values()], routes, policies: [...evaluation.policies.values()], listenerSets: [...evaluation.listenerSets.values()] };
}

/** ResolvedRefs=False, reason InvalidMiddleware, on each parent (unless it is already False for another reference). */
function withUnresolvedMiddleware(status: RouteStatusData, message: string): RouteStatusData {
  return {
    ...status,
    parents: status.parents.map((p) => ({
      ...p,
      conditions: p.conditions.map((c) => (c.type === 'ResolvedRefs' && c.status === 'True'
        ? { type: 'ResolvedRefs', status: 'False', reason: 'InvalidMiddleware', message }
        : c)),
    })),
  };
}
