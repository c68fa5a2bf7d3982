// `leastconn`: the candidate with the lowest load relative to its weight, (active + 1) / weight.
// As in HAProxy's fwlc, an idle member counts as load 0, so idle members tie; ties are shared
// by smooth weighted round robin among the tied members (a rotating start when weights are
// equal). That way weights hold even for sequential traffic, where every member is idle at
// each pick, and under concurrency the least loaded member still wins.

import { candidateWeights, zeros, isCandidate } from './candidate.ts';
import type { Balancer, Member, Excluded } from './types.ts';

export class LeastConnBalancer implements Balancer {
  readonly #members: readonly Member[];
  readonly #weights: number[];
  /** Smooth round-robin state for breaking ties. */
  readonly #current: number[];
  /** Scratch: each member's load during one pick (-1 = not a candidate), so the tie pass need not re-check. */
  readonly #loads: number[];

  constructor(members: readonly Member[]) {
    this.#members = members;
    this.#weights = candidateWeights(members);
    this.#current = zeros(members.length);
    this.#loads = zeros(members.length);
  }

  /** Keep each endpoint's place in the rotation across a rebuild (matched by endpoint id). */
  inherit(previous: Balancer): void {
    if (!(previous instanceof LeastConnBalancer)) return;
    const byId = new Map<string, number>();
    const before = previous.#members;
    for (let i = 0; i < before.length; i++) byId.set(before[i]!.endpoint.id, previous.#current[i]!);
    const members = this.#members;
    for (let i = 0; i < members.length; i++) this.#current[i] = byId.get(members[i]!.endpoint.id) ?? 0;
  }

  pick(_clientIp: string, now: number, exclude?: Excluded): Member | null {
    const members = this.#members;
    const weights = this.#weights;
    const loads = this.#loads;
    let lowest = Infinity;
    for (let i = 0; i < members.length; i++) {
      if (!isCandidate(members[i], weights[i], now, exclude)) {
        loads[i] = -1;
        continue;
      }
      const load = loadOf(members[i], weights[i]);
      loads[i] = load;
      if (load < lowest) lowest = load;
    }
    if (lowest === Infinity) return null;
    const current = this.#current;
    let best = -1;
    let total = 0;
    for (let i = 0; i < members.length; i++) {
      if (loads[i] !== lowest) continue;
      current[i] += weights[i];
      total += weights[i];
      if (best < 0 || current[i] > current[best]) best = i;
    }
    current[best] -= total;
    return members[best];
  }
}

function loadOf(member: Member, weight: number): number {
  const active = member.endpoint.active;
  return active <= 0 ? 0 : (active + 1) / weight;
}
