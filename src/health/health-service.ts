// Active health checking as a service of the main thread, fed by table deltas (the same deltas
// the proxies receive): it probes every endpoint of every route with a health check. Its
// endpoint states and every proxy's (the in-process one, each worker thread's) are views of the
// same shared slots (shared-memory/endpoint-slots.ts), so a verdict it writes is the one every
// proxy reads, at once; no proxy probes.

import type { Logger } from '../log.ts';
import type { CompiledRoute, HealthCheckSpec, TableDelta } from '../table/types.ts';
import { ActiveHealthMonitor } from './active-monitor.ts';
import { EndpointState } from './endpoint-state.ts';
import { EndpointRegistry } from './endpoint-registry.ts';
import type { EndpointSlots } from '../shared-memory/endpoint-slots.ts';

/** Pseudo host key for the Ingress default backend. */
const DEFAULT_BACKEND = '\0default';

/**
 * What a table key watches: when every route there checks alike (one check object: nearly
 * always), that check and then its endpoints — [check, endpoint, endpoint, …] — else endpoints
 * and their checks, alternating: [endpoint, check, endpoint, check, …].
 */
type WatchedPairs = Array<EndpointState | HealthCheckSpec>;

export class HealthService {
  readonly registry: EndpointRegistry;
  /** The probes (the dashboard listens to its check/change events). */
  readonly monitor: ActiveHealthMonitor;
  /**
   * Per table key (host entries and the default backend), what it watches as one flat array of
   * exactly its length (see WatchedPairs; an array of { endpoint, check } objects grown by push
   * was ~300 bytes per route at 10k routes, pairs ~100, one check and the endpoints ~80).
   */
  readonly #watched = new Map<string, WatchedPairs>();

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
    const replaced: WatchedPairs[] = [];
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
    for (const watched of replaced) {
      if (watched[0] instanceof EndpointState) {
        for (let i = 0; i < watched.length; i += 2) this.#unwatch(watched[i] as EndpointState, watched[i + 1] as HealthCheckSpec);
      } else {
        for (let i = 1; i < watched.length; i++) this.#unwatch(watched[i] as EndpointState, watched[0] as HealthCheckSpec);
      }
    }
  }

  get probes(): number {
    return this.monitor.size;
  }

  stop(): void {
    this.monitor.stop();
  }

  #unwatch(endpoint: EndpointState, check: HealthCheckSpec): void {
    this.monitor.unwatch({ endpoint, check });
    this.registry.release(endpoint);
  }

  #targetsOf(routes: readonly CompiledRoute[]): WatchedPairs {
    let count = 0;
    let one: HealthCheckSpec | null | undefined; // the one check of every checked route, null when they differ
    for (const route of routes) {
      const check = route.policy.healthCheck;
      if (check === null) continue;
      one = one === undefined || one === check ? check : null;
      for (const service of route.services) count += service.endpoints.length;
    }
    if (count === 0) return [];
    const alike = one !== null && one !== undefined;
    const watched: WatchedPairs = new Array(alike ? 1 + count : 2 * count);
    let i = 0;
    if (alike) watched[i++] = one!;
    for (const route of routes) {
      const check: HealthCheckSpec | null = route.policy.healthCheck;
      if (check === null) continue;
      for (const service of route.services) {
        for (const ep of service.endpoints) {
          const endpoint = this.registry.acquire(ep);
          this.monitor.watch({ endpoint, check });
          watched[i++] = endpoint;
          if (!alike) watched[i++] = check;
        }
      }
    }
    return watched;
  }
}
