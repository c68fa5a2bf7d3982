// Admission step: who owns a host. Deterministic and independent of event order: all claims
// of one domain group (see domainGroupOf) are judged together — of every group under an
// HTTPRoute wildcard too, since it serves hosts at any depth (the reconciler's scopes) — oldest
// first (creationTimestamp, then arrival order, then uid, then name — ObjectStore.compareAge),
// and each is admitted unless it conflicts with a claim already admitted:
//   - same namespace (or --disable-namespace-ownership-check): same scope (same exact host, or
//     both the wildcard of the domain) and a common path;
//   - different namespaces: same exact host, or a wildcard of one serves what the other claims
//     (a Route/Ingress wildcard `*.d` one label under d, an HTTPRoute wildcard any depth);
//   - either claim is a passthrough Route (or a TLSRoute, whose streams are chosen by SNI
//     alone): same scope, whatever the paths and namespaces. The router only sees the SNI of a
//     passthrough connection, never its path, so a passthrough host cannot be shared with a
//     Route or Ingress (as in OpenShift).
//   - Ingress rules without host (HOSTLESS_HOST_KEY, their own group): a common path, whatever
//     the namespaces — they share the catch-all slot path by path, never a host.
// A claim is one Route, or all paths of one host of one Ingress (its paths never conflict
// with each other, and one conflicting path drops that host's paths only), or all matches of
// one host of one HTTPRoute (or GRPCRoute).
//   - HTTPRoutes, GRPCRoutes and TLSRoutes never conflict with each other here, whatever their
//     namespaces, except a TLSRoute and an HTTPRoute/GRPCRoute whose hosts overlap (the same
//     host, or a wildcard serving the other's) and that both reach the router's shared HTTPS
//     port: there the SNI picks the stream before any request exists, so the older keeps it.
//     Otherwise
//     which namespaces may use a Gateway's hosts is the Gateway's allowedRoutes decision,
//     requests are shared by the spec's match precedence, and an HTTPRoute and a GRPCRoute are
//     kept off each other's hosts per listener by the Gateway evaluation
//     (gateway/route-attachment.ts). Against Routes and Ingresses such a claim
//     is judged like theirs (oldest wins; another namespace cannot take a host or domain
//     one of them serves, and they cannot take one an HTTPRoute serves).

import { creationMillis } from '../objects/types.ts';
import type { RouterConfig } from '../config.ts';
import type { ObjectStore } from '../store.ts';
import { HOSTLESS_HOST_KEY, isGatewayRouteKind, type RouteKind } from '../table/types.ts';
import { ADMITTED, Reasons, domainGroupOfHostKey, hostKeyOf, reject, type RouteCandidate, type Verdict } from './types.ts';

export interface OwnershipClaim {
  ownerKey: string;
  kind: RouteKind;
  namespace: string;
  name: string;
  owner: RouteCandidate['owner'];
  hostKey: string;
  wildcard: boolean;
  /** A passthrough Route: it takes its whole host (or wildcard domain), paths cannot split it. */
  passthrough: boolean;
  /** Path identities: Route '' and '/' differ; an Ingress Exact path differs from a Prefix one; Prefix `/a/` is `/a`. */
  paths: Set<string>;
  candidates: RouteCandidate[];
}

function pathIdentity(c: RouteCandidate): string {
  if (c.match === 'exact') return `=${c.path}`;
  // An Ingress Prefix ignores the rule's trailing '/': `/a/` and `/a` serve the same requests.
  if (c.match === 'prefix' && c.path.length > 1 && c.path.endsWith('/')) return c.path.replace(/\/+$/, '') || '/';
  return c.path;
}

function isPassthrough(c: RouteCandidate): boolean {
  return (c.kind === 'Route' && c.routeTls?.termination === 'passthrough') || c.kind === 'TLSRoute';
}

