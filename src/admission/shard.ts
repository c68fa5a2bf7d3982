// Admission step: route sharding. --route-labels selects on the Route/Ingress labels,
// --namespace-labels on the labels of its Namespace object (from the store; a missing
// Namespace does not match a non-empty selector). Candidates not selected are not ours:
// they are not served and get no status (NOT_SELECTED).

import type { KubeObject } from '../objects/types.ts';
import { ADMITTED, NOT_SELECTED, reject, type AdmissionContext, type RouteCandidate, type Verdict } from './types.ts';

/** Whether a Route/Ingress (by its labels and namespace) belongs to this router's shard. */
export function ownerSelected(owner: KubeObject, context: AdmissionContext): Verdict {
  if (!context.routeSelector.empty && !context.routeSelector.matches(owner.metadata.labels)) {
    return reject(NOT_SELECTED, `labels do not match --route-labels "${context.routeSelector.text}"`);
  }
  if (!context.namespaceSelector.empty) {
    const namespace = owner.metadata.namespace ?? 'default';
    const ns = context.store.get('Namespace', namespace);
    if (!ns || !context.namespaceSelector.matches(ns.metadata.labels)) {
      return reject(NOT_SELECTED, `namespace ${namespace} does not match --namespace-labels "${context.namespaceSelector.text}"`);
    }
  }
  return ADMITTED;
}

export function selectShard(c: RouteCandidate, context: AdmissionContext): Verdict {
  return ownerSelected(c.owner, context);
}
