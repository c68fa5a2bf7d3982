// Route spec.httpHeaders.actions (OpenShift 4.14+): request actions in the upstreamRequest
// phase, response actions in the response phase (table/header-actions.ts parses and renders
// the values). Invalid actions reject the Route with RouteNotAdmitted, as OpenShift does.

import { Type } from 'typebox';
import { RouteSettingError } from '../annotation-values.ts';
import type { PluginContext } from '../pipeline/context.ts';
import { definePlugin } from '../pipeline/define-plugin.ts';
import { phaseRunOf } from '../pipeline/phase-run.ts';
import { applyActions, applyRequestActions, parseHeaderActions } from '../table/header-actions.ts';
import type { HeaderActions } from '../table/types.ts';
import { builtinPolicy } from './route-policy.ts';

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

/** A value: literal text, or a header of the request or response (`%[req.hdr(X)]`, optionally lower-cased / base64). */
const VALUE_PART = Type.Union([
  Type.String(),
  Type.Object({ from: Type.Union([Type.Literal('req'), Type.Literal('res')]), header: Type.String(), lower: Type.Boolean(), base64: Type.Boolean() }),
]);
const ACTION = Type.Object({
  /** Lower-case header name. */
  name: Type.String({ minLength: 1 }),
  type: Type.Union([Type.Literal('set'), Type.Literal('delete')]),
  value: Type.Optional(Type.Array(VALUE_PART)),
});

export const headerActionsPlugin = definePlugin({
  name: 'header-actions',
  config: Type.Object({ request: Type.Array(ACTION), response: Type.Array(ACTION) }, { additionalProperties: false }),
  create(actions) {
    if (actions.response.length === 0) return new RequestHeaderActions(actions);
    if (actions.request.length === 0) return new ResponseHeaderActions(actions);
    return new BothHeaderActions(actions);
  },
});

export const headerActionsPolicy = builtinPolicy({
  plugin: headerActionsPlugin,
  position: 'after',
  fromRoute({ kind, httpHeaders }) {
    if (kind !== 'Route' || httpHeaders === undefined) return null;
    const parsed = parseHeaderActions(httpHeaders);
    if (!parsed.ok) throw new RouteSettingError('RouteNotAdmitted', parsed.message);
    return parsed.value;
  },
});
