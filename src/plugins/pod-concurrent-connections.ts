// haproxy.router.openshift.io/pod-concurrent-connections: at most N requests (and tunnels) in
// flight per endpoint of the route, as HAProxy's per-server maxconn. Excess requests wait in a
// bounded FIFO queue for up to the connect timeout (HAProxy's `timeout queue` default) and are
// answered 503 SY_ENDPOINT_BUSY when it expires or the queue is full. Slots are given back in
// the log phase.
//
// The slot counts are the router's shared ones (shared-memory/limit-table.ts): N holds over
// every worker thread. Each thread queues its own waiters; a slot given back goes to a waiter of
// the same thread at once, else back to the table, which wakes the threads that have waiters
// (Atomics.waitAsync on the entry's bucket) to take it.

import { Type } from 'typebox';
import { boundedInt } from '../annotation-values.ts';
import { ProxyErrors } from '../errors.ts';
import type { PluginContext } from '../pipeline/context.ts';
import { definePlugin } from '../pipeline/define-plugin.ts';
import { phaseRunOf, type PhaseRun } from '../pipeline/phase-run.ts';
import { keyPrefix, type KeyPrefix } from '../shared-memory/key-hash.ts';
import { REFUSED, UNTRACKED, type LimitTable } from '../shared-memory/limit-table.ts';
import { builtinPolicy, builtinServices } from './route-policy.ts';

export const POD_CONCURRENT_CONNECTIONS_ANNOTATION = 'haproxy.router.openshift.io/pod-concurrent-connections';

/** Waiting requests per endpoint and thread beyond which new ones are refused at once. */
export const MAX_QUEUE = 1024;

class Waiter {
  readonly run: PhaseRun;
  readonly slot: number;
  readonly queue: EndpointQueue;
  resolve: () => void = noop;
  timer: NodeJS.Timeout | null = null;
  constructor(run: PhaseRun, slot: number, queue: EndpointQueue) {
    this.run = run;
    this.slot = slot;
    this.queue = queue;
  }
}

/** One endpoint's waiters in this thread, and whether a wake-up from the table is awaited. */
class EndpointQueue {
  readonly id: string;
  readonly waiters: Waiter[] = [];
  watching = false;
  constructor(id: string) {
    this.id = id;
  }
}

/** What a request holds: the endpoint's queue, and whether its slot is counted in the table. */
class Held {
  readonly queue: EndpointQueue;
  readonly counted: boolean;
  constructor(queue: EndpointQueue, counted: boolean) {
    this.queue = queue;
    this.counted = counted;
  }
}

export class ConcurrencySlots {
  readonly limit: number;
  readonly #table: LimitTable;
  readonly #key: KeyPrefix;
  readonly #queues = new Map<string, EndpointQueue>();

  constructor(limit: number, table: LimitTable, routeKey: string) {
    this.limit = limit;
    this.#table = table;
    this.#key = keyPrefix(`${routeKey}\0pod-concurrent-connections\0${limit}`);
  }

  queueOf(id: string): EndpointQueue {
    let queue = this.#queues.get(id);
    if (queue === undefined) this.#queues.set(id, (queue = new EndpointQueue(id)));
    return queue;
  }

