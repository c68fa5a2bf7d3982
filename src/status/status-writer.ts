// Writes Route and Ingress status through the status subresource. Each object's desired state is
// queued (the latest wins) and compared with the copy the informers keep in the store: a status
// that already says what we would write costs no request at all, so a new leader's pass over
// thousands of up-to-date objects sends nothing. Only a difference is written, as a JSON merge
// patch of our part of the status carrying the resourceVersion of the copy it was computed from,
// which the API server checks as a PUT would (409 Conflict when someone wrote since); a conflict
// reads the object once (GET of /status) and tries again, a bounded number of times. An object
// the store does not hold (one that left this router's shard) is read the same way first.
//
// The informers' copy is behind our own writes until their watch events arrive: an object we
// wrote is compared with that copy only once the copy is at least the version our write made;
// before, it is read (a desired state that changes while its write is in flight, e.g. a host
// edited twice in a row, would otherwise be checked against the copy from before the first
// write, found current, and never written).
//
// Writes to one object are serialised; how many objects are written at once adapts to the API
// server (write-window.ts): up on fast answers, down when API Priority and Fairness queues them
// or refuses them (429: that object is sent again after the Retry-After, the others go on in the
// smaller window).
//
// RBAC: `patch` on routes/status and ingresses/status, and `get` for the conflict and out-of-shard
// reads (manifests/base/cluster-role.yaml); nothing on the objects themselves.

import { systemClock, type Clock, type TimerHandle } from '../clock.ts';
import type { RouterConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Ingress, Route } from '../objects/types.ts';
import { KubeApiError, type KubeClient } from '../kube/client.ts';
import { decodePartialObjectMetadata, PARTIAL_METADATA_ACCEPT } from '../kube/protobuf-objects.ts';
import { objectPath } from '../kube/resources.ts';
import type { AdmissionResult } from '../table/types.ts';
import { desiredLoadBalancer } from './ingress-status.ts';
import { desiredRouteIngress, statusTime, withoutRouterEntry, type StatusChange } from './route-status.ts';
import { WriteWindow, type WriteWindowOptions } from './write-window.ts';

export interface StatusRef { kind: 'Route' | 'Ingress'; namespace: string; name: string }

export interface StatusWriterOptions {
  /** The router's API client (src/kube/client.ts). */
  client: KubeClient;
  config: RouterConfig;
  logger: Logger;
  metrics?: Metrics;
  /** The informers' copy of an object (the router's store); undefined when it holds none. */
  current?: (ref: StatusRef) => Route | Ingress | undefined;
  /** Writes in flight: first and largest window (see write-window.ts). */
  window?: WriteWindowOptions;
  /** Attempts per object on 409 Conflict or a transient error (a 429 refusal is queued again instead, without limit). */
  maxAttempts?: number;
  /** Condition transition times, pauses and write latency (tests drive it by hand). Default: the system clock. */
  clock?: Clock;
}

/** `result` undefined: forget (remove our entry). */
interface PendingWrite { ref: StatusRef; result: AdmissionResult | undefined }

/** How a write ended: done (written, current, gone, or given up), or refused with 429 and to be sent again after `retryAfterMs`. */
type Outcome = { refused: false } | { refused: true; retryAfterMs: number };

const DONE: Outcome = { refused: false };

/** Retry-After of a 429 that sent none (APF sends 1 s). */
const DEFAULT_RETRY_AFTER_MS = 1_000;

export class StatusWriter {
  #options: StatusWriterOptions;
  #log: Logger;
  #pending = new Map<string, PendingWrite>();
  #queue: string[] = [];
  #head = 0;
  #queued = new Set<string>();
  #inFlight = new Set<string>();
  #clock: Clock;
  #window: WriteWindow;
  /** Refused writes waiting out their Retry-After before they are queued again. */
  #delayed = new Map<string, TimerHandle>();
  #stopped = false;
  #idleWaiters: Array<() => void> = [];
  #counts = { written: 0, read: 0, conflicts: 0, refused: 0 };
  #peakInFlight = 0;
  /** resourceVersion each of our writes left, until the informers' copy has caught up with it. */
  #written = new Map<string, string>();

