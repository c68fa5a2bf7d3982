// The phase runner: drives one exchange (a PhaseRun) through its stages. Synchronous phases run
// in one loop with no Promise and no closure; a phase that returns a Promise suspends the loop,
// which resumes where it stopped when it settles (bounded by the route's timeout). What each
// stage decided is reported to the exchange (PhaseRun's abstract methods), which owns the
// transport: the request stages (connection → upstreamRequest), the response stage, the failure
// stage, the log stage, and the body filters in between.

import type { ChainLink } from './chain.ts';
import { memberOf } from './candidates.ts';
import {
  STAGE_CONNECTION, STAGE_FAILURE, STAGE_LOG, STAGE_REQUEST, STAGE_RESPONSE, STAGE_SELECT, STAGE_FORWARD,
  type PhaseRun,
} from './phase-run.ts';
import type { EndpointCandidate } from './views.ts';

function linksOfStage(run: PhaseRun, stage: number): readonly ChainLink[] | null {
  const chain = run.chain;
  switch (stage) {
    case STAGE_CONNECTION: return chain.connection;
    case STAGE_REQUEST: return run.kind === 'passthrough' ? null : chain.request;
    case STAGE_SELECT: return chain.selectEndpoint;
    default: return run.kind === 'passthrough' ? null : chain.upstreamRequest;
  }
}

export function isPromise(value: unknown): value is Promise<unknown> {
  return value !== null && typeof value === 'object' && typeof (value as { then?: unknown }).then === 'function';
}

/** What a selectEndpoint that does not read its candidates is handed (see ChainEntry.readsCandidates). */
const NO_CANDIDATES: readonly EndpointCandidate[] = Object.freeze([]);

/** The candidates selectEndpoint sees: all of the route's, or on a retry those not tried yet. */
function candidatesFor(run: PhaseRun): readonly EndpointCandidate[] {
  const all = run.owner.candidates;
  const tried = run.tried;
  if (tried === null) return all;
  const members = run.owner.members;
  const left: EndpointCandidate[] = [];
  for (let i = 0; i < members.length; i++) if (!tried.includes(members[i]!)) left.push(all[i]!);
  return left;
}

function callPhase(stage: number, link: ChainLink, run: PhaseRun): unknown {
  const phases = link.phases;
  const ctx = run.ctx;
  switch (stage) {
    case STAGE_CONNECTION: return phases.connection!(ctx);
    case STAGE_REQUEST: return phases.request!(ctx);
    case STAGE_SELECT: return phases.selectEndpoint!(ctx, link.readsCandidates ? candidatesFor(run) : NO_CANDIDATES);
    default: return phases.upstreamRequest!(ctx);
  }
}

/** A selectEndpoint phase's answer: a candidate chooses its member; anything else is the plugin's bug. */
function chose(run: PhaseRun, value: unknown): boolean {
  if (value == null) return true;
  const member = memberOf(value);
  if (member === null) return false;
  run.member = member;
  return true;
}

const NOT_A_CANDIDATE = 'selectEndpoint returned something that is not one of its candidates';

/** Run (or resume) the request stages of an exchange, up to run.lastStage. */
export function runPhases(run: PhaseRun): void {
  while (run.stage <= run.lastStage) {
    const stage = run.stage;
    const links = linksOfStage(run, stage);
    if (links !== null) {
      while (run.index < links.length) {
        if (stage === STAGE_SELECT && run.member !== null) break;
        const link = links[run.index++]!;
        run.current = link.slot;
        let result: unknown;
        try {
          result = callPhase(stage, link, run);
        } catch (err) {
          finish(run);
          run.failed(link.name, err, false);
          return;
        }
        if (isPromise(result)) {
          suspend(run, link, result);
          return;
        }
        if (ended(run, link, stage, result)) return;
      }
    }
    run.stage = stage + 1;
    run.index = 0;
  }
  run.stage = STAGE_FORWARD;
  finish(run);
  run.proceed();
}

/**
 * After a phase returned (or its Promise resolved) with `result`: a selectEndpoint result that is
 * not a candidate fails the exchange, an answer set by the phase is written. True when either
 * ended the request stages.
 */
function ended(run: PhaseRun, link: ChainLink, stage: number, result: unknown): boolean {
  if (stage === STAGE_SELECT && !chose(run, result)) {
    finish(run);
    run.failed(link.name, new TypeError(NOT_A_CANDIDATE), false);
    return true;
  }
  if (run.answerStatus !== 0) {
    finish(run);
    run.answer();
    return true;
  }
  return false;
}

