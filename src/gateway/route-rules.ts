// An HTTPRoute's rules → plain data: one entry per match (path, method, headers, query), the
// rule's filters parsed into table data, its backendRefs resolved (Service kind, existence,
// ReferenceGrant across namespaces) with the spec's weights, and the route-level verdicts that
// follow: Accepted=False for what this router does not implement (UnsupportedValue,
// IncompatibleFilters), ResolvedRefs=False for a backend that cannot be used.

import type { MatchData, RuleData } from '../route-candidate.ts';

export type { MatchData, RuleData } from '../route-candidate.ts';
import type { HTTPPathModifier, HTTPRoute, HTTPRouteFilter, HTTPRouteRule } from '../objects/gateway-types.ts';
import type { HeaderModifier, PathModifier, RedirectSpec, RewriteSpec } from '../table/types.ts';
import { condition, type ConditionData } from './conditions.ts';
import { resolveMirrors } from './mirror-rules.ts';
import { parseCorsFilter } from './cors.ts';
import { applySharedFilter, dedupe, resolveBackendRefs, ResolvedRefs, Unsupported, type RuleInputs } from './rule-parts.ts';

export type { RuleInputs } from './rule-parts.ts';

export interface RouteRulesResult {
  rules: RuleData[];
  /** Set when the route uses something this router does not implement: it is not accepted. */
  unsupported: ConditionData | null;
  resolvedRefs: ConditionData;
  /** `namespace/name` of every Service referenced (existing or not). */
  services: string[];
}

const HTTP_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);
const REDIRECT_CODES = new Set([301, 302, 303, 307, 308]);
const DURATION = /^([0-9]{1,5}(h|m|s|ms)){1,4}$/;
const UNIT_MS: Readonly<Record<string, number>> = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1 };

/** A Gateway API Duration (GEP-2257: `1h`, `10s`, `1m30s`, `500ms`) in ms, or null when malformed. */
export function parseGatewayDuration(text: string): number | null {
  if (!DURATION.test(text)) return null;
  let total = 0;
  let i = 0;
  while (i < text.length) {
    let j = i;
    while (j < text.length && text.charCodeAt(j) >= 48 && text.charCodeAt(j) <= 57) j++;
    const value = Number(text.slice(i, j));
    const unit = text.startsWith('ms', j) ? 'ms' : text[j]!;
    total += value * UNIT_MS[unit]!;
    i = j + unit.length;
  }
  return total;
}

function pathModifier(p: HTTPPathModifier | undefined, matches: readonly MatchData[]): PathModifier | null {
  if (!p) return null;
  if (p.type === 'ReplaceFullPath') return { type: p.type, value: p.replaceFullPath ?? '/' };
  if (p.type === 'ReplacePrefixMatch') {
    if (matches.some((m) => m.match !== 'prefix')) throw new Unsupported('UnsupportedValue', 'ReplacePrefixMatch needs PathPrefix matches');
    return { type: p.type, value: p.replacePrefixMatch ?? '/' };
  }
  throw new Unsupported('UnsupportedValue', `path modifier type ${String(p.type)} is not supported`);
}

function parseMatches(rule: HTTPRouteRule): MatchData[] {
  const matches = rule.matches && rule.matches.length > 0 ? rule.matches : [{ path: { type: 'PathPrefix' as const, value: '/' } }];
  return matches.map((m) => {
    const type = m.path?.type ?? 'PathPrefix';
    const value = m.path?.value ?? '/';
    if (type !== 'Exact' && type !== 'PathPrefix') throw new Unsupported('UnsupportedValue', `path match type ${type} is not supported`);
    if (!value.startsWith('/')) throw new Unsupported('UnsupportedValue', 'a path match value must start with "/"');
    const pairs = (list: typeof m.headers, what: string, lower: boolean): Array<[string, string]> => (list ?? []).map((h) => {
      if ((h.type ?? 'Exact') !== 'Exact') throw new Unsupported('UnsupportedValue', `${what} match type ${h.type} is not supported`);
      return [lower ? h.name.toLowerCase() : h.name, h.value];
    });
    const method = m.method === undefined ? null : m.method.toUpperCase();
    if (method !== null && !HTTP_METHODS.has(method)) throw new Unsupported('UnsupportedValue', `method ${m.method} is not supported`);
    // Header names are case-insensitive; the first of duplicate names counts (spec), so keep one.
    const headers = dedupe(pairs(m.headers, 'header', true));
    const query = dedupe(pairs(m.queryParams, 'query parameter', false));
    return { path: value, match: type === 'Exact' ? 'exact' : 'prefix', method, headers, query, patterns: null, grpc: null };
  });
}

