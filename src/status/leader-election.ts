// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it: try to
// acquire or renew every retry period; a lease held by someone else counts as expired when its
// record has not changed for one lease duration (measured on our clock, so clock skew between
// nodes does not matter); a leader that cannot renew within the renew deadline steps down.
// Releasing (on stop) empties holderIdentity so a successor takes over at its next try.

import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { KubeApiError, kubeRequest } from '../sources/kube-request.ts';

export interface LeaderElectorOptions {
  kubeConfig: KubeConfig;
  leaseName: string;
  leaseNamespace: string;
  logger: Logger;
  metrics?: Metrics;
  /** Default: hostname-pid */
  identity?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
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
  #timer: NodeJS.Timeout | undefined;
  #tick: Promise<void> = Promise.resolve();
  #lastRenew = 0;
  /** The other holder's record as last seen, and when (on our clock) it last changed. */
  #observedRecord = '';
  #observedAt = 0;
  /** holderIdentity as last read from the Lease ('' = none or not read yet). */
  #lastHolder = '';

  constructor(options: LeaderElectorOptions) {
    super();
    this.#options = options;
    this.identity = options.identity ?? `${hostname()}-${process.pid}`;
    this.#leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.#renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.#retryPeriodMs = options.retryPeriodMs ?? 2_000;
    this.#log = options.logger.child({ component: 'leader-election', lease: `${options.leaseNamespace}/${options.leaseName}` });
  }

  get isLeader(): boolean { return this.#leading; }

  /** Who holds the Lease, as far as this process knows ('' = nobody or not known yet). */
  get holder(): string { return this.#leading ? this.identity : this.#lastHolder; }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#options.metrics?.leader.set(0);
    this.#schedule(0);
  }

  /**
   * Stop campaigning. When leading, release the lease so a successor takes over at once
   * (`release: false` walks away without releasing, as a crashed process would).
   */
  async stop(options: { release?: boolean } = {}): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    clearTimeout(this.#timer);
    await this.#tick;
    if (this.#leading) {
      if (options.release !== false) await this.#release();
      this.#setLeading(false);
    }
  }

  #schedule(delayMs: number): void {
    this.#timer = setTimeout(() => {
      this.#tick = this.#tryAcquireOrRenew().finally(() => {
        if (this.#running) this.#schedule(this.#retryPeriodMs);
      });
    }, delayMs);
  }

  async #tryAcquireOrRenew(): Promise<void> {
    try {
      const acquired = await this.#attempt();
      if (!this.#running) return;
      if (acquired) {
        this.#lastRenew = Date.now();
        this.#setLeading(true);
        return;
      }
    } catch (err) {
      this.#log.warn({ error: (err as Error).message }, 'lease update failed');
    }
    if (this.#leading && Date.now() - this.#lastRenew > this.#renewDeadlineMs) {
      this.#log.warn('could not renew the lease within the renew deadline; stepping down');
      this.#setLeading(false);
    } else if (this.#leading && !(await this.#stillHolder())) {
      this.#setLeading(false);
    }
  }

  /** One round: true when we hold the lease afterwards. */
  async #attempt(): Promise<boolean> {
    const { kubeConfig } = this.#options;
    const now = new Date();
    let lease: Lease;
    try {
      lease = await kubeRequest<Lease>(kubeConfig, { method: 'GET', path: this.#path(), timeoutMs: this.#renewDeadlineMs });
    } catch (err) {
      if (!(err instanceof KubeApiError && err.statusCode === 404)) throw err;
      await kubeRequest(kubeConfig, {
        method: 'POST', path: this.#collectionPath(), timeoutMs: this.#renewDeadlineMs,
        body: this.#leaseBody({ acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0 }),
      });
      return true;
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    this.#lastHolder = holder;
    const record = JSON.stringify([holder, spec.renewTime ?? '', spec.leaseTransitions ?? 0]);
    if (record !== this.#observedRecord) {
      this.#observedRecord = record;
      this.#observedAt = now.getTime();
    }
    const ours = holder === this.identity;
    if (holder !== '' && !ours && now.getTime() < this.#observedAt + this.#leaseDurationMs) return false;
    const transitions = (spec.leaseTransitions ?? 0) + (ours ? 0 : 1);
    const updated: Lease = {
      ...this.#leaseBody({
        acquireTime: ours ? (spec.acquireTime ?? microTime(now)) : microTime(now),
        renewTime: microTime(now),
        leaseTransitions: transitions,
      }),
    };
    updated.metadata.resourceVersion = lease.metadata.resourceVersion;
    try {
      await kubeRequest(kubeConfig, { method: 'PUT', path: this.#path(), body: updated, timeoutMs: this.#renewDeadlineMs });
    } catch (err) {
      if (err instanceof KubeApiError && err.statusCode === 409) return false; // someone else got there first
      throw err;
    }
    if (!ours) this.#log.info({ previous: holder || undefined }, 'acquired the lease');
    return true;
  }

  /** After a failed renew: is the lease still ours on the server? (Another holder means no.) */
  async #stillHolder(): Promise<boolean> {
    try {
      const lease = await kubeRequest<Lease>(this.#options.kubeConfig, { method: 'GET', path: this.#path(), timeoutMs: this.#renewDeadlineMs });
      return (lease.spec?.holderIdentity ?? '') === this.identity;
    } catch {
      return true; // cannot tell; the renew deadline decides
    }
  }

  async #release(): Promise<void> {
    try {
      const lease = await kubeRequest<Lease>(this.#options.kubeConfig, { method: 'GET', path: this.#path(), timeoutMs: 2000 });
      if ((lease.spec?.holderIdentity ?? '') !== this.identity) return;
      const released: Lease = {
        ...lease,
        spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime() },
      };
      await kubeRequest(this.#options.kubeConfig, { method: 'PUT', path: this.#path(), body: released, timeoutMs: 2000 });
      this.#log.info('released the lease');
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
