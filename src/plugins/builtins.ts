// Which built-in plugins a compiled route gets, and the order of the whole chain:
//   forwarded-headers (builds the upstream headers), guards (tls-insecure-policy, ip-allowlist, rate-limit)
//   → the route's Middlewares (router-wide first, then the route's own, in order), or
//     middleware-invalid in their place when they could not be resolved (fail closed: 500)
//   → sticky-cookie, balancer, upstream-retry, pod-concurrent-connections, rewrite-target,
//   header-actions, hsts, compress (--enable-compression).
// So a tenant's plugin runs after the operator's source checks, may choose an endpoint before
// stickiness and the balancer do, sees the path before rewrite-target changes it, and hears of
// a failed attempt before the router's own retry policy.

import type { ChainEntry } from '../pipeline/chain.ts';
import type { Phases, PluginServices } from '../pipeline/types.ts';
import type { CompiledRoute } from '../table/types.ts';
import type { LimitTable } from '../shared-memory/limit-table.ts';
import { balancerPlugin, type BalancerConfig } from './balancer.ts';
import { forwardedHeadersPlugin, type UpstreamHeaderBuilder } from './forwarded-headers.ts';
import { headerActionsPlugin } from './header-actions.ts';
import { hstsPlugin } from './hsts.ts';
import { ipAllowlistPlugin } from './ip-allowlist.ts';
import { podConcurrentConnectionsPlugin } from './pod-concurrent-connections.ts';
import { rateLimitPlugin } from './rate-limit.ts';
import { rewriteTargetPlugin } from './rewrite-target.ts';
import { stickyCookiePlugin } from './sticky-cookie.ts';
import { tlsInsecurePolicyPlugin } from './tls-insecure-policy.ts';
import { upstreamRetryPlugin } from './upstream-retry.ts';
import compressPlugin, { type CompressSettings } from './compress.ts';
import { middlewareInvalidPlugin } from './middleware-invalid.ts';
import { gatewayInvalidBackendsPlugin, gatewayRedirectPlugin, gatewayRequestPlugin, gatewayResponsePlugin } from './gateway-filters.ts';

/** What the proxy contributes to the built-ins: the route's balancer, its header rewriting, router-wide compression, the shared limit table. */
export interface ProxyParts extends BalancerConfig {
  buildUpstreamHeaders: UpstreamHeaderBuilder;
  /** --enable-compression: compress every route's responses (last, after every other body phase). */
  compression?: CompressSettings | null;
  /** The router's limit table, shared by every worker thread (rate limits, pod-concurrent-connections). */
  limits: LimitTable;
}

export function routeChainEntries(
  route: CompiledRoute,
  parts: ProxyParts,
  middlewares: readonly ChainEntry[],
  services: (name: string) => PluginServices,
): ChainEntry[] {
  const p = route.policy;
  const out: ChainEntry[] = [];
  const add = <C>(plugin: { name: string; create(c: C, s: PluginServices): Phases }, config: C): void => {
    out.push({ name: plugin.name, phases: plugin.create(config, services(plugin.name)) });
  };
  // Builds the upstream headers: its upstreamRequest phase comes before every other one.
  add(forwardedHeadersPlugin, { policy: p.forwarded, build: parts.buildUpstreamHeaders });
  if (route.tls !== null) add(tlsInsecurePolicyPlugin, route.tls);
  if (p.ipAllowlist !== null && p.ipAllowlist.length > 0) add(ipAllowlistPlugin, p.ipAllowlist);
  if (p.rateLimit !== null) add(rateLimitPlugin, { spec: p.rateLimit, limits: parts.limits });
  // Gateway API (HTTPRoute rules): a redirect or an invalid backend answers before any Middleware or endpoint choice.
  const g = route.gateway;
  if (g !== undefined) {
    if (g.redirect !== null) add(gatewayRedirectPlugin, { spec: g.redirect, routePath: route.path });
    else if (g.invalidShare > 0) add(gatewayInvalidBackendsPlugin, g.invalidShare);
  }
  if (route.middlewareError !== undefined) add(middlewareInvalidPlugin, route.middlewareError);
  else for (const m of middlewares) out.push(m);
  if (p.sticky !== null) add(stickyCookiePlugin, p.sticky);
  add(balancerPlugin, parts);
  add(upstreamRetryPlugin, null);
  if (p.podConcurrentConnections !== null) add(podConcurrentConnectionsPlugin, { limit: p.podConcurrentConnections, queueTimeoutMs: p.connectTimeoutMs, limits: parts.limits });
  if (p.rewriteTarget !== null) add(rewriteTargetPlugin, { routePath: route.path, target: p.rewriteTarget });
  if (p.headerActions !== null) add(headerActionsPlugin, p.headerActions);
  if (g !== undefined && (g.requestHeaders !== null || g.rewrite !== null)) add(gatewayRequestPlugin, { headers: g.requestHeaders, rewrite: g.rewrite, routePath: route.path });
  if (g !== undefined && g.responseHeaders !== null) add(gatewayResponsePlugin, g.responseHeaders);
  if (p.hsts !== null) add(hstsPlugin, p.hsts);
  if (parts.compression != null) out.push({ name: compressPlugin.name, phases: compressPlugin.create(parts.compression, services(compressPlugin.name)) as Phases });
  return out;
}
