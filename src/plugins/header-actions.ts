// Route spec.httpHeaders.actions: request actions in the upstreamRequest phase, response
// actions in the response phase (see table/header-actions.ts for parsing and rendering).

import type { PluginContext } from '../pipeline/context.ts';
import { phaseRunOf } from '../pipeline/phase-run.ts';
import { applyActions, applyRequestActions } from '../table/header-actions.ts';
import type { HeaderActions } from '../table/types.ts';
import { builtin } from './define.ts';

class RequestHeaderActions {
  readonly #actions: HeaderActions;
  constructor(actions: HeaderActions) {
    this.#actions = actions;
  }

  upstreamRequest(ctx: PluginContext): void {
    const run = phaseRunOf(ctx);
    run.upstreamHeaders = applyRequestActions(run.upstreamHeaders!, this.#actions.request, run.headers);
  }
}

class ResponseHeaderActions {
  readonly #actions: HeaderActions;
  constructor(actions: HeaderActions) {
    this.#actions = actions;
  }

  response(ctx: PluginContext): void {
    applyActions(ctx.responseHeaders!, this.#actions.response, ctx.headers, ctx.upstreamResponseHeaders);
  }
}

class BothHeaderActions extends RequestHeaderActions {
  readonly #response: ResponseHeaderActions;
  constructor(actions: HeaderActions) {
    super(actions);
    this.#response = new ResponseHeaderActions(actions);
  }

  response(ctx: PluginContext): void {
    this.#response.response(ctx);
  }
}

export const headerActionsPlugin = builtin<HeaderActions>('header-actions', (actions) => {
  if (actions.response.length === 0) return new RequestHeaderActions(actions);
  if (actions.request.length === 0) return new ResponseHeaderActions(actions);
  return new BothHeaderActions(actions);
});
