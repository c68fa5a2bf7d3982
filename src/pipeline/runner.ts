// The phase runner: drives one exchange through connection → request → selectEndpoint →
// upstreamRequest, then hands it back to its driver (forward, tunnel, answer). Synchronous
// phases run in one loop with no Promise and no closure; a phase that returns a Promise
// suspends the loop, which resumes where it stopped when it settles (bounded by the route's
// timeout). Response and log phases are synchronous and run from the forwarder.

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

/**
 * Response phases (synchronous), from the forwarder: ctx.status and ctx.responseHeaders are
 * set. Returns the name of the link that threw (the caller answers 500), or null.
 */
export function runResponsePhases(ctx: PluginContext): { link: string; error: unknown } | null {
  const links = ctx.chain.response!;
  for (let i = 0; i < links.length; i++) {
    const link = links[i]!;
    ctx.current = link.slot;
    try {
      link.phases.response!(ctx);
    } catch (error) {
      return { link: link.name, error };
    }
  }
  return null;
}

/** Log phases (synchronous, after the exchange). A throwing logger is reported, never rethrown. */
export function runLogPhases(ctx: PluginContext, onError: (link: string, error: unknown) => void): void {
  const links = ctx.chain.log;
  if (links === null) return;
  ctx.durationMs = performance.now() - ctx.startedAt;
  for (let i = 0; i < links.length; i++) {
    const link = links[i]!;
    ctx.current = link.slot;
    try {
      const r = link.phases.log!(ctx) as unknown;
      if (isPromise(r)) r.then(undefined, (err: unknown) => onError(link.name, err));
    } catch (error) {
      onError(link.name, error);
    }
  }
}
