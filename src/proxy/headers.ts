// Request and response header rewriting: hop-by-hop removal (RFC 9110 §7.6.1) and the
// X-Forwarded-* / Forwarded (RFC 7239) policy. Output is a flat [name, value, …] array, the
// cheapest form for undici's dispatch.

import { validateHeaderName, validateHeaderValue, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import type { ForwardedPolicy } from '../table/types.ts';

/** Always hop-by-hop, whatever Connection says. `te` is handled separately (trailers survives). */
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer',
  'transfer-encoding', 'upgrade',
  // undici refuses `expect`; Node already answered any 100-continue for us.
  'expect',
  // HTTP/2 connection-specific header that may arrive on h2 requests
  'http2-settings',
]);

const FORWARDED_NAMES = new Set(['x-forwarded-for', 'x-forwarded-host', 'x-forwarded-port', 'x-forwarded-proto', 'forwarded']);

export interface ForwardedInfo {
  clientIp: string;
  host: string;
  port: number;
  proto: 'http' | 'https';
}

/** Names listed in a Connection header, lower-cased; null when there are none. */
function connectionTokens(value: string | string[] | undefined): Set<string> | null {
  if (value === undefined) return null;
  const text = Array.isArray(value) ? value.join(',') : value;
  if (text === 'keep-alive' || text === 'close') return null; // the common cases name nothing else
  const set = new Set<string>();
  for (const token of text.split(',')) {
    const t = token.trim().toLowerCase();
    if (t) set.add(t);
  }
  return set;
}

/**
 * Headers to send upstream for a request. `keepUpgrade` keeps Connection/Upgrade (WebSocket
 * tunnels). The Host header is preserved as the client sent it (for h2, from :authority).
 */
export function upstreamRequestHeaders(
  headers: IncomingHttpHeaders,
  policy: ForwardedPolicy,
  info: ForwardedInfo,
): string[] {
  const named = connectionTokens(headers.connection);
  const out: string[] = [];
  let sawHost = false;
  const keepForwarded = policy === 'append' || policy === 'if-none' || policy === 'never';
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (name.charCodeAt(0) === 58 /* ':' */) continue; // h2 pseudo-headers
    if (HOP_BY_HOP.has(name)) {
      if (name === 'te' && typeof value === 'string' && /(^|,)\s*trailers\s*(;|,|$)/i.test(value)) out.push('te', 'trailers');
      continue;
    }
    if (named !== null && named.has(name)) continue;
    if (name === 'host') sawHost = true;
    if (FORWARDED_NAMES.has(name) && (!keepForwarded || policy === 'append')) continue; // rewritten below
    if (Array.isArray(value)) {
      for (const v of value) out.push(name, v);
    } else {
      out.push(name, value);
    }
  }
  if (!sawHost && info.host) out.push('host', info.host);
  if (policy !== 'never') addForwarded(out, named === null ? headers : withoutNamed(headers, named), policy, info);
  return out;
}

/**
 * The client's headers minus the ones its Connection header named (dropped as hop-by-hop
 * above): the forwarded policy must not see a header the backend will not get — with
 * `if-none`, `Connection: X-Forwarded-For` would otherwise leave the backend with none at all.
 */
function withoutNamed(headers: IncomingHttpHeaders, named: Set<string>): IncomingHttpHeaders {
  let copy: IncomingHttpHeaders | null = null;
  for (const name of FORWARDED_NAMES) {
    if (named.has(name) && headers[name] !== undefined) {
      copy ??= { ...headers };
      delete copy[name];
    }
  }
  return copy ?? headers;
}

function joinExisting(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(', ') : value;
}

function addForwarded(out: string[], headers: IncomingHttpHeaders, policy: ForwardedPolicy, info: ForwardedInfo): void {
  const port = String(info.port);
  const forwardedElement = `for=${forwardedNode(info.clientIp)};host=${forwardedToken(info.host)};proto=${info.proto}`;
  if (policy === 'append') {
    out.push('x-forwarded-for', appendValue(headers['x-forwarded-for'], info.clientIp));
    out.push('x-forwarded-host', appendValue(headers['x-forwarded-host'], info.host));
    out.push('x-forwarded-port', appendValue(headers['x-forwarded-port'], port));
    out.push('x-forwarded-proto', appendValue(headers['x-forwarded-proto'], info.proto));
    out.push('forwarded', appendValue(headers.forwarded, forwardedElement));
  } else if (policy === 'replace') {
    out.push('x-forwarded-for', info.clientIp, 'x-forwarded-host', info.host, 'x-forwarded-port', port,
      'x-forwarded-proto', info.proto, 'forwarded', forwardedElement);
  } else {
    // if-none: set each header only when the client sent none (the client's were kept above)
    if (headers['x-forwarded-for'] === undefined) out.push('x-forwarded-for', info.clientIp);
    if (headers['x-forwarded-host'] === undefined) out.push('x-forwarded-host', info.host);
    if (headers['x-forwarded-port'] === undefined) out.push('x-forwarded-port', port);
    if (headers['x-forwarded-proto'] === undefined) out.push('x-forwarded-proto', info.proto);
    if (headers.forwarded === undefined) out.push('forwarded', forwardedElement);
  }
}

