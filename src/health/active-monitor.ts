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
import { createProbeAgents, Probe, type ProbeAgents, type ProbeCheck, type ProbeVerdict } from './probe.ts';
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

/**
 * What a check is, apart from the endpoint it checks: one object per distinct check (the
 * fingerprint), shared by every loop that checks that way — at 10k routes with 3 endpoints
 * each, 30,000 loops share one or a few of these.
 */
interface CheckSettings extends ProbeCheck {
  readonly fingerprint: string;
  readonly intervalMs: number;
  readonly rise: number;
  readonly fall: number;
  /** For logs: `tcp` or `http GET /path expect 2xx`. */
  readonly description: string;
  /** Loops using it; the monitor forgets it at 0. */
  loops: number;
}

const UP = 1;
const IN_BUCKET = 2;
const STOPPED = 4;
const LAST_HEALTHY = 8;
const HAS_LAST = 16;
/** Bits 5–9 of the flags: how many ms before the end of its tick a loop is due (0–19). */
const EARLY_SHIFT = 5;
const EARLY_MASK = 31;

/**
 * A loop keeps its times as small integers, not milliseconds since 1970 (past a small integer's
 * range: each such field of each loop holds a heap number of 16 bytes, 30,000 loops at 10k
 * routes): when it is due as its tick counted from this one, with how early in that tick among
 * the flags, and its last probe's start as how long before that. Ticks from here stay small
 * integers for 497 days of uptime; past that V8 keeps them as heap numbers again (more memory,
 * the same values).
 */
const EPOCH_TICK = Math.floor(Date.now() / TICK_MS);

/**
 * A whole number as a small integer when it is one: the difference of two large numbers is a heap
 * number even when it is small, and one such value stored turns the field into a heap number for
 * every loop.
 */
function small(n: number): number {
  return (n | 0) === n ? n | 0 : n;
}

/**
 * One probe loop: an endpoint and one check, with its rise/fall state. Its four flags share one
 * small integer (accessors below): a loop per endpoint, 30,000 at 10k routes.
 */
class ProbeLoop {
  readonly endpoint: EndpointState;
  readonly settings: CheckSettings;
  /** The next loop on the same endpoint id (another check), or null: the monitor's list per id. */
  next: ProbeLoop | null = null;
  /** watch() users not yet unwatched. */
  refs = 0;
  successes = 0;
  failures = 0;
  /**
   * The run in flight, or null. An HTTP check's probe stays for the loop's whole life (its request
   * options and its kept-alive connection are per endpoint); a TCP check's is made for each run
   * and dropped with its verdict: 30,000 idle loops at 10k routes kept 13 MB of idle probes.
   */
  probe: Probe<ProbeLoop> | null = null;
  /** ceil(dueAt / TICK_MS) − EPOCH_TICK (see dueAt). */
  #dueTick = 0;
  /** dueAt − lastAt, when there is a last probe (HAS_LAST). */
  #lastLag = 0;
  lastReason = '';
  #flags = UP;

  constructor(endpoint: EndpointState, settings: CheckSettings) {
    this.endpoint = endpoint;
    this.settings = settings;
  }

