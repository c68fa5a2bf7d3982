// `source`: the client IP picks the endpoint. Weighted rendezvous hashing (highest random
// weight): every member scores weight / -ln(u), u a hash of (client, member) in (0, 1), and the
// highest score wins. A client keeps its endpoint while the set is unchanged, the share of
// clients per member follows the weights, and removing (or losing) one member moves only the
// clients that were on it. With `exclude`, the client's second choice is used.

import { candidateWeights, zeros, isCandidate } from './candidate.ts';
import type { Balancer, Member, Excluded } from './types.ts';

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const TWO_32 = 4294967296;

/** 32-bit FNV-1a over the UTF-16 code units of `text` (fast, not cryptographic). */
export function fnv1a32(text: string): number {
  let hash = FNV_OFFSET;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, FNV_PRIME);
  }
  return hash >>> 0;
}

/** Murmur3's finaliser over the pair: well mixed even when the two inputs differ by one bit. */
function mixPair(client: number, member: number): number {
  let h = (client ^ Math.imul(member, 0x9e3779b1)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export class SourceHashBalancer implements Balancer {
  readonly #members: readonly Member[];
  readonly #weights: number[];
  /** Hash of each member's endpoint id: the member's identity, stable across table rebuilds. */
  readonly #memberHashes: number[];
  /** Every positive weight equal (one service, the common case): the highest hash wins, no logarithms needed. */
  readonly #uniform: boolean;

  constructor(members: readonly Member[]) {
    this.#members = members;
    this.#weights = candidateWeights(members);
    this.#memberHashes = zeros(members.length);
    for (let i = 0; i < members.length; i++) this.#memberHashes[i] = fnv1a32(members[i].endpoint.id);
    let weight = 0;
    let uniform = true;
    for (const w of this.#weights) {
      if (w === 0) continue;
      if (weight !== 0 && w !== weight) uniform = false;
      weight = w;
    }
    this.#uniform = uniform;
  }

  pick(clientIp: string, now: number, exclude?: Excluded): Member | null {
    const members = this.#members;
    const weights = this.#weights;
    const client = fnv1a32(clientIp);
    let best = -1;
    let bestScore = -1;
    for (let i = 0; i < members.length; i++) {
      if (!isCandidate(members[i], weights[i], now, exclude)) continue;
      const hash = mixPair(client, this.#memberHashes[i]);
      // w / -ln(u) grows with u, so with equal weights comparing the hashes is the same ranking
      const score = this.#uniform ? hash : weights[i] / -Math.log((hash + 0.5) / TWO_32);
      if (score > bestScore) {
        bestScore = score;
        best = i;
      }
    }
    return best < 0 ? null : members[best];
  }
}
