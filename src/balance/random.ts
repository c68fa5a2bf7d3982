// `random`, OpenShift's default: weighted power of two choices. Two distinct candidates are
// drawn by weight and the one carrying fewer in-flight requests relative to its weight wins.
// With no load both tie and the first draw wins, so traffic splits exactly by weight; under
// load the busier of the two is avoided, which keeps one slow endpoint from piling up work.
//
// Drawing is a binary search over the static cumulative weights, retried a few times when it
// lands on a member that is down right now (exact: rejection sampling keeps the conditional
// distribution), then an O(n) scan over the current candidates as the fallback.

import { candidateWeights, sharedNumbers, zeros, isCandidate } from './candidate.ts';
import type { Balancer, Member, Excluded } from './types.ts';

const DRAW_ATTEMPTS = 4;

export class PowerOfTwoChoicesBalancer implements Balancer {
  readonly #members: readonly Member[];
  readonly #weights: number[];
  /** cumulative[i] = weights[0] + … + weights[i] */
  readonly #cumulative: number[];
  readonly #total: number;

  constructor(members: readonly Member[]) {
    this.#members = members;
    this.#weights = candidateWeights(members);
    const cumulative = zeros(members.length);
    let sum = 0;
    for (let i = 0; i < members.length; i++) {
      sum += this.#weights[i];
      cumulative[i] = sum;
    }
    this.#cumulative = sharedNumbers(cumulative);
    this.#total = sum;
  }

  pick(_clientIp: string, now: number, exclude?: Excluded): Member | null {
    if (this.#total === 0) return null;
    // One member (a single-endpoint service, common): no second candidate to draw — the second
    // draw would spend four random draws and a scan to find none.
    if (this.#members.length === 1) {
      const only = this.#members[0];
      return isCandidate(only, this.#weights[0], now, exclude) ? only : null;
    }
    const first = this.#draw(now, exclude, -1);
    if (first < 0) return null;
    const second = this.#draw(now, exclude, first);
    if (second < 0) return this.#members[first];
    const a = this.#members[first];
    const b = this.#members[second];
    // a.active / wa <= b.active / wb, without dividing; a tie keeps the first (weighted) draw.
    return a.endpoint.active * this.#weights[second] <= b.endpoint.active * this.#weights[first] ? a : b;
  }

  /** Index of a candidate drawn by weight, never `skip`; -1 when there is none. */
  #draw(now: number, exclude: Excluded, skip: number): number {
    const members = this.#members;
    const weights = this.#weights;
    for (let attempt = 0; attempt < DRAW_ATTEMPTS; attempt++) {
      const i = this.#search(Math.random() * this.#total);
      if (i !== skip && isCandidate(members[i], weights[i], now, exclude)) return i;
    }
    let sum = 0;
    for (let i = 0; i < members.length; i++) {
      if (i !== skip && isCandidate(members[i], weights[i], now, exclude)) sum += weights[i];
    }
    if (sum === 0) return -1;
    let r = Math.random() * sum;
    let last = -1;
    for (let i = 0; i < members.length; i++) {
      if (i === skip || !isCandidate(members[i], weights[i], now, exclude)) continue;
      last = i;
      r -= weights[i];
      if (r < 0) return i;
    }
    return last; // floating-point remainder: the last candidate
  }

  /** First index whose cumulative weight exceeds r (members of weight 0 are never hit). */
  #search(r: number): number {
    const cumulative = this.#cumulative;
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cumulative[mid] > r) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}
