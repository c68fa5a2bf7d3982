// Active health checking as a service of the main thread, fed by table deltas (the same deltas
// the proxies receive): it probes every endpoint of every route with a health check. Its
// endpoint states and every proxy's (the in-process one, each worker thread's) are views of the
// same shared slots (shared-memory/endpoint-slots.ts), so a verdict it writes is the one every
// proxy reads, at once; no proxy probes.

import type { Logger } from '../log.ts';
import type { CompiledRoute, HealthCheckSpec, TableDelta } from '../table/types.ts';
import { ActiveHealthMonitor, type HealthTarget } from './active-monitor.ts';
import { EndpointRegistry } from './endpoint-registry.ts';
import type { EndpointSlots } from '../shared-memory/endpoint-slots.ts';

/** Pseudo host key for the Ingress default backend. */
const DEFAULT_BACKEND = '\0default';

export class HealthService {
  readonly registry: EndpointRegistry;
  /** The probes (the dashboard listens to its check/change events). */
  readonly monitor: ActiveHealthMonitor;
  /** Targets watched for each host entry (and the default backend). */
  readonly #watched = new Map<string, HealthTarget[]>();

  /**
   * `registry`: the in-process proxy's, when there is one — one endpoint state per id for the
   * proxy and the checks (two were 0.7 KB per route at 10k routes with endpoints of their own);
   * else a registry of its own on `slots`, the endpoint slots the proxies use (default: new ones,
   * for tests).
   */
  constructor(options: { logger: Logger; maxConcurrent?: number; defaultDestinationCA?: string | null; slots?: EndpointSlots; registry?: EndpointRegistry }) {
    this.registry = options.registry ?? new EndpointRegistry(options.slots);
    this.monitor = new ActiveHealthMonitor(options);
  }

  /** Follow a table change: watch the new entries' targets first, then drop the old ones (kept probes keep their rise/fall state). */
  apply(delta: TableDelta): void {
    const replaced: HealthTarget[][] = [];
    const swap = (key: string, routes: readonly CompiledRoute[] | null): void => {
      const before = this.#watched.get(key);
      if (before !== undefined) replaced.push(before);
      const targets = routes === null ? [] : this.#targetsOf(routes);
      if (targets.length > 0) this.#watched.set(key, targets);
      else this.#watched.delete(key);
    };
    for (const entry of delta.upsert) swap(entry.key, entry.routes);
    for (const key of delta.remove) swap(key, null);
    if (delta.defaultBackend !== undefined) swap(DEFAULT_BACKEND, delta.defaultBackend === null ? null : [delta.defaultBackend]);
    for (const targets of replaced) {
      for (const target of targets) {
        this.monitor.unwatch(target);
        this.registry.release(target.endpoint);
      }
    }
  }

  get probes(): number {
    return this.monitor.size;
  }

  stop(): void {
    this.monitor.stop();
  }

  #targetsOf(routes: readonly CompiledRoute[]): HealthTarget[] {
    const targets: HealthTarget[] = [];
    for (const route of routes) {
      const check: HealthCheckSpec | null = route.policy.healthCheck;
      if (check === null) continue;
      for (const service of route.services) {
        for (const ep of service.endpoints) {
          const target = { endpoint: this.registry.acquire(ep), check };
          this.monitor.watch(target);
          targets.push(target);
        }
      }
    }
    return targets;
  }
}
