// One parentRef of an HTTPRoute, GRPCRoute or TLSRoute attached to a Gateway: the listeners it selects
// (sectionName, port), those that take its kind and namespace (allowedRoutes), the hosts it
// serves through each (hostname intersection), and its Accepted condition. Attaching counts in
// the listener's attachedRoutes and records the hosts (and how they are reached) for its
// candidates.
//
// HTTPRoutes and GRPCRoutes do not share hosts on a listener (GRPCRoute spec, hostnames): when a
// route's hosts on a listener intersect those of a route of the other kind already attached
// there, the older route (creationTimestamp, then `namespace/name`) keeps the listener and the
// other is not attached to it (Accepted=False, reason HostnameConflict, when that leaves it no
// listener of this parent). Routes are attached oldest first (evaluate.ts), so the first claim
// of a host on a listener is the older one.

import type { GatewayRouteKind, ParentReference } from '../objects/gateway-types.ts';
import { condition, type ConditionData } from './conditions.ts';
import { intersectHostname, routeHostsOnListener } from './hostnames.ts';
import type { ListenerState } from './listeners.ts';

/** How one host of a route is reached: through which listeners, and the TLS that follows. */
export interface Attachment {
  /** Through a listener on the router's shared HTTP / HTTPS port. */
  http: boolean;
  https: boolean;
  /** Through these listeners on Gateways' own addresses (`namespace/gateway/listener`). */
  listeners: string[];
  /** Through some HTTP / HTTPS listener, shared or not. */
  viaHttp: boolean;
  viaHttps: boolean;
  certificate: { cert: string; key: string } | null;
}

/** Attachments by host: `hosts` for HTTP(S) listeners and TLS Passthrough ones, `terminated` for TLS Terminate ones. */
export interface HostAttachments {
  hosts: Map<string, Attachment>;
  terminated: Map<string, Attachment>;
}

/** What attach() needs of a parent: a Gateway (evaluate.ts GatewayState) or a ListenerSet attached to one. */
export interface AttachableGateway {
  key: string;
  /** 'Gateway' when left out. */
  kind?: string;
  namespace: string;
  listeners: ListenerState[];
  /** Addresses of its own, or null: the router's shared ports. */
  ownAddresses: string[] | null;
}

interface Claim { kind: GatewayRouteKind; owner: string; hosts: readonly string[] }

/** The hosts each route kind holds on each listener so far, for the HTTPRoute/GRPCRoute rule. */
export class ListenerClaims {
  readonly #byListener = new Map<string, Claim[]>();

  /** The route of the other kind holding some of `hosts` on the listener (`kind namespace/name`), or null. */
  conflict(listenerKey: string, kind: GatewayRouteKind, hosts: readonly string[]): string | null {
    for (const claim of this.#byListener.get(listenerKey) ?? []) {
      if (claim.kind === kind) continue;
      for (const a of hosts) for (const b of claim.hosts) if (intersectHostname(a, b) !== null) return claim.owner;
    }
    return null;
  }

  add(listenerKey: string, kind: GatewayRouteKind, owner: string, hosts: readonly string[]): void {
    let list = this.#byListener.get(listenerKey);
    if (!list) this.#byListener.set(listenerKey, (list = []));
    list.push({ kind, owner, hosts });
  }
}

export interface RouteToAttach {
  kind: GatewayRouteKind;
  namespace: string;
  name: string;
  /** Normalised spec.hostnames. */
  hostnames: readonly string[];
  /** Set when the route itself cannot be accepted (its rules, its hostnames): reported once it reaches a listener. */
  refusal: ConditionData | null;
}

/**
 * Attach `route` through `ref` to `gateway`; records its hosts in `hosts` and returns the
 * parent's Accepted condition. `allowsNamespace`: the listener's allowedRoutes.namespaces.
 */
