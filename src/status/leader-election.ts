// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection decides it: a
// lease held by someone else counts as expired when its record has not changed for one lease
// duration (measured on our clock, so clock skew between nodes does not matter); a leader renews
// every retry period and steps down when it cannot within the renew deadline (the deadline
// bounds the whole renew, as client-go's context does: a leader steps down at lastRenew +
// renewDeadline even while a request hangs, always before another pod may take over, at
// lastRenew + leaseDuration). Every bound is a timer on the injected clock that aborts the
// requests in flight, never a wall-clock request timeout of its own: with a manual clock a request
// takes as long as the server needs (the client's 30 s is the only net).
//
// Unlike client-go, nobody polls: every pod watches the Lease (kube/object-watch.ts: one stream,
// no request per retry period), so a router that does not lead sends nothing while the Lease is
// renewed, and a thousand of them cost the API server a thousand quiet watches, not 500 GETs a
// second. The leader renews with one PUT carrying the resourceVersion of its last write (no GET
// first). Rounds still run every retry period, to notice an expired Lease on our own clock.
// Releasing (on stop, as client-go's ReleaseOnCancel) empties holderIdentity; the others see it
// on their watch and try within a jittered part of a retry period. A Lease acquired by a round
// still running when stop() is called is released too.

import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { systemClock, type Clock, type TimerHandle } from '../clock.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { KubeApiError, type KubeClient } from '../kube/client.ts';
import { ObjectWatch } from '../kube/object-watch.ts';

export interface LeaderElectorOptions {
  /** The router's API client (src/kube/client.ts). */
  client: KubeClient;
  leaseName: string;
  leaseNamespace: string;
  logger: Logger;
  metrics?: Metrics;
  /** Default: hostname-pid */
  identity?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Timers and time (tests inject a manual clock). */
  clock?: Clock;
}

/** How long stop() may spend releasing the Lease (a shutdown should not wait on a slow API server). */
const RELEASE_BOUND_MS = 2000;

class DeadlineExceeded extends Error {
  constructor() { super('the deadline passed'); }
}

interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    acquireTime?: string | null;
    renewTime?: string | null;
    leaseTransitions?: number;
  };
}

