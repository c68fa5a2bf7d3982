// A built-in policy is a plugin (definePlugin, a TypeBox schema for its config, the same phases
// as any plugin) plus how a route turns it on: `fromRoute` reads the route — its annotations, its
// TLS, its Gateway API rule — and returns the plugin's config, or null when the policy does not
// apply (it throws a RouteSettingError when an annotation cannot be read: the route is rejected).
// A compiled route carries the result as an ordered list of { plugin, config } (plain data:
// /debug/routes prints it, the workers receive it); the proxy creates the instances from it.
// Adding a policy is its plugin file — the plugin and its fromRoute — and a line in policies.ts.

import type { Plugin, PluginServices } from '../pipeline/types.ts';
import type { Balancer } from '../balance/types.ts';
import type { CompiledTls, ForwardedPolicy, GatewayRouteData, RouteKind } from '../table/types.ts';
import type { Annotations } from '../annotation-values.ts';
import type { IncomingHttpHeaders } from 'node:http';
import type { LimitTable } from '../shared-memory/limit-table.ts';

/** What a policy reads of a route to decide its config (compiled data; tls and gateway when known). */
export interface PolicyRoute {
  readonly key: string;
  readonly kind: RouteKind;
  /** The route's path as written ('' = none). */
  readonly path: string;
  readonly annotations: Annotations;
  /** The route's TLS (null: plain HTTP, or not compiled yet at admission). */
  readonly tls: CompiledTls | null;
  /** A Route's spec.httpHeaders, as written. */
  readonly httpHeaders?: unknown;
  /** An HTTPRoute rule's filters and conditions. */
  readonly gateway?: GatewayRouteData;
  /** The router's defaults a policy falls back on. */
  readonly defaults: PolicyDefaults;
}

export interface PolicyDefaults {
  connectTimeoutMs: number;
  setForwardedHeaders: ForwardedPolicy;
}

export type PolicyPosition = 'guard' | 'select' | 'after';

export interface BuiltinPolicy<Config> {
  readonly plugin: Plugin<Config, never> | Plugin<Config>;
  /**
   * Where in the chain: `guard` before the tenant's Middlewares (the operator's checks), `select`
   * after them and before the route's balancer (stickiness), `after` once an endpoint is chosen.
   */
  readonly position: PolicyPosition;
  /** The plugin's config for this route, or null when it does not apply. */
  fromRoute(route: PolicyRoute): Config | null;
}

export function builtinPolicy<Config>(policy: BuiltinPolicy<Config>): BuiltinPolicy<Config> {
  return Object.freeze(policy);
}

/** The proxy's header rewriting (proxy/headers.ts), handed in so this folder stays below the proxy. */
export type UpstreamHeaderBuilder = (
  headers: IncomingHttpHeaders, policy: ForwardedPolicy,
  info: { clientIp: string; host: string; port: number; proto: 'http' | 'https' },
) => string[];

/** What the proxy hands the built-ins besides the plugin services: the route's balancer, header rewriting, the shared limit table. */
export interface BuiltinServices extends PluginServices {
  readonly balancer: Balancer;
  /** At least one member has weight > 0. */
  readonly hasWeight: boolean;
  readonly buildUpstreamHeaders: UpstreamHeaderBuilder;
  /** The router's limit table, shared by every worker thread (rate limits, pod-concurrent-connections). */
  readonly limits: LimitTable;
  /** The time for the limits' windows (the system clock; tests give a manual one). */
  readonly now?: () => number;
}

/** The built-in's view of its services (the proxy always gives built-ins BuiltinServices). */
export function builtinServices(services: PluginServices): BuiltinServices {
  return services as BuiltinServices;
}
