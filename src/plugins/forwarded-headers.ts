// The upstream request headers: the client's, minus hop-by-hop ones, with X-Forwarded-For/-Host/
// -Port/-Proto and Forwarded by the route's policy (haproxy.router.openshift.io/
// set-forwarded-headers, ROUTER_SET_FORWARDED_HEADERS). The first upstreamRequest phase of every
// HTTP and Upgrade chain: it builds ctx.upstreamHeaders, which later phases edit.

import type { IncomingHttpHeaders } from 'node:http';
import type { PluginContext } from '../pipeline/context.ts';
import { phaseRunOf } from '../pipeline/phase-run.ts';
import type { ForwardedPolicy } from '../table/types.ts';
import { builtin } from './define.ts';

/** The proxy's header rewriting (proxy/headers.ts), handed in so this folder stays below the proxy. */
export type UpstreamHeaderBuilder = (
  headers: IncomingHttpHeaders, policy: ForwardedPolicy,
  info: { clientIp: string; host: string; port: number; proto: 'http' | 'https' },
) => string[];

export interface ForwardedHeadersConfig { policy: ForwardedPolicy; build: UpstreamHeaderBuilder }

class ForwardedHeaders {
  readonly #policy: ForwardedPolicy;
  readonly #build: UpstreamHeaderBuilder;
  constructor(config: ForwardedHeadersConfig) {
    this.#policy = config.policy;
    this.#build = config.build;
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

export const forwardedHeadersPlugin = builtin<ForwardedHeadersConfig>('forwarded-headers', (config) => new ForwardedHeaders(config));
