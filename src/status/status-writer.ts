// Writes Route and Ingress status through the status subresource. Each object's desired state is
// queued (the latest wins), writes to one object are serialised, a token bucket limits bursts
// (a leader taking over may owe status to thousands of routes), and a write happens only when
// the status actually changes. A 409 Conflict is retried with a fresh GET, a bounded number of times.
//
// Both calls go through the status subresource, so RBAC needs exactly `get` and `patch` on
// routes/status and ingresses/status (manifests/base/cluster-role.yaml) and nothing on the objects
// themselves: the read is a GET of `/status`, the write a JSON merge patch of our part of the
// status carrying the resourceVersion that was read, which the API server turns into the same
// optimistic-concurrency check (409 Conflict) as a PUT.

import { systemClock, type Clock } from '../clock.ts';
import type { RouterConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Ingress, Route } from '../objects/types.ts';
import { KubeApiError, type KubeClient } from '../kube/client.ts';
import { objectPath } from '../kube/resources.ts';
import type { AdmissionResult } from '../table/types.ts';
import { desiredLoadBalancer } from './ingress-status.ts';
import { desiredRouteIngress, statusTime, withoutRouterEntry, type StatusChange } from './route-status.ts';

export interface StatusRef { kind: 'Route' | 'Ingress'; namespace: string; name: string }

export interface StatusWriterOptions {
  /** The router's API client (src/kube/client.ts). */
  client: KubeClient;
  config: RouterConfig;
  logger: Logger;
  metrics?: Metrics;
  /** Sustained writes per second, and the burst allowed above it. */
  writesPerSecond?: number;
  burst?: number;
  /** Objects written at the same time (never two writes to one object). */
  concurrency?: number;
  /** Attempts per object on 409 Conflict or a transient error. */
  maxAttempts?: number;
  /** Condition transition times, the token bucket and retry pauses (tests drive it by hand). Default: the system clock. */
  clock?: Clock;
}

/** `result` undefined: forget (remove our entry). */
interface PendingWrite { ref: StatusRef; result: AdmissionResult | undefined }

export class StatusWriter {
  #options: StatusWriterOptions;
  #log: Logger;
  #pending = new Map<string, PendingWrite>();
  #queue: string[] = [];
  #queued = new Set<string>();
  #inFlight = new Set<string>();
  #clock: Clock;
  #tokens: number;
  #refilledAt: number;
  #stopped = false;
  #idleWaiters: Array<() => void> = [];

