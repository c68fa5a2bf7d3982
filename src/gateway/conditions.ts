// Status conditions as the Gateway API defines them, without the bookkeeping fields
// (observedGeneration, lastTransitionTime), which the status writer adds.

export interface ConditionData {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
}

export function condition(type: string, ok: boolean, reason: string, message: string): ConditionData {
  return { type, status: ok ? 'True' : 'False', reason, message };
}

/** matchLabels/matchExpressions (In, NotIn, Exists, DoesNotExist) against a label map. */
export function selectorMatches(
  selector: { matchLabels?: Record<string, string>; matchExpressions?: Array<{ key: string; operator: string; values?: string[] }> } | undefined,
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  if (!selector) return false;
  const l = labels ?? {};
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (l[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(l, e.key);
    const values = e.values ?? [];
    switch (e.operator) {
      case 'In': if (!has || !values.includes(l[e.key]!)) return false; break;
      case 'NotIn': if (has && values.includes(l[e.key]!)) return false; break;
      case 'Exists': if (!has) return false; break;
      case 'DoesNotExist': if (has) return false; break;
      default: return false;
    }
  }
  return true;
}

/**
 * A `namespaces` field of the Gateway API (a listener's allowedRoutes, a Gateway's
 * allowedListeners): whether it lets objects of `namespace` in, for an owner in `ownNamespace`.
 * `labelsOf`: a namespace's labels, for `Selector` (the API server labels every Namespace with
 * its name; files may leave that out, so that label is always there).
 */
export function namespacesAllow(
  namespaces: { from?: string; selector?: Parameters<typeof selectorMatches>[0] }, ownNamespace: string, namespace: string,
  labelsOf: (namespace: string) => Readonly<Record<string, string>> | undefined,
): boolean {
  const from = namespaces.from ?? 'Same';
  if (from === 'All') return true;
  if (from === 'Same') return namespace === ownNamespace;
  if (from === 'Selector') return selectorMatches(namespaces.selector, { ...(labelsOf(namespace) ?? {}), 'kubernetes.io/metadata.name': namespace });
  return false;
}
