// ListenerSets (GEP-1713, Standard channel since v1.5): listeners added to a Gateway from objects
// of their own, possibly in other namespaces, when the Gateway's spec.allowedListeners lets them
// (from None, the default, Same, Selector or All). Their listeners become listeners of the
// Gateway — the same evaluation as its own (listeners.ts), bound on its address, keyed
// `namespace/gateway/ListenerSet/namespace/name/listener` — with three differences:
// - precedence: the Gateway's listeners, then ListenerSets oldest first, then by
//   `namespace/name`; a ListenerSet listener that conflicts with one before it is Conflicted (the
//   earlier one is served); listeners of one ListenerSet conflicting with each other are all
//   Conflicted, as a Gateway's are;
// - references: certificateRefs are the ListenerSet's (its namespace, ReferenceGrants from
//   ListenerSet), never the Gateway's;
// - attachment: a route attaches to them only through a parentRef naming the ListenerSet, and
//   `Same` in their allowedRoutes is the ListenerSet's namespace.
// A ListenerSet is Accepted when allowed and at least one of its listeners is valid; the Gateway
// counts those in status.attachedListenerSets. Its own Accepted and Programmed conditions stay
// those of its own listeners.

import { GATEWAY_GROUP, type Gateway, type Listener, type ListenerSet } from '../objects/gateway-types.ts';
import { creationMillis } from '../objects/types.ts';
import { condition, namespacesAllow, type ConditionData } from './conditions.ts';
import { conflictsOf, evaluateListenerList, listenerConflict, mixedTlsModes, type ListenerConflict, type ListenerInputs, type ListenerState } from './listeners.ts';

export interface ListenerSetState {
  /** `namespace/name` */
  key: string;
  namespace: string;
  name: string;
  generation: number | undefined;
  /** `namespace/name` of the Gateway it names. */
  gatewayKey: string;
  /** Attached to the Gateway: allowed, and some listener valid (Accepted=True). */
  accepted: boolean;
  /** Why routes cannot attach through it, when not accepted. */
  refusal: string;
  /** Empty when not allowed (nothing of it was evaluated). */
  listeners: ListenerState[];
  conditions: ConditionData[];
}

/** What the evaluation needs of the parent Gateway. */
export interface ListenerSetParent {
  gateway: Gateway;
  key: string;
  accepted: boolean;
  programmed: boolean;
  /** Its listeners can be served now (false while its address is pending). */
  served: boolean;
}

/** The ListenerSets naming each Gateway (`namespace/name`) as parent, in precedence order: oldest, then `namespace/name`. */
export function listenerSetsByGateway(sets: Iterable<ListenerSet>): Map<string, ListenerSet[]> {
  const out = new Map<string, ListenerSet[]>();
  for (const set of sets) {
    const ref = set.spec?.parentRef;
    if (ref === undefined || (ref.group ?? GATEWAY_GROUP) !== GATEWAY_GROUP || (ref.kind ?? 'Gateway') !== 'Gateway') continue;
    const key = `${ref.namespace ?? set.metadata.namespace ?? 'default'}/${ref.name}`;
    let list = out.get(key);
    if (!list) out.set(key, (list = []));
    list.push(set);
  }
  for (const list of out.values()) list.sort(comparePrecedence);
  return out;
}

function comparePrecedence(a: ListenerSet, b: ListenerSet): number {
  const age = (creationMillis(a.metadata) ?? Number.MAX_SAFE_INTEGER) - (creationMillis(b.metadata) ?? Number.MAX_SAFE_INTEGER);
  if (age !== 0) return age;
  const an = `${a.metadata.namespace ?? 'default'}/${a.metadata.name}`;
  const bn = `${b.metadata.namespace ?? 'default'}/${b.metadata.name}`;
  return an < bn ? -1 : an > bn ? 1 : 0;
}

/**
 * The ListenerSets of one Gateway, in precedence order. `labelsOf`: a namespace's labels (for
 * allowedListeners from Selector).
 */
