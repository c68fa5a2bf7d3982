// Cookie stickiness (OpenShift's default for non-passthrough routes): the endpoint named by the
// route's cookie is chosen when still usable; otherwise the balancer chooses and the response
// sets the cookie. router.openshift.io/cookie_name names the cookie (default: a hash of the
// route key, as OpenShift's), router.openshift.io/cookie-same-site its SameSite,
// haproxy.router.openshift.io/disable_cookies turns it off. Not for passthrough routes (the
// router never sees their HTTP) nor HTTPRoutes (not Gateway API behaviour).

import { hash } from 'node:crypto';
import { Type } from 'typebox';
import { booleanAnnotation, invalidAnnotation, oneOf } from '../annotation-values.ts';
import { findStickyMember, stickyCookie } from '../balance/sticky-cookie.ts';
import type { PluginContext } from '../pipeline/context.ts';
import { definePlugin } from '../pipeline/define-plugin.ts';
import { phaseRunOf } from '../pipeline/phase-run.ts';
import { builtinPolicy } from './route-policy.ts';
import { isGatewayRouteKind } from '../table/types.ts';

export const STICKY_ANNOTATIONS = Object.freeze({
  disableCookies: 'haproxy.router.openshift.io/disable_cookies',
  cookieName: 'router.openshift.io/cookie_name',
  cookieSameSite: 'router.openshift.io/cookie-same-site',
});

const SAME_SITE = ['Lax', 'Strict', 'None'] as const;
/** RFC 6265 cookie-name token characters. */
const COOKIE_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,256}$/;

/** ctx.builtinFlags bit: the balancer chose, so the response sets the cookie (sticky is on by default: no state slot per request). */
export const NEW_SESSION = 1;

class StickyCookie {
  readonly #name: string;
  readonly #sameSite: 'Lax' | 'Strict' | 'None' | null;
  constructor(name: string, sameSite: 'Lax' | 'Strict' | 'None' | null) {
    this.#name = name;
    this.#sameSite = sameSite;
  }

  selectEndpoint(ctx: PluginContext): null {
    const run = phaseRunOf(ctx);
    // On a retry the pinned endpoint has failed: the balancer chooses another, the response re-pins.
    const found = run.tried === null ? findStickyMember(run.headers.cookie, this.#name, run.owner.members, Date.now()) : null;
    if (found === null) run.builtinFlags |= NEW_SESSION;
    else run.member = found;
    return null;
  }

  response(ctx: PluginContext): void {
    const run = phaseRunOf(ctx);
    if ((run.builtinFlags & NEW_SESSION) === 0 || run.member === null) return;
    const cookie = stickyCookie(this.#name, run.member.endpoint.id, run.secure, this.#sameSite);
    const out = ctx.responseHeaders!;
    const existing = out['set-cookie'];
    out['set-cookie'] = existing === undefined ? cookie
      : Array.isArray(existing) ? [...existing, cookie] : [String(existing), cookie];
  }
}

export const stickyCookiePlugin = definePlugin({
  name: 'sticky-cookie',
  config: Type.Object({
    cookieName: Type.String({ pattern: "^[!#$%&'*+\\-.^_`|~0-9A-Za-z]{1,256}$" }),
    sameSite: Type.Union([Type.Literal('Lax'), Type.Literal('Strict'), Type.Literal('None'), Type.Null()]),
  }, { additionalProperties: false }),
  create: (c) => new StickyCookie(c.cookieName, c.sameSite),
});

export const stickyCookiePolicy = builtinPolicy({
  plugin: stickyCookiePlugin,
  position: 'select',
  fromRoute({ annotations: a, key, kind, tls }) {
    const disabled = booleanAnnotation(a, STICKY_ANNOTATIONS.disableCookies) === true;
    const name = a[STICKY_ANNOTATIONS.cookieName];
    if (name !== undefined && !COOKIE_TOKEN.test(name)) invalidAnnotation(STICKY_ANNOTATIONS.cookieName, `"${name}" is not a valid cookie name`);
    const sameSite = oneOf(a, STICKY_ANNOTATIONS.cookieSameSite, SAME_SITE);
    // OpenShift's default cookie is not Gateway API behaviour (HTTPRoute, GRPCRoute).
    if (disabled || isGatewayRouteKind(kind) || tls?.termination === 'passthrough') return null;
    return { cookieName: name ?? defaultCookieName(key), sameSite };
  },
});

/** OpenShift names the sticky cookie after a hash of the backend; so do we (stable across replicas). */
export function defaultCookieName(routeKey: string): string {
  // Hex of 16 bytes, not a slice of the 64-character hex (which would keep that alive per route).
  return hash('sha256', routeKey, 'buffer').toString('hex', 0, 16);
}
