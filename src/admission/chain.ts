// The admission chain, wired in one place. Per-candidate steps run in this order; the first
// rejection wins. Shard selection runs first so that a candidate outside this router's shard
// gets no status at all, even when it is also invalid. Host ownership (host-ownership.ts)
// runs after these, over all surviving candidates of a domain group at once.
//
// To add a step (e.g. extended TLS validation), add it to CANDIDATE_STEPS.

import { admitDomains } from './domains.ts';
import { admitExtendedValidation } from './extended-validation.ts';
import { admitMiddlewares } from './middlewares.ts';
import { selectShard } from './shard.ts';
import { validateCandidate } from './validation.ts';
import { admitWildcard } from './wildcard.ts';
import { ADMITTED, type AdmissionContext, type AdmissionStep, type RouteCandidate, type Verdict } from './types.ts';

export const CANDIDATE_STEPS: readonly AdmissionStep[] = [
  selectShard,
  validateCandidate,
  admitDomains,
  admitWildcard,
  admitExtendedValidation,
  admitMiddlewares,
];

export function runCandidateSteps(candidate: RouteCandidate, context: AdmissionContext, steps: readonly AdmissionStep[] = CANDIDATE_STEPS): Verdict {
  for (const step of steps) {
    const verdict = step(candidate, context);
    if (!verdict.admitted) return verdict;
  }
  return ADMITTED;
}
