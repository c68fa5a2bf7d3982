// Ingress status: `status.loadBalancer.ingress` lists where the Ingress is served. The controller
// of an IngressClass owns the field: for an admitted Ingress we publish exactly our addresses
// (--publish-status-address IPs, else --canonical-hostname); when it is no longer ours (or not
// admitted) we take our addresses out and leave anything else alone.

import type { AdmissionResult } from '../table/types.ts';
import type { StatusChange } from './route-status.ts';

export interface LoadBalancerIngress { ip?: string; hostname?: string }

export interface IngressStatusIdentity {
  canonicalHostname: string;
  publishStatusAddress: string[];
}

/** What this router publishes; empty when it has nothing to publish. */
export function publishedAddresses(identity: IngressStatusIdentity): LoadBalancerIngress[] {
  if (identity.publishStatusAddress.length > 0) return identity.publishStatusAddress.map((ip) => ({ ip }));
  if (identity.canonicalHostname) return [{ hostname: identity.canonicalHostname }];
  return [];
}

export function desiredLoadBalancer(existing: LoadBalancerIngress[] | undefined, result: AdmissionResult | undefined,
  identity: IngressStatusIdentity): StatusChange<LoadBalancerIngress[]> {
  const list = existing ?? [];
  const ours = publishedAddresses(identity);
  if (ours.length === 0) return { value: list, changed: false }; // nothing to publish: leave it alone
  const value = result?.admitted
    ? ours
    : list.filter((entry) => !ours.some((o) => sameAddress(o, entry)));
  return { value, changed: !sameList(list, value) };
}

function sameAddress(a: LoadBalancerIngress, b: LoadBalancerIngress): boolean {
  return (a.ip ?? '') === (b.ip ?? '') && (a.hostname ?? '') === (b.hostname ?? '');
}

function sameList(a: LoadBalancerIngress[], b: LoadBalancerIngress[]): boolean {
  return a.length === b.length && a.every((entry, i) => sameAddress(entry, b[i]!));
}
