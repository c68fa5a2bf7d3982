// haproxy.router.openshift.io/pod-concurrent-connections: at most N requests (and tunnels) in
// flight per endpoint of the route, as HAProxy's per-server maxconn. Excess requests wait in a
// bounded FIFO queue for up to the connect timeout (HAProxy's `timeout queue` default) and are
// answered 503 SY_ENDPOINT_BUSY when it expires or the queue is full. Slots are given back in
// the log phase; the counters are retained across rebuilds of the route's runtime.

import { Type } from 'typebox';
import { boundedInt } from '../annotation-values.ts';
import { ProxyErrors } from '../errors.ts';
import type { PluginContext } from '../pipeline/context.ts';
import { definePlugin } from '../pipeline/define-plugin.ts';
import { phaseRunOf, type PhaseRun } from '../pipeline/phase-run.ts';
import { builtinPolicy } from './route-policy.ts';

export const POD_CONCURRENT_CONNECTIONS_ANNOTATION = 'haproxy.router.openshift.io/pod-concurrent-connections';

/** Waiting requests per endpoint beyond which new ones are refused at once. */
export const MAX_QUEUE = 1024;

class Waiter {
  readonly run: PhaseRun;
  readonly slot: number;
  readonly state: EndpointSlots;
  resolve: () => void = noop;
  timer: NodeJS.Timeout | null = null;
  constructor(run: PhaseRun, slot: number, state: EndpointSlots) {
    this.run = run;
    this.slot = slot;
    this.state = state;
  }
}

class EndpointSlots {
  inFlight = 0;
  readonly queue: Waiter[] = [];
}

export class ConcurrencySlots {
  readonly limit: number;
  readonly #byEndpoint = new Map<string, EndpointSlots>();
  constructor(limit: number) {
    this.limit = limit;
  }

  stateOf(id: string): EndpointSlots {
    let state = this.#byEndpoint.get(id);
    if (state === undefined) this.#byEndpoint.set(id, (state = new EndpointSlots()));
    return state;
  }

  /** Give a slot back: to the first live waiter, else to the pool. */
  release(state: EndpointSlots): void {
    while (state.queue.length > 0) {
      const waiter = state.queue.shift()!;
      if (waiter.timer !== null) clearTimeout(waiter.timer);
      if (waiter.run.settled) continue; // its client went away or it timed out meanwhile
      waiter.run.setSlot(waiter.slot, state);
      waiter.resolve();
      return;
    }
    state.inFlight--;
  }
}

class PodConcurrentConnections {
  readonly #slots: ConcurrencySlots;
  readonly #queueTimeoutMs: number;
  constructor(slots: ConcurrencySlots, queueTimeoutMs: number) {
    this.#slots = slots;
    this.#queueTimeoutMs = queueTimeoutMs;
  }

  upstreamRequest(ctx: PluginContext): void | Promise<void> {
    const run = phaseRunOf(ctx);
    const state = this.#slots.stateOf(run.member!.endpoint.id);
    if (state.inFlight < this.#slots.limit) {
      state.inFlight++;
      ctx.local = state;
      return;
    }
    if (state.queue.length >= MAX_QUEUE) {
      run.respondError(ProxyErrors.ENDPOINT_BUSY);
      return;
    }
    const waiter = new Waiter(run, run.current, state);
    state.queue.push(waiter);
    return new Promise<void>((resolve) => {
      waiter.resolve = resolve;
      waiter.timer = setTimeout(onQueueTimeout, this.#queueTimeoutMs, waiter);
    });
  }

  log(ctx: PluginContext): void {
    const state = ctx.local as EndpointSlots | undefined;
    if (state === undefined) return;
    ctx.local = undefined;
    this.#slots.release(state);
  }
}

function onQueueTimeout(waiter: Waiter): void {
  waiter.timer = null;
  const queue = waiter.state.queue;
  const at = queue.indexOf(waiter);
  if (at !== -1) queue.splice(at, 1);
  waiter.run.respondError(ProxyErrors.ENDPOINT_BUSY);
  waiter.resolve();
}

function noop(): void {}

export const podConcurrentConnectionsPlugin = definePlugin({
  name: 'pod-concurrent-connections',
  config: Type.Object({
    limit: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
    /** How long a request may wait for a slot (the route's connect timeout, HAProxy's `timeout queue` default). */
    queueTimeoutMs: Type.Integer({ minimum: 1 }),
  }, { additionalProperties: false }),
  create(c, services) {
    const slots = services.retain(`pod-concurrent-connections:${c.limit}`, () => new ConcurrencySlots(c.limit));
    return new PodConcurrentConnections(slots, c.queueTimeoutMs);
  },
});

export const podConcurrentConnectionsPolicy = builtinPolicy({
  plugin: podConcurrentConnectionsPlugin,
  position: 'after',
  fromRoute({ annotations, defaults }) {
    const limit = boundedInt(annotations, POD_CONCURRENT_CONNECTIONS_ANNOTATION, 1, 1_000_000);
    return limit === null ? null : { limit, queueTimeoutMs: defaults.connectTimeoutMs };
  },
});
