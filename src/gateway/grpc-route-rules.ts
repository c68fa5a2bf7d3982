// A GRPCRoute's rules → the same plain data as an HTTPRoute's (route-rules.ts RuleData), so
// both feed one admission, table and proxy. A gRPC call is a POST to `/<service>/<method>`;
// a method match becomes that path where it can:
//   Exact service and method    the path `/service/method`, exactly
//   Exact service only          the path prefix `/service` (element-wise: `/service/…`)
//   Exact method only           any path, and an RE2 pattern on the method segment
//   RegularExpression           any path, and RE2 patterns on the segments (whole-value match)
// Header matches: Exact as HTTPRoute's, RegularExpression as RE2 patterns on the value. Filters:
// RequestHeaderModifier, ResponseHeaderModifier and ExtensionRef Middlewares; RequestMirror is
// not implemented (not for HTTPRoute either): Accepted=False, UnsupportedValue.
// Precedence keys (the GRPCRoute spec, after the hostname): characters of the service, then
// of the method (for a pattern, of its text), then the number of header matches.

import type { GRPCRoute, GRPCRouteMatch, GRPCRouteRule, HTTPRouteFilter } from '../objects/gateway-types.ts';
import { literalPattern, patternError } from '../table/request-patterns.ts';
import type { RequestPatterns } from '../table/types.ts';
import { condition } from './conditions.ts';
import type { MatchData, RouteRulesResult, RuleData } from './route-rules.ts';
import { applySharedFilter, dedupe, resolveBackendRefs, ResolvedRefs, Unsupported, type RuleInputs } from './rule-parts.ts';

/** The CRD's own checks of Exact values (a file source gets no CRD validation). */
const EXACT_SERVICE = /^\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$/i;
const EXACT_METHOD = /^[A-Za-z_][A-Za-z_0-9]*$/;

function checkPattern(pattern: string, what: string): string {
  const error = patternError(pattern);
  if (error !== null) throw new Unsupported('UnsupportedValue', `${what} is not a valid RE2 regular expression: ${error}`);
  return pattern;
}

function parseMatch(m: GRPCRouteMatch): MatchData {
  const out: MatchData = { path: '/', match: 'prefix', method: null, headers: [], query: [], patterns: null, grpc: { service: 0, method: 0 } };
  const patterns: RequestPatterns = { service: null, method: null, headers: [] };
  const spec = m.method;
  if (spec !== undefined && spec !== null) {
    const type = spec.type ?? 'Exact';
    const service = spec.service ?? '';
    const method = spec.method ?? '';
    if (service === '' && method === '') throw new Unsupported('UnsupportedValue', 'a method match needs a service or a method');
    out.grpc = { service: service.length, method: method.length };
    if (type === 'Exact') {
      if (service !== '' && !EXACT_SERVICE.test(service)) throw new Unsupported('UnsupportedValue', `service "${service}" is not a valid gRPC service name`);
      if (method !== '' && !EXACT_METHOD.test(method)) throw new Unsupported('UnsupportedValue', `method "${method}" is not a valid gRPC method name`);
      if (service !== '' && method !== '') {
        out.path = `/${service}/${method}`;
        out.match = 'exact';
      } else if (service !== '') out.path = `/${service}`;
      else patterns.method = literalPattern(method);
    } else if (type === 'RegularExpression') {
      if (service !== '') patterns.service = checkPattern(service, 'the service pattern');
      if (method !== '') patterns.method = checkPattern(method, 'the method pattern');
    } else {
      throw new Unsupported('UnsupportedValue', `method match type ${String(type)} is not supported`);
    }
  }
  // Names compare case-insensitively and the first of equal names counts (spec): one list for both types.
  const headers = dedupe((m.headers ?? []).map((h) => [h.name.toLowerCase(), h.type ?? 'Exact', h.value] as [string, string, string]));
  for (const [name, type, value] of headers) {
    if (type === 'Exact') out.headers.push([name, value]);
    else if (type === 'RegularExpression') patterns.headers.push([name, checkPattern(value, `the pattern of header ${name}`)]);
    else throw new Unsupported('UnsupportedValue', `header match type ${type} is not supported`);
  }
  if (patterns.service !== null || patterns.method !== null || patterns.headers.length > 0) out.patterns = patterns;
  return out;
}

function parseFilters(filters: readonly HTTPRouteFilter[], rule: RuleData): void {
  for (const f of filters) {
    if (!applySharedFilter(f, rule)) throw new Unsupported('UnsupportedValue', `filter type ${f.type} is not supported`);
  }
}

function parseRule(r: GRPCRouteRule, index: number, namespace: string, inputs: RuleInputs, refs: ResolvedRefs): RuleData {
  const matches = r.matches && r.matches.length > 0 ? r.matches.map(parseMatch) : [parseMatch({})];
  const rule: RuleData = {
    index, matches, backends: [], invalidShare: 0,
    requestHeaders: null, responseHeaders: null, redirect: null, rewrite: null, timeoutMs: null, middlewares: [],
  };
  parseFilters(r.filters ?? [], rule);
  // Every gRPC call of a rule with no usable backend gets UNAVAILABLE (spec), invalidShare 1.
  const resolved = resolveBackendRefs(r.backendRefs ?? [], { kind: 'GRPCRoute', namespace }, inputs, refs);
  rule.backends = resolved.backends;
  rule.invalidShare = resolved.invalidShare;
  return rule;
}

export function evaluateGrpcRouteRules(route: GRPCRoute, inputs: RuleInputs): RouteRulesResult {
  const namespace = route.metadata.namespace ?? 'default';
  const refs = new ResolvedRefs();
  try {
    const rules = (route.spec?.rules ?? []).map((r, index) => parseRule(r, index, namespace, inputs, refs));
    return { rules, unsupported: null, resolvedRefs: refs.condition, services: [...refs.services] };
  } catch (err) {
    if (!(err instanceof Unsupported)) throw err;
    return { rules: [], unsupported: condition('Accepted', false, err.reason, err.message), resolvedRefs: refs.condition, services: [...refs.services] };
  }
}
