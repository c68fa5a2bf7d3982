// The upstream request headers: the client's, minus hop-by-hop ones, with X-Forwarded-For/-Host/
// -Port/-Proto and Forwarded by the route's policy (haproxy.router.openshift.io/
// set-forwarded-headers, default ROUTER_SET_FORWARDED_HEADERS). The first upstreamRequest phase
// of every HTTP and Upgrade chain: it builds the upstream headers later phases edit.

import { Type } from 'typebox';
import { oneOf } from '../annotation-values.ts';
import type { PluginContext } from '../pipeline/context.ts';
import { definePlugin } from '../pipeline/define-plugin.ts';
import { phaseRunOf } from '../pipeline/phase-run.ts';
import { sharedByRoutes } from '../pipeline/chain.ts';
import { FORWARDED_POLICIES, type ForwardedPolicy } from '../table/types.ts';
import { builtinPolicy, builtinServices, type UpstreamHeaderBuilder } from './route-policy.ts';

export type { UpstreamHeaderBuilder } from './route-policy.ts';

export const FORWARDED_ANNOTATION = 'haproxy.router.openshift.io/set-forwarded-headers';

class ForwardedHeaders {
  readonly #policy: ForwardedPolicy;
  readonly #build: UpstreamHeaderBuilder;
  constructor(policy: ForwardedPolicy, build: UpstreamHeaderBuilder) {
    this.#policy = policy;
    this.#build = build;
  }

  upstreamRequest(ctx: PluginContext): void {
    const run = phaseRunOf(ctx);
    run.upstreamHeaders = this.#build(run.headers, this.#policy, {
      clientIp: run.clientAddress,
      host: run.host,
      port: run.socket.localPort ?? 0,
      proto: run.secure ? 'https' : 'http',
    });
  }
}

/** One instance per policy and header builder (the proxy's one function): shared by every route with that policy. */
const instances = new WeakMap<UpstreamHeaderBuilder, Map<ForwardedPolicy, ForwardedHeaders>>();

function forwardedHeaders(policy: ForwardedPolicy, build: UpstreamHeaderBuilder): ForwardedHeaders {
  let byPolicy = instances.get(build);
  if (byPolicy === undefined) instances.set(build, (byPolicy = new Map()));
  let instance = byPolicy.get(policy);
  if (instance === undefined) byPolicy.set(policy, (instance = sharedByRoutes(new ForwardedHeaders(policy, build))));
  return instance;
}

export const forwardedHeadersPlugin = definePlugin({
  name: 'forwarded-headers',
  config: Type.Object({ policy: Type.Union([Type.Literal('append'), Type.Literal('replace'), Type.Literal('if-none'), Type.Literal('never')]) }, { additionalProperties: false }),
  create: (config, services) => forwardedHeaders(config.policy, builtinServices(services).buildUpstreamHeaders),
});

/** One frozen config per policy, shared by every route. */
const CONFIGS = new Map<ForwardedPolicy, { policy: ForwardedPolicy }>(FORWARDED_POLICIES.map((policy) => [policy, Object.freeze({ policy })]));

export const forwardedHeadersPolicy = builtinPolicy({
  plugin: forwardedHeadersPlugin,
  position: 'guard',
  fromRoute: ({ annotations, defaults }) => CONFIGS.get(oneOf(annotations, FORWARDED_ANNOTATION, FORWARDED_POLICIES) ?? defaults.setForwardedHeaders)!,
});
