// The phase runner: drives one exchange through connection → request → selectEndpoint →
// upstreamRequest, then hands it back to its driver (forward, tunnel, answer). Synchronous
// phases run in one loop with no Promise and no closure; a phase that returns a Promise
// suspends the loop, which resumes where it stopped when it settles (bounded by the route's
// timeout). The forwarder runs the response phases (runResponsePhases: the same sync fast path,
// and a Promise makes the response head wait) and, after the exchange, the log phases.

import type { PluginContext } from './context.ts';
import type { ChainLink, EndpointCandidate } from './types.ts';

const STAGE_CONNECTION = 0;
const STAGE_REQUEST = 1;
const STAGE_SELECT = 2;
const STAGE_UPSTREAM = 3;
const STAGE_DONE = 4;

function linksOfStage(ctx: PluginContext, stage: number): readonly ChainLink[] | null {
  const chain = ctx.chain;
  switch (stage) {
    case STAGE_CONNECTION: return chain.connection;
    case STAGE_REQUEST: return ctx.kind === 'passthrough' ? null : chain.request;
    case STAGE_SELECT: return chain.selectEndpoint;
    default: return ctx.kind === 'passthrough' ? null : chain.upstreamRequest;
  }
}

function isPromise(value: unknown): value is Promise<unknown> {
  return value !== null && typeof value === 'object' && typeof (value as { then?: unknown }).then === 'function';
}

function callPhase(stage: number, link: ChainLink, ctx: PluginContext): unknown {
  const phases = link.phases;
  switch (stage) {
    case STAGE_CONNECTION: return phases.connection!(ctx);
    case STAGE_REQUEST: return phases.request!(ctx);
    case STAGE_SELECT: return phases.selectEndpoint!(ctx, (ctx.owner as { members: readonly EndpointCandidate[] }).members);
    default: return phases.upstreamRequest!(ctx);
  }
}

/** Run (or resume) the request phases of an exchange. */
export function runPhases(ctx: PluginContext): void {
  while (ctx.stage < STAGE_DONE) {
    const stage = ctx.stage;
    const links = linksOfStage(ctx, stage);
    if (links !== null) {
      while (ctx.index < links.length) {
        if (stage === STAGE_SELECT && ctx.endpoint !== null) break;
        const link = links[ctx.index++]!;
        ctx.current = link.slot;
        let result: unknown;
        try {
          result = callPhase(stage, link, ctx);
        } catch (err) {
          finish(ctx);
          ctx.driver.failed(ctx, link.name, err, false);
          return;
        }
        if (isPromise(result)) {
          suspend(ctx, link, result);
          return;
        }
        if (stage === STAGE_SELECT && result != null) ctx.endpoint = result as EndpointCandidate;
        if (ctx.answerStatus !== 0) {
          finish(ctx);
          ctx.driver.answer(ctx);
          return;
        }
      }
    }
    ctx.stage = stage + 1;
    ctx.index = 0;
  }
  finish(ctx);
  ctx.driver.proceed(ctx);
}

function finish(ctx: PluginContext): void {
  ctx.settled = true;
  if (ctx.timer !== null) {
    clearTimeout(ctx.timer);
    ctx.timer = null;
  }
}

/** The slow path: wait for a phase's Promise, then resume the loop. */
function suspend(ctx: PluginContext, link: ChainLink, promise: Promise<unknown>): void {
  if (ctx.timer === null && ctx.chain.timeoutMs > 0) ctx.timer = setTimeout(onPhaseTimeout, ctx.chain.timeoutMs, ctx, link.name);
  const stage = ctx.stage;
  promise.then(
    (value) => {
      if (ctx.settled) return; // timed out, or the client went away
      if (stage === STAGE_SELECT && value != null) ctx.endpoint = value as EndpointCandidate;
      if (ctx.answerStatus !== 0) {
        finish(ctx);
        ctx.driver.answer(ctx);
        return;
      }
      runPhases(ctx);
    },
    (err: unknown) => {
      if (ctx.settled) return;
      finish(ctx);
      ctx.driver.failed(ctx, link.name, err, false);
    },
  );
}

function onPhaseTimeout(ctx: PluginContext, name: string): void {
  ctx.timer = null;
  if (ctx.settled) return;
  ctx.settled = true;
  ctx.driver.failed(ctx, name, new Error('phase did not settle within the route timeout'), true);
}

/** Stop an exchange whose client went away while a phase was pending. */
export function abandon(ctx: PluginContext): void {
  if (!ctx.settled) finish(ctx);
}

