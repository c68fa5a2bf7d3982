// Maintenance page: when forwarding fails (no connection, a reset, a timeout, an invalid
// response), first try another endpoint once if the request can be sent again, then answer with
// the configured page instead of the router's short 502/504 — and, optionally, replace the
// endpoints' own 502/503/504 answers with it too.
//
//   apiVersion: switchyard.io/v1alpha1
//   kind: Middleware
//   metadata: { name: sorry, namespace: shop }
//   spec: { plugin: maintenance-page, config: { html: "<h1>Back soon</h1>", retryAfter: 30 } }

import { definePlugin, Type } from 'switchyard';

export default definePlugin({
  name: 'maintenance-page',
  config: Type.Object({
    html: Type.String({ minLength: 1, maxLength: 65_536 }),
    status: Type.Integer({ minimum: 500, maximum: 599, default: 503 }),
    /** Seconds for Retry-After (0: none). */
    retryAfter: Type.Integer({ minimum: 0, default: 0 }),
    /** Also replace a 502/503/504 the endpoint itself answers. */
    replaceGatewayErrors: Type.Boolean({ default: false }),
  }, { additionalProperties: false }),
  create(config) {
    const body = Buffer.from(config.html);
    const headers = Object.freeze({
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      ...(config.retryAfter > 0 ? { 'retry-after': String(config.retryAfter) } : {}),
    });
    return {
      failure(ctx) {
        const failure = ctx.failure!;
        if (failure.responseStarted) return; // too late: the router cuts the response
        if (failure.attempt === 1 && ctx.retry()) return; // another endpoint first
        ctx.respond(config.status, body, headers);
      },
      response(ctx) {
        if (config.replaceGatewayErrors && ctx.status >= 502 && ctx.status <= 504) ctx.respond(config.status, body, headers);
      },
    };
  },
});
