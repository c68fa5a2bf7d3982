// A route's chain, built from its compiled data: the built-in policies its `plugins` list names
// (plugins/policies.ts, in their order), the tenant's Middlewares, and the parts every route has
// — the balancer and the retry policy. The whole order:
//   guards: forwarded-headers (builds the upstream headers), tls-insecure-policy, ip-allowlist,
//           rate-limit, gateway-cors, gateway-redirect, gateway-invalid-backends
//   → middleware-invalid in place of the Middlewares when they could not be resolved (fail
//     closed: 500), else the route's Middlewares (router-wide first, then the route's own)
//   → select: sticky-cookie → balancer, upstream-retry
//   → after: pod-concurrent-connections, rewrite-target, header-actions, gateway-request,
//     gateway-response, hsts → compress (--enable-compression)
// So a tenant's plugin runs after the operator's source checks, may choose an endpoint before
// stickiness and the balancer do, sees the path before rewrite-target changes it, and hears of
// a failed attempt before the router's own retry policy.

import type { Balancer } from '../balance/types.ts';
import type { ChainEntry } from '../pipeline/chain.ts';
import type { Phases, Plugin, PluginServices } from '../pipeline/types.ts';
import type { CompiledRoute } from '../table/types.ts';
import type { LimitTable } from '../shared-memory/limit-table.ts';
import { balancerPlugin } from './balancer.ts';
import compressPlugin, { type CompressSettings } from './compress.ts';
import type { UpstreamHeaderBuilder } from './forwarded-headers.ts';
import { middlewareInvalidPlugin } from './middleware-invalid.ts';
import { builtinPolicyNamed } from './policies.ts';
import type { BuiltinServices, PolicyPosition } from './route-policy.ts';
import { upstreamRetryPlugin } from './upstream-retry.ts';

/** What the proxy contributes to the built-ins: the route's balancer, its header rewriting, router-wide compression, the shared limit table. */
export interface ProxyParts {
  balancer: Balancer;
  hasWeight: boolean;
  buildUpstreamHeaders: UpstreamHeaderBuilder;
  /** --enable-compression: compress every route's responses (last, after every other body phase). */
  compression?: CompressSettings | null;
  /** The router's limit table, shared by every worker thread (rate limits, pod-concurrent-connections). */
  limits: LimitTable;
}

const EMPTY = Object.freeze({});

export function routeChainEntries(
  route: CompiledRoute,
  parts: ProxyParts,
  middlewares: readonly ChainEntry[],
  services: (name: string) => PluginServices,
): ChainEntry[] {
  // Added to the services object itself, not spread into a new one: a spread would read its
  // `route`, which is made only when an instance asks for it.
  const builtinServicesOf = (name: string): BuiltinServices => Object.assign(services(name), {
    balancer: parts.balancer, hasWeight: parts.hasWeight, buildUpstreamHeaders: parts.buildUpstreamHeaders, limits: parts.limits,
  });
  const entry = (plugin: Plugin, config: unknown): ChainEntry => {
    const phases = plugin.create(config, builtinServicesOf(plugin.name)) as Phases;
    // A built-in's selectEndpoint declares the candidates parameter only when it reads it.
    return { name: plugin.name, phases, readsCandidates: (phases.selectEndpoint?.length ?? 0) >= 2 };
  };
  const at: Record<PolicyPosition, ChainEntry[]> = { guard: [], select: [], after: [] };
  for (const p of route.plugins) {
    const builtin = builtinPolicyNamed(p.plugin);
    if (builtin === undefined) throw new Error(`${route.key}: no built-in plugin "${p.plugin}"`);
    at[builtin.position].push(entry(builtin.plugin, p.config));
  }
  const out: ChainEntry[] = at.guard;
  if (route.middlewareError !== undefined) out.push(entry(middlewareInvalidPlugin as Plugin, { reason: route.middlewareError }));
  for (const m of middlewares) out.push(m);
  out.push(...at.select, entry(balancerPlugin as Plugin, EMPTY), entry(upstreamRetryPlugin as Plugin, EMPTY), ...at.after);
  if (parts.compression != null) out.push(entry(compressPlugin as Plugin, parts.compression));
  return out;
}
