// Admission step: --denied-domains wins over --allowed-domains. A domain covers itself and its
// subdomains, on a label boundary (`example.com` covers `a.example.com`, not `badexample.com`).

import { ADMITTED, Reasons, isHostless, reject, wildcardDomain, type AdmissionContext, type RouteCandidate, type Verdict } from './types.ts';

export function inDomain(host: string, domain: string): boolean {
  const d = domain.trim().toLowerCase().replace(/^\*?\./, '').replace(/\.$/, '');
  if (d === '') return false;
  return host === d || (host.length > d.length && host.endsWith(d) && host[host.length - d.length - 1] === '.');
}

export function admitDomains(c: RouteCandidate, context: AdmissionContext): Verdict {
  // A rule without host names no domain to allow or deny.
  if (isHostless(c)) return ADMITTED;
  const { allowedDomains, deniedDomains } = context.config;
  // A wildcard Ingress host `*.foo.com` is judged by the domain it serves.
  const host = c.host.startsWith('*.') ? wildcardDomain(c) : c.host;
  const denied = deniedDomains.find((d) => inDomain(host, d));
  if (denied !== undefined) return reject(Reasons.routeNotAdmitted, `host "${c.host}" is in a denied domain (${denied})`);
  if (allowedDomains.length > 0 && !allowedDomains.some((d) => inDomain(host, d))) {
    return reject(Reasons.routeNotAdmitted, `host "${c.host}" is not in an allowed domain`);
  }
  return ADMITTED;
}
