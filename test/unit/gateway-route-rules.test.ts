import test from 'ava';
import { evaluateRouteRules, parseGatewayDuration, type RuleInputs } from '../../src/gateway/route-rules.ts';
import type { HTTPRoute, HTTPRouteRule, ReferenceGrant } from '../../src/objects/gateway-types.ts';
import type { Service } from '../../src/objects/types.ts';

const GW = 'gateway.networking.k8s.io';

function route(rules: HTTPRouteRule[]): HTTPRoute {
  return { apiVersion: `${GW}/v1`, kind: 'HTTPRoute', metadata: { name: 'r', namespace: 'apps' }, spec: { rules } };
}

function inputs(services: string[], grants: ReferenceGrant[] = []): RuleInputs {
  return {
    grants: { grantsIn: (ns) => grants.filter((g) => g.metadata.namespace === ns) },
    service: (key) => (services.includes(key) ? ({ kind: 'Service' } as Service) : undefined),
  };
}

test('Gateway API durations (GEP-2257)', (t) => {
  t.is(parseGatewayDuration('10s'), 10_000);
  t.is(parseGatewayDuration('1h2m3s4ms'), 3_723_004);
  t.is(parseGatewayDuration('500ms'), 500);
  t.is(parseGatewayDuration('0s'), 0);
  t.is(parseGatewayDuration('1.5s'), null);
  t.is(parseGatewayDuration('10'), null);
  t.is(parseGatewayDuration('-1s'), null);
});

test('matches: default PathPrefix /, header names lower-cased, method upper-cased, first duplicate name wins', (t) => {
  const result = evaluateRouteRules(route([
    { backendRefs: [{ name: 'a', port: 80 }] },
    { matches: [{ path: { type: 'Exact', value: '/x' }, method: 'POST', headers: [{ name: 'X-A', value: '1' }, { name: 'x-a', value: '2' }], queryParams: [{ name: 'Q', value: 'v' }] }], backendRefs: [{ name: 'a', port: 80 }] },
  ]), inputs(['apps/a']));
  t.is(result.unsupported, null);
  t.deepEqual(result.rules[0]!.matches, [{ path: '/', match: 'prefix', method: null, headers: [], query: [], patterns: null, grpc: null }]);
  t.deepEqual(result.rules[1]!.matches, [{ path: '/x', match: 'exact', method: 'POST', headers: [['x-a', '1']], query: [['Q', 'v']], patterns: null, grpc: null }]);
  t.like(result.resolvedRefs, { status: 'True', reason: 'ResolvedRefs' });
});

test('unsupported values make the route not Accepted (UnsupportedValue), incompatible filters IncompatibleFilters', (t) => {
  const unsupported = (rule: HTTPRouteRule) => evaluateRouteRules(route([rule]), inputs(['apps/a'])).unsupported;
  t.like(unsupported({ matches: [{ path: { type: 'RegularExpression', value: '/a.*' } }] }), { status: 'False', reason: 'UnsupportedValue' });
  t.like(unsupported({ matches: [{ headers: [{ type: 'RegularExpression', name: 'a', value: '.*' }] }] }), { reason: 'UnsupportedValue' });
  t.like(unsupported({ filters: [{ type: 'RequestMirror' }] }), { reason: 'UnsupportedValue' });
  t.like(unsupported({ filters: [{ type: 'ExtensionRef', extensionRef: { group: 'example.com', kind: 'Thing', name: 'm' } }] }), { reason: 'UnsupportedValue' });
  t.like(unsupported({ timeouts: { request: 'soon' } }), { reason: 'UnsupportedValue' });
  t.like(unsupported({ filters: [{ type: 'RequestRedirect', requestRedirect: { statusCode: 200 } }] }), { reason: 'UnsupportedValue' });
  t.like(unsupported({
    matches: [{ path: { type: 'Exact', value: '/a' } }],
    filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/b' } } }],
  }), { reason: 'UnsupportedValue' });
  t.like(unsupported({
    filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https' } }, { type: 'URLRewrite', urlRewrite: { hostname: 'x' } }],
  }), { reason: 'IncompatibleFilters' });
});

test('backendRefs: weights default to 1; invalid ones are reported and their share answered 500', (t) => {
  const result = evaluateRouteRules(route([
    { backendRefs: [{ name: 'a', port: 80 }, { name: 'b', port: 80, weight: 3 }] },
    { backendRefs: [{ name: 'a', port: 80 }, { name: 'missing', port: 80 }] },
    { backendRefs: [{ name: 'a', port: 80, weight: 1 }, { name: 'a', kind: 'ConfigMap', weight: 3 }] },
    { backendRefs: [{ name: 'missing', port: 80 }] },
    { backendRefs: [] },
    { filters: [{ type: 'RequestRedirect', requestRedirect: { hostname: 'x.test' } }] },
  ]), inputs(['apps/a', 'apps/b']));
  t.deepEqual(result.rules[0]!.backends.map((b) => [b.service, b.weight]), [['a', 1], ['b', 3]]);
  t.is(result.rules[0]!.invalidShare, 0);
  t.is(result.rules[1]!.invalidShare, 0.5);
  t.is(result.rules[2]!.invalidShare, 0.75);
  t.is(result.rules[3]!.invalidShare, 1);
  t.is(result.rules[4]!.invalidShare, 1, 'no backend and no filter: 500');
  t.is(result.rules[5]!.invalidShare, 0, 'a redirect needs no backend');
  // The first problem is the one reported.
  t.like(result.resolvedRefs, { status: 'False', reason: 'BackendNotFound' });
  t.like(evaluateRouteRules(route([{ backendRefs: [{ name: 'a', kind: 'ConfigMap' }] }]), inputs([])).resolvedRefs, { reason: 'InvalidKind' });
});

