// The built-in policies, in chain order: which apply to a route and with what config is decided
// here, once, when the route is compiled — each policy's fromRoute, in its plugin file — and kept
// on the compiled route as an ordered list of { plugin, config }. The proxy builds the chain
// from that list (builtins.ts); admission runs the same reading to reject a route whose settings
// cannot be read (admission/validation.ts).

import { RouteSettingError } from '../annotation-values.ts';
import type { Plugin } from '../pipeline/types.ts';
import type { Route } from '../objects/types.ts';
import type { RouterConfig } from '../config.ts';
import type { RouteCandidate } from '../route-candidate.ts';
import type { CompiledRoute, RoutePlugin } from '../table/types.ts';
import { forwardedHeadersPolicy } from './forwarded-headers.ts';
import { gatewayCorsPolicy } from './gateway-cors.ts';
import { gatewayInvalidBackendsPolicy, gatewayRedirectPolicy, gatewayRequestPolicy, gatewayResponsePolicy } from './gateway-filters.ts';
import { headerActionsPolicy } from './header-actions.ts';
import { hstsPolicy } from './hsts.ts';
import { ipAllowlistPolicy } from './ip-allowlist.ts';
import { podConcurrentConnectionsPolicy } from './pod-concurrent-connections.ts';
import { rateLimitPolicy } from './rate-limit.ts';
import { rewriteTargetPolicy } from './rewrite-target.ts';
import type { BuiltinPolicy, PolicyPosition, PolicyRoute } from './route-policy.ts';
import { stickyCookiePolicy } from './sticky-cookie.ts';
import { tlsInsecurePolicy } from './tls-insecure-policy.ts';

/**
 * In chain order. Guards first — forwarded-headers builds the upstream headers, so it comes
 * before every other upstreamRequest phase — then (the tenant's Middlewares) stickiness, (the
 * balancer and the retry policy) and what shapes the exchange once an endpoint is chosen.
 */
export const BUILTIN_POLICIES: readonly BuiltinPolicy<unknown>[] = [
  forwardedHeadersPolicy, tlsInsecurePolicy, ipAllowlistPolicy, rateLimitPolicy,
  gatewayCorsPolicy, // answers preflights before a redirect or an invalid backend would
  gatewayRedirectPolicy, gatewayInvalidBackendsPolicy,
  stickyCookiePolicy,
  podConcurrentConnectionsPolicy, rewriteTargetPolicy, headerActionsPolicy, gatewayRequestPolicy, gatewayResponsePolicy, hstsPolicy,
] as readonly BuiltinPolicy<unknown>[];

const BY_NAME = new Map<string, BuiltinPolicy<unknown>>(BUILTIN_POLICIES.map((p) => [p.plugin.name, p]));

/** The route's built-in policies with their configs, in chain order (throws RouteSettingError). */
export function routePlugins(route: PolicyRoute): RoutePlugin[] {
  const out: RoutePlugin[] = [];
  for (const policy of BUILTIN_POLICIES) {
    const config = policy.fromRoute(route);
    if (config !== null) out.push({ plugin: policy.plugin.name, config });
  }
  // Kept by every compiled route: a copy of exactly its length (push left room for 17).
  return out.slice();
}

/** Why the route's settings cannot be read, or null (admission). */
export function checkRoutePlugins(route: PolicyRoute): RouteSettingError | null {
  try {
    routePlugins(route);
    return null;
  } catch (err) {
    if (err instanceof RouteSettingError) return err;
    throw err;
  }
}

/** The built-in plugin a compiled route names, and where it goes in the chain. */
export function builtinPolicyNamed(name: string): { plugin: Plugin; position: PolicyPosition } | undefined {
  const policy = BY_NAME.get(name);
  return policy === undefined ? undefined : { plugin: policy.plugin as Plugin, position: policy.position };
}

/**
 * What the built-in policies read of a route: the candidate's annotations and spec, the compiled
 * TLS and Gateway rule (null before compilation: admission), the router's defaults.
 */
export function policyRouteOf(c: RouteCandidate, compiled: Pick<CompiledRoute, 'tls' | 'gateway'> | null, config: Pick<RouterConfig, 'connectTimeout' | 'setForwardedHeaders'>): PolicyRoute {
  return {
    key: c.key,
    kind: c.kind,
    path: c.path,
    annotations: c.annotations,
    tls: compiled?.tls ?? null,
    httpHeaders: c.kind === 'Route' ? (c.owner as Route).spec?.httpHeaders : undefined,
    gateway: compiled?.gateway,
    defaults: { connectTimeoutMs: config.connectTimeout, setForwardedHeaders: config.setForwardedHeaders },
  };
}
