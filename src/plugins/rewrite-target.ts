// haproxy.router.openshift.io/rewrite-target: replace the route's path prefix with the target
// in the path sent upstream (HTTP and Upgrade alike).

import { Type } from 'typebox';
import { invalidAnnotation } from '../annotation-values.ts';
import type { PluginContext } from '../pipeline/context.ts';
import { definePlugin } from '../pipeline/define-plugin.ts';
import { builtinPolicy } from './route-policy.ts';

export const REWRITE_TARGET_ANNOTATION = 'haproxy.router.openshift.io/rewrite-target';

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

export const rewriteTargetPlugin = definePlugin({
  name: 'rewrite-target',
  config: Type.Object({ routePath: Type.String(), target: Type.String({ pattern: '^/[^\\s?#]*$' }) }, { additionalProperties: false }),
  create: (c) => new RewriteTarget(c.routePath, c.target),
});

export const rewriteTargetPolicy = builtinPolicy({
  plugin: rewriteTargetPlugin,
  position: 'after',
  fromRoute({ annotations, path }) {
    const target = annotations[REWRITE_TARGET_ANNOTATION];
    if (target === undefined) return null;
    if (!target.startsWith('/') || /[\s?#]/.test(target)) {
      invalidAnnotation(REWRITE_TARGET_ANNOTATION, `must be a path starting with "/" (no spaces, query or fragment), got "${target}"`);
    }
    return { routePath: path, target };
  },
});

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
