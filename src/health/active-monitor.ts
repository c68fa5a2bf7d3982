// Active health checks. The reconciler hands over the full set of (endpoint, check) pairs after
// every table change; the monitor keeps exactly one probe loop per distinct endpoint id and
// check, however many routes share them. Probes run through a bounded queue; rise/fall counters
// turn probe results into up/down verdicts on the shared EndpointState. New endpoints start up
// (optimistic, as HAProxy does for new servers), so a table change never blackholes traffic
// while the first probes run.
//
// The schedule is one timer for all loops, not one per loop: time is cut into ticks of TICK_MS,
// each loop's next probe sits in the bucket of its tick, and the timer wakes for the earliest
// bucket (or the earliest deadline of a probe in flight, which is how probes time out). A loop
// keeps its phase — each probe is due one interval after the previous one was due — and a new
// loop takes the earliest tick within its first interval that holds fewer probes than an even
// spread would put there, so 10,000 endpoints added at once are checked evenly over the
// interval, not in a burst, while one endpoint added to a quiet table is checked at once. Probes
// due in one tick start together, so the process wakes once per tick rather than once per probe.

import { EventEmitter } from 'node:events';
import { systemClock, type Clock, type TimerHandle } from '../clock.ts';
import type { Logger } from '../log.ts';
import type { HealthCheckSpec } from '../table/types.ts';
import type { EndpointState } from './endpoint-state.ts';
import { endEjectionAfterActivePass } from './passive.ts';
import { createProbeAgents, Probe, type ProbeAgents, type ProbeTarget, type ProbeVerdict } from './probe.ts';
import { parseStatusExpectation, type StatusExpectation } from './status-expectation.ts';

const DEFAULT_MAX_CONCURRENT = 32;
const MIN_INTERVAL_MS = 100;
const DEFAULT_TIMEOUT_MS = 3_000;
/** Granularity of the schedule: probes due within one tick start together. */
export const TICK_MS = 20;
/** A new loop's first probe is placed within this many ticks at most (long intervals). */
const MAX_PLACEMENT_TICKS = 500;

export interface HealthTarget {
  endpoint: EndpointState;
  check: HealthCheckSpec;
}

export interface ActiveHealthEvents {
  /** The endpoint's active verdict changed (every check on it up, or one of them down). */
  change: [endpoint: EndpointState, up: boolean];
  /** Every finished probe, before rise/fall is applied: an active pass ends a passive ejection that began before it (see passive.endEjectionAfterActivePass). */
  check: [endpoint: EndpointState, healthy: boolean, startedAt: number, reason: string];
}

/** What a probe loop is made with (its fixed settings). */
type LoopSettings = Pick<ProbeLoop, 'key' | 'target' | 'intervalMs' | 'rise' | 'fall' | 'description'>;

/** One probe loop: an endpoint and one check, with its rise/fall state. */
class ProbeLoop {
  readonly key: string;
  readonly target: ProbeTarget;
  readonly intervalMs: number;
  readonly rise: number;
  readonly fall: number;
  /** For logs: `tcp` or `http GET /path expect 2xx`. */
  readonly description: string;
  up = true;
  successes = 0;
  failures = 0;
  /** One probe for the loop's whole life, started again for every check. */
  readonly probe: Probe<ProbeLoop>;
  /** When the next probe is due (ms); it sits in the bucket of tick ceil(dueAt / TICK_MS). */
  dueAt = 0;
  /** The tick whose bucket holds the loop, or -1 (probe running or queued, or stopped). */
  bucket = -1;
  startedAt = 0;
  stopped = false;

  constructor(settings: LoopSettings, settle: ProbeVerdict<ProbeLoop>, agents: ProbeAgents) {
    this.key = settings.key;
    this.target = settings.target;
    this.intervalMs = settings.intervalMs;
    this.rise = settings.rise;
    this.fall = settings.fall;
    this.description = settings.description;
    this.probe = new Probe<ProbeLoop>(settings.target, settle, this, agents);
  }
}

function loopKey(target: HealthTarget): string {
  return `${target.endpoint.id}\n${fingerprint(target.check)}`;
}

