// Passive health: the proxy reports each upstream attempt's outcome. Consecutive failures
// (connect failures, resets, timeouts — see proxy/upstream-failure.ts; never an HTTP status) eject the endpoint for a backoff that doubles with each
// ejection in a row (5 s, 10 s, 20 s … capped at 5 min). A success resets the failure count
// and, once the endpoint has served after an ejection, the backoff too. An ejected endpoint
// returns when its backoff ends, or earlier when an active check started after the ejection
// passes (see active-monitor.ts). Panic threshold: the last available endpoint of a route is
// never ejected (ejecting it would turn every request into a 503). The decision lives here only.

import type { EndpointState } from './endpoint-state.ts';

export const PASSIVE_DEFAULTS = Object.freeze({
  /** Consecutive failures that eject an endpoint. */
  threshold: 3,
  /** Backoff of the first ejection; doubles with every ejection in a row. */
  baseMs: 5_000,
  /** Longest backoff. */
  maxMs: 5 * 60_000,
});

export interface PassiveHealthOptions {
  threshold?: number;
  baseMs?: number;
  maxMs?: number;
}

export interface PassiveHealth {
  /** The endpoint served a request. `now` tells a late success of a request sent before an ejection from one after it. */
  recordSuccess(state: EndpointState, now?: number): void;
  /**
   * The endpoint failed a request; true when this failure ejected it. `lastHealthy`: no other
   * endpoint of the route is available, so the failure counts but does not eject.
   */
  recordFailure(state: EndpointState, now: number, lastHealthy?: boolean): boolean;
}

export function createPassiveHealth(options: PassiveHealthOptions = {}): PassiveHealth {
  const threshold = positiveInteger(options.threshold, PASSIVE_DEFAULTS.threshold, 'threshold');
  const baseMs = positiveInteger(options.baseMs, PASSIVE_DEFAULTS.baseMs, 'baseMs');
  const maxMs = Math.max(baseMs, positiveInteger(options.maxMs, PASSIVE_DEFAULTS.maxMs, 'maxMs'));
  return {
    recordSuccess(state: EndpointState, now?: number): void {
      if (state.consecutiveFailures === 0 && state.ejections === 0) return; // the common case: nothing to reset
      const at = now ?? Date.now();
      state.exclusive((s) => {
        s.consecutiveFailures = 0;
        // A request sent before the ejection may succeed during it; that does not prove recovery.
        if (s.ejections > 0 && s.ejectedUntil <= at) s.ejections = 0;
      });
    },
    recordFailure(state: EndpointState, now: number, lastHealthy = false): boolean {
      // Every thread's failures count against the one shared state, one at a time.
      return state.exclusive((s) => {
        // Requests sent before the ejection keep failing during it: not a reason to eject again.
        if (s.ejectedUntil > now) return false;
        if ((s.consecutiveFailures += 1) < threshold) return false;
        if (lastHealthy) {
          s.consecutiveFailures = threshold; // ejected as soon as another endpoint is available
          return false;
        }
        const backoff = Math.min(maxMs, baseMs * 2 ** Math.min(s.ejections, 30));
        s.ejectedAt = now;
        s.ejectedUntil = now + backoff;
        s.ejections += 1;
        s.consecutiveFailures = 0; // after the backoff it takes `threshold` new failures to eject again
        return true;
      });
    },
  };
}

function positiveInteger(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) throw new TypeError(`passive health ${name} must be a positive integer, got ${value}`);
  return value;
}

const defaults = createPassiveHealth();

/** The endpoint served a request (default thresholds). */
export function recordSuccess(state: EndpointState, now?: number): void {
  defaults.recordSuccess(state, now);
}

/** The endpoint failed a request (default thresholds); true when this failure ejected it. */
export function recordFailure(state: EndpointState, now: number, lastHealthy?: boolean): boolean {
  return defaults.recordFailure(state, now, lastHealthy);
}

/** An active check started at `probeStartedAt` passed: end a passive ejection that began before it. True when one ended. */
export function endEjectionAfterActivePass(state: EndpointState, probeStartedAt: number, now: number): boolean {
  if (state.ejectedUntil <= now) return false; // the common case: not ejected
  return state.exclusive((s) => {
    if (s.ejectedUntil <= now || s.ejectedAt > probeStartedAt) return false;
    s.ejectedUntil = 0;
    s.consecutiveFailures = 0;
    return true;
  });
}