/** Group candidates (already past the per-candidate steps) into claims: owner × host. */
export function claimsOf(candidates: Iterable<RouteCandidate>): OwnershipClaim[] {
  const byKey = new Map<string, OwnershipClaim>();
  for (const c of candidates) {
    const hostKey = hostKeyOf(c);
    const id = `${c.ownerKey}\u0000${hostKey}`;
    let claim = byKey.get(id);
    if (!claim) {
      claim = { ownerKey: c.ownerKey, kind: c.kind, namespace: c.namespace, name: c.name, owner: c.owner, hostKey, wildcard: c.wildcard, passthrough: isPassthrough(c), paths: new Set(), candidates: [] };
      byKey.set(id, claim);
    }
    claim.paths.add(pathIdentity(c));
    claim.candidates.push(c);
  }
  return [...byKey.values()];
}

const KIND_RANK: Readonly<Record<OwnershipClaim['kind'], number>> = { Route: 0, Ingress: 1, HTTPRoute: 2, GRPCRoute: 3, TLSRoute: 4, TCPRoute: 5, UDPRoute: 6 };

function compareClaims(store: ObjectStore, a: OwnershipClaim, b: OwnershipClaim): number {
  if (a.kind === b.kind) {
    const age = store.compareAge(a.kind, a.owner, b.owner);
    if (age !== 0) return age;
  } else {
    const ta = creationMillis(a.owner.metadata);
    const tb = creationMillis(b.owner.metadata);
    if (ta !== tb) {
      if (ta === undefined) return 1;
      if (tb === undefined) return -1;
      return ta - tb;
    }
    return KIND_RANK[a.kind] - KIND_RANK[b.kind]; // arrival orders of two kinds are not comparable; Routes first
  }
  if (a.ownerKey !== b.ownerKey) return a.ownerKey < b.ownerKey ? -1 : 1;
  return a.hostKey < b.hostKey ? -1 : a.hostKey > b.hostKey ? 1 : 0;
}

function sharePath(a: OwnershipClaim, b: OwnershipClaim): boolean {
  for (const p of a.paths) if (b.paths.has(p)) return true;
  return false;
}

/** Reaches the router's shared HTTPS port (through an HTTPS or TLS listener of a Gateway without an address of its own). */
function onSharedHttps(claim: OwnershipClaim): boolean {
  return claim.candidates.some((c) => c.gateway?.https === true);
}

function conflicts(claim: OwnershipClaim, owner: OwnershipClaim, config: RouterConfig): boolean {
  if (claim.ownerKey === owner.ownerKey) return false;
  if (isGatewayRouteKind(claim.kind) && isGatewayRouteKind(owner.kind)) {
    // On the shared HTTPS port a TLSRoute's name takes every connection (SNI decides before any
    // request): an HTTPRoute or GRPCRoute there cannot share its host. Elsewhere their listeners
    // (own addresses and ports) keep them apart.
    if ((claim.kind === 'TLSRoute') === (owner.kind === 'TLSRoute')) return false;
    const overlap = claim.hostKey === owner.hostKey || covers(claim, owner) || covers(owner, claim);
    return overlap && onSharedHttps(claim) && onSharedHttps(owner);
  }
  const sameScope = claim.hostKey === owner.hostKey;
  if (claim.hostKey === HOSTLESS_HOST_KEY || owner.hostKey === HOSTLESS_HOST_KEY) return sameScope && sharePath(claim, owner);
  if (sameScope && (claim.passthrough || owner.passthrough)) return true;
  if (claim.namespace === owner.namespace || config.disableNamespaceOwnershipCheck) return sameScope && sharePath(claim, owner);
  return sameScope || covers(claim, owner) || covers(owner, claim);
}

/**
 * A wildcard claim serves (some of) what `other` claims: an HTTPRoute (GRPCRoute) `*.d` any host under d
 * (Gateway API suffix match), a Route or Ingress `*.d` one label under d.
 */
export function covers(wildcard: OwnershipClaim, other: OwnershipClaim): boolean {
  if (!wildcard.wildcard) return false;
  const domain = wildcard.hostKey.slice(2);
  const deep = isGatewayRouteKind(wildcard.kind);
  // `other`'s domain group: the wildcard's own domain, or the parent of its exact host.
  const group = domainGroupOfHostKey(other.hostKey);
  if (group === domain) return true;
  return deep && group.endsWith(`.${domain}`);
}

function ownerName(claim: OwnershipClaim): string {
  return `${claim.kind.toLowerCase()} ${claim.namespace}/${claim.name}`;
}