  #set(flag: number, on: boolean): void {
    this.#flags = on ? this.#flags | flag : this.#flags & ~flag;
  }

  /** The check's verdict after rise/fall. */
  get up(): boolean { return (this.#flags & UP) !== 0; }
  set up(on: boolean) { this.#set(UP, on); }
  /**
   * Whether the bucket of tick ceil(dueAt / TICK_MS) holds the loop (not while its probe runs or
   * waits, nor once stopped). A flag, not the tick: a tick is past a small integer's range, so
   * each loop would keep a heap number for it.
   */
  get inBucket(): boolean { return (this.#flags & IN_BUCKET) !== 0; }
  set inBucket(on: boolean) { this.#set(IN_BUCKET, on); }
  get stopped(): boolean { return (this.#flags & STOPPED) !== 0; }
  set stopped(on: boolean) { this.#set(STOPPED, on); }
  get lastHealthy(): boolean { return (this.#flags & LAST_HEALTHY) !== 0; }
  set lastHealthy(on: boolean) { this.#set(LAST_HEALTHY, on); }

  /**
   * When the next probe is due (ms, a whole number: a tick's start plus whole intervals); it sits
   * in the bucket of tick ceil(dueAt / TICK_MS). Setting it keeps lastAt.
   */
  get dueAt(): number {
    return (this.#dueTick + EPOCH_TICK) * TICK_MS - ((this.#flags >> EARLY_SHIFT) & EARLY_MASK);
  }

  set dueAt(ms: number) {
    const hasLast = (this.#flags & HAS_LAST) !== 0;
    const last = hasLast ? this.lastAt : 0;
    const tick = Math.ceil(ms / TICK_MS);
    this.#dueTick = small(tick - EPOCH_TICK);
    this.#flags = (this.#flags & ~(EARLY_MASK << EARLY_SHIFT)) | ((tick * TICK_MS - ms) << EARLY_SHIFT);
    if (hasLast) this.#lastLag = small(ms - last);
  }

  /** The last finished probe: when it started (ms) and what it saw (its verdict: lastHealthy); -1 before the first. */
  get lastAt(): number {
    return (this.#flags & HAS_LAST) === 0 ? -1 : this.dueAt - this.#lastLag;
  }

  set lastAt(ms: number) {
    this.#set(HAS_LAST, true);
    this.#lastLag = small(this.dueAt - ms);
  }
}

export class ActiveHealthMonitor extends EventEmitter<ActiveHealthEvents> {
  readonly #logger: Logger;
  readonly #maxConcurrent: number;
  /** endpoint id → its loops (one per distinct check; a list through ProbeLoop.next), to combine their verdicts. */
  readonly #loops = new Map<string, ProbeLoop>();
  #loopCount = 0;
  /** The distinct checks, by fingerprint. */
  readonly #settings = new Map<string, CheckSettings>();
  /** Loops due while maxConcurrent probes were running. */
  #queue: ProbeLoop[] = [];
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
    const fingerprint = fingerprintOf(target.check);
    let loop = this.#find(target.endpoint.id, fingerprint);
    let refs = 0;
    // A different EndpointState under the same id: the old one was released and recreated.
    if (loop !== null && loop.endpoint !== target.endpoint) {
      refs = loop.refs;
      this.#stopLoop(loop);
      loop = null;
    }
    loop ??= this.#startLoop(target, fingerprint);
    loop.refs += refs + 1; // a replaced loop's users are this one's now
  }

  /** One user fewer; the last one stops the probe loop. */
  unwatch(target: HealthTarget): void {
    const loop = this.#find(target.endpoint.id, fingerprintOf(target.check));
    if (loop === null) return;
    if (--loop.refs > 0) return;
    loop.refs = 0;
    if (loop.endpoint === target.endpoint) this.#stopLoop(loop);
  }

  /** The full desired set: starts loops for new endpoint+check pairs, stops the ones no longer listed. */
  sync(targets: Iterable<HealthTarget>): void {
    if (this.#stopped) return;
    const wanted = new Map<string, HealthTarget & { fingerprint: string }>();
    for (const target of targets) {
      const fingerprint = fingerprintOf(target.check);
      const key = `${target.endpoint.id}\n${fingerprint}`;
      if (!wanted.has(key)) wanted.set(key, { ...target, fingerprint });
    }
    for (const loop of this.#allLoops()) {
      // A different EndpointState under the same id: the old one was released and recreated.
      if (wanted.get(`${loop.endpoint.id}\n${loop.settings.fingerprint}`)?.endpoint !== loop.endpoint) this.#stopLoop(loop);
    }
    for (const target of wanted.values()) {
      if (this.#find(target.endpoint.id, target.fingerprint) === null) this.#startLoop(target, target.fingerprint);
    }
  }

  /** Stop probing an endpoint at once (e.g. on EndpointRegistry 'remove'), without waiting for the next sync. */
  forget(endpoint: EndpointState): void {
    for (let loop = this.#loops.get(endpoint.id) ?? null; loop !== null;) {
      const next = loop.next;
      if (loop.endpoint === endpoint) this.#stopLoop(loop);
      loop = next;
    }
  }

  /**
   * The latest finished probe of an endpoint (over its checks), or undefined when none has
   * finished yet or it is not checked: kept on the loops, so the dashboard needs no map of its own.
   */
  lastProbe(endpointId: string): { healthy: boolean; at: number; reason: string } | undefined {
    let latest: ProbeLoop | null = null;
    for (let loop = this.#loops.get(endpointId) ?? null; loop !== null; loop = loop.next) {
      if (loop.lastAt >= 0 && (latest === null || loop.lastAt > latest.lastAt)) latest = loop;
    }
    return latest === null ? undefined : { healthy: latest.lastHealthy, at: latest.lastAt, reason: latest.lastReason };
  }

  /** Number of probe loops running (one per distinct endpoint id + check). */
  get size(): number {
    return this.#loopCount;
  }

  /** Clear the timer, abort every probe and close the kept connections; the monitor is finished. */
  stop(): void {
    this.#stopped = true;
    this.#queue = [];
    this.#clearSchedule();
    for (const loop of this.#allLoops()) {
      loop.stopped = true;
      loop.probe?.close();
    }
    this.#loops.clear();
    this.#loopCount = 0;
    this.#settings.clear();
    this.#agents.http.destroy();
    this.#agents.https.destroy();
  }

  /** The loop of this endpoint id and check, or null. */
  #find(id: string, fingerprint: string): ProbeLoop | null {
    for (let loop = this.#loops.get(id) ?? null; loop !== null; loop = loop.next) {
      if (loop.settings.fingerprint === fingerprint) return loop;
    }
    return null;
  }

  /** Every loop (a copy: callers stop some). */
  #allLoops(): ProbeLoop[] {
    const all: ProbeLoop[] = [];
    for (const head of this.#loops.values()) for (let loop: ProbeLoop | null = head; loop !== null; loop = loop.next) all.push(loop);
    return all;
  }

  #startLoop({ endpoint, check }: HealthTarget, fingerprint: string): ProbeLoop {
    const settings = this.#settingsOf(check, fingerprint, endpoint);
    settings.loops++;
    const loop = new ProbeLoop(endpoint, settings);
    loop.next = this.#loops.get(endpoint.id) ?? null;
    this.#loops.set(endpoint.id, loop);
    this.#loopCount++;
    this.#rate += 1 / settings.intervalMs;
    this.#schedule(loop, this.#firstSlot(settings.intervalMs));
    this.#arm();
    return loop;
  }

  /** The shared settings of a check (made on its first loop; `endpoint` names the first user in warnings). */
  #settingsOf(check: HealthCheckSpec, fingerprint: string, endpoint: EndpointState): CheckSettings {
    const known = this.#settings.get(fingerprint);
    if (known !== undefined) return known;
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
    const path = type === 'http' ? normalisePath(check.path) : '';
    const settings: CheckSettings = {
      fingerprint, type, path, timeoutMs: Math.max(1, finiteOr(check.timeoutMs, DEFAULT_TIMEOUT_MS)), expect,
      ...(type === 'http' && check.tls !== undefined ? { tls: { ...check.tls, ca: check.tls.ca ?? this.#defaultCA } } : {}),
      intervalMs: Math.max(MIN_INTERVAL_MS, Math.round(finiteOr(check.intervalMs, MIN_INTERVAL_MS))),
      rise: Math.max(1, Math.floor(finiteOr(check.rise, 1))),
      fall: Math.max(1, Math.floor(finiteOr(check.fall, 1))),
      description: type === 'http' ? `${check.tls === undefined ? 'http' : 'https'} GET ${path} expect ${expect.text}` : 'tcp',
      loops: 0,
    };
    this.#settings.set(fingerprint, settings);
    return settings;
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
    loop.inBucket = true;
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
    for (const loop of this.#running) if (loop.probe!.deadline < at) at = loop.probe!.deadline;
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
      if (loop !== undefined && loop.probe!.deadline <= now) loop.probe!.expire();
    }
    const nowTick = Math.floor(now / TICK_MS);
    while (this.#ticks.length > 0 && this.#ticks[0]! <= nowTick) {
      const tick = heapPop(this.#ticks);
      const due = this.#buckets.get(tick)!;
      this.#buckets.delete(tick);
      for (const loop of due) {
        loop.inBucket = false;
        if (loop.stopped) continue;
        if (this.#running.length < this.#maxConcurrent) this.#run(loop, now);
        else this.#queue.push(loop);
      }
    }
    this.#arm();
  };

  #stopLoop(loop: ProbeLoop): void {
    loop.stopped = true;
    const settings = loop.settings;
    this.#rate -= 1 / settings.intervalMs;
    if (--settings.loops === 0) this.#settings.delete(settings.fingerprint);
    if (loop.inBucket) {
      const bucket = this.#buckets.get(Math.ceil(loop.dueAt / TICK_MS));
      const at = bucket?.indexOf(loop) ?? -1;
      if (at !== -1) bucket!.splice(at, 1); // an emptied bucket stays until its tick: the heap keeps its tick
      loop.inBucket = false;
    }
    loop.probe?.close(); // a run in flight frees its concurrency slot through #settle
    const endpoint = loop.endpoint;
    // Out of its endpoint id's list.
    const head = this.#loops.get(endpoint.id) ?? null;
    if (head === loop) {
      if (loop.next === null) this.#loops.delete(endpoint.id);
      else this.#loops.set(endpoint.id, loop.next);
    } else {
      for (let l = head; l !== null; l = l.next) {
        if (l.next === loop) {
          l.next = loop.next;
          break;
        }
      }
    }
    loop.next = null;
    this.#loopCount--;
    if (this.#loopCount === 0) this.#clearSchedule();
    for (let sibling = this.#loops.get(endpoint.id) ?? null; sibling !== null; sibling = sibling.next) {
      if (sibling.endpoint === endpoint) {
        this.#updateEndpoint(sibling, `check ${settings.description} removed`);
        return;
      }
    }
    // Nothing checks it any more: a verdict nobody can revise must not keep it down.
    if (!endpoint.activeUp) {
      endpoint.activeUp = true;
      this.#logger.info({ endpoint: endpoint.name, check: settings.description }, 'endpoint up: no longer actively checked');
      this.emit('change', endpoint, true);
    }
  }

  #run(loop: ProbeLoop, now: number): void {
    this.#running.push(loop);
    (loop.probe ??= new Probe<ProbeLoop>(loop.endpoint, loop.settings, this.#settle, loop, this.#agents)).start(now);
  }

  readonly #settle = (loop: ProbeLoop, healthy: boolean, reason: string): void => {
    // The run's start is the probe's (a TCP check's probe goes with its verdict): a loop keeps no
    // second timestamp, each a heap number (30,000 loops at 10k routes).
    const startedAt = loop.probe?.startedAt ?? this.#clock.now();
    if (loop.settings.type === 'tcp') loop.probe = null;
    const at = this.#running.indexOf(loop);
    if (at !== -1) {
      this.#running[at] = this.#running[this.#running.length - 1]!;
      this.#running.pop();
    }
    if (!loop.stopped && !this.#stopped) {
      this.emit('check', loop.endpoint, healthy, startedAt, reason);
      loop.lastAt = startedAt;
      loop.lastHealthy = healthy;
      loop.lastReason = reason;
      this.#apply(loop, healthy, reason, startedAt);
      if (!loop.stopped) {
        // Keep the phase: one interval after the previous probe was due (or the first such time
        // still ahead, when a probe outlasted its interval).
        const now = this.#clock.now();
        const interval = loop.settings.intervalMs;
        let next = loop.dueAt + interval;
        if (next <= now) next += Math.ceil((now - next + 1) / interval) * interval;
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

  #apply(loop: ProbeLoop, healthy: boolean, reason: string, startedAt: number): void {
    const endpoint = loop.endpoint;
    const { rise, fall, description } = loop.settings;
    if (healthy) {
      loop.failures = 0;
      if (!loop.up && ++loop.successes >= rise) {
        loop.up = true;
        loop.successes = 0;
        this.#updateEndpoint(loop, reason);
      }
      const now = this.#clock.now();
      if (endEjectionAfterActivePass(endpoint, startedAt, now)) {
        this.#logger.info({ endpoint: endpoint.name, check: description, reason }, 'passive ejection ended early: active check passed');
      }
    } else {
      loop.successes = 0;
      if (loop.up && ++loop.failures >= fall) {
        loop.up = false;
        loop.failures = 0;
        this.#updateEndpoint(loop, reason);
      }
    }
  }

  /** Combine the verdicts of every check on the endpoint; log and emit when it changes. */
  #updateEndpoint(loop: ProbeLoop, reason: string): void {
    const endpoint = loop.endpoint;
    let up = true;
    for (let sibling = this.#loops.get(endpoint.id) ?? null; sibling !== null; sibling = sibling.next) {
      if (sibling.endpoint === endpoint && !sibling.up) up = false;
    }
    if (endpoint.activeUp === up) {
      this.#logger.debug({ endpoint: endpoint.name, check: loop.settings.description, up: loop.up, reason }, 'health check changed, endpoint state unchanged');
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
    this.#logger.info({ endpoint: endpoint.name, check: loop.settings.description, reason }, up ? 'endpoint up' : 'endpoint down');
    this.emit('change', endpoint, up);
  }
}

/** Identity of a check: two routes with equal checks on one endpoint share one loop. */
function fingerprintOf(check: HealthCheckSpec): string {
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
