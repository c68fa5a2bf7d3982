// Admission step: wildcard policy. A Route with wildcardPolicy Subdomain (host www.foo.com
// serves *.foo.com) or an Ingress host `*.foo.com` needs --allow-wildcard-routes.

import { isDns1123Subdomain } from './validation.ts';
import { ADMITTED, Reasons, isHostless, reject, wildcardDomain, type AdmissionContext, type RouteCandidate, type Verdict } from './types.ts';

export function admitWildcard(c: RouteCandidate, context: AdmissionContext): Verdict {
  if (isHostless(c)) return ADMITTED;
  if (c.kind === 'Route' && c.owner.kind === 'Route') {
    const policy = (c.owner as { spec?: { wildcardPolicy?: string } }).spec?.wildcardPolicy;
    if (policy !== undefined && policy !== '' && policy !== 'None' && policy !== 'Subdomain') {
      return reject(Reasons.routeNotAdmitted, `wildcardPolicy must be None or Subdomain, got "${policy}"`);
    }
  }
  if (c.kind === 'Ingress' && c.host.includes('*') && !(c.host.startsWith('*.') && isDns1123Subdomain(c.host.slice(2)))) {
    return reject(Reasons.invalidHost, `wildcard host "${c.host}" must be "*." followed by a valid host`);
  }
  if (!c.wildcard) return ADMITTED;
  if (!context.config.allowWildcardRoutes) return reject(Reasons.routeNotAdmitted, 'wildcard routes are not allowed');
  // `*.com` would claim a whole top-level domain.
  if (!wildcardDomain(c).includes('.')) {
    return reject(Reasons.routeNotAdmitted, `wildcard host "${c.host}" must leave at least two labels in its domain`);
  }
  return ADMITTED;
}