/** Why a conflict is one when only passthrough makes it so (otherwise ''). */
function passthroughWhy(claim: OwnershipClaim, owner: OwnershipClaim): string {
  if (claim.hostKey !== owner.hostKey) return '';
  if (owner.passthrough) return `; it uses passthrough termination and passthrough hosts cannot be shared`;
  if (claim.passthrough) return `; this route uses passthrough termination and passthrough hosts cannot be shared`;
  return '';
}

function conflictMessage(claim: OwnershipClaim, owner: OwnershipClaim): string {
  if (claim.hostKey === HOSTLESS_HOST_KEY) {
    const shared = [...claim.paths].filter((p) => owner.paths.has(p)).map(describePathIdentity).join(', ');
    return `${ownerName(owner)} already serves ${shared} for requests of any host (rules without host) and is older`;
  }
  const what = owner.hostKey === claim.hostKey ? claim.hostKey : `${claim.hostKey} (${owner.hostKey} is claimed)`;
  return `${ownerName(owner)} already exposes ${what} and is older${passthroughWhy(claim, owner)}`;
}

/** `=/a` → `path "/a" (Exact)`, `/a` → `path "/a" (Prefix)`, as pathIdentity encodes them. */
function describePathIdentity(identity: string): string {
  return identity.startsWith('=') ? `path "${identity.slice(1)}" (Exact)` : `path "${identity}" (Prefix)`;
}

/** Judge every claim of one domain group (or of independent hosts); returns each claim's verdict. */
export function admitHostOwnership(claims: readonly OwnershipClaim[], store: ObjectStore, config: RouterConfig): Map<OwnershipClaim, Verdict> {
  const ordered = [...claims].sort((a, b) => compareClaims(store, a, b));
  // Indexes of what is admitted so far, so each claim is checked against a few others only.
  const byHost = new Map<string, OwnershipClaim[]>();
  /** Domain group → namespace → its oldest admitted claim there (what a wildcard of the group serves). */
  const byGroup = new Map<string, Map<string, OwnershipClaim>>();
  const wildcards: OwnershipClaim[] = [];
  const admitted: OwnershipClaim[] = [];
  const findOwner = (claim: OwnershipClaim): OwnershipClaim | undefined => {
    // The indexes below mix kinds; an HTTPRoute is checked against every admitted claim
    // (conflicts() lets HTTPRoutes share), which a domain group's few claims make cheap.
    if (isGatewayRouteKind(claim.kind)) return admitted.find((o) => conflicts(claim, o, config));
    for (const o of byHost.get(claim.hostKey) ?? []) if (conflicts(claim, o, config)) return o;
    if (config.disableNamespaceOwnershipCheck || claim.hostKey === HOSTLESS_HOST_KEY) return undefined;
    if (claim.wildcard) {
      // HTTPRoute wildcards (any depth) were checked against every admitted claim above.
      for (const [ns, o] of byGroup.get(claim.hostKey.slice(2)) ?? []) if (ns !== claim.namespace) return o;
    }
    for (const o of wildcards) if (o.namespace !== claim.namespace && covers(o, claim)) return o;
    return undefined;
  };
  const verdicts = new Map<OwnershipClaim, Verdict>();
  for (const claim of ordered) {
    const owner = findOwner(claim);
    if (owner) {
      verdicts.set(claim, reject(Reasons.hostAlreadyClaimed, conflictMessage(claim, owner)));
      continue;
    }
    verdicts.set(claim, ADMITTED);
    admitted.push(claim);
    let list = byHost.get(claim.hostKey);
    if (!list) byHost.set(claim.hostKey, (list = []));
    list.push(claim);
    // Rules without host claim no domain: a wildcard of another namespace does not clash with them.
    if (claim.hostKey !== HOSTLESS_HOST_KEY) {
      const group = domainGroupOfHostKey(claim.hostKey);
      let namespaces = byGroup.get(group);
      if (!namespaces) byGroup.set(group, (namespaces = new Map()));
      if (!namespaces.has(claim.namespace)) namespaces.set(claim.namespace, claim);
    }
    if (claim.wildcard) wildcards.push(claim);
  }
  return verdicts;
}
