// Keeps the active health monitor in step with the routes a proxy builds and disposes: each
// route with a health check watches its endpoints while it is in the table. Only the primary
// process's proxy has one; workers receive the verdicts over IPC.

import type { Member } from '../balance/types.ts';
import type { CompiledRoute } from '../table/types.ts';
import type { ActiveHealthMonitor } from './active-monitor.ts';

export interface WatchedRoute {
  readonly route: CompiledRoute;
  readonly members: readonly Member[];
}

export class RouteHealthChecks {
  readonly #monitor: ActiveHealthMonitor;
  constructor(monitor: ActiveHealthMonitor) {
    this.#monitor = monitor;
  }

  built(runtime: WatchedRoute): void {
    const check = runtime.route.policy.healthCheck;
    if (check === null) return;
    for (const member of runtime.members) this.#monitor.watch({ endpoint: member.endpoint, check });
  }

  disposed(runtime: WatchedRoute): void {
    const check = runtime.route.policy.healthCheck;
    if (check === null) return;
    for (const member of runtime.members) this.#monitor.unwatch({ endpoint: member.endpoint, check });
  }
}
