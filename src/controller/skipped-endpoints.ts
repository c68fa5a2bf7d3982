// switchyard_endpoints_skipped{route,reason}: endpoints left out of a route (autoport pod
// without its annotation, no matching port, …). Set per host entry when it is compiled; label
// children of routes that no longer skip anything are removed, not left at a stale value.

import type { Metrics } from '../metrics.ts';

export class SkippedEndpointsGauge {
  #gauge: Metrics['endpointsSkipped'] | undefined;
  /** Routes with gauge children, and their reasons, by host key. */
  #byHost = new Map<string, Map<string, Set<string>>>();

  constructor(metrics: Metrics | undefined) {
    this.#gauge = metrics?.endpointsSkipped;
  }

  /** Replace a host's counts: route key → reason → skipped endpoints. */
  set(hostKey: string, skipped: ReadonlyMap<string, ReadonlyMap<string, number>>): void {
    const gauge = this.#gauge;
    const previous = this.#byHost.get(hostKey);
    if (gauge && previous) {
      for (const [route, reasons] of previous) {
        for (const reason of reasons) if (!skipped.get(route)?.has(reason)) gauge.remove({ route, reason });
      }
    }
    if (skipped.size === 0) {
      this.#byHost.delete(hostKey);
      return;
    }
    const now = new Map<string, Set<string>>();
    for (const [route, reasons] of skipped) {
      now.set(route, new Set(reasons.keys()));
      if (gauge) for (const [reason, n] of reasons) gauge.set({ route, reason }, n);
    }
    this.#byHost.set(hostKey, now);
  }
}
