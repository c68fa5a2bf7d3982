// One Route or Ingress as the reconciler sees it: its candidates, whether it is in this
// router's shard, each candidate's verdict from the per-candidate admission steps, and the
// AdmissionResult that follows once host ownership has judged the survivors.

import { ingressCandidates, ingressDefaultCandidate, routeCandidate } from '../admission/candidates.ts';
import { runCandidateSteps } from '../admission/chain.ts';
import { isOurIngress } from '../admission/ingress-class.ts';
import { ownerSelected } from '../admission/shard.ts';
import { ADMITTED, Reasons, domainGroupOf, hostKeyOf, type AdmissionContext, type RouteCandidate, type Verdict } from '../admission/types.ts';
import { validateDefaultBackend } from '../admission/validation.ts';
import type { Ingress, Route } from '../objects/types.ts';
import type { GatewayRoute } from '../objects/gateway-types.ts';
import { admitDomains } from '../admission/domains.ts';
import { admitMiddlewares, middlewareFailure } from '../admission/middlewares.ts';
import { isGatewayRouteKind, type AdmissionResult, type RouteKind } from '../table/types.ts';
import { joined } from '../flat-string.ts';

export interface OwnerState {
  key: string;
  kind: RouteKind;
  namespace: string;
  name: string;
  object: Route | Ingress | GatewayRoute;
  /** Ours (Ingress class) and in this router's shard; otherwise it gets no status. */
  selected: boolean;
  candidates: RouteCandidate[];
  /** Verdicts of the per-candidate steps, by candidate key. */
  pre: CandidateVerdicts;
  /** Host keys of the candidates that passed the per-candidate steps (they claim these hosts), no repeats. */
  hostKeys: readonly string[];
  /** Domain groups in which it claims a wildcard (such a claim is judged against the whole group). */
  wildcardGroups: ReadonlySet<string>;
  /** Ingress spec.defaultBackend, when present and valid. */
  defaultCandidate: RouteCandidate | null;
  /** Set when the object could not be read at all. */
  failure: string | null;
}

export function evaluateOwner(kind: 'Route' | 'Ingress', object: Route | Ingress, context: AdmissionContext): OwnerState {
  const namespace = object.metadata.namespace ?? 'default';
  const state: OwnerState = {
    key: joined([kind, namespace, object.metadata.name], '/'), kind, namespace, name: object.metadata.name, object,
    selected: false, candidates: [], pre: new CandidateVerdicts(), hostKeys: NO_HOSTS, wildcardGroups: NO_GROUPS, defaultCandidate: null, failure: null,
  };
  if (kind === 'Ingress' && !isOurIngress(object as Ingress, context.store, context.config)) return state;
  if (!ownerSelected(object, context).admitted) return state;
  state.selected = true;
  try {
    state.candidates = kind === 'Route' ? [routeCandidate(object as Route, context.config, state.key)] : ingressCandidates(object as Ingress);
    for (const c of state.candidates) state.pre.set(c.key, runCandidateSteps(c, context));
    if (kind === 'Ingress') {
      dropRejectedHosts(state);
      const def = ingressDefaultCandidate(object as Ingress);
      if (def && validateDefaultBackend(def, context).admitted) state.defaultCandidate = def;
    }
  } catch (err) {
    state.failure = `could not be read: ${(err as Error).message}`;
    state.candidates = [];
    state.pre.clear();
  }
  for (const c of state.candidates) {
    if (state.pre.get(c.key)!.admitted) claim(state, c);
  }
  return state;
}

/**
 * Verdicts by candidate key. A Route has one candidate: its verdict is held inline, and a Map is
 * made only from a second candidate on (Ingress paths), instead of a Map (~180 bytes) per Route.
 */
export class CandidateVerdicts {
  #key: string | undefined = undefined;
  #verdict: Verdict | undefined = undefined;
  #more: Map<string, Verdict> | null = null;

