// `roundrobin`: nginx's smooth weighted round robin. Every pick adds each candidate's weight to
// its running `current`, chooses the largest and subtracts the candidates' total from it, so
// weights 5/1/1 give a a b a c a a rather than a a a a a b c. Members that are down are simply
// left out of the round; the others keep their place.

import { candidateWeights, zeros, isCandidate } from './candidate.ts';
import type { Balancer, Member, Excluded } from './types.ts';

export class SmoothWeightedRoundRobinBalancer implements Balancer {
  readonly #members: readonly Member[];
  readonly #weights: number[];
  readonly #current: number[];

  constructor(members: readonly Member[]) {
    this.#members = members;
    this.#weights = candidateWeights(members);
    this.#current = zeros(members.length);
  }

  /** Keep each endpoint's place in the rotation across a rebuild (matched by endpoint id). */
  inherit(previous: Balancer): void {
    if (!(previous instanceof SmoothWeightedRoundRobinBalancer)) return;
    const byId = new Map<string, number>();
    const before = previous.#members;
    for (let i = 0; i < before.length; i++) byId.set(before[i]!.endpoint.id, previous.#current[i]!);
    const members = this.#members;
    for (let i = 0; i < members.length; i++) this.#current[i] = byId.get(members[i]!.endpoint.id) ?? 0;
  }

  pick(_clientIp: string, now: number, exclude?: Excluded): Member | null {
    const members = this.#members;
    const weights = this.#weights;
    const current = this.#current;
    let best = -1;
    let total = 0;
    for (let i = 0; i < members.length; i++) {
      if (!isCandidate(members[i], weights[i], now, exclude)) continue;
      current[i] += weights[i];
      total += weights[i];
      if (best < 0 || current[i] > current[best]) best = i;
    }
    if (best < 0) return null;
    current[best] -= total;
    return members[best];
  }
}