export class ActiveHealthMonitor extends EventEmitter<ActiveHealthEvents> {
  readonly #logger: Logger;
  readonly #maxConcurrent: number;
  readonly #loops = new Map<string, ProbeLoop>();
  /** endpoint id → its loops (one per distinct check), to combine their verdicts. */
  readonly #byEndpoint = new Map<string, Set<ProbeLoop>>();
  /** Loops due while maxConcurrent probes were running. */
  #queue: ProbeLoop[] = [];
  /** watch()/unwatch() reference counts by loop key. */
  readonly #refs = new Map<string, number>();
  /** Loops whose probe is in flight (at most maxConcurrent: scanned for deadlines). */
  readonly #running: ProbeLoop[] = [];
  #stopped = false;
  /** tick → the loops due in it. */
  readonly #buckets = new Map<number, ProbeLoop[]>();
  /** The ticks that have a bucket, as a min-heap. */
  readonly #ticks: number[] = [];
  /** Probes per millisecond over all loops (Σ 1/interval): what an even spread puts in a tick. */
  #rate = 0;
  #timer: TimerHandle | null = null;
  /** When the armed timer fires (ms), or Infinity. */
  #timerAt = Infinity;
  /** Keep-alive connections of the HTTP checks. */
  readonly #agents: ProbeAgents = createProbeAgents();

  /** CA bundle for checks of reencrypt routes without their own destination CA (--default-destination-ca). */
  readonly #defaultCA: string | null;

  /** Probe intervals, timeouts and start times (tests inject a manual clock). */
  readonly #clock: Clock;

  constructor(options: { logger: Logger; maxConcurrent?: number; defaultDestinationCA?: string | null; clock?: Clock }) {
    super();
    const max = options.maxConcurrent ?? DEFAULT_MAX_CONCURRENT;
    if (!Number.isInteger(max) || max < 1) throw new TypeError(`maxConcurrent must be a positive integer, got ${max}`);
    this.#logger = options.logger;
    this.#maxConcurrent = max;
    this.#defaultCA = options.defaultDestinationCA ?? null;
    this.#clock = options.clock ?? systemClock;
  }

