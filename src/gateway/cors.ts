// The HTTPRoute CORS filter (Gateway API v1.6.3, HTTPCORSFilter): read and validated once when
// the route is compiled (parseCorsFilter → table data), prepared once per route runtime
// (prepareCors: a Set of exact origins, the wildcard patterns), then applied per request by the
// pure functions below — a preflight answered by the router itself (corsPreflightHeaders), the
// headers added to an actual response from the backend (addCorsResponseHeaders) and to the
// router's own error answers on the rule (corsErrorHeaders: a browser can read a 502 or a 504
// only with them). No regex and no closure per request.
//
// Choices the spec leaves open: an allowed `*` origin without credentials is answered
// `Access-Control-Allow-Origin: *` (the same answer for everyone, no Vary); with credentials the
// Origin is echoed, and only a well-formed `scheme://host[:port]` one (never `null`). A `*` in
// allowMethods or allowHeaders echoes what the preflight asks for (valid with or without
// credentials). A preflight from an origin that is not allowed is answered 200 without any CORS
// header (the client then refuses the actual request).

import type { OutgoingHttpHeaders } from 'node:http';
import type { HTTPCORSFilter } from '../objects/gateway-types.ts';
import type { CorsOriginPattern, CorsPolicy } from '../table/types.ts';
import { Unsupported } from './rule-parts.ts';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);
// The CRD's patterns for CORSOrigin and HTTPHeaderName (used when the route is compiled only).
const ORIGIN = /^(https?):\/\/((?:\*\.)?(?:[a-zA-Z0-9-]+\.)*[a-zA-Z0-9-]+|\*)(?::([0-9]{1,5}))?$/;
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]{1,256}$/;
const DEFAULT_PORT: Readonly<Record<string, number>> = { http: 80, https: 443 };
const DEFAULT_MAX_AGE = 5;

function invalid(message: string): Unsupported {
  return new Unsupported('UnsupportedValue', `cors.${message}`);
}

function wildcardAlone(list: readonly string[], field: string): void {
  if (list.length > 1 && list.includes('*')) throw invalid(`${field} cannot contain "*" alongside other values`);
}

function parseOriginPattern(text: string): CorsOriginPattern {
  const m = text.length <= 253 ? ORIGIN.exec(text) : null;
  if (m === null) throw invalid(`allowOrigins: "${text}" is not "*" nor an http(s)://host[:port] origin`);
  const scheme = m[1]!;
  const port = m[3] === undefined ? DEFAULT_PORT[scheme]! : Number(m[3]);
  if (port < 1 || port > 65535) throw invalid(`allowOrigins: "${text}" has a port out of 1-65535`);
  const host = m[2]!.toLowerCase();
  if (host === '*') return { scheme, host: '', wildcard: true, port };
  if (host.startsWith('*.')) return { scheme, host: host.slice(1), wildcard: true, port };
  return { scheme, host, wildcard: false, port };
}

/** A CORS filter → table data; an invalid value is a refusal (the route's Accepted=False, UnsupportedValue). */
export function parseCorsFilter(f: HTTPCORSFilter | undefined): CorsPolicy {
  if (f === undefined) throw invalid('is missing for filter type CORS');
  const origins = [...new Set(f.allowOrigins ?? [])];
  wildcardAlone(origins, 'allowOrigins');
  const methods = [...new Set(f.allowMethods ?? [])];
  wildcardAlone(methods, 'allowMethods');
  for (const m of methods) if (m !== '*' && !METHODS.has(m)) throw invalid(`allowMethods: "${m}" is not an HTTP method (upper case) nor "*"`);
  const headers = [...new Set(f.allowHeaders ?? [])];
  wildcardAlone(headers, 'allowHeaders');
  const expose = [...new Set(f.exposeHeaders ?? [])];
  for (const [field, list] of [['allowHeaders', headers], ['exposeHeaders', expose]] as const) {
    for (const h of list) if (!HEADER_NAME.test(h)) throw invalid(`${field}: "${h}" is not a header name`);
  }
  const maxAge = f.maxAge ?? DEFAULT_MAX_AGE;
  if (!Number.isInteger(maxAge) || maxAge < 1) throw invalid('maxAge must be at least 1');
  const anyOrigin = origins.length === 1 && origins[0] === '*';
  return {
    anyOrigin, origins: anyOrigin ? [] : origins.map(parseOriginPattern),
    credentials: f.allowCredentials === true, methods, headers, expose, maxAge,
  };
}

/** A route's CORS policy ready for requests: built once per route runtime. */
export interface PreparedCors {
  readonly any: boolean;
  /** `scheme://host:port` of the exact origins. */
  readonly exact: ReadonlySet<string>;
  readonly wildcards: readonly CorsOriginPattern[];
  readonly credentials: boolean;
  /** Any origin without credentials: every allowed answer is `*`, the same for every Origin (no Vary). */
  readonly star: boolean;
  /** Access-Control-Allow-Methods as configured; null: none configured, or echoed (echoMethod). */
  readonly allowMethods: string | null;
  readonly echoMethod: boolean;
  readonly allowHeaders: string | null;
  readonly echoHeaders: boolean;
  /** Access-Control-Expose-Headers as configured (without `*` when credentials forbid it); null: none. */
  readonly expose: string | null;
  /** `*` in exposeHeaders with credentials: an actual response exposes its own header names. */
  readonly exposeOwn: boolean;
  readonly maxAge: string;
}

