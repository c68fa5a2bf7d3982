// An HTTPRoute rule's RequestMirror filters → the Services its requests are copied to, with the
// share of requests each gets (percent, or fraction; neither: all). A mirror's backendRef is
// checked as any backendRef (rule-parts.ts resolveServiceRef): one that cannot be used sets
// ResolvedRefs=False with the reason and is left out, and the rule's own backends serve on.
// A malformed share (both fields, out of range) is the route's UnsupportedValue. A BackendTLSPolicy
// on the mirror's Service applies to the copies (backend-tls.ts).

import type { MirrorData } from '../route-candidate.ts';
import type { HTTPRouteFilter } from '../objects/gateway-types.ts';
import { resolveServiceRef, Unsupported, type ResolvedRefs, type RuleInputs } from './rule-parts.ts';

/** numerator / denominator of requests to mirror, as the filter says; throws Unsupported when malformed. */
export function mirrorShare(m: NonNullable<HTTPRouteFilter['requestMirror']>): { numerator: number; denominator: number } {
  if (m.percent !== undefined && m.fraction !== undefined) throw new Unsupported('UnsupportedValue', 'requestMirror: only one of percent or fraction may be given');
  if (m.percent !== undefined) {
    if (!Number.isInteger(m.percent) || m.percent < 0 || m.percent > 100) throw new Unsupported('UnsupportedValue', 'requestMirror.percent must be an integer from 0 to 100');
    return { numerator: m.percent, denominator: 100 };
  }
  if (m.fraction !== undefined) {
    const { numerator } = m.fraction;
    const denominator = m.fraction.denominator ?? 100;
    if (!Number.isInteger(numerator) || !Number.isInteger(denominator) || numerator < 0 || denominator < 1 || numerator > denominator) {
      throw new Unsupported('UnsupportedValue', 'requestMirror.fraction must have 0 <= numerator <= denominator and denominator >= 1');
    }
    return { numerator, denominator };
  }
  return { numerator: 1, denominator: 1 };
}

/** The rule's usable mirrors, in filter order (a share of 0 is valid and mirrors nothing: left out). */
export function resolveMirrors(filters: readonly HTTPRouteFilter[], from: { kind: string; namespace: string }, inputs: RuleInputs, refs: ResolvedRefs): MirrorData[] {
  const out: MirrorData[] = [];
  for (const f of filters) {
    if (f.type !== 'RequestMirror') continue;
    const m = f.requestMirror;
    if (m?.backendRef === undefined) throw new Unsupported('UnsupportedValue', 'requestMirror.backendRef is missing');
    const share = mirrorShare(m);
    const target = resolveServiceRef(m.backendRef, from, inputs, refs, 'requestMirror backendRef');
    if (target === null || share.numerator === 0) continue;
    // A BackendTLSPolicy applies to copies as to traffic; one that is not usable leaves the mirror out.
    const tls = inputs.backendTls?.(target.namespace, target.name, target.port) ?? null;
    if (tls !== null && 'refused' in tls) {
      refs.unresolved('InvalidBackendTLSPolicy', tls.refused);
      continue;
    }
    const backend: MirrorData['backend'] = { service: target.name, namespace: target.namespace, kind: 'Service', weight: 1, servicePort: { number: target.port } };
    if (tls !== null) backend.tls = tls.tls;
    out.push({ backend, ...share });
  }
  return out;
}
