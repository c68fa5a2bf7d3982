// Gateway API HTTPRoute filters as built-in plugins (the runtime itself is the pure functions of
// src/gateway/filters.ts; the settings are plain table data, GatewayRouteData):
//   gateway-backend     request: RequestRedirect answers with its Location; a rule without a
//                       usable backend answers 500 for its share of requests (invalid backendRefs)
//   gateway-request     upstreamRequest: RequestHeaderModifier, URLRewrite (hostname, path)
//   gateway-response    response: ResponseHeaderModifier
// Upgrade requests run the same chain, so a redirect or an invalid backend applies to them too.

import { ProxyErrors } from '../errors.ts';
import { modifyPath, modifyRequestHeaders, modifyResponseHeaders, redirectLocation, rewriteHost } from '../gateway/filters.ts';
import type { PluginContext } from '../pipeline/context.ts';
import { phaseRunOf } from '../pipeline/phase-run.ts';
import type { HeaderModifier, RedirectSpec, RewriteSpec } from '../table/types.ts';
import { builtin } from './define.ts';
import { stripPort } from './tls-insecure-policy.ts';

class GatewayRedirect {
  readonly #spec: RedirectSpec;
  readonly #routePath: string;
  constructor(spec: RedirectSpec, routePath: string) {
    this.#spec = spec;
    this.#routePath = routePath;
  }

  request(ctx: PluginContext): void {
    const location = redirectLocation(this.#spec, { secure: ctx.secure, host: stripPort(ctx.host), port: phaseRunOf(ctx).socket.localPort ?? 0, target: ctx.url }, this.#routePath);
    ctx.respond(this.#spec.statusCode, '', { location, 'content-length': 0 });
  }
}

class GatewayInvalidBackends {
  readonly #share: number;
  constructor(share: number) {
    this.#share = share;
  }

  request(ctx: PluginContext): void {
    // The share of requests that would have gone to invalid backendRefs gets a 500 (spec).
    if (this.#share >= 1 || Math.random() < this.#share) phaseRunOf(ctx).respondError(ProxyErrors.INVALID_BACKEND);
  }
}

export const gatewayRedirectPlugin = builtin<{ spec: RedirectSpec; routePath: string }>('gateway-redirect', (c) => new GatewayRedirect(c.spec, c.routePath));
export const gatewayInvalidBackendsPlugin = builtin<number>('gateway-invalid-backends', (share) => new GatewayInvalidBackends(share));

class GatewayRequest {
  readonly #headers: HeaderModifier | null;
  readonly #rewrite: RewriteSpec | null;
  readonly #routePath: string;
  constructor(headers: HeaderModifier | null, rewrite: RewriteSpec | null, routePath: string) {
    this.#headers = headers;
    this.#rewrite = rewrite;
    this.#routePath = routePath;
  }

  upstreamRequest(ctx: PluginContext): void {
    const run = phaseRunOf(ctx);
    if (this.#headers !== null) run.upstreamHeaders = modifyRequestHeaders(run.upstreamHeaders!, this.#headers);
    const rewrite = this.#rewrite;
    if (rewrite === null) return;
    if (rewrite.hostname !== null) rewriteHost(run.upstreamHeaders!, rewrite.hostname);
    if (rewrite.path !== null) ctx.path = modifyPath(ctx.path, rewrite.path, this.#routePath);
  }
}

export const gatewayRequestPlugin = builtin<{ headers: HeaderModifier | null; rewrite: RewriteSpec | null; routePath: string }>(
  'gateway-request', (c) => new GatewayRequest(c.headers, c.rewrite, c.routePath));

class GatewayResponse {
  readonly #headers: HeaderModifier;
  constructor(headers: HeaderModifier) {
    this.#headers = headers;
  }

  response(ctx: PluginContext): void {
    modifyResponseHeaders(ctx.responseHeaders!, this.#headers);
  }
}

export const gatewayResponsePlugin = builtin<HeaderModifier>('gateway-response', (headers) => new GatewayResponse(headers));