export function prepareCors(p: CorsPolicy): PreparedCors {
  const exact = new Set<string>();
  const wildcards: CorsOriginPattern[] = [];
  for (const o of p.origins) {
    if (o.wildcard) wildcards.push(o);
    else exact.add(`${o.scheme}://${o.host}:${o.port}`);
  }
  const echoMethod = p.methods.length === 1 && p.methods[0] === '*';
  const echoHeaders = p.headers.length === 1 && p.headers[0] === '*';
  // With credentials a `*` is a literal name to clients, not "all": it is left out (spec).
  const exposeOwn = p.credentials && p.expose.includes('*');
  const expose = exposeOwn ? p.expose.filter((h) => h !== '*') : p.expose;
  return {
    any: p.anyOrigin, exact, wildcards, credentials: p.credentials, star: p.anyOrigin && !p.credentials,
    allowMethods: echoMethod || p.methods.length === 0 ? null : p.methods.join(', '), echoMethod,
    allowHeaders: echoHeaders || p.headers.length === 0 ? null : p.headers.join(', '), echoHeaders,
    expose: expose.length === 0 ? null : expose.join(', '), exposeOwn, maxAge: String(p.maxAge),
  };
}

/** A serialised origin, lower-case, with its port (the scheme's default when not written; 0 for other schemes). */
export interface ParsedOrigin { scheme: string; host: string; port: number }

function isSchemeChar(c: number, first: boolean): boolean {
  if (c >= 97 && c <= 122) return true; // a-z
  if (first) return false;
  return (c >= 48 && c <= 57) || c === 43 || c === 45 || c === 46; // 0-9 + - .
}

function isHostChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 46 || c === 95; // a-z 0-9 - . _
}

function isIpv6Char(c: number): boolean {
  return (c >= 97 && c <= 102) || (c >= 48 && c <= 57) || c === 58 || c === 46; // a-f 0-9 : .
}

/** `scheme://host[:port]` (an Origin header) → its parts, or null for anything else (`null`, a path, userinfo, a list). */
export function parseOrigin(origin: string): ParsedOrigin | null {
  const o = origin.toLowerCase();
  const sep = o.indexOf('://');
  if (sep <= 0) return null;
  for (let i = 0; i < sep; i++) if (!isSchemeChar(o.charCodeAt(i), i === 0)) return null;
  let i = sep + 3;
  const hostStart = i;
  if (o.charCodeAt(i) === 91) { // [ipv6]
    i++;
    while (i < o.length && isIpv6Char(o.charCodeAt(i))) i++;
    if (o.charCodeAt(i) !== 93 || i === hostStart + 1) return null;
    i++;
  } else {
    while (i < o.length && isHostChar(o.charCodeAt(i))) i++;
    if (i === hostStart) return null;
  }
  const host = o.slice(hostStart, i);
  const scheme = o.slice(0, sep);
  let port = DEFAULT_PORT[scheme] ?? 0;
  if (i < o.length) {
    if (o.charCodeAt(i) !== 58 || o.length - i - 1 < 1 || o.length - i - 1 > 5) return null; // ':' 1-5 digits
    port = 0;
    for (let j = i + 1; j < o.length; j++) {
      const c = o.charCodeAt(j);
      if (c < 48 || c > 57) return null;
      port = port * 10 + (c - 48);
    }
    if (port < 1 || port > 65535) return null;
  }
  return { scheme, host, port };
}

/** Whether the policy allows this Origin header (exact origins, `*.domain` patterns with any number of labels, `*`). */
export function corsOriginAllowed(cors: PreparedCors, origin: string): boolean {
  if (cors.star) return true;
  const o = parseOrigin(origin);
  if (o === null) return false;
  if (cors.any) return true;
  if (cors.exact.has(`${o.scheme}://${o.host}:${o.port}`)) return true;
  for (const w of cors.wildcards) {
    if (w.scheme !== o.scheme || w.port !== o.port) continue;
    if (w.host === '' || (o.host.length > w.host.length && o.host.endsWith(w.host))) return true;
  }
  return false;
}

/** A request the router answers itself: OPTIONS with Origin and Access-Control-Request-Method. */
export function isCorsPreflight(method: string, origin: unknown, requestMethod: unknown): boolean {
  return method === 'OPTIONS' && origin !== undefined && requestMethod !== undefined;
}

// RFC 9110 tchar, for what a preflight asks that is echoed back.
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 48; c <= 57; c++) TCHAR[c] = 1;
for (let c = 65; c <= 90; c++) TCHAR[c] = 1;
for (let c = 97; c <= 122; c++) TCHAR[c] = 1;

function isToken(s: string, from: number, to: number): boolean {
  if (to <= from) return false;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || TCHAR[c] === 0) return false;
  }
  return true;
}

