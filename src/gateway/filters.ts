// The runtime of HTTPRoute filters: small pure functions over plain data, called from the
// request path (src/proxy/router-proxy.ts). Everything they read was parsed when the table was
// compiled (table/types.ts GatewayRouteData); nothing here builds a regex or a closure.

import type { OutgoingHttpHeaders } from 'node:http';
import type { HeaderModifier, PathModifier, RedirectSpec } from '../table/types.ts';

/**
 * RequestHeaderModifier on the flat [name, value, …] upstream header list: `set` replaces every
 * value of a name, `add` appends a value (joined with ", " to an existing one, as the spec's
 * example `my-header: foo,bar` shows), `remove` drops the name. Names are lower-case.
 */
export function modifyRequestHeaders(flat: string[], mod: HeaderModifier): string[] {
  let out = flat;
  if (mod.remove.length > 0 || mod.set.length > 0) {
    const kept: string[] = [];
    for (let i = 0; i < out.length; i += 2) {
      const name = out[i]!;
      if (mod.remove.includes(name) || hasName(mod.set, name)) continue;
      kept.push(name, out[i + 1]!);
    }
    out = kept;
    for (const [name, value] of mod.set) out.push(name, value);
  }
  for (const [name, value] of mod.add) {
    let merged = false;
    for (let i = 0; i < out.length; i += 2) {
      if (out[i] === name) {
        out[i + 1] = `${out[i + 1]},${value}`;
        merged = true;
        break;
      }
    }
    if (!merged) out.push(name, value);
  }
  return out;
}

function hasName(list: ReadonlyArray<[string, string]>, name: string): boolean {
  for (let i = 0; i < list.length; i++) if (list[i]![0] === name) return true;
  return false;
}

/** ResponseHeaderModifier on the response headers sent to the client (in place). */
export function modifyResponseHeaders(headers: OutgoingHttpHeaders, mod: HeaderModifier): void {
  for (const name of mod.remove) delete headers[name];
  for (const [name, value] of mod.set) headers[name] = value;
  for (const [name, value] of mod.add) {
    const existing = headers[name];
    headers[name] = existing === undefined ? value : `${Array.isArray(existing) ? existing.join(',') : String(existing)},${value}`;
  }
}

/**
 * A path modifier applied to a request target (the query string is kept). ReplacePrefixMatch
 * replaces the matched prefix (`routePath`, trailing '/' ignored) element-wise: prefix
 * `/strip` with `/` turns `/strip/three` into `/three` and `/strip` into `/`.
 */
export function modifyPath(target: string, mod: PathModifier, routePath: string): string {
  const q = target.indexOf('?');
  const path = q === -1 ? target : target.slice(0, q);
  const query = q === -1 ? '' : target.slice(q);
  if (mod.type === 'ReplaceFullPath') return (mod.value === '' ? '/' : mod.value) + query;
  let prefixLength = routePath.length;
  while (prefixLength > 0 && routePath.charCodeAt(prefixLength - 1) === 47) prefixLength--;
  let replacement = mod.value;
  while (replacement.length > 0 && replacement.charCodeAt(replacement.length - 1) === 47) replacement = replacement.slice(0, -1);
  const rest = path.length >= prefixLength ? path.slice(prefixLength) : '';
  let out = replacement + rest;
  if (out === '') out = '/';
  else if (out.charCodeAt(0) !== 47) out = `/${out}`;
  return out + query;
}

/** What a redirect needs to know of the request. */
export interface RedirectRequest {
  secure: boolean;
  /** Host header without its port, as the client wrote it. */
  host: string;
  /** Port the request came in on (the listener's port). */
  port: number;
  /** Request target (path and query). */
  target: string;
}

const DEFAULT_PORT: Readonly<Record<string, number>> = { http: 80, https: 443 };

/**
 * The Location of a RequestRedirect. Unset fields keep the request's value; the port follows
 * the spec: an explicit port, else the scheme's well-known port when the scheme is set, else
 * the request's port; a port that is the scheme's default is left out.
 */
export function redirectLocation(spec: RedirectSpec, request: RedirectRequest, routePath: string): string {
  const scheme = spec.scheme ?? (request.secure ? 'https' : 'http');
  const host = spec.hostname ?? request.host;
  const port = spec.port ?? (spec.scheme !== null ? DEFAULT_PORT[scheme] ?? request.port : request.port);
  const target = spec.path === null ? request.target : modifyPath(request.target, spec.path, routePath);
  const portPart = DEFAULT_PORT[scheme] === port ? '' : `:${port}`;
  return `${scheme}://${host}${portPart}${target}`;
}

/** The Host header after a URLRewrite hostname (in the flat upstream list, in place). */
export function rewriteHost(flat: string[], hostname: string): void {
  for (let i = 0; i < flat.length; i += 2) {
    if (flat[i] === 'host') {
      flat[i + 1] = hostname;
      return;
    }
  }
  flat.push('host', hostname);
}
