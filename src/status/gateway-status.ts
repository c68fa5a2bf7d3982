// The status subresource bodies of Gateway API objects, from the router's status set
// (src/gateway/status.ts): conditions get observedGeneration and a lastTransitionTime that is
// kept while the condition's status stays the same (as metav1.Condition requires). A
// GatewayClass's and a Gateway's status are the controller's; on an HTTPRoute or GRPCRoute only the
// `parents` entries whose controllerName is ours are — other controllers' entries are kept.

import { GATEWAY_CONTROLLER_NAME, type Condition } from '../objects/gateway-types.ts';
import type { ConditionData } from '../gateway/conditions.ts';
import type { PolicyStatusData } from '../gateway/backend-tls.ts';
import type { ClassStatusData, GatewayStatusData, ListenerSetStatusData, ListenerStatusData, ParentStatusData, RouteStatusData } from '../gateway/evaluate.ts';

function withBookkeeping(conditions: readonly ConditionData[], generation: number | undefined, previous: readonly Condition[] | undefined, now: string): Condition[] {
  return conditions.map((c) => {
    const before = previous?.find((p) => p.type === c.type);
    const lastTransitionTime = before !== undefined && before.status === c.status && before.lastTransitionTime ? before.lastTransitionTime : now;
    return { ...c, ...(generation !== undefined ? { observedGeneration: generation } : {}), lastTransitionTime };
  });
}

type Json = Record<string, unknown>;

export function gatewayClassStatus(data: ClassStatusData, current: Json | undefined, now: string): Json {
  const previous = (current?.conditions as Condition[] | undefined);
  return {
    ...(current ?? {}),
    conditions: withBookkeeping(data.conditions, data.generation, previous, now),
    // Sorted by name, as the specification asks (supported-features.ts sorts them).
    supportedFeatures: data.supportedFeatures.map((name) => ({ name })),
  };
}

function listenerStatuses(listeners: readonly ListenerStatusData[], generation: number | undefined, current: Json | undefined, now: string): Json[] {
  const previous = (current?.listeners as Array<{ name: string; conditions?: Condition[] }> | undefined) ?? [];
  return listeners.map((l) => ({
    name: l.name,
    supportedKinds: l.supportedKinds,
    attachedRoutes: l.attachedRoutes,
    conditions: withBookkeeping(l.conditions, generation, previous.find((p) => p.name === l.name)?.conditions, now),
  }));
}

export function gatewayStatus(data: GatewayStatusData, current: Json | undefined, now: string): Json {
  return {
    ...(current ?? {}),
    addresses: data.addresses,
    conditions: withBookkeeping(data.conditions, data.generation, current?.conditions as Condition[] | undefined, now),
    listeners: listenerStatuses(data.listeners, data.generation, current, now),
    attachedListenerSets: data.attachedListenerSets,
  };
}

/** A ListenerSet's status is the controller of its Gateway's: conditions and its own listeners. */
export function listenerSetStatus(data: ListenerSetStatusData, current: Json | undefined, now: string): Json {
  return {
    ...(current ?? {}),
    conditions: withBookkeeping(data.conditions, data.generation, current?.conditions as Condition[] | undefined, now),
    listeners: listenerStatuses(data.listeners, data.generation, current, now),
  };
}

const sameCondition = (a: Partial<Condition>, b: Partial<Condition>) => a.type === b.type && a.status === b.status && a.reason === b.reason && a.message === b.message;

/**
 * A ListenerSet that no longer attaches to a Gateway of ours (its parentRef moved, its Gateway
 * is gone): take out what we wrote (`written`, our last status body) — the conditions and the
 * listener entries still as we left them; what another controller has written since stays.
 */
export function withoutListenerSetStatus(written: Json, current: Json | undefined): Json {
  const ours = (written.conditions as Condition[] | undefined) ?? [];
  const ourListeners = (written.listeners as Array<{ name: string; conditions?: Condition[] }> | undefined) ?? [];
  const conditions = ((current?.conditions as Condition[] | undefined) ?? []).filter((c) => !ours.some((o) => sameCondition(c, o)));
  const listeners = ((current?.listeners as Array<{ name: string; conditions?: Condition[] }> | undefined) ?? []).filter((l) => {
    const mine = ourListeners.find((o) => o.name === l.name);
    return mine === undefined || !(l.conditions ?? []).every((c) => (mine.conditions ?? []).some((o) => sameCondition(c, o)));
  });
  return { ...(current ?? {}), conditions, listeners };
}

interface ParentEntry { parentRef: Json; controllerName: string; conditions?: Condition[] }

function sameParentRef(a: Json, b: ParentStatusData['parentRef']): boolean {
  return (a.name === b.name) && (a.kind ?? 'Gateway') === b.kind && ((a.namespace ?? b.namespace) === b.namespace) && (a.sectionName ?? undefined) === b.sectionName && (a.port ?? undefined) === b.port;
}

/** `data` undefined: the route is no longer ours — drop our entries. */
export function routeStatus(data: RouteStatusData | undefined, current: Json | undefined, now: string): Json {
  const existing = ((current?.parents as ParentEntry[] | undefined) ?? []);
  const others = existing.filter((p) => p.controllerName !== GATEWAY_CONTROLLER_NAME);
  const ours = (data?.parents ?? []).map((p) => {
    const before = existing.find((e) => e.controllerName === GATEWAY_CONTROLLER_NAME && sameParentRef(e.parentRef, p.parentRef));
    return { parentRef: p.parentRef, controllerName: p.controllerName, conditions: withBookkeeping(p.conditions, data!.generation, before?.conditions, now) };
  });
  return { ...(current ?? {}), parents: [...others, ...ours] };
}

interface AncestorEntry { ancestorRef: Json; controllerName: string; conditions?: Condition[] }

/** A BackendTLSPolicy's `ancestors`: ours as evaluated (none when `data` is undefined), other controllers' kept. */
export function policyStatus(data: PolicyStatusData | undefined, current: Json | undefined, now: string): Json {
  const existing = ((current?.ancestors as AncestorEntry[] | undefined) ?? []);
  const others = existing.filter((a) => a.controllerName !== GATEWAY_CONTROLLER_NAME);
  const ours = (data?.ancestors ?? []).map((a) => {
    const before = existing.find((e) => e.controllerName === GATEWAY_CONTROLLER_NAME && e.ancestorRef.name === a.ancestorRef.name && e.ancestorRef.namespace === a.ancestorRef.namespace);
    return { ancestorRef: a.ancestorRef, controllerName: a.controllerName, conditions: withBookkeeping(a.conditions, data!.generation, before?.conditions, now) };
  });
  return { ...(current ?? {}), ancestors: [...others, ...ours] };
}

/** Equal but for lastTransitionTime (which withBookkeeping keeps stable): nothing to write. */
export function sameStatus(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? {}) === JSON.stringify(b ?? {});
}