/** A comma-separated list of tokens (Access-Control-Request-Headers), normalised to `a, b`; null when empty or malformed. */
export function tokenList(value: string): string | null {
  let out = '';
  let start = 0;
  while (start <= value.length) {
    let end = value.indexOf(',', start);
    if (end === -1) end = value.length;
    let a = start;
    let b = end;
    while (a < b && (value.charCodeAt(a) === 32 || value.charCodeAt(a) === 9)) a++;
    while (b > a && (value.charCodeAt(b - 1) === 32 || value.charCodeAt(b - 1) === 9)) b--;
    if (a < b) {
      if (!isToken(value, a, b)) return null;
      out = out === '' ? value.slice(a, b) : `${out}, ${value.slice(a, b)}`;
    }
    start = end + 1;
  }
  return out === '' ? null : out;
}

function allowOriginValue(cors: PreparedCors, origin: string): string {
  return cors.star ? '*' : origin;
}

/**
 * The answer to a preflight (status 200, no body): the CORS headers when the Origin is allowed,
 * none when it is not. `requestMethod`, `requestHeaders`: Access-Control-Request-Method and
 * -Headers as received (echoed for a `*` in allowMethods / allowHeaders when well-formed).
 */
export function corsPreflightHeaders(cors: PreparedCors, origin: unknown, requestMethod: unknown, requestHeaders: unknown): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { 'content-length': 0 };
  if (!cors.star) out.vary = 'Origin';
  if (typeof origin !== 'string' || !corsOriginAllowed(cors, origin)) return out;
  out['access-control-allow-origin'] = allowOriginValue(cors, origin);
  if (cors.credentials) out['access-control-allow-credentials'] = 'true';
  if (cors.allowMethods !== null) out['access-control-allow-methods'] = cors.allowMethods;
  else if (cors.echoMethod && typeof requestMethod === 'string' && isToken(requestMethod, 0, requestMethod.length)) out['access-control-allow-methods'] = requestMethod;
  if (cors.allowHeaders !== null) out['access-control-allow-headers'] = cors.allowHeaders;
  else if (cors.echoHeaders && typeof requestHeaders === 'string') {
    const list = tokenList(requestHeaders);
    if (list !== null) out['access-control-allow-headers'] = list;
  }
  if (cors.expose !== null) out['access-control-expose-headers'] = cors.expose;
  out['access-control-max-age'] = cors.maxAge;
  return out;
}

/** `Origin` added to a Vary value (unless it is `*` or already names it). */
export function varyWithOrigin(vary: string | number | string[] | undefined): string {
  if (vary === undefined) return 'Origin';
  const text = Array.isArray(vary) ? vary.join(', ') : String(vary);
  if (text.trim() === '') return 'Origin';
  for (const part of text.split(',')) {
    const name = part.trim().toLowerCase();
    if (name === '*' || name === 'origin') return text;
  }
  return `${text}, Origin`;
}

/**
 * An actual (non-preflight) response from the backend, in place: for an allowed Origin,
 * Access-Control-Allow-Origin, -Allow-Credentials (only when allowed; a backend's own is
 * dropped otherwise) and -Expose-Headers; `Vary: Origin` whenever the answer depends on it.
 */
export function addCorsResponseHeaders(cors: PreparedCors, origin: unknown, headers: OutgoingHttpHeaders): void {
  if (!cors.star) headers.vary = varyWithOrigin(headers.vary);
  if (typeof origin !== 'string' || !corsOriginAllowed(cors, origin)) return;
  headers['access-control-allow-origin'] = allowOriginValue(cors, origin);
  if (cors.credentials) headers['access-control-allow-credentials'] = 'true';
  else delete headers['access-control-allow-credentials'];
  let expose = cors.expose;
  if (cors.exposeOwn) {
    const names = new Set(expose === null ? [] : expose.split(', '));
    for (const name in headers) if (!name.startsWith('access-control-') && name !== 'vary') names.add(name);
    expose = names.size === 0 ? null : [...names].join(', ');
  }
  if (expose !== null) headers['access-control-expose-headers'] = expose;
}

/** Prepared policies for error answers, by the (immutable, shared) table data they come from. */
const preparedForErrors = new WeakMap<CorsPolicy, PreparedCors>();

/**
 * The headers an answer the router writes itself (a catalogue error: 502, 503, 504, 500, 429,
 * 413…) gets on a rule with a CORS filter, as a backend's response would: for an allowed Origin,
 * Access-Control-Allow-Origin, -Allow-Credentials and -Expose-Headers, so a browser can read the
 * error; for any other, only `Vary: Origin`. Undefined when the rule has no CORS filter.
 */
export function corsErrorHeaders(policy: CorsPolicy | undefined, origin: unknown): Record<string, string> | undefined {
  if (policy === undefined) return undefined;
  let cors = preparedForErrors.get(policy);
  if (cors === undefined) preparedForErrors.set(policy, (cors = prepareCors(policy)));
  const headers: OutgoingHttpHeaders = {};
  addCorsResponseHeaders(cors, origin, headers);
  return headers as Record<string, string>;
}
