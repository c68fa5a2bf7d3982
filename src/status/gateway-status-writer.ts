// Writes GatewayClass, Gateway, ListenerSet, HTTPRoute, GRPCRoute, TLSRoute, TCPRoute, UDPRoute and BackendTLSPolicy status (leader only, like Route status): the
// desired status set is diffed against what was last asked for, each changed object is read
// (GET), its status computed (gateway-status.ts) and written through the status subresource
// when it differs. Writes are serial and paced; a 409 Conflict is retried with a fresh GET.
// What leaves the set is taken out: our parent entries of routes, our ancestors of policies, and
// of a ListenerSet the conditions and listeners this writer wrote (another controller's stay).

import type { Logger } from '../log.ts';
import type { Kind, KubeObject } from '../objects/types.ts';
import { KubeApiError, type KubeClient } from '../kube/client.ts';
import { clusterObjectPath, objectPath } from '../kube/resources.ts';
import type { GatewayStatusSet } from '../gateway/status.ts';
import { gatewayClassStatus, gatewayStatus, listenerSetStatus, policyStatus, routeStatus, sameStatus, withoutListenerSetStatus } from './gateway-status.ts';

type Json = Record<string, unknown>;

interface Target { kind: Kind; namespace: string; name: string; body: (current: Json | undefined, now: string) => Json }

export interface GatewayStatusWriterOptions {
  /** The router's API client (src/kube/client.ts). */
  client: KubeClient;
  logger: Logger;
  maxAttempts?: number;
  /** Pause between writes (ms): a new leader may owe status to many objects. */
  paceMs?: number;
}

export class GatewayStatusWriter {
  #options: GatewayStatusWriterOptions;
  #log: Logger;
  #asked = new Map<string, string>();
  /** The ListenerSet statuses last written (or found as wanted), by key: what to take out once one is no longer ours. */
  #listenerSetsWritten = new Map<string, Json>();
  #pending = new Map<string, Target>();
  #running = false;
  #stopped = false;
  #idleWaiters: Array<() => void> = [];

