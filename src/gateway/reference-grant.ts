// ReferenceGrant: a reference across namespaces (an HTTPRoute's backendRef to a Service, a
// Gateway's certificateRef to a Secret) is allowed only when a ReferenceGrant in the target's
// namespace lists the referring kind and namespace in `from` and the target kind (and, when
// given, name) in `to`. Groups compare with '' meaning the core API group.

import type { ReferenceGrant } from '../objects/gateway-types.ts';

export interface ReferenceFrom { group: string; kind: string; namespace: string }
export interface ReferenceTo { group: string; kind: string; namespace: string; name: string }

/** What a reference grant decision needs: the grants of one namespace. */
export interface GrantLookup {
  grantsIn(namespace: string): Iterable<ReferenceGrant>;
}

function sameGroup(a: string | undefined, b: string): boolean {
  return (a ?? '') === b || ((a ?? '') === 'core' && b === '') || (a === '' && b === 'core');
}

export function referenceAllowed(grants: GrantLookup, from: ReferenceFrom, to: ReferenceTo): boolean {
  if (from.namespace === to.namespace) return true;
  for (const grant of grants.grantsIn(to.namespace)) {
    const spec = grant.spec;
    const fromOk = (spec?.from ?? []).some((f) => sameGroup(f.group, from.group) && f.kind === from.kind && f.namespace === from.namespace);
    if (!fromOk) continue;
    const toOk = (spec?.to ?? []).some((t) => sameGroup(t.group, to.group) && t.kind === to.kind && (t.name === undefined || t.name === '' || t.name === to.name));
    if (toOk) return true;
  }
  return false;
}
