// The route's own retry policy, as a failure phase (after the Middlewares' failure phases, so a
// plugin's answer or retry comes first): a request that never reached its endpoint — a connect
// failure (refused, unreachable, connect timeout) — is tried once more on another endpoint; a
// reset on a reused keep-alive connection the endpoint had already closed, once more on the same
// endpoint. Only for requests that are safe to send again (idempotent methods, no body or a
// buffered one), as nginx's proxy_next_upstream and HAProxy's `retries` + `redispatch` do by
// default. Upgrades (a GET) and passthrough connections (nothing consumed yet) qualify.

import { Type } from 'typebox';
import type { PluginContext } from '../pipeline/context.ts';
import { definePlugin } from '../pipeline/define-plugin.ts';
import { phaseRunOf } from '../pipeline/phase-run.ts';
import { sharedByRoutes } from '../pipeline/chain.ts';

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

class UpstreamRetry {
  failure(ctx: PluginContext): void {
    const failure = ctx.failure!;
    // One retry of the router's own; a plugin may ask for more (bounded by the lifecycle).
    if (failure.attempt !== 1 || failure.responseStarted) return;
    if (ctx.kind === 'http' && !IDEMPOTENT.has(ctx.method)) return;
    if (failure.reason === 'connect') ctx.retry();
    else if (failure.reason === 'reset' && ctx.kind !== 'passthrough') phaseRunOf(ctx).retrySameEndpoint();
  }
}

const INSTANCE = sharedByRoutes(new UpstreamRetry());

export const upstreamRetryPlugin = definePlugin({ name: 'upstream-retry', config: Type.Object({}), create: () => INSTANCE });
