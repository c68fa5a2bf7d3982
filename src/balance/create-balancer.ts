// The one place an algorithm name becomes a balancer. The proxy builds one per compiled route
// when the table changes and calls pick() per request.

import { BALANCE_ALGORITHMS, type Balance } from '../table/types.ts';
import { LeastConnBalancer } from './least-conn.ts';
import { PowerOfTwoChoicesBalancer } from './random.ts';
import { SmoothWeightedRoundRobinBalancer } from './round-robin.ts';
import { SourceHashBalancer } from './source-hash.ts';
import type { Balancer, Member } from './types.ts';

export { BALANCE_ALGORITHMS };

export function createBalancer(algorithm: Balance, members: readonly Member[]): Balancer {
  switch (algorithm) {
    case 'random': return new PowerOfTwoChoicesBalancer(members);
    case 'roundrobin': return new SmoothWeightedRoundRobinBalancer(members);
    case 'leastconn': return new LeastConnBalancer(members);
    case 'source': return new SourceHashBalancer(members);
    default:
      throw new TypeError(`unknown balance algorithm ${JSON.stringify(algorithm)} (expected one of ${BALANCE_ALGORITHMS.join(', ')})`);
  }
}
