// Gateway API HTTPRoute filters as built-in plugins (the runtime itself is the pure functions of
// src/gateway/filters.ts; the settings are the rule's, compiled into GatewayRouteData):
//   gateway-redirect          request: RequestRedirect answers with its Location (and the
//                             rule's CORS headers for an allowed Origin)
//   gateway-invalid-backends  request: a rule without a usable backend answers 500 for its share
//                             of requests (invalid backendRefs); a TLSRoute's (which has no
//                             request phase) refuses that share of connections instead
//   gateway-request           upstreamRequest: RequestHeaderModifier, URLRewrite (hostname, path)
//   gateway-response          response: ResponseHeaderModifier
// Upgrade requests run the same chain, so a redirect or an invalid backend applies to them too.

import type { OutgoingHttpHeaders } from 'node:http';
import { Type } from 'typebox';
import { ProxyErrors } from '../errors.ts';
import { addCorsResponseHeaders, prepareCors, type PreparedCors } from '../gateway/cors.ts';
import { modifyPath, modifyRequestHeaders, modifyResponseHeaders, redirectLocation, rewriteHost } from '../gateway/filters.ts';
import type { PluginContext } from '../pipeline/context.ts';
import { definePlugin } from '../pipeline/define-plugin.ts';
import { phaseRunOf } from '../pipeline/phase-run.ts';
import type { CorsPolicy, HeaderModifier, RedirectSpec, RewriteSpec } from '../table/types.ts';
import { CORS_POLICY } from './gateway-cors.ts';
import { builtinPolicy } from './route-policy.ts';
import { stripPort } from './tls-insecure-policy.ts';

const PAIRS = Type.Array(Type.Tuple([Type.String(), Type.String()]));
const HEADER_MODIFIER = Type.Object({ set: PAIRS, add: PAIRS, remove: Type.Array(Type.String()) });
const PATH_MODIFIER = Type.Object({ type: Type.Union([Type.Literal('ReplaceFullPath'), Type.Literal('ReplacePrefixMatch')]), value: Type.String() });
const NULLABLE_STRING = Type.Union([Type.String(), Type.Null()]);
const REDIRECT = Type.Object({
  scheme: NULLABLE_STRING, hostname: NULLABLE_STRING, port: Type.Union([Type.Integer(), Type.Null()]),
  path: Type.Union([PATH_MODIFIER, Type.Null()]), statusCode: Type.Integer({ minimum: 300, maximum: 399 }),
});
const REWRITE = Type.Object({ hostname: NULLABLE_STRING, path: Type.Union([PATH_MODIFIER, Type.Null()]) });

class GatewayRedirect {
  readonly #spec: RedirectSpec;
  readonly #routePath: string;
  /** The rule's CORS filter: a cross-origin request followed through the redirect needs its headers. */
  readonly #cors: PreparedCors | null;
  constructor(spec: RedirectSpec, routePath: string, cors: CorsPolicy | undefined) {
    this.#spec = spec;
    this.#routePath = routePath;
    this.#cors = cors === undefined ? null : prepareCors(cors);
  }

  request(ctx: PluginContext): void {
    const location = redirectLocation(this.#spec, { secure: ctx.secure, host: stripPort(ctx.host), port: phaseRunOf(ctx).socket.localPort ?? 0, target: ctx.url }, this.#routePath);
    const headers: OutgoingHttpHeaders = { location, 'content-length': 0 };
    if (this.#cors !== null) addCorsResponseHeaders(this.#cors, ctx.headers.origin, headers);
    ctx.respond(this.#spec.statusCode, '', headers);
  }
}

export const gatewayRedirectPlugin = definePlugin({
  name: 'gateway-redirect',
  config: Type.Object({ spec: REDIRECT, routePath: Type.String(), cors: Type.Optional(CORS_POLICY) }, { additionalProperties: false }),
  create: (c) => new GatewayRedirect(c.spec, c.routePath, c.cors as CorsPolicy | undefined),
});

export const gatewayRedirectPolicy = builtinPolicy({
  plugin: gatewayRedirectPlugin,
  position: 'guard',
  fromRoute: ({ gateway, path }) => {
    if (gateway?.redirect == null) return null;
    return gateway.cors === undefined ? { spec: gateway.redirect, routePath: path } : { spec: gateway.redirect, routePath: path, cors: gateway.cors };
  },
});

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

/** A TLSRoute's or TCPRoute's streams, a UDPRoute's sessions: the same share, refused at the connection (there is no request to answer). */
class GatewayInvalidStreams {
  readonly #share: number;
  constructor(share: number) {
    this.#share = share;
  }

  connection(ctx: PluginContext): void {
    if (this.#share >= 1 || Math.random() < this.#share) phaseRunOf(ctx).respondError(ProxyErrors.INVALID_BACKEND);
  }
}

export const gatewayInvalidBackendsPlugin = definePlugin({
  name: 'gateway-invalid-backends',
  config: Type.Object({ share: Type.Number({ exclusiveMinimum: 0, maximum: 1 }), stream: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
  create: (c) => (c.stream === true ? new GatewayInvalidStreams(c.share) : new GatewayInvalidBackends(c.share)),
});

export const gatewayInvalidBackendsPolicy = builtinPolicy({
  plugin: gatewayInvalidBackendsPlugin,
  position: 'guard',
  // A redirect answers every request: the share does not apply then.
  fromRoute: ({ gateway }) => {
    if (gateway === undefined || gateway.redirect !== null || gateway.invalidShare <= 0) return null;
    return gateway.stream !== undefined ? { share: gateway.invalidShare, stream: true } : { share: gateway.invalidShare };
  },
});

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

export const gatewayRequestPlugin = definePlugin({
  name: 'gateway-request',
  config: Type.Object({ headers: Type.Union([HEADER_MODIFIER, Type.Null()]), rewrite: Type.Union([REWRITE, Type.Null()]), routePath: Type.String() }, { additionalProperties: false }),
  create: (c) => new GatewayRequest(c.headers, c.rewrite, c.routePath),
});

export const gatewayRequestPolicy = builtinPolicy({
  plugin: gatewayRequestPlugin,
  position: 'after',
  fromRoute: ({ gateway, path }) => (gateway !== undefined && (gateway.requestHeaders !== null || gateway.rewrite !== null)
    ? { headers: gateway.requestHeaders, rewrite: gateway.rewrite, routePath: path } : null),
});

class GatewayResponse {
  readonly #headers: HeaderModifier;
  constructor(headers: HeaderModifier) {
    this.#headers = headers;
  }

  response(ctx: PluginContext): void {
    modifyResponseHeaders(ctx.responseHeaders!, this.#headers);
  }
}

export const gatewayResponsePlugin = definePlugin({
  name: 'gateway-response',
  config: Type.Object({ headers: HEADER_MODIFIER }, { additionalProperties: false }),
  create: (c) => new GatewayResponse(c.headers),
});

export const gatewayResponsePolicy = builtinPolicy({
  plugin: gatewayResponsePlugin,
  position: 'after',
  fromRoute: ({ gateway }) => (gateway?.responseHeaders != null ? { headers: gateway.responseHeaders } : null),
});
