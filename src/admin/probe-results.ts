// The last active-check result of every probed endpoint (the dashboard's "last probe" column):
// read from the health monitor's probe loops, which keep it (a map of results of its own cost
// ~280 bytes per route at 10k routes), and a count of changes for the dashboard's refresh.
// An endpoint no longer checked has no result.

import type { ActiveHealthMonitor } from '../health/active-monitor.ts';

export interface ProbeResult {
  healthy: boolean;
  /** ms since epoch when the probe started. */
  at: number;
  /** What the probe saw: `200`, `connect ECONNREFUSED`, … */
  reason: string;
}

export class ProbeResults {
  readonly #monitor: ActiveHealthMonitor;
  /** Bumped when a result differs from the previous one for its endpoint (not on every probe). */
  changes = 0;

  constructor(monitor: ActiveHealthMonitor) {
    this.#monitor = monitor;
    // The monitor records the result on the loop after this event: the previous one is still there.
    monitor.on('check', (endpoint, healthy, _startedAt, reason) => {
      const previous = monitor.lastProbe(endpoint.id);
      if (previous === undefined || previous.healthy !== healthy || previous.reason !== reason) this.changes++;
    });
    monitor.on('change', () => { this.changes++; });
  }

  /** A copy: the view keeps the value it was built with. */
  get(endpointId: string): ProbeResult | undefined {
    return this.#monitor.lastProbe(endpointId);
  }
}
