// The HTTPRoute CORS filter as a built-in plugin (the runtime is the pure functions of
// src/gateway/cors.ts; the settings are the rule's, compiled into GatewayRouteData.cors):
//   request   a preflight (OPTIONS with Origin and Access-Control-Request-Method) is answered
//             here, 200 with the CORS headers (none for an origin not allowed), never forwarded
//   response  an actual response from the backend gets Access-Control-Allow-Origin and friends
// A guard: it answers preflights before the tenant's Middlewares (a preflight carries no
// credentials, so an auth Middleware would refuse it) and before a redirect or an invalid
// backend; rate limits and allowlists run first. Its response phase runs before the rule's
// ResponseHeaderModifier, which may still change what it set. A RequestRedirect of the same rule
// adds the same headers to its answer (gateway-filters.ts). Every way in (HTTP/1.1, HTTP/2,
// HTTPS) runs the same chain.

import { Type } from 'typebox';
import { addCorsResponseHeaders, corsPreflightHeaders, isCorsPreflight, prepareCors, type PreparedCors } from '../gateway/cors.ts';
import type { PluginContext } from '../pipeline/context.ts';
import { definePlugin } from '../pipeline/define-plugin.ts';
import type { CorsPolicy } from '../table/types.ts';
import { builtinPolicy } from './route-policy.ts';

const STRINGS = Type.Array(Type.String());
/** A compiled CORS filter (table/types.ts CorsPolicy); the redirect of the same rule takes it too. */
export const CORS_POLICY = Type.Object({
  anyOrigin: Type.Boolean(),
  origins: Type.Array(Type.Object({ scheme: Type.String(), host: Type.String(), wildcard: Type.Boolean(), port: Type.Integer({ minimum: 1, maximum: 65535 }) })),
  credentials: Type.Boolean(),
  methods: STRINGS,
  headers: STRINGS,
  expose: STRINGS,
  maxAge: Type.Integer({ minimum: 1 }),
});

class GatewayCors {
  readonly #cors: PreparedCors;
  constructor(policy: CorsPolicy) {
    this.#cors = prepareCors(policy);
  }

  request(ctx: PluginContext): void {
    const h = ctx.headers;
    const requestMethod = h['access-control-request-method'];
    if (!isCorsPreflight(ctx.method, h.origin, requestMethod)) return;
    ctx.respond(200, '', corsPreflightHeaders(this.#cors, h.origin, requestMethod, h['access-control-request-headers']));
  }

  response(ctx: PluginContext): void {
    addCorsResponseHeaders(this.#cors, ctx.headers.origin, ctx.responseHeaders!);
  }
}

export const gatewayCorsPlugin = definePlugin({
  name: 'gateway-cors',
  config: Type.Object({ policy: CORS_POLICY }, { additionalProperties: false }),
  create: (c) => new GatewayCors(c.policy as CorsPolicy),
});

export const gatewayCorsPolicy = builtinPolicy({
  plugin: gatewayCorsPlugin,
  position: 'guard',
  fromRoute: ({ gateway }) => (gateway?.cors !== undefined ? { policy: gateway.cors } : null),
});