export function evaluateListenerSets(
  parent: ListenerSetParent, sets: readonly ListenerSet[], inputs: ListenerInputs,
  labelsOf: (namespace: string) => Readonly<Record<string, string>> | undefined,
): ListenerSetState[] {
  const gatewayNamespace = parent.gateway.metadata.namespace ?? 'default';
  // Not set (or `from` left out): no ListenerSet may attach.
  const namespaces = parent.gateway.spec?.allowedListeners?.namespaces;
  const allowed = { from: namespaces?.from ?? 'None', selector: namespaces?.selector };
  const own = parent.gateway.spec?.listeners ?? [];
  /** Listeners of earlier ListenerSets that were not conflicted: they keep what they claim. */
  const earlier: Listener[] = [];
  return sets.map((set) => {
    const namespace = set.metadata.namespace ?? 'default';
    const state: ListenerSetState = {
      key: `${namespace}/${set.metadata.name}`, namespace, name: set.metadata.name, generation: set.metadata.generation,
      gatewayKey: parent.key, accepted: false, refusal: '', listeners: [], conditions: [],
    };
    if (!namespacesAllow(allowed, gatewayNamespace, namespace, labelsOf)) {
      state.refusal = `Gateway ${parent.key} does not allow ListenerSets from namespace ${namespace} (spec.allowedListeners)`;
      state.conditions = [condition('Accepted', false, 'NotAllowed', state.refusal), condition('Programmed', false, 'NotAllowed', state.refusal)];
      return state;
    }
    if (!parent.accepted) {
      state.refusal = `Gateway ${parent.key} is not accepted`;
      state.conditions = [condition('Accepted', false, 'ParentNotAccepted', state.refusal), condition('Programmed', false, 'ParentNotProgrammed', state.refusal)];
      return state;
    }
    const listeners = set.spec?.listeners ?? [];
    const mixedTls = mixedTlsModes(inputs);
    const conflicts = conflictsWithEarlier(listeners, own, earlier, mixedTls);
    // Among those left, the ListenerSet's own listeners that conflict with each other: none wins.
    const left = listeners.map((_, i) => i).filter((i) => !conflicts.has(i));
    for (const [index, conflict] of conflictsOf(left.map((i) => listeners[i]!), mixedTls)) conflicts.set(left[index]!, conflict);
    state.listeners = evaluateListenerList(parent.gateway, listeners, conflicts, { kind: 'ListenerSet', namespace },
      `${parent.key}/ListenerSet/${state.key}`, inputs);
    listeners.forEach((l, i) => { if (!conflicts.has(i)) earlier.push(l); });
    const valid = state.listeners.filter((l) => l.usable).length;
    if (!parent.served) {
      for (const l of state.listeners) {
        if (!l.usable) continue;
        l.usable = false;
        l.conditions = l.conditions.map((c) => (c.type === 'Programmed' ? condition('Programmed', false, 'Pending', `Gateway ${parent.key} is not programmed`) : c));
      }
    }
    let accepted: ConditionData;
    let programmed: ConditionData;
    if (valid === 0) {
      state.refusal = 'none of its listeners is valid';
      accepted = condition('Accepted', false, 'ListenersNotValid', state.refusal);
      programmed = condition('Programmed', false, 'ListenersNotValid', state.refusal);
    } else {
      accepted = valid === state.listeners.length
        ? condition('Accepted', true, 'Accepted', `attached to Gateway ${parent.key}`)
        : condition('Accepted', true, 'ListenersNotValid', `attached to Gateway ${parent.key}; some listeners are not valid, the others are served`);
      programmed = parent.programmed && parent.served
        ? condition('Programmed', true, 'Programmed', 'served by the router')
        : condition('Programmed', false, 'ParentNotProgrammed', `Gateway ${parent.key} is not programmed`);
    }
    state.accepted = accepted.status === 'True';
    state.conditions = [accepted, programmed];
    return state;
  });
}

/**
 * Conflicts of a ListenerSet's listeners with those that come before it: the Gateway's own (all
 * of them) and those earlier ListenerSets kept. Messages name no other object: a ListenerSet's
 * author need not see the Gateway or the other ListenerSets.
 */
function conflictsWithEarlier(listeners: readonly Listener[], own: readonly Listener[], earlier: readonly Listener[], mixedTls: boolean): Map<number, ListenerConflict> {
  const out = new Map<number, ListenerConflict>();
  listeners.forEach((l, i) => {
    for (const [list, what] of [[own, 'a listener of the Gateway'], [earlier, 'a listener of an older ListenerSet of the Gateway']] as const) {
      for (const other of list) {
        const conflict = listenerConflict(l, other, what, mixedTls);
        if (conflict !== null) {
          out.set(i, conflict);
          return;
        }
      }
    }
  });
  return out;
}
