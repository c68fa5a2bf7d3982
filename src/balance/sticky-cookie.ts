// Cookie stickiness as the OpenShift router does it: the response of a new session carries a
// cookie whose value is the chosen endpoint's opaque id (never its IP); later requests naming a
// usable endpoint go back to it, otherwise the balancer chooses again and a new cookie is set.
// Both functions run per request, so the Cookie header is scanned in place without splitting
// it into pieces.

import type { Member } from './types.ts';

const SEMICOLON = 0x3b;
const EQUALS = 0x3d;
const SPACE = 0x20;
const TAB = 0x09;
const QUOTE = 0x22;

/** RFC 6265 cookie-name (an RFC 7230 token). For validating `router.openshift.io/cookie_name` once, at compile time. */
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export function isValidCookieName(name: string): boolean {
  return COOKIE_NAME.test(name);
}

/**
 * The member named by the `cookieName` cookie in a Cookie header, when it is still usable: the
 * endpoint is in `members`, accepts new sessions (not terminating) and is available now (active
 * check up, not ejected). Otherwise null, and the caller falls back to its balancer.
 * A member of weight 0 is still honoured, as HAProxy does: weight 0 takes no new sessions from
 * the balancer but keeps the ones it has.
 */
export function findStickyMember(cookieHeader: string | undefined, cookieName: string, members: readonly Member[], now: number): Member | null {
  if (cookieHeader === undefined || cookieName.length === 0 || members.length === 0) return null;
  let from = 0;
  for (;;) {
    const at = cookieHeader.indexOf(cookieName, from);
    if (at < 0) return null;
    from = at + 1;
    const eq = at + cookieName.length;
    if (cookieHeader.charCodeAt(eq) !== EQUALS || !startsPair(cookieHeader, at)) continue;
    let start = eq + 1;
    let end = cookieHeader.indexOf(';', start);
    if (end < 0) end = cookieHeader.length;
    while (start < end && isBlank(cookieHeader.charCodeAt(start))) start++;
    while (end > start && isBlank(cookieHeader.charCodeAt(end - 1))) end--;
    if (end - start >= 2 && cookieHeader.charCodeAt(start) === QUOTE && cookieHeader.charCodeAt(end - 1) === QUOTE) {
      start++;
      end--;
    }
    const found = memberNamed(cookieHeader, start, end, members);
    if (found !== null) return found.acceptsNew && found.endpoint.available(now) ? found : null;
  }
}

/**
 * The Set-Cookie value that pins a client to `endpointId`. `sameSite` is the route's
 * router.openshift.io/cookie-same-site; without it HTTPS cookies are SameSite=None (as
 * OpenShift). Browsers refuse SameSite=None without Secure, so plain HTTP leaves it out.
 */
export function stickyCookie(cookieName: string, endpointId: string, secure: boolean, sameSite: 'Lax' | 'Strict' | 'None' | null = null): string {
  const base = `${cookieName}=${endpointId}; Path=/; HttpOnly`;
  if (secure) return `${base}; Secure; SameSite=${sameSite ?? 'None'}`;
  return sameSite === null || sameSite === 'None' ? base : `${base}; SameSite=${sameSite}`;
}

/** True when the name found at `at` begins a cookie pair (start of header, or after `;` and blanks). */
function startsPair(header: string, at: number): boolean {
  let i = at - 1;
  while (i >= 0 && isBlank(header.charCodeAt(i))) i--;
  return i < 0 || header.charCodeAt(i) === SEMICOLON;
}

function isBlank(code: number): boolean {
  return code === SPACE || code === TAB;
}

/** Above this many members, ids are looked up in a per-member-list index instead of compared one by one. */
const LINEAR_SCAN_MAX = 8;

/** id → member, per member list (lists are built once per table change and reused for every request). */
const memberIndexes = new WeakMap<readonly Member[], Map<string, Member>>();

function memberNamed(header: string, start: number, end: number, members: readonly Member[]): Member | null {
  const length = end - start;
  if (length === 0) return null;
  if (members.length > LINEAR_SCAN_MAX) return indexOf(members).get(header.slice(start, end)) ?? null;
  const first = header.charCodeAt(start);
  for (let i = 0; i < members.length; i++) {
    const id = members[i].endpoint.id;
    if (id.length === length && id.charCodeAt(0) === first && header.startsWith(id, start)) return members[i];
  }
  return null;
}

function indexOf(members: readonly Member[]): Map<string, Member> {
  let index = memberIndexes.get(members);
  if (index === undefined) {
    index = new Map();
    for (const member of members) if (!index.has(member.endpoint.id)) index.set(member.endpoint.id, member);
    memberIndexes.set(members, index);
  }
  return index;
}