  constructor(options: StatusWriterOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'status-writer' });
    this.#clock = options.clock ?? systemClock;
    this.#window = new WriteWindow(options.window);
  }

  /** Requests made so far: status PATCHes written, objects read (GET), 409 conflicts, 429 refusals. */
  get counts(): Readonly<{ written: number; read: number; conflicts: number; refused: number }> {
    return { ...this.#counts };
  }

  /** The most writes that were in flight at once (what the adaptive window let through). */
  get peakInFlight(): number {
    return this.#peakInFlight;
  }

  /** Desired state for these routes/ingresses; writes follow asynchronously. */
  sync(results: readonly AdmissionResult[]): void {
    for (const result of results) {
      this.#enqueue({ ref: { kind: result.kind, namespace: result.namespace, name: result.name }, result });
    }
    this.#pump();
  }

  /** These routes/ingresses are no longer ours: remove our entry from their status. */
  forget(refs: readonly StatusRef[]): void {
    for (const ref of refs) this.#enqueue({ ref, result: undefined });
    this.#pump();
  }

  stop(): void {
    this.#stopped = true;
    this.#pending.clear();
    this.#queue = [];
    this.#head = 0;
    this.#queued.clear();
    this.#written.clear();
    for (const timer of this.#delayed.values()) this.#clock.clearTimeout(timer);
    this.#delayed.clear();
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
    if (!this.#queued.has(key) && !this.#inFlight.has(key) && !this.#delayed.has(key)) {
      this.#queued.add(key);
      this.#queue.push(key);
    }
  }

  #pump(): void {
    if (this.#stopped) return;
    while (this.#head < this.#queue.length) {
      const key = this.#queue[this.#head]!;
      const write = this.#pending.get(key);
      // Already what we would write, in the informers' copy: nothing to send (the common case of a new leader's pass).
      if (write && this.#upToDate(key, write)) {
        this.#dequeue(key);
        this.#pending.delete(key);
        continue;
      }
      if (this.#inFlight.size >= this.#window.limit) break;
      this.#dequeue(key);
      if (!write) continue;
      this.#pending.delete(key);
      this.#inFlight.add(key);
      if (this.#inFlight.size > this.#peakInFlight) this.#peakInFlight = this.#inFlight.size;
      void this.#write(key, write).then((outcome) => this.#settled(key, write, outcome));
    }
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    if (this.#isIdle()) this.#notifyIdle();
  }

  #settled(key: string, write: PendingWrite, outcome: Outcome): void {
    this.#inFlight.delete(key);
    if (this.#stopped) return;
    if (outcome.refused) {
      // Refused (429): this object waits out the Retry-After, then queues again behind the
      // others (unless a newer desired state has replaced it); the others go on meanwhile.
      if (!this.#pending.has(key)) this.#pending.set(key, write);
      this.#delayed.set(key, this.#clock.setTimeout(() => {
        this.#delayed.delete(key);
        this.#enqueue(this.#pending.get(key) ?? write);
        this.#pump();
      }, outcome.retryAfterMs));
    } else if (this.#pending.has(key) && !this.#queued.has(key)) {
      // A newer desired state arrived while we were writing: go again.
      this.#queued.add(key);
      this.#queue.push(key);
    }
    this.#pump();
  }

  #dequeue(key: string): void {
    this.#head++;
    this.#queued.delete(key);
  }

  #upToDate(key: string, { ref, result }: PendingWrite): boolean {
    const current = this.#copy(key, ref);
    return current !== undefined && !this.#desiredStatus(ref.kind, current, result).changed;
  }

  /** The informers' copy, when it is not older than our last write to the object (else undefined: read it). */
  #copy(key: string, ref: StatusRef): Route | Ingress | undefined {
    const copy = this.#options.current?.(ref);
    const written = this.#written.get(key);
    if (written === undefined || copy === undefined) return copy;
    if (!notOlder(copy.metadata.resourceVersion, written)) return undefined;
    this.#written.delete(key);
    return copy;
  }

  /** Write one object's status. */
  async #write(key: string, { ref, result }: PendingWrite): Promise<Outcome> {
    const { client } = this.#options;
    const maxAttempts = this.#options.maxAttempts ?? 5;
    const what = `${ref.kind} ${ref.namespace}/${ref.name}`;
    const statusPath = objectPath(ref.kind, ref.namespace, ref.name, 'status');
    let current = this.#copy(key, ref);
    let started = this.#clock.now();
    for (let attempt = 1; attempt <= maxAttempts && !this.#stopped; attempt++) {
      try {
        // Not in the store (out of our shard now), or it changed under us (409): read it once.
        if (current === undefined) {
          this.#counts.read++;
          current = await client.request<Route | Ingress>({ method: 'GET', path: statusPath });
        }
        const status = this.#desiredStatus(ref.kind, current, result);
        if (!status.changed) return DONE;
        started = this.#clock.now();
        // Only the new resourceVersion is read from the answer: asked for as metadata only
        // (PartialObjectMetadata, protobuf), the API server encodes and sends a fraction of the object.
        // fieldValidation=Ignore: the patch holds only fields of the schema, and the default (Warn)
        // has kube-apiserver decode the patch and the patched object a second time, strictly, to
        // look for unknown and duplicate fields (~2 % of a status write's CPU in its profile).
        const answer = await client.request<{ metadata?: { resourceVersion?: string } } | undefined>({
          method: 'PATCH', path: statusPath, contentType: 'application/merge-patch+json', query: { fieldValidation: 'Ignore' },
          body: { metadata: { resourceVersion: current.metadata.resourceVersion }, status: status.patch },
          protobuf: decodePartialObjectMetadata, accept: PARTIAL_METADATA_ACCEPT,
        });
        this.#written.set(key, answer?.metadata?.resourceVersion ?? '');
        this.#window.answered(started, this.#clock.now());
        this.#counts.written++;
        this.#options.metrics?.statusWrites.inc({ kind: ref.kind, result: 'ok' });
        this.#log.debug({ object: what, admitted: result?.admitted }, 'status written');
        return DONE;
      } catch (err) {
        if (err instanceof KubeApiError && err.statusCode === 404) return DONE; // deleted meanwhile: nothing to say
        const code = err instanceof KubeApiError ? err.statusCode : 0;
        const conflict = code === 409;
        // 429: API Priority and Fairness had no room (not this object's fault: queued again,
        // without limit); 5xx: the server struggles. Both slow every write down.
        const throttled = code === 429;
        if (throttled || code >= 500) this.#window.refused(started, this.#clock.now());
        else if (conflict) this.#window.answered(started, this.#clock.now());
        if (conflict) this.#counts.conflicts++;
        if (throttled) this.#counts.refused++;
        this.#options.metrics?.statusWrites.inc({ kind: ref.kind, result: conflict ? 'conflict' : throttled ? 'throttled' : 'error' });
        const retryAfterSeconds = err instanceof KubeApiError ? err.retryAfterSeconds : undefined;
        if (throttled) return { refused: true, retryAfterMs: retryAfterSeconds === undefined ? DEFAULT_RETRY_AFTER_MS : retryAfterSeconds * 1000 };
        if (attempt === maxAttempts) {
          this.#log.warn({ object: what, error: (err as Error).message, attempts: attempt }, 'giving up on status write');
          return DONE;
        }
        // Conflict: someone else wrote; read it again, at once. Anything else: a pause, at
        // least as long as the server asked for.
        if (conflict) current = undefined;
        else await this.#sleep(Math.max(100 * 2 ** attempt, (retryAfterSeconds ?? 0) * 1000));
      }
    }
    return DONE;
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

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.#clock.setTimeout(resolve, ms));
  }

  #isIdle(): boolean {
    return this.#stopped || (this.#inFlight.size === 0 && this.#delayed.size === 0 && this.#head >= this.#queue.length);
  }

  #notifyIdle(): void {
    if (!this.#isIdle()) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

/**
 * Whether resourceVersion `copy` is at least `written`. They are opaque strings to clients, but
 * etcd-backed servers give increasing integers; anything else is taken as older (read instead).
 */
function notOlder(copy: string | undefined, written: string): boolean {
  if (copy === undefined || !/^\d+$/.test(copy) || !/^\d+$/.test(written)) return false;
  return BigInt(copy) >= BigInt(written);
}
