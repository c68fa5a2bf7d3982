// Active health checks. The reconciler hands over the full set of (endpoint, check) pairs after
// every table change; the monitor keeps exactly one probe loop per distinct endpoint id and
// check, however many routes share them. Probes run on jittered intervals through a bounded
// queue; rise/fall counters turn probe results into up/down verdicts on the shared
// EndpointState. New endpoints start up (optimistic, as HAProxy does for new servers), so a
// table change never blackholes traffic while the first probes run.

import { EventEmitter } from 'node:events';
import { systemClock, type Clock, type TimerHandle } from '../clock.ts';
import type { Logger } from '../log.ts';
import type { HealthCheckSpec } from '../table/types.ts';
import type { EndpointState } from './endpoint-state.ts';
import { endEjectionAfterActivePass } from './passive.ts';
import { Probe, type ProbeTarget } from './probe.ts';
import { parseStatusExpectation, type StatusExpectation } from './status-expectation.ts';

const DEFAULT_MAX_CONCURRENT = 32;
/** The first probe of a new loop runs within this delay (spread so a big table change does not probe everything at once). */
const FIRST_PROBE_MAX_DELAY_MS = 250;
const MIN_INTERVAL_MS = 100;
const DEFAULT_TIMEOUT_MS = 3_000;
/** Each interval is the configured one ±10 %. */
const JITTER = 0.1;

export interface HealthTarget {
  endpoint: EndpointState;
  check: HealthCheckSpec;
}

export interface ActiveHealthEvents {
  /** The endpoint's active verdict changed (every check on it up, or one of them down). */
  change: [endpoint: EndpointState, up: boolean];
  /** Every finished probe, before rise/fall is applied: lets a primary relay passes to workers (see passive.endEjectionAfterActivePass). */
  check: [endpoint: EndpointState, healthy: boolean, startedAt: number, reason: string];
}

/** One probe loop: an endpoint and one check, with its rise/fall state. */
interface ProbeLoop {
  readonly key: string;
  readonly target: ProbeTarget;
  readonly intervalMs: number;
  readonly rise: number;
  readonly fall: number;
  /** For logs: `tcp` or `http GET /path expect 2xx`. */
  readonly description: string;
  up: boolean;
  successes: number;
  failures: number;
  timer: TimerHandle | null;
  probe: Probe | null;
  startedAt: number;
  stopped: boolean;
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
  #running = 0;
  #stopped = false;

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

  /** Clear every timer and abort every probe; the monitor is finished. */
  stop(): void {
    this.#stopped = true;
    this.#queue = [];
    for (const loop of this.#loops.values()) {
      loop.stopped = true;
      if (loop.timer !== null) this.#clock.clearTimeout(loop.timer);
      loop.timer = null;
      loop.probe?.abort();
    }
    this.#loops.clear();
    this.#byEndpoint.clear();
    this.#refs.clear();
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
    const intervalMs = Math.max(MIN_INTERVAL_MS, finiteOr(check.intervalMs, MIN_INTERVAL_MS));
    const path = type === 'http' ? normalisePath(check.path) : '';
    const loop: ProbeLoop = {
      key,
      target: {
        endpoint, type, path, timeoutMs: Math.max(1, finiteOr(check.timeoutMs, DEFAULT_TIMEOUT_MS)), expect,
        ...(type === 'http' && check.tls !== undefined ? { tls: { ...check.tls, ca: check.tls.ca ?? this.#defaultCA } } : {}),
      },
      intervalMs,
      rise: Math.max(1, Math.floor(finiteOr(check.rise, 1))),
      fall: Math.max(1, Math.floor(finiteOr(check.fall, 1))),
      description: type === 'http' ? `${check.tls === undefined ? 'http' : 'https'} GET ${path} expect ${expect.text}` : 'tcp',
      up: true,
      successes: 0,
      failures: 0,
      timer: null,
      probe: null,
      startedAt: 0,
      stopped: false,
    };
    this.#loops.set(key, loop);
    let siblings = this.#byEndpoint.get(endpoint.id);
    if (siblings === undefined) this.#byEndpoint.set(endpoint.id, (siblings = new Set()));
    siblings.add(loop);
    loop.timer = this.#clock.setTimeout(this.#due, Math.random() * Math.min(FIRST_PROBE_MAX_DELAY_MS, intervalMs), loop);
  }

  #stopLoop(loop: ProbeLoop): void {
    loop.stopped = true;
    if (loop.timer !== null) this.#clock.clearTimeout(loop.timer);
    loop.timer = null;
    loop.probe?.abort(); // frees its concurrency slot through #settle
    this.#loops.delete(loop.key);
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

  readonly #due = (loop: ProbeLoop): void => {
    loop.timer = null;
    if (loop.stopped) return;
    if (this.#running < this.#maxConcurrent) this.#run(loop);
    else this.#queue.push(loop);
  };

  #run(loop: ProbeLoop): void {
    this.#running++;
    loop.startedAt = this.#clock.now();
    loop.probe = new Probe(loop.target, (healthy, reason) => this.#settle(loop, healthy, reason), this.#clock);
  }

  #settle(loop: ProbeLoop, healthy: boolean, reason: string): void {
    this.#running--;
    loop.probe = null;
    if (!loop.stopped && !this.#stopped) {
      this.emit('check', loop.target.endpoint, healthy, loop.startedAt, reason);
      this.#apply(loop, healthy, reason);
      if (!loop.stopped) {
        // Whole milliseconds: Node keeps one timer list per distinct duration, and fractional
        // durations would make one list (and one priority-queue insert) per probe.
        const jittered = Math.round(loop.intervalMs * (1 - JITTER + 2 * JITTER * Math.random()));
        loop.timer = this.#clock.setTimeout(this.#due, jittered, loop);
      }
    }
    while (this.#running < this.#maxConcurrent && this.#queue.length > 0 && !this.#stopped) {
      const next = this.#queue.shift()!;
      if (!next.stopped) this.#run(next);
    }
  }

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
      endpoint.ejectedUntil = 0;
      endpoint.consecutiveFailures = 0;
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

function finiteOr(value: number, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : fallback;
}

function normalisePath(path: string | undefined): string {
  if (path === undefined || path === '') return '/';
  return path.startsWith('/') ? path : `/${path}`;
}