export function attachRoute(
  ref: ParentReference, route: RouteToAttach, gateway: AttachableGateway,
  allowsNamespace: (listener: ListenerState) => boolean, claims: ListenerClaims, attachments: HostAttachments,
): ConditionData {
  const what = `${gateway.kind ?? 'Gateway'} ${gateway.key}`;
  const selected = gateway.listeners.filter((l) => (ref.sectionName === undefined || l.name === ref.sectionName) && (ref.port === undefined || l.port === ref.port));
  if (selected.length === 0) {
    return condition('Accepted', false, 'NoMatchingParent', ref.sectionName !== undefined
      ? `${what} has no listener ${ref.sectionName}${ref.port !== undefined ? ` on port ${ref.port}` : ''}`
      : `${what} has no listener on port ${ref.port}`);
  }
  // Routes attach to an accepted listener even while it cannot be served (a certificate missing):
  // they count in its attachedRoutes and are served once it can be.
  const attachable = selected.filter((l) => l.attachable);
  if (attachable.length === 0) return condition('Accepted', false, 'NotAllowedByListeners', 'no selected listener accepts routes');
  const ofKind = attachable.filter((l) => l.kinds.includes(route.kind));
  if (ofKind.length === 0) return condition('Accepted', false, 'NotAllowedByListeners', `no selected listener accepts ${route.kind}s`);
  const allowed = ofKind.filter(allowsNamespace);
  if (allowed.length === 0) return condition('Accepted', false, 'NotAllowedByListeners', `listeners of ${what} do not allow routes from namespace ${route.namespace}`);
  const matched: Array<[ListenerState, string[]]> = [];
  for (const l of allowed) {
    const onListener = routeHostsOnListener(l.hostname, route.hostnames);
    if (onListener.length > 0) matched.push([l, onListener]);
  }
  if (matched.length === 0) return condition('Accepted', false, 'NoMatchingListenerHostname', 'no route hostname intersects a listener hostname');
  if (route.refusal !== null) return route.refusal;
  const owner = `${route.kind} ${route.namespace}/${route.name}`;
  const conflicts: string[] = [];
  let attached = 0;
  for (const [l, onListener] of matched) {
    const holder = claims.conflict(l.key, route.kind, onListener);
    if (holder !== null) {
      conflicts.push(`listener ${l.name}: ${holder} is older and serves these hostnames there`);
      continue;
    }
    claims.add(l.key, route.kind, owner, onListener);
    attached++;
    l.attachedRoutes++;
    if (!l.usable) continue;
    // A TLSRoute through a Terminate listener is another stream than through a Passthrough one.
    const hosts = l.tlsMode === 'Terminate' ? attachments.terminated : attachments.hosts;
    for (const h of onListener) {
      let a = hosts.get(h);
      if (!a) hosts.set(h, (a = { http: false, https: false, listeners: [], viaHttp: false, viaHttps: false, certificate: null }));
      if (gateway.ownAddresses !== null) a.listeners.push(l.key);
      else if (l.protocol === 'HTTP') a.http = true;
      else a.https = true;
      if (l.protocol === 'HTTP') a.viaHttp = true;
      else {
        a.viaHttps = true;
        a.certificate ??= l.certificate;
      }
    }
  }
  const other = route.kind === 'GRPCRoute' ? 'HTTPRoute' : 'GRPCRoute';
  if (attached === 0) return condition('Accepted', false, 'HostnameConflict', `an HTTPRoute and a GRPCRoute cannot share hostnames on a listener; ${conflicts.join('; ')}`);
  countOnRefusedListeners(selected, route, allowsNamespace);
  if (conflicts.length > 0) return condition('Accepted', true, 'Accepted', `attached; not where a ${other} holds its hostnames (${conflicts.join('; ')})`);
  return condition('Accepted', true, 'Accepted', 'attached');
}

/**
 * An accepted route counts in the attachedRoutes of the selected listeners that are not accepted
 * (Conflicted, an unavailable port) but would take it — its kind, namespace and a hostname —
 * as the spec asks ("Listener status does not impact successful attachment"); nothing is served
 * through them.
 */
function countOnRefusedListeners(selected: readonly ListenerState[], route: RouteToAttach, allowsNamespace: (listener: ListenerState) => boolean): void {
  for (const l of selected) {
    if (l.attachable || !l.kinds.includes(route.kind) || !allowsNamespace(l)) continue;
    if (routeHostsOnListener(l.hostname, route.hostnames).length > 0) l.attachedRoutes++;
  }
}