/** What a response phase that returned a Promise reports to, when it settles. */
export interface ResponseDriver {
  /** Every response phase has run: write the response head. */
  responseReady(ctx: PluginContext): void;
  /** A response phase threw, rejected or did not settle within the route's timeout. */
  responseFailed(ctx: PluginContext, link: string, error: unknown, timedOut: boolean): void;
}

export interface PhaseFailure { readonly link: string; readonly error: unknown }

/** runResponsePhases' answer when a phase returned a Promise: the driver hears the rest. */
export const RESPONSE_PENDING: PhaseFailure = Object.freeze({ link: '', error: null });

/**
 * Response phases, from the forwarder: ctx.status and ctx.responseHeaders are set. Returns null
 * when every phase returned synchronously (no Promise, no closure: today's path), the link that
 * threw (the caller answers 500), or RESPONSE_PENDING when a phase returned a Promise — the
 * remaining phases then run when it settles and `driver` is told the outcome (bounded by the
 * route's timeout, like the request phases).
 */
export function runResponsePhases(ctx: PluginContext, driver: ResponseDriver): PhaseFailure | null {
  ctx.index = 0;
  return continueResponsePhases(ctx, driver);
}

function continueResponsePhases(ctx: PluginContext, driver: ResponseDriver): PhaseFailure | null {
  const links = ctx.chain.response!;
  while (ctx.index < links.length) {
    const link = links[ctx.index++]!;
    ctx.current = link.slot;
    let result: unknown;
    try {
      result = link.phases.response!(ctx);
    } catch (error) {
      return { link: link.name, error };
    }
    if (isPromise(result)) {
      suspendResponse(ctx, link, result, driver);
      return RESPONSE_PENDING;
    }
  }
  return null;
}

/** The slow path of the response phases: wait, then run the rest (the head waits for them). */
function suspendResponse(ctx: PluginContext, link: ChainLink, promise: Promise<unknown>, driver: ResponseDriver): void {
  ctx.settled = false;
  if (ctx.timer === null && ctx.chain.timeoutMs > 0) ctx.timer = setTimeout(onResponseTimeout, ctx.chain.timeoutMs, ctx, link.name, driver);
  promise.then(
    () => {
      if (ctx.settled) return; // timed out, or the exchange ended meanwhile (see abandon)
      const next = continueResponsePhases(ctx, driver);
      if (next === RESPONSE_PENDING) return;
      finish(ctx);
      if (next === null) driver.responseReady(ctx);
      else driver.responseFailed(ctx, next.link, next.error, false);
    },
    (err: unknown) => {
      if (ctx.settled) return;
      finish(ctx);
      driver.responseFailed(ctx, link.name, err, false);
    },
  );
}

function onResponseTimeout(ctx: PluginContext, name: string, driver: ResponseDriver): void {
  ctx.timer = null;
  if (ctx.settled) return;
  ctx.settled = true;
  driver.responseFailed(ctx, name, new Error('response phase did not settle within the route timeout'), true);
}

/** Where log-phase failures go (one object per proxy: no closure per exchange). */
export interface LogPhaseFailures {
  logPhase(route: string, link: string, error: unknown): void;
}

/**
 * Log phases, after the exchange. A phase may return a Promise: it is not awaited (the exchange
 * is over), but its rejection is reported like a throw — never left unhandled.
 */
export function runLogPhases(ctx: PluginContext, failures: LogPhaseFailures): void {
  const links = ctx.chain.log;
  if (links === null) return;
  ctx.durationMs = performance.now() - ctx.startedAt;
  for (let i = 0; i < links.length; i++) {
    const link = links[i]!;
    ctx.current = link.slot;
    try {
      const result: unknown = link.phases.log!(ctx);
      if (isPromise(result)) watchLogPhase(result, failures, ctx.route.key, link.name);
    } catch (error) {
      reportLogFailure(failures, ctx.route.key, link.name, error);
    }
  }
}

function watchLogPhase(promise: Promise<unknown>, failures: LogPhaseFailures, route: string, link: string): void {
  promise.then(undefined, (error: unknown) => reportLogFailure(failures, route, link, error));
}

/** A reporter that throws must not turn into an unhandled rejection or escape the exchange. */
function reportLogFailure(failures: LogPhaseFailures, route: string, link: string, error: unknown): void {
  try {
    failures.logPhase(route, link, error);
  } catch {
    // nothing left to tell
  }
}
