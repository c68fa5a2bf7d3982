// Cookie stickiness (OpenShift's default for non-passthrough routes): the endpoint named by the
// route's cookie is chosen when still usable; otherwise the balancer chooses and the response
// sets the cookie.

import { findStickyMember, stickyCookie } from '../balance/sticky-cookie.ts';
import type { PluginContext } from '../pipeline/context.ts';
import { phaseRunOf } from '../pipeline/phase-run.ts';
import type { RoutePolicy } from '../table/types.ts';
import { builtin } from './define.ts';

/** ctx.builtinFlags bit: the balancer chose, so the response sets the cookie (sticky is on by default: no state slot per request). */
export const NEW_SESSION = 1;

class StickyCookie {
  readonly #name: string;
  readonly #sameSite: 'Lax' | 'Strict' | 'None' | null;
  constructor(sticky: NonNullable<RoutePolicy['sticky']>) {
    this.#name = sticky.cookieName;
    this.#sameSite = sticky.sameSite;
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

export const stickyCookiePlugin = builtin<NonNullable<RoutePolicy['sticky']>>('sticky-cookie', (sticky) => new StickyCookie(sticky));