test('backendRefs across namespaces need a ReferenceGrant in the Service namespace', (t) => {
  const rule: HTTPRouteRule = { backendRefs: [{ name: 's', namespace: 'other', port: 80 }] };
  const denied = evaluateRouteRules(route([rule]), inputs(['other/s']));
  t.like(denied.resolvedRefs, { status: 'False', reason: 'RefNotPermitted' });
  t.is(denied.rules[0]!.invalidShare, 1);
  const grant: ReferenceGrant = {
    apiVersion: `${GW}/v1beta1`, kind: 'ReferenceGrant', metadata: { name: 'g', namespace: 'other' },
    spec: { from: [{ group: GW, kind: 'HTTPRoute', namespace: 'apps' }], to: [{ group: '', kind: 'Service' }] },
  };
  const allowed = evaluateRouteRules(route([rule]), inputs(['other/s'], [grant]));
  t.like(allowed.resolvedRefs, { status: 'True' });
  t.deepEqual(allowed.rules[0]!.backends, [{ service: 's', namespace: 'other', kind: 'Service', weight: 1, servicePort: { number: 80 } }]);
});

test('ExtensionRef filters naming switchyard.io Middlewares are collected in order', (t) => {
  const result = evaluateRouteRules(route([{
    filters: [
      { type: 'ExtensionRef', extensionRef: { group: 'switchyard.io', kind: 'Middleware', name: 'auth' } },
      { type: 'ExtensionRef', extensionRef: { group: 'switchyard.io', kind: 'Middleware', name: 'rid' } },
    ],
    backendRefs: [{ name: 'a', port: 80 }],
  }]), inputs(['apps/a']));
  t.is(result.unsupported, null);
  t.deepEqual(result.rules[0]!.middlewares, ['auth', 'rid']);
});

test('filters become table data; timeouts.request in ms', (t) => {
  const result = evaluateRouteRules(route([{
    filters: [
      { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-A', value: '1' }], remove: ['X-B'] } },
      { type: 'ResponseHeaderModifier', responseHeaderModifier: { add: [{ name: 'X-C', value: '2' }] } },
      { type: 'URLRewrite', urlRewrite: { hostname: 'h.test', path: { type: 'ReplaceFullPath', replaceFullPath: '/z' } } },
    ],
    timeouts: { request: '2s' },
    backendRefs: [{ name: 'a', port: 80 }],
  }]), inputs(['apps/a']));
  const rule = result.rules[0]!;
  t.deepEqual(rule.requestHeaders, { set: [['x-a', '1']], add: [], remove: ['x-b'] });
  t.deepEqual(rule.responseHeaders, { set: [], add: [['x-c', '2']], remove: [] });
  t.deepEqual(rule.rewrite, { hostname: 'h.test', path: { type: 'ReplaceFullPath', value: '/z' } });
  t.is(rule.timeoutMs, 2000);
});

test('filters on backendRefs: header modifiers become the backend\'s own; other types are refused', (t) => {
  const result = evaluateRouteRules(route([{
    backendRefs: [
      { name: 'a', port: 80, weight: 3, filters: [
        { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'Backend', value: 'a' }] } },
        { type: 'ResponseHeaderModifier', responseHeaderModifier: { remove: ['X-Internal'] } },
      ] },
      { name: 'b', port: 80, weight: 1 },
    ],
  }]), inputs(['apps/a', 'apps/b']));
  t.is(result.unsupported, null);
  const [a, b] = result.rules[0]!.backends;
  t.deepEqual(a!.filters, { requestHeaders: { set: [['backend', 'a']], add: [], remove: [] }, responseHeaders: { set: [], add: [], remove: ['x-internal'] } });
  t.is(b!.filters, undefined);
  const unsupported = evaluateRouteRules(route([{
    backendRefs: [{ name: 'a', port: 80, filters: [{ type: 'URLRewrite', urlRewrite: { hostname: 'x.test' } }] }],
  }]), inputs(['apps/a'])).unsupported;
  t.like(unsupported, { status: 'False', reason: 'UnsupportedValue' });
  t.regex(unsupported!.message, /URLRewrite is not supported on backendRefs/);
});

test('timeouts.backendRequest in ms; longer than timeouts.request (unless either is 0s) or malformed is refused', (t) => {
  const rule = (timeouts: { request?: string; backendRequest?: string }) => evaluateRouteRules(route([{ timeouts, backendRefs: [{ name: 'a', port: 80 }] }]), inputs(['apps/a']));
  t.is(rule({ backendRequest: '500ms' }).rules[0]!.backendTimeoutMs, 500);
  t.is(rule({ request: '2s', backendRequest: '2s' }).rules[0]!.backendTimeoutMs, 2000);
  t.is(rule({ request: '0s', backendRequest: '1h' }).rules[0]!.backendTimeoutMs, 3_600_000);
  t.is(rule({ request: '1s', backendRequest: '0s' }).rules[0]!.backendTimeoutMs, 0);
  t.is(rule({ request: '1s' }).rules[0]!.backendTimeoutMs, undefined);
  const longer = rule({ request: '1s', backendRequest: '1001ms' });
  t.deepEqual(longer.rules, []);
  t.like(longer.unsupported, { status: 'False', reason: 'UnsupportedValue', message: 'timeouts.backendRequest (1001ms) must not be longer than timeouts.request (1s)' });
  t.like(rule({ backendRequest: 'later' }).unsupported, { reason: 'UnsupportedValue', message: 'timeouts.backendRequest is not a valid duration' });
});