  constructor(options: StatusWriterOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'status-writer' });
    this.#clock = options.clock ?? systemClock;
    this.#tokens = options.burst ?? 50;
    this.#refilledAt = this.#clock.now();
  }

  /** Desired state for these routes/ingresses; writes follow asynchronously. */
  sync(results: readonly AdmissionResult[]): void {
    for (const result of results) {
      this.#enqueue({ ref: { kind: result.kind, namespace: result.namespace, name: result.name }, result });
    }
  }

  /** These routes/ingresses are no longer ours: remove our entry from their status. */
  forget(refs: readonly StatusRef[]): void {
    for (const ref of refs) this.#enqueue({ ref, result: undefined });
  }

  stop(): void {
    this.#stopped = true;
    this.#pending.clear();
    this.#queue = [];
    this.#queued.clear();
    this.#notifyIdle();
  }

  /** Resolves when nothing is queued or being written (tests, orderly shutdown). */
  idle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #enqueue(write: PendingWrite): void {
    if (this.#stopped) return;
    const key = `${write.ref.kind}/${write.ref.namespace}/${write.ref.name}`;
    this.#pending.set(key, write);
    if (!this.#queued.has(key) && !this.#inFlight.has(key)) {
      this.#queued.add(key);
      this.#queue.push(key);
    }
    this.#pump();
  }

  #pump(): void {
    const concurrency = this.#options.concurrency ?? 4;
    while (!this.#stopped && this.#inFlight.size < concurrency && this.#queue.length > 0) {
      const key = this.#queue.shift()!;
      this.#queued.delete(key);
      const write = this.#pending.get(key);
      if (!write) continue;
      this.#pending.delete(key);
      this.#inFlight.add(key);
      void this.#write(write).finally(() => {
        this.#inFlight.delete(key);
        // A newer desired state arrived while we were writing: go again.
        if (this.#pending.has(key) && !this.#queued.has(key)) {
          this.#queued.add(key);
          this.#queue.push(key);
        }
        this.#pump();
        if (this.#isIdle()) this.#notifyIdle();
      });
    }
    if (this.#isIdle()) this.#notifyIdle();
  }

  async #write({ ref, result }: PendingWrite): Promise<void> {
    const { client } = this.#options;
    const maxAttempts = this.#options.maxAttempts ?? 5;
    const what = `${ref.kind} ${ref.namespace}/${ref.name}`;
    for (let attempt = 1; attempt <= maxAttempts && !this.#stopped; attempt++) {
      try {
        const statusPath = objectPath(ref.kind, ref.namespace, ref.name, 'status');
        const current = await client.request<Route | Ingress>({ method: 'GET', path: statusPath });
        const status = this.#desiredStatus(ref.kind, current, result);
        if (!status.changed) return;
        await this.#takeToken();
        if (this.#stopped) return;
        await client.request({
          method: 'PATCH', path: statusPath, contentType: 'application/merge-patch+json',
          body: { metadata: { resourceVersion: current.metadata.resourceVersion }, status: status.patch },
        });
        this.#options.metrics?.statusWrites.inc({ kind: ref.kind, result: 'ok' });
        this.#log.debug({ object: what, admitted: result?.admitted }, 'status written');
        return;
      } catch (err) {
        if (err instanceof KubeApiError && err.statusCode === 404) return; // deleted meanwhile: nothing to say
        const conflict = err instanceof KubeApiError && err.statusCode === 409;
        this.#options.metrics?.statusWrites.inc({ kind: ref.kind, result: conflict ? 'conflict' : 'error' });
        if (attempt === maxAttempts) {
          this.#log.warn({ object: what, error: (err as Error).message, attempts: attempt }, 'giving up on status write');
          return;
        }
        // Conflict: someone else wrote; re-read at once. Anything else: brief pause.
        if (!conflict) await this.#sleep(100 * 2 ** attempt);
      }
    }
  }

  /**
   * The merge patch of the status that says what we want: the whole list we own a part of
   * (a merge patch replaces a list whole; null removes it), nothing else of the status.
   */
  #desiredStatus(kind: StatusRef['kind'], current: Route | Ingress, result: AdmissionResult | undefined): { patch: unknown; changed: boolean } {
    const { config } = this.#options;
    if (kind === 'Ingress') {
      const ingress = current as Ingress;
      const lb = desiredLoadBalancer(ingress.status?.loadBalancer?.ingress, result, config);
      return { patch: { loadBalancer: { ingress: lb.value ?? null } }, changed: lb.changed };
    }
    const route = current as Route;
    const identity = { routerName: config.routerName, canonicalHostname: config.canonicalHostname };
    const entries: StatusChange<unknown> = result
      ? desiredRouteIngress(route.status?.ingress, result, identity, statusTime(new Date(this.#clock.now())))
      : withoutRouterEntry(route.status?.ingress, config.routerName);
    return { patch: { ingress: entries.value ?? null }, changed: entries.changed };
  }

  async #takeToken(): Promise<void> {
    const rate = this.#options.writesPerSecond ?? 20;
    const burst = this.#options.burst ?? 50;
    for (;;) {
      const now = this.#clock.now();
      this.#tokens = Math.min(burst, this.#tokens + ((now - this.#refilledAt) / 1000) * rate);
      this.#refilledAt = now;
      if (this.#tokens >= 1) {
        this.#tokens -= 1;
        return;
      }
      await this.#sleep(Math.ceil(((1 - this.#tokens) / rate) * 1000));
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.#clock.setTimeout(resolve, ms));
  }

  #isIdle(): boolean {
    return this.#inFlight.size === 0 && (this.#stopped || this.#queue.length === 0);
  }

  #notifyIdle(): void {
    if (!this.#isIdle()) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
