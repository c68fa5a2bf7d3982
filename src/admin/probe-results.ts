// The last active-check result of every probed endpoint (the dashboard's "last probe" column),
// recorded from the health monitor's `check` events. Forgets endpoints the registry drops.

import type { ActiveHealthMonitor } from '../health/active-monitor.ts';
import type { EndpointRegistry } from '../health/endpoint-registry.ts';

export interface ProbeResult {
  healthy: boolean;
  /** ms since epoch when the probe started. */
  at: number;
  /** What the probe saw: `200`, `connect ECONNREFUSED`, … */
  reason: string;
}

export class ProbeResults {
  readonly #results = new Map<string, ProbeResult>();
  /** Bumped when a result differs from the previous one for its endpoint (not on every probe). */
  changes = 0;

  constructor(monitor: ActiveHealthMonitor, registry: EndpointRegistry) {
    monitor.on('check', (endpoint, healthy, startedAt, reason) => {
      // Updated in place: one result object per endpoint, not one per probe (10k endpoints every 5 s).
      const previous = this.#results.get(endpoint.id);
      if (previous === undefined) {
        this.#results.set(endpoint.id, { healthy, at: startedAt, reason });
        this.changes++;
        return;
      }
      if (previous.healthy !== healthy || previous.reason !== reason) this.changes++;
      previous.healthy = healthy;
      previous.at = startedAt;
      previous.reason = reason;
    });
    monitor.on('change', () => { this.changes++; });
    registry.on('remove', (state) => { this.#results.delete(state.id); });
  }

  get(endpointId: string): ProbeResult | undefined {
    return this.#results.get(endpointId);
  }
}
