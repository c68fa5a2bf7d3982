// Which members a balancer may choose, decided the same way by every algorithm: a member is a
// candidate when it accepts new sessions (not terminating), has a positive weight, its
// endpoint is available now (active check up, not passively ejected) and it is not an
// endpoint already tried for this request.

import type { Excluded, Member } from './types.ts';

/**
 * n zeros as a plain array. Balancers keep a few numbers per member in these rather than in
 * Float64Arrays: a typed array of 3 costs ~220 bytes with its ArrayBuffer, a plain one ~70
 * (two per route at 10k routes, heap snapshot), and indexing them is as fast.
 */
export function zeros(n: number): number[] {
  return new Array<number>(n).fill(0);
}

/**
 * The members' weights, fixed when the balancer is built: anything that is not a positive
 * finite number becomes 0 so the per-pick arithmetic never meets NaN or Infinity.
 */
export function candidateWeights(members: readonly Member[]): number[] {
  const weights = zeros(members.length);
  for (let i = 0; i < members.length; i++) {
    const w = members[i].weight;
    weights[i] = w > 0 && w < Infinity ? w : 0;
  }
  return sharedNumbers(weights);
}

/** Number lists shared by content (see sharedNumbers); bounded: when full it starts over, which only costs sharing. */
let numberLists = new Map<string, number[]>();
const NUMBER_LISTS_LIMIT = 4096;

/**
 * One array for equal lists of numbers: nearly every route's balancer holds the same weights
 * (a Service's 100 over its 3 endpoints) and the same cumulative weights, two arrays per route
 * (~150 bytes at 10k routes). The arrays are never written after they are made.
 */
export function sharedNumbers(values: number[]): number[] {
  if (values.length === 0) return values;
  const key = values.join(',');
  const known = numberLists.get(key);
  if (known !== undefined) return known;
  if (numberLists.size >= NUMBER_LISTS_LIMIT) numberLists = new Map();
  numberLists.set(key, values);
  return values;
}

/** True when `member` (with its sanitised `weight`) may take this request. */
export function isCandidate(member: Member, weight: number, now: number, exclude: Excluded): boolean {
  return weight > 0 &&
    member.acceptsNew &&
    (exclude == null || !excludes(exclude, member)) &&
    member.endpoint.available(now);
}

function excludes(exclude: Member | readonly Member[], member: Member): boolean {
  if (!Array.isArray(exclude)) return (exclude as Member).endpoint === member.endpoint;
  for (const m of exclude as readonly Member[]) if (m.endpoint === member.endpoint) return true;
  return false;
}