  /**
   * One more user (a route) of an endpoint+check: starts its probe loop on first use. Paired
   * with unwatch(), this keeps the monitor in step with the table at the cost of the change
   * (sync() below is the whole-set alternative; use one or the other).
   */
  watch(target: HealthTarget): void {
    if (this.#stopped) return;
    const key = loopKey(target);
    this.#refs.set(key, (this.#refs.get(key) ?? 0) + 1);
    const loop = this.#loops.get(key);
    // A different EndpointState under the same id: the old one was released and recreated.
    if (loop !== undefined && loop.target.endpoint !== target.endpoint) this.#stopLoop(loop);
    if (!this.#loops.has(key)) this.#startLoop(key, target);
  }

  /** One user fewer; the last one stops the probe loop. */
  unwatch(target: HealthTarget): void {
    const key = loopKey(target);
    const refs = (this.#refs.get(key) ?? 0) - 1;
    if (refs > 0) {
      this.#refs.set(key, refs);
      return;
    }
    this.#refs.delete(key);
    const loop = this.#loops.get(key);
    if (loop !== undefined && loop.target.endpoint === target.endpoint) this.#stopLoop(loop);
  }

  /** The full desired set: starts loops for new endpoint+check pairs, stops the ones no longer listed. */
  sync(targets: Iterable<HealthTarget>): void {
    if (this.#stopped) return;
    const wanted = new Map<string, HealthTarget>();
    for (const target of targets) {
      const key = loopKey(target);
      if (!wanted.has(key)) wanted.set(key, target);
    }
    for (const [key, loop] of this.#loops) {
      // A different EndpointState under the same id: the old one was released and recreated.
      if (wanted.get(key)?.endpoint !== loop.target.endpoint) this.#stopLoop(loop);
    }
    for (const [key, target] of wanted) {
      if (!this.#loops.has(key)) this.#startLoop(key, target);
    }
  }

  /** Stop probing an endpoint at once (e.g. on EndpointRegistry 'remove'), without waiting for the next sync. */
  forget(endpoint: EndpointState): void {
    const loops = this.#byEndpoint.get(endpoint.id);
    if (loops === undefined) return;
    for (const loop of [...loops]) if (loop.target.endpoint === endpoint) this.#stopLoop(loop);
  }

  /** Number of probe loops running (one per distinct endpoint id + check). */
  get size(): number {
    return this.#loops.size;
  }

  /** Clear the timer, abort every probe and close the kept connections; the monitor is finished. */
  stop(): void {
    this.#stopped = true;
    this.#queue = [];
    this.#clearSchedule();
    for (const loop of this.#loops.values()) {
      loop.stopped = true;
      loop.probe.close();
    }
    this.#loops.clear();
    this.#byEndpoint.clear();
    this.#refs.clear();
    this.#agents.http.destroy();
    this.#agents.https.destroy();
  }

  #startLoop(key: string, { endpoint, check }: HealthTarget): void {
    const type = check.type === 'http' ? 'http' : 'tcp';
    if (check.type !== 'http' && check.type !== 'tcp') {
      this.#logger.warn({ endpoint: endpoint.name, type: check.type }, 'unknown health check type, checking TCP connect instead');
    }
    let expect: StatusExpectation;
    try {
      expect = parseStatusExpectation(check.expect);
    } catch (err) {
      this.#logger.warn({ endpoint: endpoint.name, err: (err as Error).message }, 'invalid health check expect, using 2xx');
      expect = parseStatusExpectation(undefined);
    }
    const intervalMs = Math.max(MIN_INTERVAL_MS, Math.round(finiteOr(check.intervalMs, MIN_INTERVAL_MS)));
    const path = type === 'http' ? normalisePath(check.path) : '';
    const target: ProbeTarget = {
      endpoint, type, path, timeoutMs: Math.max(1, finiteOr(check.timeoutMs, DEFAULT_TIMEOUT_MS)), expect,
      ...(type === 'http' && check.tls !== undefined ? { tls: { ...check.tls, ca: check.tls.ca ?? this.#defaultCA } } : {}),
    };
    const loop = new ProbeLoop({
      key,
      target,
      intervalMs,
      rise: Math.max(1, Math.floor(finiteOr(check.rise, 1))),
      fall: Math.max(1, Math.floor(finiteOr(check.fall, 1))),
      description: type === 'http' ? `${check.tls === undefined ? 'http' : 'https'} GET ${path} expect ${expect.text}` : 'tcp',
    }, this.#settle, this.#agents);
    this.#loops.set(key, loop);
    let siblings = this.#byEndpoint.get(endpoint.id);
    if (siblings === undefined) this.#byEndpoint.set(endpoint.id, (siblings = new Set()));
    siblings.add(loop);
    this.#rate += 1 / intervalMs;
    this.#schedule(loop, this.#firstSlot(intervalMs));
    this.#arm();
  }

  /** Nothing left to probe: no timer stays armed (and no float drift stays in the rate). */
  #clearSchedule(): void {
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
    this.#timerAt = Infinity;
    this.#buckets.clear();
    this.#ticks.length = 0;
    this.#queue = [];
    this.#rate = 0;
  }

  /** The earliest tick within one interval from now that holds fewer probes than an even spread would put there. */
  #firstSlot(intervalMs: number): number {
    const first = Math.ceil(this.#clock.now() / TICK_MS);
    const span = Math.min(MAX_PLACEMENT_TICKS, Math.max(1, Math.floor(intervalMs / TICK_MS)));
    const even = Math.ceil(this.#rate * TICK_MS - 1e-9); // (the rate is a sum of fractions: 50 × 1/1000 is not exactly 0.05)
    let best = first;
    let bestSize = Infinity;
    for (let tick = first; tick < first + span; tick++) {
      const size = this.#buckets.get(tick)?.length ?? 0;
      if (size < even) return tick * TICK_MS;
      if (size < bestSize) [best, bestSize] = [tick, size];
    }
    return best * TICK_MS;
  }

  /** Put the loop's next probe, due at `dueAt`, in its tick's bucket. */
  #schedule(loop: ProbeLoop, dueAt: number): void {
    loop.dueAt = dueAt;
    const tick = Math.ceil(dueAt / TICK_MS);
    loop.bucket = tick;
    const bucket = this.#buckets.get(tick);
    if (bucket !== undefined) {
      bucket.push(loop);
      return;
    }
    this.#buckets.set(tick, [loop]);
    heapPush(this.#ticks, tick);
  }

  /** Arm the one timer for the earliest bucket or probe deadline, if that is sooner than what it is armed for. */
  #arm(): void {
    let at = this.#ticks.length > 0 ? this.#ticks[0]! * TICK_MS : Infinity;
    for (const loop of this.#running) if (loop.probe.deadline < at) at = loop.probe.deadline;
    if (at >= this.#timerAt || at === Infinity) return;
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    this.#timerAt = at;
    // whole milliseconds: Node keeps one timer list per distinct duration
    this.#timer = this.#clock.setTimeout(this.#onTimer, Math.max(0, Math.ceil(at - this.#clock.now())));
  }

  readonly #onTimer = (): void => {
    this.#timer = null;
    this.#timerAt = Infinity;
    if (this.#stopped) return;
    const now = this.#clock.now();
    // Probes past their deadline fail (settling removes them from #running).
    for (let i = this.#running.length - 1; i >= 0; i--) {
      const loop = this.#running[i];
      if (loop !== undefined && loop.probe.deadline <= now) loop.probe.expire();
    }
    const nowTick = Math.floor(now / TICK_MS);
    while (this.#ticks.length > 0 && this.#ticks[0]! <= nowTick) {
      const tick = heapPop(this.#ticks);
      const due = this.#buckets.get(tick)!;
      this.#buckets.delete(tick);
      for (const loop of due) {
        loop.bucket = -1;
        if (loop.stopped) continue;
        if (this.#running.length < this.#maxConcurrent) this.#run(loop, now);
        else this.#queue.push(loop);
      }
    }
    this.#arm();
  };

  #stopLoop(loop: ProbeLoop): void {
    loop.stopped = true;
    this.#rate -= 1 / loop.intervalMs;
    if (loop.bucket !== -1) {
      const bucket = this.#buckets.get(loop.bucket);
      const at = bucket?.indexOf(loop) ?? -1;
      if (at !== -1) bucket!.splice(at, 1); // an emptied bucket stays until its tick: the heap keeps its tick
      loop.bucket = -1;
    }
    loop.probe.close(); // a run in flight frees its concurrency slot through #settle
    this.#loops.delete(loop.key);
    if (this.#loops.size === 0) this.#clearSchedule();
    const endpoint = loop.target.endpoint;
    const siblings = this.#byEndpoint.get(endpoint.id);
    siblings?.delete(loop);
    if (siblings?.size === 0) this.#byEndpoint.delete(endpoint.id);
    for (const sibling of siblings ?? []) {
      if (sibling.target.endpoint === endpoint) {
        this.#updateEndpoint(sibling, `check ${loop.description} removed`);
        return;
      }
    }
    // Nothing checks it any more: a verdict nobody can revise must not keep it down.
    if (!endpoint.activeUp) {
      endpoint.activeUp = true;
      this.#logger.info({ endpoint: endpoint.name, check: loop.description }, 'endpoint up: no longer actively checked');
      this.emit('change', endpoint, true);
    }
  }

  #run(loop: ProbeLoop, now: number): void {
    this.#running.push(loop);
    loop.startedAt = now;
    loop.probe.start(now);
  }

  readonly #settle = (loop: ProbeLoop, healthy: boolean, reason: string): void => {
    const at = this.#running.indexOf(loop);
    if (at !== -1) {
      this.#running[at] = this.#running[this.#running.length - 1]!;
      this.#running.pop();
    }
    if (!loop.stopped && !this.#stopped) {
      this.emit('check', loop.target.endpoint, healthy, loop.startedAt, reason);
      this.#apply(loop, healthy, reason);
      if (!loop.stopped) {
        // Keep the phase: one interval after the previous probe was due (or the first such time
        // still ahead, when a probe outlasted its interval).
        const now = this.#clock.now();
        let next = loop.dueAt + loop.intervalMs;
        if (next <= now) next += Math.ceil((now - next + 1) / loop.intervalMs) * loop.intervalMs;
        this.#schedule(loop, next);
      }
    }
    if (this.#stopped) return;
    if (this.#queue.length > 0) {
      const now = this.#clock.now();
      while (this.#running.length < this.#maxConcurrent && this.#queue.length > 0) {
        const next = this.#queue.shift()!;
        if (!next.stopped) this.#run(next, now);
      }
    }
    this.#arm();
  };

  #apply(loop: ProbeLoop, healthy: boolean, reason: string): void {
    const endpoint = loop.target.endpoint;
    if (healthy) {
      loop.failures = 0;
      if (!loop.up && ++loop.successes >= loop.rise) {
        loop.up = true;
        loop.successes = 0;
        this.#updateEndpoint(loop, reason);
      }
      const now = this.#clock.now();
      if (endEjectionAfterActivePass(endpoint, loop.startedAt, now)) {
        this.#logger.info({ endpoint: endpoint.name, check: loop.description, reason }, 'passive ejection ended early: active check passed');
      }
    } else {
      loop.successes = 0;
      if (loop.up && ++loop.failures >= loop.fall) {
        loop.up = false;
        loop.failures = 0;
        this.#updateEndpoint(loop, reason);
      }
    }
  }

  /** Combine the verdicts of every check on the endpoint; log and emit when it changes. */
  #updateEndpoint(loop: ProbeLoop, reason: string): void {
    const endpoint = loop.target.endpoint;
    let up = true;
    for (const sibling of this.#byEndpoint.get(endpoint.id) ?? []) {
      if (sibling.target.endpoint === endpoint && !sibling.up) up = false;
    }
    if (endpoint.activeUp === up) {
      this.#logger.debug({ endpoint: endpoint.name, check: loop.description, up: loop.up, reason }, 'health check changed, endpoint state unchanged');
      return;
    }
    endpoint.activeUp = up;
    if (up) {
      // Back by the active check: whatever passive checking concluded before is outdated.
      endpoint.exclusive((s) => {
        s.ejectedUntil = 0;
        s.consecutiveFailures = 0;
      });
    }
    this.#logger.info({ endpoint: endpoint.name, check: loop.description, reason }, up ? 'endpoint up' : 'endpoint down');
    this.emit('change', endpoint, up);
  }
}

/** Identity of a check: two routes with equal checks on one endpoint share one loop. */
function fingerprint(check: HealthCheckSpec): string {
  const common = `${check.intervalMs}|${check.timeoutMs}|${check.rise}|${check.fall}`;
  // path and expect mean nothing to a TCP check: they must not split one loop into two
  if (check.type !== 'http') return `${check.type}|${common}`;
  const tls = check.tls === undefined ? '' : `|tls|${check.tls.servername}|${check.tls.verify}|${check.tls.ca ?? ''}`;
  return `http|${common}|${check.path ?? ''}|${(check.expect ?? []).join(',')}${tls}`;
}

function heapPush(heap: number[], value: number): void {
  let i = heap.push(value) - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (heap[parent]! <= value) break;
    heap[i] = heap[parent]!;
    i = parent;
  }
  heap[i] = value;
}

function heapPop(heap: number[]): number {
  const top = heap[0]!;
  const last = heap.pop()!;
  if (heap.length === 0) return top;
  let i = 0;
  for (;;) {
    const left = 2 * i + 1;
    if (left >= heap.length) break;
    const child = left + 1 < heap.length && heap[left + 1]! < heap[left]! ? left + 1 : left;
    if (heap[child]! >= last) break;
    heap[i] = heap[child]!;
    i = child;
  }
  heap[i] = last;
  return top;
}

function finiteOr(value: number, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : fallback;
}

function normalisePath(path: string | undefined): string {
  if (path === undefined || path === '') return '/';
  return path.startsWith('/') ? path : `/${path}`;
}