function finish(run: PhaseRun): void {
  run.settled = true;
  if (run.timer !== null) {
    clearTimeout(run.timer);
    run.timer = null;
  }
}

function armTimer(run: PhaseRun, link: ChainLink): void {
  run.settled = false;
  if (run.timer === null && run.chain.timeoutMs > 0) run.timer = setTimeout(onPhaseTimeout, run.chain.timeoutMs, run, link.name);
}

/** The slow path: wait for a request-stage phase's Promise, then resume the loop. */
function suspend(run: PhaseRun, link: ChainLink, promise: Promise<unknown>): void {
  armTimer(run, link);
  const stage = run.stage;
  promise.then(
    (value) => {
      if (run.settled) return; // timed out, or the client went away
      if (!ended(run, link, stage, value)) runPhases(run);
    },
    (err: unknown) => {
      if (run.settled) return;
      finish(run);
      run.failed(link.name, err, false);
    },
  );
}

/** A pending phase did not settle within the route's timeout: the stage fails. */
function onPhaseTimeout(run: PhaseRun, name: string): void {
  run.timer = null;
  if (run.settled) return;
  run.settled = true;
  const error = new Error('phase did not settle within the route timeout');
  if (run.stage === STAGE_RESPONSE) run.responseFailed(name, error, true);
  else if (run.stage === STAGE_FAILURE) {
    run.phaseFailed(name, error);
    run.failureDone();
  } else run.failed(name, error, true);
}

/** Stop an exchange whose client went away (or whose upstream failed) while a phase was pending. */
export function abandon(run: PhaseRun): void {
  if (!run.settled) finish(run);
}

// ---- response stage

export interface PhaseFailure { readonly link: string; readonly error: unknown }

/** runResponsePhases' answer when a phase returned a Promise: the exchange hears the rest. */
export const RESPONSE_PENDING: PhaseFailure = Object.freeze({ link: '', error: null });

/**
 * Response phases: run.status and run.responseHeaders are set. Returns null when every phase
 * returned synchronously (no Promise, no closure; run.answerStatus tells whether one answered),
 * the link that threw, or RESPONSE_PENDING when a phase returned a Promise — the remaining
 * phases then run when it settles and the exchange hears responseReady/responseFailed.
 */
export function runResponsePhases(run: PhaseRun): PhaseFailure | null {
  run.stage = STAGE_RESPONSE;
  run.index = 0;
  return continueResponsePhases(run);
}

function continueResponsePhases(run: PhaseRun): PhaseFailure | null {
  const links = run.chain.response;
  if (links === null) return null;
  while (run.index < links.length) {
    const link = links[run.index++]!;
    run.current = link.slot;
    let result: unknown;
    try {
      result = link.phases.response!(run.ctx);
    } catch (error) {
      return { link: link.name, error };
    }
    if (isPromise(result)) {
      suspendResponse(run, link, result);
      return RESPONSE_PENDING;
    }
    if (run.answerStatus !== 0) return null;
  }
  return null;
}

function suspendResponse(run: PhaseRun, link: ChainLink, promise: Promise<unknown>): void {
  armTimer(run, link);
  promise.then(
    () => {
      if (run.settled) return; // timed out, or the exchange ended meanwhile (see abandon)
      const next = run.answerStatus !== 0 ? null : continueResponsePhases(run);
      if (next === RESPONSE_PENDING) return;
      finish(run);
      if (next === null) run.responseReady();
      else run.responseFailed(next.link, next.error, false);
    },
    (err: unknown) => {
      if (run.settled) return;
      finish(run);
      run.responseFailed(link.name, err, false);
    },
  );
}

// ---- failure stage

/**
 * Failure phases, in chain order, until one answers (ctx.respond) or asks for another attempt
 * (ctx.retry()); then run.failureDone(). A phase that throws or rejects is counted and logged
 * and ends the stage (the router's own answer stands).
 */
export function runFailurePhases(run: PhaseRun): void {
  run.stage = STAGE_FAILURE;
  run.index = 0;
  continueFailurePhases(run);
}

function continueFailurePhases(run: PhaseRun): void {
  const links = run.chain.failure;
  if (links !== null) {
    while (run.index < links.length) {
      if (run.answerStatus !== 0 || run.retryAsked) break;
      const link = links[run.index++]!;
      run.current = link.slot;
      let result: unknown;
      try {
        result = link.phases.failure!(run.ctx);
      } catch (error) {
        run.phaseFailed(link.name, error);
        break;
      }
      if (isPromise(result)) {
        armTimer(run, link);
        result.then(
          () => {
            if (run.settled) return;
            finish(run);
            continueFailurePhases(run);
          },
          (error: unknown) => {
            if (run.settled) return;
            finish(run);
            run.phaseFailed(link.name, error);
            run.failureDone();
          },
        );
        return;
      }
    }
  }
  run.failureDone();
}

