// Active health checking as a service of the primary process, fed by table deltas (the same
// deltas the proxies receive): it probes every endpoint of every route with a health check,
// on its own endpoint states, and emits verdicts. Proxies — the in-process one and each
// worker's — apply those verdicts the same way (health-verdicts.ts); no proxy probes.

import { EventEmitter } from 'node:events';
import type { Logger } from '../log.ts';
import type { CompiledRoute, HealthCheckSpec, TableDelta } from '../table/types.ts';
import { ActiveHealthMonitor, type HealthTarget } from './active-monitor.ts';
import { EndpointRegistry } from './endpoint-registry.ts';

export interface HealthServiceEvents {
  /** The active verdict of an endpoint changed. */
  verdict: [id: string, up: boolean];
  /** A probe passed (a passive ejection that began before `startedAt` may end). */
  pass: [id: string, startedAt: number];
}

/** Pseudo host key for the Ingress default backend. */
const DEFAULT_BACKEND = '\0default';

export class HealthService extends EventEmitter<HealthServiceEvents> {
  readonly registry = new EndpointRegistry();
  /** The probes (the dashboard listens to its check/change events). */
  readonly monitor: ActiveHealthMonitor;
  /** Targets watched for each host entry (and the default backend). */
  readonly #watched = new Map<string, HealthTarget[]>();

  constructor(options: { logger: Logger; maxConcurrent?: number; defaultDestinationCA?: string | null }) {
    super();
    this.monitor = new ActiveHealthMonitor(options);
    this.monitor.on('change', (endpoint, up) => this.emit('verdict', endpoint.id, up));
    this.monitor.on('check', (endpoint, healthy, startedAt) => { if (healthy) this.emit('pass', endpoint.id, startedAt); });
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

  /** Endpoints the checks hold down now (a new worker starts from these). */
  downIds(): string[] {
    const ids: string[] = [];
    for (const state of this.registry.values()) if (!state.activeUp) ids.push(state.id);
    return ids;
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
