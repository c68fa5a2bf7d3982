// What a plugin sees of the endpoints: read-only views. The balancers and the forwarder work on
// the shared, mutable EndpointState (counters, pool, ejection); a plugin gets an EndpointInfo
// that reads it, and candidates that cannot be changed — nor forged: a selectEndpoint phase
// must return one of the candidates it was given (the view knows its member).

import type { Member } from '../balance/types.ts';
import type { EndpointState } from '../health/endpoint-state.ts';
import type { EndpointCandidate, EndpointInfo } from './views.ts';

class EndpointView implements EndpointInfo {
  readonly #state: EndpointState;
  constructor(state: EndpointState) {
    this.#state = state;
    Object.freeze(this);
  }

  get id(): string { return this.#state.id; }
  get name(): string { return this.#state.name; }
  get address(): string { return this.#state.address; }
  get port(): number { return this.#state.port; }
  get active(): number { return this.#state.active; }

  available(now: number = Date.now()): boolean {
    return this.#state.available(now);
  }

  toJSON(): object {
    return { id: this.id, name: this.name, address: this.address, port: this.port };
  }
}

/** One view per endpoint state, made on first use and collected with it. */
const views = new WeakMap<EndpointState, EndpointView>();

export function endpointView(state: EndpointState): EndpointInfo {
  let view = views.get(state);
  if (view === undefined) views.set(state, (view = new EndpointView(state)));
  return view;
}

class Candidate implements EndpointCandidate {
  readonly endpoint: EndpointInfo;
  readonly weight: number;
  readonly acceptsNew: boolean;
  readonly #member: Member;
  constructor(member: Member) {
    this.#member = member;
    this.endpoint = endpointView(member.endpoint);
    this.weight = member.weight;
    this.acceptsNew = member.acceptsNew;
    Object.freeze(this);
  }

  static memberOf(value: unknown): Member | null {
    return typeof value === 'object' && value !== null && #member in value ? (value as Candidate).#member : null;
  }
}

/** The candidates of a route's members, in the same order (made once per route runtime). */
export function candidatesOf(members: readonly Member[]): readonly EndpointCandidate[] {
  return Object.freeze(members.map((m) => new Candidate(m)));
}

/** The member behind a candidate a plugin returned; null when it is not one (forged or foreign). */
export function memberOf(candidate: unknown): Member | null {
  return Candidate.memberOf(candidate);
}