function parseFilters(filters: readonly HTTPRouteFilter[], matches: readonly MatchData[], rule: RuleData): void {
  for (const f of filters) {
    if (applySharedFilter(f, rule)) continue;
    switch (f.type) {
      case 'RequestRedirect': {
        const r = f.requestRedirect ?? {};
        const statusCode = r.statusCode ?? 302;
        if (!REDIRECT_CODES.has(statusCode)) throw new Unsupported('UnsupportedValue', `redirect status ${statusCode} is not supported`);
        if (r.scheme !== undefined && r.scheme !== 'http' && r.scheme !== 'https') throw new Unsupported('UnsupportedValue', `redirect scheme ${r.scheme} is not supported`);
        rule.redirect = { scheme: r.scheme ?? null, hostname: r.hostname ?? null, port: r.port ?? null, path: pathModifier(r.path, matches), statusCode };
        break;
      }
      case 'URLRewrite':
        rule.rewrite = { hostname: f.urlRewrite?.hostname ?? null, path: pathModifier(f.urlRewrite?.path, matches) };
        break;
      case 'RequestMirror':
        break; // resolveMirrors (mirror-rules.ts)
      case 'CORS':
        if (rule.cors !== undefined) throw new Unsupported('UnsupportedValue', 'CORS filter cannot be repeated');
        rule.cors = parseCorsFilter(f.cors);
        break;
      default:
        throw new Unsupported('UnsupportedValue', `filter type ${f.type} is not supported`);
    }
  }
  if (rule.redirect !== null && rule.rewrite !== null) throw new Unsupported('IncompatibleFilters', 'RequestRedirect and URLRewrite cannot be used in one rule');
}

export function evaluateRouteRules(route: HTTPRoute, inputs: RuleInputs): RouteRulesResult {
  const namespace = route.metadata.namespace ?? 'default';
  const rules: RuleData[] = [];
  const refs = new ResolvedRefs();
  try {
    (route.spec?.rules ?? []).forEach((r, index) => {
      const matches = parseMatches(r);
      const rule: RuleData = {
        index, matches, backends: [], invalidShare: 0,
        requestHeaders: null, responseHeaders: null, redirect: null, rewrite: null, timeoutMs: null, middlewares: [],
      };
      parseFilters(r.filters ?? [], matches, rule);
      const mirrors = resolveMirrors(r.filters ?? [], { kind: 'HTTPRoute', namespace }, inputs, refs);
      if (mirrors.length > 0) rule.mirrors = mirrors;
      if (r.timeouts?.request !== undefined) {
        const ms = parseGatewayDuration(r.timeouts.request);
        if (ms === null) throw new Unsupported('UnsupportedValue', 'timeouts.request is not a valid duration');
        rule.timeoutMs = ms;
      }
      if (r.timeouts?.backendRequest !== undefined) {
        const ms = parseGatewayDuration(r.timeouts.backendRequest);
        if (ms === null) throw new Unsupported('UnsupportedValue', 'timeouts.backendRequest is not a valid duration');
        // The request timeout encompasses the backend's (spec; either at 0s is none, as its CRD's rule says).
        if (rule.timeoutMs !== null && rule.timeoutMs > 0 && ms > rule.timeoutMs) {
          throw new Unsupported('UnsupportedValue', `timeouts.backendRequest (${r.timeouts.backendRequest}) must not be longer than timeouts.request (${r.timeouts.request})`);
        }
        rule.backendTimeoutMs = ms;
      }
      const resolved = resolveBackendRefs(r.backendRefs ?? [], { kind: 'HTTPRoute', namespace }, inputs, refs, rule.redirect !== null);
      rule.backends = resolved.backends;
      rule.invalidShare = resolved.invalidShare;
      rules.push(rule);
    });
  } catch (err) {
    if (!(err instanceof Unsupported)) throw err;
    return { rules: [], unsupported: condition('Accepted', false, err.reason, err.message), resolvedRefs: refs.condition, services: [...refs.services] };
  }
  return { rules, unsupported: null, resolvedRefs: refs.condition, services: [...refs.services] };
}