  get(key: string): Verdict | undefined {
    if (key === this.#key) return this.#verdict;
    return this.#more?.get(key);
  }

  set(key: string, verdict: Verdict): void {
    if (this.#key === undefined || key === this.#key) {
      this.#key = key;
      this.#verdict = verdict;
    } else (this.#more ??= new Map()).set(key, verdict);
  }

  clear(): void {
    this.#key = undefined;
    this.#verdict = undefined;
    this.#more = null;
  }
}

/**
 * One OwnerState per Route and Ingress is kept for as long as it exists: its claims are an
 * array of exactly its length (most owners claim one host) and one shared empty set until it
 * claims a wildcard, instead of two Sets (~180 bytes each, per route).
 */
const NO_HOSTS: readonly string[] = Object.freeze([]);
const NO_GROUPS: ReadonlySet<string> = new Set();

function claim(state: OwnerState, c: RouteCandidate): void {
  const host = hostKeyOf(c);
  if (!state.hostKeys.includes(host)) state.hostKeys = state.hostKeys.concat(host);
  if (c.wildcard) {
    const groups = state.wildcardGroups === NO_GROUPS ? (state.wildcardGroups = new Set<string>()) : state.wildcardGroups;
    (groups as Set<string>).add(domainGroupOf(c));
  }
}

/**
 * An HTTPRoute or GRPCRoute with the candidates the Gateway evaluation gave it (src/gateway/evaluate.ts):
 * shard selection, allowed/denied domains and Middlewares (router-wide, and ExtensionRef
 * filters) apply as to Routes; the Route/Ingress validation and wildcard policy do not (the
 * Gateway's listeners decide hostnames and wildcards).
 */
export function evaluateGatewayRouteOwner(route: GatewayRoute, candidates: readonly RouteCandidate[], context: AdmissionContext): OwnerState {
  const namespace = route.metadata.namespace ?? 'default';
  const state: OwnerState = {
    key: joined([route.kind, namespace, route.metadata.name], '/'), kind: route.kind, namespace, name: route.metadata.name, object: route,
    selected: false, candidates: [], pre: new CandidateVerdicts(), hostKeys: NO_HOSTS, wildcardGroups: NO_GROUPS, defaultCandidate: null, failure: null,
  };
  if (!ownerSelected(route, context).admitted) return state;
  state.selected = true;
  // Fresh objects each time: admission writes the resolved Middlewares onto them, and a host is
  // recompiled when its candidates are not the same objects (a Middleware edit must reach it).
  state.candidates = candidates.map((c) => ({ ...c }));
  for (const c of state.candidates) {
    let verdict = admitDomains(c, context);
    if (verdict.admitted) verdict = admitMiddlewares(c, context); // router-wide and ExtensionRef Middlewares
    state.pre.set(c.key, verdict);
    if (verdict.admitted) claim(state, c);
  }
  return state;
}

/** One rejected path of an Ingress host rejects all paths of that host (and no other host). */
function dropRejectedHosts(state: OwnerState): void {
  const byHost = new Map<string, Verdict>();
  for (const c of state.candidates) {
    const v = state.pre.get(c.key)!;
    if (!v.admitted && !byHost.has(c.host)) byHost.set(c.host, v);
  }
  if (byHost.size === 0) return;
  for (const c of state.candidates) {
    const v = byHost.get(c.host);
    if (v) state.pre.set(c.key, v);
  }
}

/** The verdict of a candidate: its per-candidate verdict, else what host ownership said. */
export function finalVerdict(state: OwnerState, c: RouteCandidate, ownership: ReadonlyMap<string, Verdict>): Verdict {
  const pre = state.pre.get(c.key)!;
  return pre.admitted ? ownership.get(c.key) ?? ADMITTED : pre;
}

/**
 * What the candidate's status reports: its final verdict, or — served but failing closed on its
 * Middlewares — InvalidMiddleware with the reason (it still holds its host and path).
 */
export function reportedVerdict(state: OwnerState, c: RouteCandidate, ownership: ReadonlyMap<string, Verdict>): Verdict {
  const verdict = finalVerdict(state, c, ownership);
  return verdict.admitted ? middlewareFailure(c) ?? verdict : verdict;
}

/** The owner's AdmissionResult, or null when it is not ours (no status entry). */
export function admissionResultOf(state: OwnerState, ownership: ReadonlyMap<string, Verdict>): AdmissionResult | null {
  // HTTPRoutes and GRPCRoutes report through their own status (src/gateway/status.ts), not an AdmissionResult.
  if (!state.selected || isGatewayRouteKind(state.kind)) return null;
  const base = { key: state.key, kind: state.kind as 'Route' | 'Ingress', namespace: state.namespace, name: state.name };
  if (state.failure !== null) {
    return { ...base, host: '', wildcardPolicy: 'None', admitted: false, reason: Reasons.routeNotAdmitted, message: state.failure };
  }
  if (state.kind === 'Route') {
    const c = state.candidates[0]!;
    const v = reportedVerdict(state, c, ownership);
    // A literal, not spreads: a spread-built object keeps its fields in a separate properties
    // array (~40 bytes more per Route, one result kept per Route).
    if (v.admitted) return { key: state.key, kind: 'Route', namespace: state.namespace, name: state.name, host: c.host, wildcardPolicy: c.wildcardPolicy, admitted: true };
    return { key: state.key, kind: 'Route', namespace: state.namespace, name: state.name, host: c.host, wildcardPolicy: c.wildcardPolicy, admitted: false, reason: v.reason, message: v.message };
  }
  const first = state.candidates[0];
  const rejectedHosts = new Map<string, Verdict & { admitted: false }>();
  for (const c of state.candidates) {
    const v = reportedVerdict(state, c, ownership);
    if (!v.admitted && !rejectedHosts.has(c.host)) rejectedHosts.set(c.host, v);
  }
  const host = first?.host ?? '';
  const result: AdmissionResult = { ...base, host, wildcardPolicy: first?.wildcardPolicy ?? 'None', admitted: rejectedHosts.size === 0 };
  if (rejectedHosts.size > 0) {
    const [firstRejection] = rejectedHosts.values();
    result.reason = firstRejection!.reason;
    result.message = [...rejectedHosts].map(([h, v]) => `${h === '' ? 'rules without host' : `host "${h}"`} (${v.reason}): ${v.message}`).join('; ');
  }
  return result;
}