/** metav1.MicroTime: RFC 3339 with microseconds. */
function microTime(date = new Date()): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaderElector extends EventEmitter {
  readonly identity: string;
  #options: LeaderElectorOptions;
  #log: Logger;
  #leaseDurationMs: number;
  #renewDeadlineMs: number;
  #retryPeriodMs: number;
  #leading = false;
  #running = false;
  #timer: TimerHandle | undefined;
  readonly #clock: Clock;
  /** The Lease is ours on the server (a round acquired or renewed it and nothing released it since). */
  #holds = false;
  #tick: Promise<void> = Promise.resolve();
  #lastRenew = 0;
  /** The other holder's record as last seen, and when (on our clock) it last changed. */
  #observedRecord = '';
  #observedAt = 0;
  /** holderIdentity as last read from the Lease ('' = none or not read yet). */
  #lastHolder = '';
  /** The Lease as the watch last showed it (undefined: it does not exist, or not read yet). */
  #known: Lease | undefined;
  /** The Lease as our last write left it: what the next renew or the release starts from. */
  #mine: Lease | undefined;
  #watch: ObjectWatch<Lease>;
  #inRound = false;

  constructor(options: LeaderElectorOptions) {
    super();
    this.#options = options;
    this.identity = options.identity ?? `${hostname()}-${process.pid}`;
    this.#leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.#renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.#retryPeriodMs = options.retryPeriodMs ?? 2_000;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.logger.child({ component: 'leader-election', lease: `${options.leaseNamespace}/${options.leaseName}` });
    this.#watch = new ObjectWatch<Lease>({
      client: options.client, path: this.#collectionPath(), name: options.leaseName, logger: this.#log, clock: this.#clock,
      onChange: (lease) => this.#observe(lease),
    });
  }

  get isLeader(): boolean { return this.#leading; }

  /** Who holds the Lease, as far as this process knows ('' = nobody or not known yet). */
  get holder(): string { return this.#leading ? this.identity : this.#lastHolder; }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#options.metrics?.leader.set(0);
    this.#watch.start();
    this.#schedule(0);
  }

  /**
   * Stop campaigning. When leading, release the lease so a successor takes over at once
   * (`release: false` walks away without releasing, as a crashed process would).
   */
  async stop(options: { release?: boolean } = {}): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#clock.clearTimeout(this.#timer);
    this.#watch.stop();
    // A round in flight may still acquire the Lease: wait for it, then release what we hold.
    await this.#tick;
    if (this.#holds && options.release !== false) await this.#release();
    this.#holds = false;
    this.#setLeading(false);
  }

  #schedule(delayMs: number): void {
    this.#timer = this.#clock.setTimeout(runRound, delayMs, this);
  }

  /** One round, then the next one a retry period later. The timer's entry point; not for callers. */
  round(): void {
    this.#inRound = true;
    this.#tick = this.#tryAcquireOrRenew().finally(() => {
      this.#inRound = false;
      if (this.#running) this.#schedule(this.#retryPeriodMs);
      this.emit('round'); // each acquire/renew attempt done (lets tests wait on rounds, not on time)
    });
  }

  /** The next round sooner (within `delayMs`), unless one is running. */
  #soon(delayMs: number): void {
    if (!this.#running || this.#inRound) return;
    this.#clock.clearTimeout(this.#timer);
    this.#schedule(delayMs);
  }

  /** What the watch shows: who holds the Lease, and when its record last changed on our clock. */
  #observe(lease: Lease | undefined): void {
    const first = this.#known === undefined && this.#observedAt === 0;
    this.#known = lease;
    const spec = lease?.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const released = this.#lastHolder !== '' && holder === '';
    this.#lastHolder = holder;
    const record = JSON.stringify([holder, spec.renewTime ?? '', spec.leaseTransitions ?? 0]);
    if (record !== this.#observedRecord) {
      this.#observedRecord = record;
      this.#observedAt = this.#clock.now();
    }
    this.emit('observed'); // each state of the Lease seen (lets tests wait on the watch, not on time)
    // A leader learns that it lost the Lease from its renew (409), not from here: an event may be
    // older than the write that made it the holder.
    if (this.#leading) return;
    // The first state read: try now. Released or gone: try within a jittered part of a retry
    // period, so that all the pods that saw it do not write at the same instant.
    if (first && this.#running && !this.#inRound) {
      this.#clock.clearTimeout(this.#timer);
      this.round();
    } else if (released || !lease) {
      this.#soon(Math.floor(Math.random() * this.#retryPeriodMs / 2));
    }
  }

  async #tryAcquireOrRenew(): Promise<void> {
    // A leader's round must end by lastRenew + renewDeadline; a candidate's within one deadline.
    const deadline = (this.#leading ? this.#lastRenew : this.#clock.now()) + this.#renewDeadlineMs;
    try {
      const acquired = await this.#withinDeadline((signal) => this.#attempt(signal), deadline);
      if (acquired) {
        this.#lastRenew = this.#clock.now();
        if (this.#running) this.#setLeading(true);
        return;
      }
    } catch (err) {
      this.#log.warn({ error: (err as Error).message }, 'lease update failed');
    }
    if (this.#leading && this.#clock.now() >= deadline) {
      this.#log.warn('could not renew the lease within the renew deadline; stepping down');
      this.#setLeading(false);
    } else if (this.#leading && !(await this.#stillHolder())) {
      this.#holds = false;
      this.#setLeading(false);
    }
  }

  /**
   * `work`, or DeadlineExceeded when the clock reaches `deadline` first; then the requests of
   * `work` are aborted through its signal.
   */
  async #withinDeadline<T>(work: (signal: AbortSignal) => Promise<T>, deadline: number): Promise<T> {
    const controller = new AbortController();
    let timer: TimerHandle | undefined;
    const expired = new Promise<never>((_resolve, reject) => {
      timer = this.#clock.setTimeout(expire, Math.max(0, deadline - this.#clock.now()), controller, reject);
    });
    try {
      return await Promise.race([work(controller.signal), expired]);
    } finally {
      this.#clock.clearTimeout(timer);
    }
  }

  /** One round: true when we hold the lease afterwards. */
  async #attempt(signal: AbortSignal): Promise<boolean> {
    const now = new Date(this.#clock.now());
    // Leading: renew from our last write, no read first.
    if (this.#holds && this.#mine) {
      if (await this.#write(this.#renewed(this.#mine, now), signal)) return true;
      // Someone else wrote (409): what is there now decides, as for any pod.
      this.#holds = false;
      this.#mine = undefined;
      this.#observe(await this.#read(signal));
    }
    if (!this.#watch.synced && this.#known === undefined) return false; // not known yet: wait for the watch
    const lease = this.#known;
    if (!lease) {
      try {
        this.#mine = await this.#options.client.request<Lease>({
          method: 'POST', path: this.#collectionPath(), signal,
          body: this.#leaseBody({ acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0 }),
        });
      } catch (err) {
        if (err instanceof KubeApiError && err.statusCode === 409) return false; // created by another meanwhile
        throw err;
      }
      this.#holds = true;
      return true;
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const ours = holder === this.identity;
    if (holder !== '' && !ours && now.getTime() < this.#observedAt + this.#leaseDurationMs) return false;
    const updated = this.#leaseBody({
      acquireTime: ours ? (spec.acquireTime ?? microTime(now)) : microTime(now),
      renewTime: microTime(now),
      leaseTransitions: (spec.leaseTransitions ?? 0) + (ours ? 0 : 1),
    });
    updated.metadata.resourceVersion = lease.metadata.resourceVersion;
    if (!(await this.#write(updated, signal))) return false; // someone else got there first
    if (!ours) this.#log.info({ previous: holder || undefined }, 'acquired the lease');
    return true;
  }

  /** PUT the Lease; false on 409 Conflict. Sets what we hold. */
  async #write(lease: Lease, signal: AbortSignal): Promise<boolean> {
    try {
      this.#mine = await this.#options.client.request<Lease>({ method: 'PUT', path: this.#path(), body: lease, signal });
    } catch (err) {
      if (err instanceof KubeApiError && err.statusCode === 409) return false;
      throw err;
    }
    this.#holds = true;
    return true;
  }

  /** One GET of the Lease (after a conflict: what is there now). */
  async #read(signal: AbortSignal): Promise<Lease | undefined> {
    try {
      return await this.#options.client.request<Lease>({ method: 'GET', path: this.#path(), signal });
    } catch (err) {
      if (err instanceof KubeApiError && err.statusCode === 404) return undefined;
      throw err;
    }
  }

  #renewed(lease: Lease, now: Date): Lease {
    return { ...lease, spec: { ...lease.spec, holderIdentity: this.identity, renewTime: microTime(now) } };
  }

  /** After a failed renew: is the lease still ours on the server, as the watch shows it? */
  async #stillHolder(): Promise<boolean> {
    if (!this.#known) return true; // cannot tell; the renew deadline decides
    return (this.#known.spec?.holderIdentity ?? '') === this.identity;
  }

  async #release(): Promise<void> {
    const released = (lease: Lease): Lease => ({
      ...lease,
      spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(new Date(this.#clock.now())) },
    });
    try {
      await this.#withinDeadline(async (signal) => {
        let lease = this.#mine;
        for (let attempt = 0; attempt < 2; attempt++) {
          if (!lease || (lease.spec?.holderIdentity ?? '') !== this.identity) return;
          try {
            await this.#options.client.request({ method: 'PUT', path: this.#path(), body: released(lease), signal });
            this.#mine = undefined;
            this.#log.info('released the lease');
            return;
          } catch (err) {
            if (!(err instanceof KubeApiError && err.statusCode === 409)) throw err;
            lease = await this.#options.client.request<Lease>({ method: 'GET', path: this.#path(), signal });
          }
        }
      }, this.#clock.now() + RELEASE_BOUND_MS);
    } catch (err) {
      this.#log.warn({ error: (err as Error).message }, 'could not release the lease; it expires on its own');
    }
  }

  #leaseBody(times: { acquireTime: string; renewTime: string; leaseTransitions: number }): Lease {
    return {
      apiVersion: 'coordination.k8s.io/v1', kind: 'Lease',
      metadata: { name: this.#options.leaseName, namespace: this.#options.leaseNamespace },
      spec: {
        holderIdentity: this.identity,
        leaseDurationSeconds: Math.max(1, Math.ceil(this.#leaseDurationMs / 1000)),
        ...times,
      },
    };
  }

  #setLeading(leading: boolean): void {
    if (leading === this.#leading) return;
    this.#leading = leading;
    this.#options.metrics?.leader.set(leading ? 1 : 0);
    this.#log.info({ identity: this.identity }, leading ? 'started leading' : 'stopped leading');
    this.emit(leading ? 'started-leading' : 'stopped-leading');
  }

  #collectionPath(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(this.#options.leaseNamespace)}/leases`;
  }

  #path(): string {
    return `${this.#collectionPath()}/${encodeURIComponent(this.#options.leaseName)}`;
  }
}

function runRound(elector: LeaderElector): void {
  elector.round();
}

function expire(controller: AbortController, reject: (err: Error) => void): void {
  const err = new DeadlineExceeded();
  reject(err);
  controller.abort(err);
}
