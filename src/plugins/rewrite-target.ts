// haproxy.router.openshift.io/rewrite-target: replace the route's path prefix with the target
// in the path sent upstream (HTTP and Upgrade alike).

import type { PluginContext } from '../pipeline/context.ts';
import { builtin } from './define.ts';

class RewriteTarget {
  readonly #routePath: string;
  readonly #target: string;
  constructor(routePath: string, target: string) {
    this.#routePath = routePath;
    this.#target = target;
  }

  upstreamRequest(ctx: PluginContext): void {
    ctx.path = rewritePath(ctx.path, this.#routePath, this.#target);
  }
}

export const rewriteTargetPlugin = builtin<{ routePath: string; target: string }>('rewrite-target', (c) => new RewriteTarget(c.routePath, c.target));

export function rewritePath(url: string, routePath: string, target: string): string {
  if (routePath === '' || routePath === '/') {
    return target.endsWith('/') ? target + url.slice(1) : target + url;
  }
  if (!url.startsWith(routePath)) return url;
  let rest = url.slice(routePath.length);
  if (target.endsWith('/') && rest.startsWith('/')) rest = rest.slice(1);
  const out = target + rest;
  return out === '' ? '/' : out;
}
