// Route spec.httpHeaders.actions (route.openshift.io/v1): set or delete request headers before
// they go to the endpoint and response headers before they go to the client. Values are static
// strings or use HAProxy's dynamic-value syntax, of which the fetchers OpenShift documents for
// routes are supported: %[req.hdr(Name)] and %[res.hdr(Name)], with the converters lower and
// base64. Compiled once per route into plain data; applied per request with no parsing.

import type { HeaderAction, HeaderActions, ValuePart } from './types.ts';

export type { HeaderAction, HeaderActions, ValuePart };

/** As OpenShift: these cannot be set or deleted through the Route (use the annotations instead). */
const FORBIDDEN = {
  request: new Set(['proxy', 'cookie', 'host']),
  response: new Set(['strict-transport-security', 'set-cookie']),
} as const;
/** Hop-by-hop and framing headers the proxy owns. */
const PROXY_OWNED = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'content-length']);
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,255}$/;
const MAX_ACTIONS = 20;
const DYNAMIC = /%\[(req|res)\.hdr\(([!#$%&'*+\-.^_`|~0-9A-Za-z]+)\)((?:,(?:lower|base64))*)\]/g;

export type HeaderActionsResult = { ok: true; value: HeaderActions | null } | { ok: false; message: string };

/** Parse and validate `spec.httpHeaders` of a Route (undefined or without actions → null). */
export function parseHeaderActions(httpHeaders: unknown): HeaderActionsResult {
  if (httpHeaders === undefined || httpHeaders === null) return { ok: true, value: null };
  if (typeof httpHeaders !== 'object') return { ok: false, message: 'spec.httpHeaders must be an object' };
  const actions = (httpHeaders as { actions?: unknown }).actions;
  if (actions === undefined || actions === null) return { ok: true, value: null };
  if (typeof actions !== 'object') return { ok: false, message: 'spec.httpHeaders.actions must be an object' };
  const out: HeaderActions = { request: [], response: [] };
  for (const side of ['request', 'response'] as const) {
    const list = (actions as Record<string, unknown>)[side];
    if (list === undefined || list === null) continue;
    if (!Array.isArray(list)) return { ok: false, message: `spec.httpHeaders.actions.${side} must be a list` };
    if (list.length > MAX_ACTIONS) return { ok: false, message: `spec.httpHeaders.actions.${side}: at most ${MAX_ACTIONS} actions` };
    const seen = new Set<string>();
    for (const [i, item] of list.entries()) {
      const at = `spec.httpHeaders.actions.${side}[${i}]`;
      const parsed = parseAction(item, side, at);
      if (typeof parsed === 'string') return { ok: false, message: parsed };
      if (seen.has(parsed.name)) return { ok: false, message: `${at}: header "${parsed.name}" appears twice` };
      seen.add(parsed.name);
      out[side].push(parsed);
    }
  }
  return { ok: true, value: out.request.length + out.response.length > 0 ? out : null };
}

function parseAction(item: unknown, side: 'request' | 'response', at: string): HeaderAction | string {
  if (typeof item !== 'object' || item === null) return `${at} must be an object`;
  const { name, action } = item as { name?: unknown; action?: { type?: unknown; set?: { value?: unknown } } };
  if (typeof name !== 'string' || !TOKEN.test(name)) return `${at}.name must be a header name (an HTTP token of 1-255 characters)`;
  const lower = name.toLowerCase();
  if (FORBIDDEN[side].has(lower)) return `${at}: the ${side} header "${name}" cannot be set or deleted on a route`;
  if (PROXY_OWNED.has(lower) || lower.startsWith(':')) return `${at}: "${name}" is managed by the router`;
  const type = action?.type;
  if (type === 'Delete') return { name: lower, type: 'delete' };
  if (type !== 'Set') return `${at}.action.type must be Set or Delete`;
  const value = action?.set?.value;
  if (typeof value !== 'string' || value === '' || value.length > 16384 || /[\r\n\0]/.test(value)) {
    return `${at}.action.set.value must be a non-empty single-line string`;
  }
  const parts = parseValue(value, side);
  if (typeof parts === 'string') return `${at}.action.set.value: ${parts}`;
  return { name: lower, type: 'set', value: parts };
}

function parseValue(value: string, side: 'request' | 'response'): ValuePart[] | string {
  const parts: ValuePart[] = [];
  let last = 0;
  for (const m of value.matchAll(DYNAMIC)) {
    if (m.index > last) parts.push(value.slice(last, m.index));
    const from = m[1] as 'req' | 'res';
    if (from === 'res' && side === 'request') return 'res.hdr() is only available in response actions';
    const converters = m[3] ?? '';
    parts.push({ from, header: m[2]!.toLowerCase(), lower: converters.includes('lower'), base64: converters.includes('base64') });
    last = m.index + m[0].length;
  }
  if (last < value.length) parts.push(value.slice(last));
  for (const p of parts) {
    if (typeof p === 'string' && p.includes('%[')) return 'unsupported dynamic value (supported: %[req.hdr(Name)], %[res.hdr(Name)], converters lower and base64)';
  }
  return parts;
}

type HeaderSource = Readonly<Record<string, string | string[] | undefined>>;

function headerValue(source: HeaderSource | null, name: string): string {
  const v = source?.[name];
  return v === undefined ? '' : Array.isArray(v) ? v.join(', ') : v;
}

/** Render a value: literal text as is, header references from the request/response headers. */
export function renderValue(parts: readonly ValuePart[], request: HeaderSource, response: HeaderSource | null): string {
  if (parts.length === 1 && typeof parts[0] === 'string') return parts[0];
  let out = '';
  for (const p of parts) {
    if (typeof p === 'string') { out += p; continue; }
    let v = headerValue(p.from === 'req' ? request : response, p.header);
    if (p.lower) v = v.toLowerCase();
    if (p.base64) v = Buffer.from(v).toString('base64');
    out += v;
  }
  return out;
}

/** Apply request actions to a flat [name, value, …] header list (the upstream request). */
export function applyRequestActions(flat: string[], actions: readonly HeaderAction[], request: HeaderSource): string[] {
  let out = flat;
  for (const action of actions) {
    const kept: string[] = [];
    for (let i = 0; i < out.length; i += 2) if (out[i] !== action.name) kept.push(out[i]!, out[i + 1]!);
    if (action.type === 'set') kept.push(action.name, renderValue(action.value!, request, null));
    out = kept;
  }
  return out;
}

/** Apply actions in place on a header object (client response headers; a tunnel's request headers). */
export function applyActions(headers: Record<string, string | string[] | number | undefined>, actions: readonly HeaderAction[], request: HeaderSource, upstream: HeaderSource | null): void {
  for (const action of actions) {
    if (action.type === 'delete') delete headers[action.name];
    else headers[action.name] = renderValue(action.value!, request, upstream);
  }
}