  /** A slot now (a Held), or null: then the caller queues (and must call wait()). */
  tryAcquire(queue: EndpointQueue): Held | null {
    const table = this.#table;
    // Behind this thread's waiters, a request waits its turn (and counts as one more waiter).
    if (queue.waiters.length > 0) {
      table.addWaiter(this.#key, queue.id, Date.now());
      return null;
    }
    const result = table.acquireOrWait(this.#key, queue.id, this.limit, Date.now());
    return result === REFUSED ? null : new Held(queue, result !== UNTRACKED);
  }

  /** After a refused tryAcquire and the waiter queued: make sure a slot given back anywhere wakes this thread. */
  wait(queue: EndpointQueue): void {
    if (queue.watching) return;
    queue.watching = true;
    this.#watch(queue, this.#table.waitIndex, this.#table.waitSeq);
  }

  /** Give a slot back: to this thread's first live waiter, else to the table (waking other threads' waiters). */
  release(held: Held): void {
    const queue = held.queue;
    const waiter = this.#nextLive(queue);
    if (waiter !== null) {
      // Handed over as it is: still held, one waiter fewer.
      this.#table.cancelWait(this.#key, queue.id);
      this.#grant(waiter, held);
      return;
    }
    if (held.counted) this.#table.release(this.#key, queue.id);
  }

  /** A waiter timed out (or its exchange ended): out of the queue and out of the table's count. */
  leave(waiter: Waiter): void {
    const waiters = waiter.queue.waiters;
    const at = waiters.indexOf(waiter);
    if (at === -1) return;
    waiters.splice(at, 1);
    this.#table.cancelWait(this.#key, waiter.queue.id);
  }

  /** The first waiter whose exchange has not ended; the ended ones leave the table's count. */
  #nextLive(queue: EndpointQueue): Waiter | null {
    while (queue.waiters.length > 0) {
      const waiter = queue.waiters.shift()!;
      if (waiter.timer !== null) clearTimeout(waiter.timer);
      if (!waiter.run.settled) return waiter;
      this.#table.cancelWait(this.#key, queue.id); // its client went away or it timed out meanwhile
    }
    return null;
  }

  #grant(waiter: Waiter, held: Held): void {
    waiter.run.setSlot(waiter.slot, held);
    waiter.resolve();
  }

  /** Wait for the table's sequence number to move past `seq`, then let waiters take free slots. */
  #watch(queue: EndpointQueue, index: number, seq: number): void {
    const result = Atomics.waitAsync(this.#table.words, index, seq);
    if (result.async) void result.value.then(() => this.#woken(queue));
    else queueMicrotask(() => this.#woken(queue)); // it had moved already
  }

  #woken(queue: EndpointQueue): void {
    const table = this.#table;
    for (;;) {
      const waiter = queue.waiters[0];
      if (waiter === undefined) {
        queue.watching = false;
        return;
      }
      if (waiter.run.settled) {
        this.#nextLive(queue); // drops it (and any ended ones behind it)
        continue;
      }
      const taken = table.takeWaiting(this.#key, queue.id, this.limit, Date.now());
      if (taken === REFUSED) {
        this.#watch(queue, table.waitIndex, table.waitSeq);
        return;
      }
      queue.waiters.shift();
      if (waiter.timer !== null) clearTimeout(waiter.timer);
      this.#grant(waiter, new Held(queue, taken !== UNTRACKED));
    }
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
    const slots = this.#slots;
    const queue = slots.queueOf(run.member!.endpoint.id);
    if (queue.waiters.length >= MAX_QUEUE) {
      run.respondError(ProxyErrors.ENDPOINT_BUSY);
      return;
    }
    const held = slots.tryAcquire(queue);
    if (held !== null) {
      ctx.local = held;
      return;
    }
    const waiter = new Waiter(run, run.current, queue);
    queue.waiters.push(waiter);
    slots.wait(queue);
    return new Promise<void>((resolve) => {
      waiter.resolve = resolve;
      waiter.timer = setTimeout(onQueueTimeout, this.#queueTimeoutMs, waiter, slots);
    });
  }

  log(ctx: PluginContext): void {
    const held = ctx.local as Held | undefined;
    if (held === undefined) return;
    ctx.local = undefined;
    this.#slots.release(held);
  }
}

function onQueueTimeout(waiter: Waiter, slots: ConcurrencySlots): void {
  waiter.timer = null;
  slots.leave(waiter);
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
    // This thread's queues outlive a rebuild of the route's runtime (waiters stay in line); the counts are the shared table's.
    const slots = services.retain(`pod-concurrent-connections:${c.limit}`, () => new ConcurrencySlots(c.limit, builtinServices(services).limits, services.route.key));
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
