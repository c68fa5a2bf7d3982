// Ingress status: `status.loadBalancer.ingress` lists where the Ingress is served. Several routers
// may serve one Ingress (the default router and a shard, each with its own name and Lease, each
// leader writing), so each owns only its own entries, as Route `status.ingress[]` entries are
// owned per router name: for an admitted Ingress we make sure our addresses (--publish-status-
// address IPs, else --canonical-hostname) are in the list, keeping every other entry where it
// is; when it is no longer ours (or not admitted) we take our addresses out and leave the rest.
// An entry is ours by its address: an address this router no longer publishes (a changed
// --canonical-hostname) is not recognised as ours and stays until removed by hand.

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
    ? [...list, ...ours.filter((o) => !list.some((entry) => sameAddress(o, entry)))]
    : list.filter((entry) => !ours.some((o) => sameAddress(o, entry)));
  return { value, changed: !sameList(list, value) };
}

function sameAddress(a: LoadBalancerIngress, b: LoadBalancerIngress): boolean {
  return (a.ip ?? '') === (b.ip ?? '') && (a.hostname ?? '') === (b.hostname ?? '');
}

function sameList(a: LoadBalancerIngress[], b: LoadBalancerIngress[]): boolean {
  return a.length === b.length && a.every((entry, i) => sameAddress(entry, b[i]!));
}
