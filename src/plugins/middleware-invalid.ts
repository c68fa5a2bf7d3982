// A route whose Middlewares could not be resolved (admission/middlewares.ts) runs this in their
// place: every exchange is answered 500 SY_MIDDLEWARE_INVALID at the connection phase, so it
// holds for plain HTTP, HTTP/2, Upgrade and TLS passthrough alike. The reason is in the route's
// status and /debug/routes, never in the answer.

import { Type } from 'typebox';
import { ProxyErrors } from '../errors.ts';
import type { PluginContext } from '../pipeline/context.ts';
import { definePlugin } from '../pipeline/define-plugin.ts';
import { phaseRunOf } from '../pipeline/phase-run.ts';

class MiddlewareInvalid {
  connection(ctx: PluginContext): void {
    phaseRunOf(ctx).respondError(ProxyErrors.MIDDLEWARE_INVALID);
  }
}

const INSTANCE = new MiddlewareInvalid();

export const middlewareInvalidPlugin = definePlugin({
  name: 'middleware-invalid',
  /** Why (the route's status says it; the answer never does). */
  config: Type.Object({ reason: Type.String() }),
  create: () => INSTANCE,
});
