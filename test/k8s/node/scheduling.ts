// The part of the scheduler a one-node cluster needs: may this pending pod run on this node?
// nodeSelector, required node affinity (matchExpressions on labels, matchFields on
// metadata.name, as the DaemonSet controller writes), taints against tolerations, and the
// scheduler name. Resources, ports and pod (anti-)affinity are not considered: one test node
// takes every pod that may run on it.

export interface NodeIdentity {
  name: string;
  labels: Record<string, string>;
  taints: { key: string; value?: string; effect: string }[];
}

function requirementHolds(value: string | undefined, r: { operator: string; values?: string[] }): boolean {
  switch (r.operator) {
    case 'In': return value !== undefined && (r.values ?? []).includes(value);
    case 'NotIn': return value === undefined || !(r.values ?? []).includes(value);
    case 'Exists': return value !== undefined;
    case 'DoesNotExist': return value === undefined;
    case 'Gt': return value !== undefined && Number(value) > Number(r.values?.[0]);
    case 'Lt': return value !== undefined && Number(value) < Number(r.values?.[0]);
    default: return false;
  }
}

function tolerates(tolerations: any[], taint: { key: string; value?: string; effect: string }): boolean {
  return tolerations.some((t) => {
    if (t.effect && t.effect !== taint.effect) return false;
    if (t.operator === 'Exists') return !t.key || t.key === taint.key;
    return t.key === taint.key && (t.value ?? '') === (taint.value ?? '');
  });
}

/** Why the pod cannot run here, or undefined when it can. */
export function unschedulableReason(pod: any, node: NodeIdentity, schedulerName = 'default-scheduler'): string | undefined {
  if ((pod.spec.schedulerName ?? 'default-scheduler') !== schedulerName) return `scheduler ${pod.spec.schedulerName} is not ours`;
  for (const [k, v] of Object.entries(pod.spec.nodeSelector ?? {})) {
    if (node.labels[k] !== v) return `node(s) didn't match Pod's node selector (${k}=${v as string})`;
  }
  const terms = pod.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms as any[] | undefined;
  if (terms && terms.length > 0) {
    const fits = terms.some((term) =>
      (term.matchExpressions ?? []).every((r: any) => requirementHolds(node.labels[r.key], r)) &&
      (term.matchFields ?? []).every((r: any) => r.key === 'metadata.name' && requirementHolds(node.name, r)));
    if (!fits) return "node(s) didn't match Pod's node affinity/selector";
  }
  for (const taint of node.taints) {
    if (taint.effect === 'PreferNoSchedule') continue;
    if (!tolerates(pod.spec.tolerations ?? [], taint)) return `node(s) had untolerated taint {${taint.key}: ${taint.value ?? ''}}`;
  }
  return undefined;
}