function appendValue(existing: string | string[] | undefined, value: string): string {
  const prior = joinExisting(existing);
  return prior ? `${prior}, ${value}` : value;
}

/** RFC 7239 node: IPv6 addresses are bracketed and quoted. */
export function forwardedNode(ip: string): string {
  if (ip.startsWith('::ffff:') && ip.includes('.')) return ip.slice(7);
  return ip.includes(':') ? `"[${ip}]"` : ip;
}

/** RFC 7239 value: a token, or a quoted string when it holds characters a token cannot. */
function forwardedToken(value: string): string {
  return /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(value) ? value : `"${value.replace(/["\\]/g, '\\$&')}"`;
}

/** Apply the forwarded policy in place on a header object (used for WebSocket tunnels). */
export function applyForwardedInPlace(headers: IncomingHttpHeaders, policy: ForwardedPolicy, info: ForwardedInfo): void {
  if (policy === 'never') return;
  const out: string[] = [];
  addForwarded(out, headers, policy, info);
  for (let i = 0; i < out.length; i += 2) headers[out[i]!] = out[i + 1]!;
}

/** Response headers for the client: hop-by-hop ones removed (undici gives lower-case names). */
export function clientResponseHeaders(headers: Record<string, string | string[] | undefined>): OutgoingHttpHeaders {
  const named = connectionTokens(headers.connection);
  const out: OutgoingHttpHeaders = {};
  for (const name in headers) {
    if (HOP_BY_HOP.has(name) || (named !== null && named.has(name))) continue;
    const value = headers[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/** Client address without the IPv4-mapped prefix. */
export function clientAddress(remote: string | undefined): string {
  if (!remote) return '';
  return remote.startsWith('::ffff:') && remote.includes('.') ? remote.slice(7) : remote;
}

/** A field value Node refuses to send (the compatibility layer's and ServerResponse's rule). */
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

/**
 * An HTTP/2 response head as the flat [':status', status, name, value, …] list the core stream
 * API takes (no copy into another object): undefined values skipped, list values as repeated
 * fields, connection-specific fields (HTTP/2 has none) dropped. Throws on a value Node would not
 * send (control characters); names are checked by Node itself when the list is sent.
 */
export function headerList(status: number, headers: OutgoingHttpHeaders): unknown[] {
  const list: unknown[] = [':status', status];
  for (const key in headers) {
    const value = headers[key];
    const name = key.toLowerCase();
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    if (typeof value === 'string') {
      if (INVALID_VALUE.test(value)) throw new TypeError(`invalid value for header ${name}`);
      list.push(name, value);
    } else if (Array.isArray(value)) {
      for (const v of value) {
        if (INVALID_VALUE.test(v)) throw new TypeError(`invalid value for header ${name}`);
        list.push(name, v);
      }
    } else {
      list.push(name, String(value));
    }
  }
  return list;
}

/** The backend's response trailers a client may get (hop-by-hop, pseudo and Content-Length dropped), or null when none is left. */
export function clientTrailers(trailers: Record<string, string | string[] | undefined>): OutgoingHttpHeaders | null {
  let out: OutgoingHttpHeaders | null = null;
  for (const name in trailers) {
    const value = trailers[name];
    if (value === undefined || name.charCodeAt(0) === 58 /* ':' */ || HOP_BY_HOP.has(name) || name === 'content-length') continue;
    (out ??= {})[name] = value;
  }
  return out;
}

/** The fields of `fields` Node accepts (a field with an invalid name or value dropped). */
export function forwardableFields(fields: OutgoingHttpHeaders): OutgoingHttpHeaders {
  const valid: OutgoingHttpHeaders = {};
  for (const name in fields) {
    try {
      validateHeaderName(name);
      for (const v of ([] as unknown[]).concat(fields[name])) validateHeaderValue(name, String(v));
      valid[name] = fields[name];
    } catch { /* an invalid field is dropped */ }
  }
  return valid;
}

/**
 * Add the backend's response trailers to the client response (before its end): hop-by-hop and
 * pseudo fields dropped; a field Node refuses to send is dropped rather than failing the response.
 */
export function addClientTrailers(res: { addTrailers(headers: OutgoingHttpHeaders): void }, trailers: Record<string, string | string[] | undefined>): void {
  const out = clientTrailers(trailers);
  if (out === null) return;
  try {
    res.addTrailers(out);
  } catch {
    // Keep what Node accepts (one call: HTTP/1.1 addTrailers replaces, it does not merge).
    try { res.addTrailers(forwardableFields(out)); } catch { /* nothing forwardable */ }
  }
}