// ---- log stage

/**
 * Log phases, after the exchange. A phase may return a Promise: it is not awaited (the exchange
 * is over), but its rejection is reported like a throw — never left unhandled.
 */
export function runLogPhases(run: PhaseRun): void {
  const links = run.chain.log;
  run.stage = STAGE_LOG;
  if (links === null) return;
  for (let i = 0; i < links.length; i++) {
    const link = links[i]!;
    run.current = link.slot;
    try {
      const result: unknown = link.phases.log!(run.ctx);
      if (isPromise(result)) watchLogPhase(result, run, link.name);
    } catch (error) {
      reportPhaseFailure(run, link.name, error);
    }
  }
}

function watchLogPhase(promise: Promise<unknown>, run: PhaseRun, link: string): void {
  promise.then(undefined, (error: unknown) => reportPhaseFailure(run, link, error));
}

/** A reporter that throws must not turn into an unhandled rejection or escape the exchange. */
function reportPhaseFailure(run: PhaseRun, link: string, error: unknown): void {
  try {
    run.phaseFailed(link, error);
  } catch {
    // nothing left to tell
  }
}

// ---- body filters

/** A body phase threw, rejected, returned something that is not a Buffer, or did not settle in time. */
export class BodyPhaseError extends Error {
  readonly link: string;
  readonly timedOut: boolean;
  constructor(link: string, cause: unknown, timedOut = false) {
    super(`${link}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'BodyPhaseError';
    this.link = link;
    this.timedOut = timedOut;
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * Pass one chunk through the body filters (`links`: chain.requestBody or chain.responseBody).
 * Returns what goes on (null: nothing now), or a Promise of it when a filter returned one.
 * With `end`, every filter is called (with what the previous one passed on, or an empty chunk)
 * so each can flush what it holds. Throws (or rejects with) a BodyPhaseError.
 */
export function filterBody(run: PhaseRun, links: readonly ChainLink[], chunk: Buffer, end: boolean, response: boolean): Buffer | null | Promise<Buffer | null> {
  return filterFrom(run, links, 0, chunk, end, response);
}

function filterFrom(run: PhaseRun, links: readonly ChainLink[], from: number, chunk: Buffer, end: boolean, response: boolean): Buffer | null | Promise<Buffer | null> {
  let current: Buffer | null = chunk;
  for (let i = from; i < links.length; i++) {
    const link = links[i]!;
    run.current = link.slot;
    let result: unknown;
    try {
      result = response ? link.phases.responseBody!(run.ctx, current ?? EMPTY, end) : link.phases.requestBody!(run.ctx, current ?? EMPTY, end);
    } catch (err) {
      throw new BodyPhaseError(link.name, err);
    }
    if (isPromise(result)) return settleFilter(run, links, i, result, current ?? EMPTY, end, response);
    current = passOn(link, result, current ?? EMPTY);
    if (current === null && !end) return null;
  }
  return current;
}

function passOn(link: ChainLink, result: unknown, input: Buffer): Buffer | null {
  if (result === undefined) return input;
  if (result === null) return null;
  if (Buffer.isBuffer(result)) return result;
  if (result instanceof Uint8Array) return Buffer.from(result.buffer, result.byteOffset, result.byteLength);
  throw new BodyPhaseError(link.name, new TypeError('a body phase must return a Buffer, null or nothing'));
}

async function settleFilter(
  run: PhaseRun, links: readonly ChainLink[], at: number, promise: Promise<unknown>, input: Buffer, end: boolean, response: boolean,
): Promise<Buffer | null> {
  const link = links[at]!;
  let result: unknown;
  try {
    result = await withTimeout(promise, run.chain.timeoutMs);
  } catch (err) {
    throw err === TIMED_OUT ? new BodyPhaseError(link.name, new Error('body phase did not settle within the route timeout'), true) : new BodyPhaseError(link.name, err);
  }
  const out = passOn(link, result, input);
  if (out === null && !end) return null;
  return filterFrom(run, links, at + 1, out ?? EMPTY, end, response);
}

const TIMED_OUT = Symbol('timed out');

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  if (ms <= 0) return promise;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(reject, ms, TIMED_OUT);
    promise.then((v) => { clearTimeout(timer); resolve(v); }, (e: unknown) => { clearTimeout(timer); reject(e); });
  });
}