  constructor(options: GatewayStatusWriterOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'gateway-status-writer' });
  }

  sync(set: GatewayStatusSet): void {
    if (this.#stopped) return;
    const seen = new Set<string>();
    const want = (key: string, fingerprint: string, target: Target): void => {
      seen.add(key);
      if (this.#asked.get(key) === fingerprint) return;
      this.#asked.set(key, fingerprint);
      this.#pending.set(key, target);
    };
    for (const c of set.classes) {
      want(`GatewayClass/${c.name}`, JSON.stringify(c), { kind: 'GatewayClass', namespace: '', name: c.name, body: (cur, now) => gatewayClassStatus(c, cur, now) });
    }
    for (const g of set.gateways) {
      want(`Gateway/${g.namespace}/${g.name}`, JSON.stringify(g), { kind: 'Gateway', namespace: g.namespace, name: g.name, body: (cur, now) => gatewayStatus(g, cur, now) });
    }
    for (const l of set.listenerSets) {
      want(`ListenerSet/${l.namespace}/${l.name}`, JSON.stringify(l), { kind: 'ListenerSet', namespace: l.namespace, name: l.name, body: (cur, now) => listenerSetStatus(l, cur, now) });
    }
    for (const r of set.routes) {
      want(`${r.kind}/${r.namespace}/${r.name}`, JSON.stringify(r), { kind: r.kind, namespace: r.namespace, name: r.name, body: (cur, now) => routeStatus(r, cur, now) });
    }
    for (const p of set.policies) {
      want(`BackendTLSPolicy/${p.namespace}/${p.name}`, JSON.stringify(p), { kind: 'BackendTLSPolicy', namespace: p.namespace, name: p.name, body: (cur, now) => policyStatus(p, cur, now) });
    }
    // Routes (and BackendTLSPolicies) no longer used through a Gateway of ours: take our entries out.
    // ListenerSets no longer naming one: take out the conditions and listeners we wrote.
    for (const key of [...this.#asked.keys()]) {
      if (!seen.has(key) && key.startsWith('ListenerSet/')) {
        this.#asked.delete(key);
        const [, namespace, name] = key.split('/') as [string, string, string];
        this.#pending.set(key, {
          kind: 'ListenerSet', namespace, name,
          body: (cur) => {
            const written = this.#listenerSetsWritten.get(key);
            return written === undefined ? (cur ?? {}) : withoutListenerSetStatus(written, cur);
          },
        });
        continue;
      }
      if (!seen.has(key) && key.startsWith('BackendTLSPolicy/')) {
        this.#asked.delete(key);
        const [, namespace, name] = key.split('/') as [string, string, string];
        this.#pending.set(key, { kind: 'BackendTLSPolicy', namespace, name, body: (cur, now) => policyStatus(undefined, cur, now) });
        continue;
      }
      if (seen.has(key) || !(key.startsWith('HTTPRoute/') || key.startsWith('GRPCRoute/') || key.startsWith('TLSRoute/') || key.startsWith('TCPRoute/') || key.startsWith('UDPRoute/'))) continue;
      this.#asked.delete(key);
      const [kind, namespace, name] = key.split('/') as ['HTTPRoute' | 'GRPCRoute' | 'TLSRoute' | 'TCPRoute' | 'UDPRoute', string, string];
      this.#pending.set(key, { kind, namespace, name, body: (cur, now) => routeStatus(undefined, cur, now) });
    }
    void this.#run();
  }

  stop(): void {
    this.#stopped = true;
    this.#pending.clear();
    this.#notifyIdle();
  }

  /** Resolves when nothing is left to write. */
  idle(): Promise<void> {
    if (!this.#running && this.#pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  async #run(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      while (!this.#stopped && this.#pending.size > 0) {
        const [key, target] = this.#pending.entries().next().value as [string, Target];
        this.#pending.delete(key);
        await this.#write(target);
        if (this.#options.paceMs) await new Promise((r) => setTimeout(r, this.#options.paceMs));
      }
    } finally {
      this.#running = false;
      this.#notifyIdle();
    }
  }

  async #write(target: Target): Promise<void> {
    const { client } = this.#options;
    const path = target.namespace === '' ? clusterObjectPath(target.kind, target.name) : objectPath(target.kind, target.namespace, target.name);
    const what = `${target.kind} ${target.namespace === '' ? '' : `${target.namespace}/`}${target.name}`;
    const maxAttempts = this.#options.maxAttempts ?? 5;
    for (let attempt = 1; attempt <= maxAttempts && !this.#stopped; attempt++) {
      try {
        const current = await client.request<KubeObject & { status?: Json }>({ method: 'GET', path });
        const status = target.body(current.status, new Date().toISOString().replace(/\.\d+Z$/, 'Z'));
        const changed = !sameStatus(current.status, status);
        if (changed) await client.request({ method: 'PUT', path: `${path}/status`, body: { ...current, status } });
        if (target.kind === 'ListenerSet') this.#noteListenerSet(target, status);
        if (changed) this.#log.debug({ object: what }, 'status written');
        return;
      } catch (err) {
        if (err instanceof KubeApiError && err.statusCode === 404) return;
        const conflict = err instanceof KubeApiError && err.statusCode === 409;
        if (attempt === maxAttempts) {
          this.#log.warn({ object: what, error: (err as Error).message }, 'giving up on status write');
          return;
        }
        if (!conflict) await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
      }
    }
  }

  /** Remembers our status of a ListenerSet while it is ours (asked for), forgets it once taken out. */
  #noteListenerSet(target: Target, status: Json): void {
    const key = `ListenerSet/${target.namespace}/${target.name}`;
    if (this.#asked.has(key)) this.#listenerSetsWritten.set(key, status);
    else this.#listenerSetsWritten.delete(key);
  }

  #notifyIdle(): void {
    if (this.#running || (this.#pending.size > 0 && !this.#stopped)) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }
}
