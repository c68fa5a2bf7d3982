// GRPCRoute through the rules parser and the reconciler: service/method matches (Exact and
// RE2 patterns) as paths and patterns, header matches, the spec's precedence, hostname
// intersection, HTTPRoute and GRPCRoute kept off each other's hostnames per listener (older
// wins), ReferenceGrant for cross-namespace backends, filters, status, --disable-http2, and
// HTTP/2 to its backends by default.
import test from 'ava';
import type { RouterConfig } from '../../src/config.ts';
import { evaluateGrpcRouteRules } from '../../src/gateway/grpc-route-rules.ts';
import type { RuleInputs } from '../../src/gateway/rule-parts.ts';
import type { GRPCRoute, GRPCRouteRule, Gateway, HTTPRoute, Listener, ReferenceGrant } from '../../src/objects/gateway-types.ts';
import type { KubeObject, Service } from '../../src/objects/types.ts';
import { reconcilerHarness } from '../support/gateway-reconciler.ts';
import { endpoint, namespace, route, service, slice } from '../fixtures/table/builders.ts';

const GW = 'gateway.networking.k8s.io';

function grpcRoute(ns: string, name: string, spec: GRPCRoute['spec'], created = '2024-01-01T00:00:00Z'): GRPCRoute {
  return { apiVersion: `${GW}/v1`, kind: 'GRPCRoute', metadata: { name, namespace: ns, generation: 2, creationTimestamp: created }, spec };
}

function httpRoute(ns: string, name: string, spec: HTTPRoute['spec'], created = '2024-01-01T00:00:00Z'): HTTPRoute {
  return { apiVersion: `${GW}/v1`, kind: 'HTTPRoute', metadata: { name, namespace: ns, generation: 2, creationTimestamp: created }, spec };
}

function gateway(listeners: Listener[]): Gateway {
  return { apiVersion: `${GW}/v1`, kind: 'Gateway', metadata: { name: 'gw', namespace: 'infra', generation: 1 }, spec: { gatewayClassName: 'sy', listeners } };
}

function inputs(services: string[], grants: ReferenceGrant[] = []): RuleInputs {
  return {
    grants: { grantsIn: (ns) => grants.filter((g) => g.metadata.namespace === ns) },
    service: (key) => (services.includes(key) ? ({ kind: 'Service' } as Service) : undefined),
  };
}

const rules = (list: GRPCRouteRule[]) => evaluateGrpcRouteRules(grpcRoute('apps', 'r', { rules: list }), inputs(['apps/a']));
const to = [{ name: 'a', port: 80 }];

test('method matches: Exact service+method is the exact path, service alone a path prefix, the rest RE2 patterns', (t) => {
  const result = rules([
    { matches: [{ method: { service: 'pkg.Echo', method: 'Say' } }], backendRefs: to },
    { matches: [{ method: { service: 'pkg.Echo' } }], backendRefs: to },
    { matches: [{ method: { method: 'Say' } }], backendRefs: to },
    { matches: [{ method: { type: 'RegularExpression', service: 'pkg\\..*', method: 'S.+' } }], backendRefs: to },
    { backendRefs: to },
  ]);
  t.is(result.unsupported, null);
  const [exact, service, method, regex, all] = result.rules.map((r) => r.matches[0]!);
  t.like(exact, { path: '/pkg.Echo/Say', match: 'exact', patterns: null, grpc: { service: 8, method: 3 } });
  t.like(service, { path: '/pkg.Echo', match: 'prefix', patterns: null, grpc: { service: 8, method: 0 } });
  t.like(method, { path: '/', match: 'prefix', grpc: { service: 0, method: 3 } });
  t.deepEqual(method!.patterns, { service: null, method: 'Say', headers: [] });
  t.deepEqual(regex!.patterns, { service: 'pkg\\..*', method: 'S.+', headers: [] });
  t.like(all, { path: '/', match: 'prefix', patterns: null, grpc: { service: 0, method: 0 } });
});

test('header matches: Exact as values, RegularExpression as patterns, names lower-cased, first duplicate wins', (t) => {
  const [m] = rules([{ matches: [{ headers: [{ name: 'Version', value: 'one' }, { name: 'version', value: 'two' }, { name: 'X-Re', type: 'RegularExpression', value: 'v[0-9]+' }] }], backendRefs: to }]).rules[0]!.matches;
  t.deepEqual(m!.headers, [['version', 'one']]);
  t.deepEqual(m!.patterns, { service: null, method: null, headers: [['x-re', 'v[0-9]+']] });
});

test('what is not implemented or not valid is not Accepted (UnsupportedValue)', (t) => {
  const unsupported = (rule: GRPCRouteRule) => rules([{ backendRefs: to, ...rule }]).unsupported;
  t.like(unsupported({ filters: [{ type: 'RequestMirror' }] }), { status: 'False', reason: 'UnsupportedValue' });
  t.like(unsupported({ filters: [{ type: 'URLRewrite', urlRewrite: { hostname: 'x' } }] }), { reason: 'UnsupportedValue' });
  t.like(unsupported({ matches: [{ method: { type: 'RegularExpression', service: '(a' } }] }), { reason: 'UnsupportedValue' });
  // Look-arounds are not RE2 (they would need backtracking).
  t.like(unsupported({ matches: [{ headers: [{ type: 'RegularExpression', name: 'a', value: '(?=x)' }] }] }), { reason: 'UnsupportedValue' });
  t.like(unsupported({ matches: [{ method: { service: 'a/b', method: 'M' } }] }), { reason: 'UnsupportedValue' });
  t.like(unsupported({ matches: [{ method: { type: 'Exact' } }] }), { reason: 'UnsupportedValue' });
  t.like(unsupported({ matches: [{ method: { type: 'Prefix' as 'Exact', service: 'a' } }] }), { reason: 'UnsupportedValue' });
  t.is(unsupported({ filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X', value: '1' }] } }, { type: 'ResponseHeaderModifier', responseHeaderModifier: { remove: ['y'] } }] }), null);
});

test('filters on backendRefs: header modifiers, as on HTTPRoute; other types refused', (t) => {
  const ok = rules([{ backendRefs: [{ name: 'a', port: 80, filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { add: [{ name: 'X-B', value: '1' }] } }] }] }]);
  t.is(ok.unsupported, null);
  t.deepEqual(ok.rules[0]!.backends[0]!.filters, { requestHeaders: { set: [], add: [['x-b', '1']], remove: [] }, responseHeaders: null });
  t.like(rules([{ backendRefs: [{ name: 'a', port: 80, filters: [{ type: 'RequestMirror' }] }] }]).unsupported, { status: 'False', reason: 'UnsupportedValue' });
});

test('backendRefs: a missing Service is reported and its share refused; another namespace needs a ReferenceGrant naming GRPCRoute', (t) => {
  const half = rules([{ backendRefs: [{ name: 'a', port: 80 }, { name: 'gone', port: 80 }] }]);
  t.is(half.rules[0]!.invalidShare, 0.5);
  t.like(half.resolvedRefs, { status: 'False', reason: 'BackendNotFound' });
  const cross = (grants: ReferenceGrant[]) => evaluateGrpcRouteRules(grpcRoute('apps', 'r', { rules: [{ backendRefs: [{ name: 'b', namespace: 'other', port: 80 }] }] }), inputs(['other/b'], grants));
  t.like(cross([]).resolvedRefs, { status: 'False', reason: 'RefNotPermitted' });
  const grant = (kind: string): ReferenceGrant => ({
    apiVersion: `${GW}/v1beta1`, kind: 'ReferenceGrant', metadata: { name: 'g', namespace: 'other' },
    spec: { from: [{ group: GW, kind, namespace: 'apps' }], to: [{ group: '', kind: 'Service' }] },
  });
  t.like(cross([grant('HTTPRoute')]).resolvedRefs, { status: 'False', reason: 'RefNotPermitted' });
  t.like(cross([grant('GRPCRoute')]).resolvedRefs, { status: 'True' });
  t.deepEqual(cross([grant('GRPCRoute')]).rules[0]!.backends, [{ service: 'b', namespace: 'other', kind: 'Service', weight: 1, servicePort: { number: 80 } }]);
  t.is(rules([{}]).rules[0]!.invalidShare, 1, 'a rule without backends answers every call (UNAVAILABLE)');
});

// ---- through the reconciler ----------------------------------------------------------------

function setup(objects: KubeObject[], overrides: Partial<RouterConfig> = {}) {
  const { store, reconciler, table, apply } = reconcilerHarness(objects, overrides);
  const call = (host: string, path: string, headers: Record<string, string> = {}) =>
    table.match(host, path, { method: 'POST', headers: { 'content-type': 'application/grpc', ...headers } }, false)?.key ?? null;
  const status = (kind: string, name: string) => reconciler.gatewayStatus().routes.find((r) => r.kind === kind && r.name === name);
  const accepted = (kind: string, name: string, i = 0) => status(kind, name)?.parents[i]?.conditions.find((c) => c.type === 'Accepted');
  return { store, reconciler, table, apply, call, status, accepted };
}

const world = (): KubeObject[] => [
  { apiVersion: `${GW}/v1`, kind: 'GatewayClass', metadata: { name: 'sy' }, spec: { controllerName: 'switchyard.io/gateway-controller' } },
  namespace('infra'), namespace('apps'),
  service('apps', 'svc', [{ name: 'grpc', port: 80 }]), slice('apps', 'svc', [endpoint('10.0.0.1')], [{ name: 'grpc', port: 8080 }]),
  gateway([
    { name: 'http', protocol: 'HTTP', port: 80, allowedRoutes: { namespaces: { from: 'All' } } },
    { name: 'only-http', protocol: 'HTTP', port: 80, hostname: 'web.test', allowedRoutes: { kinds: [{ kind: 'HTTPRoute' }] } },
  ]),
];
const parentRefs = [{ name: 'gw', namespace: 'infra' }];
const svc = [{ name: 'svc', port: 80 }];

test('precedence: longer service, then longer method, then more headers, then the older route; patterns match whole segments', (t) => {
  const s = setup([...world(),
    grpcRoute('apps', 'young', {
      parentRefs, hostnames: ['g.test'], rules: [
        { matches: [{ method: { service: 'pkg.Echo' } }], backendRefs: svc },
        { matches: [{ method: { service: 'pkg.Echo', method: 'Say' } }], backendRefs: svc },
        { matches: [{ method: { service: 'pkg.Echo', method: 'Say' }, headers: [{ name: 'v', value: '2' }] }], backendRefs: svc },
        { matches: [{ method: { method: 'Shout' } }], backendRefs: svc },
        { matches: [{ method: { type: 'RegularExpression', service: 'pkg\\.E.*', method: 'Wh(isper|o)' } }], backendRefs: svc },
      ],
    }, '2025-01-01T00:00:00Z'),
    grpcRoute('apps', 'old', { parentRefs, hostnames: ['g.test'], rules: [{ matches: [{ method: { service: 'pkg.Echo', method: 'Say' } }], backendRefs: svc }] }),
  ]);
  t.is(s.call('g.test', '/pkg.Echo/Say', { v: '2' }), 'GRPCRoute/apps/young/2/0@g.test', 'a header match beats the older route');
  t.is(s.call('g.test', '/pkg.Echo/Say'), 'GRPCRoute/apps/old/0/0@g.test', 'equal service and method: the older route');
  t.is(s.call('g.test', '/pkg.Echo/Other'), 'GRPCRoute/apps/young/0/0@g.test');
  t.is(s.call('g.test', '/pkg.Echo/Whisper'), 'GRPCRoute/apps/young/4/0@g.test', 'a longer service pattern beats the service prefix');
  t.is(s.call('g.test', '/pkg.Echo/Wh'), 'GRPCRoute/apps/young/0/0@g.test', 'the method pattern must match the whole method');
  t.is(s.call('g.test', '/other.Svc/Shout'), 'GRPCRoute/apps/young/3/0@g.test', 'a method without service, any service');
  t.is(s.call('g.test', '/other.Svc/Shouted'), null);
  t.is(s.call('g.test', '/pkg.EchoX/Say'), null, 'the service prefix is a whole segment');
});

test('header patterns are RE2: a catastrophic pattern for a backtracking engine matches in linear time', (t) => {
  const s = setup([...world(),
    grpcRoute('apps', 'r', { parentRefs, hostnames: ['re.test'], rules: [{ matches: [{ headers: [{ type: 'RegularExpression', name: 'x-id', value: '(a+)+b' }] }], backendRefs: svc }] }),
  ]);
  t.is(s.call('re.test', '/s/m', { 'x-id': `${'a'.repeat(30)}b` }), 'GRPCRoute/apps/r/0/0@re.test');
  // With V8's RegExp this input takes ~2^40 steps; RE2 answers at once (the test would time out otherwise).
  t.is(s.call('re.test', '/s/m', { 'x-id': `${'a'.repeat(40)}c` }), null);
});

test('hostnames: intersection with the listener, and GRPCRoute backends speak HTTP/2 unless their port says otherwise', (t) => {
  const s = setup([...world(),
    grpcRoute('apps', 'r', { parentRefs, hostnames: ['g.test', '*.wild.test'], rules: [{ backendRefs: svc }] }),
  ]);
  t.is(s.call('deep.er.wild.test', '/a/b'), 'GRPCRoute/apps/r/0/0@*.wild.test');
  const compiled = s.table.match('g.test', '/a/b', { method: 'POST', headers: {} }, false)!;
  t.is(compiled.services[0]!.protocol, 'http2');
  t.like(s.accepted('GRPCRoute', 'r'), { status: 'True', reason: 'Accepted' });
  t.like(s.status('GRPCRoute', 'r')!.parents[0]!.conditions.find((c) => c.type === 'ResolvedRefs'), { status: 'True' });
  s.apply(service('apps', 'svc', [{ name: 'grpc', port: 80, appProtocol: 'http' } as NonNullable<Service['spec']['ports']>[number]]));
  t.is(s.table.match('g.test', '/a/b', { method: 'POST', headers: {} }, false)!.services[0]!.protocol, undefined);
});

test('an HTTPRoute and a GRPCRoute with intersecting hostnames on one listener: the older is accepted, the other not; elsewhere both', (t) => {
  const s = setup([...world(),
    httpRoute('apps', 'web', { parentRefs, hostnames: ['both.test'], rules: [{ backendRefs: svc }] }, '2024-01-01T00:00:00Z'),
    grpcRoute('apps', 'rpc', { parentRefs, hostnames: ['*.test'], rules: [{ backendRefs: svc }] }, '2024-06-01T00:00:00Z'),
    grpcRoute('apps', 'apart', { parentRefs, hostnames: ['apart.example'], rules: [{ backendRefs: svc }] }, '2024-06-01T00:00:00Z'),
  ]);
  // Listener `http` has both kinds wanting both.test (the wildcard covers it): the older HTTPRoute keeps it.
  // Listener `only-http` (web.test) takes no GRPCRoutes at all.
  t.like(s.accepted('HTTPRoute', 'web'), { status: 'True' });
  t.like(s.accepted('GRPCRoute', 'rpc'), { status: 'False', reason: 'HostnameConflict' });
  t.regex(s.accepted('GRPCRoute', 'rpc')!.message, /HTTPRoute apps\/web is older/);
  t.like(s.accepted('GRPCRoute', 'apart'), { status: 'True' });
  t.is(s.call('x.test', '/a/b'), null, 'the rejected GRPCRoute serves nothing there');
  t.is(s.call('apart.example', '/a/b'), 'GRPCRoute/apps/apart/0/0@apart.example');
  // The HTTPRoute goes: the GRPCRoute takes the listener.
  s.store.remove('HTTPRoute', 'apps/web');
  s.apply();
  t.like(s.accepted('GRPCRoute', 'rpc'), { status: 'True' });
  t.is(s.call('x.test', '/a/b'), 'GRPCRoute/apps/rpc/0/0@*.test');
  // An older GRPCRoute keeps its hosts from a younger HTTPRoute.
  s.apply(httpRoute('apps', 'late', { parentRefs, hostnames: ['late.test'], rules: [{ backendRefs: svc }] }, '2025-01-01T00:00:00Z'));
  t.like(s.accepted('HTTPRoute', 'late'), { status: 'False', reason: 'HostnameConflict' });
  const listener = s.reconciler.gatewayStatus().gateways[0]!.listeners.find((l) => l.name === 'http')!;
  t.is(listener.attachedRoutes, 2, 'rpc and apart: the conflicted route is not attached');
  t.deepEqual(listener.supportedKinds.map((k) => k.kind), ['HTTPRoute', 'GRPCRoute']);
});

test('a listener allowing only HTTPRoute: GRPCRoute is NotAllowedByListeners', (t) => {
  const s = setup([...world(),
    grpcRoute('apps', 'r', { parentRefs: [{ name: 'gw', namespace: 'infra', sectionName: 'only-http' }], rules: [{ backendRefs: svc }] }),
  ]);
  t.like(s.accepted('GRPCRoute', 'r'), { status: 'False', reason: 'NotAllowedByListeners' });
});

test('--disable-http2: no GRPCRoute on any listener, and the class does not claim the feature', (t) => {
  const s = setup([...world(),
    grpcRoute('apps', 'r', { parentRefs, hostnames: ['g.test'], rules: [{ backendRefs: svc }] }),
  ], { disableHttp2: true });
  t.like(s.accepted('GRPCRoute', 'r'), { status: 'False', reason: 'NotAllowedByListeners' });
  t.is(s.call('g.test', '/a/b'), null);
  const status = s.reconciler.gatewayStatus();
  t.false(status.classes[0]!.supportedFeatures.includes('GRPCRoute'));
  t.deepEqual(status.gateways[0]!.listeners[0]!.supportedKinds.map((k) => k.kind), ['HTTPRoute']);
  const on = setup(world());
  t.true(on.reconciler.gatewayStatus().classes[0]!.supportedFeatures.includes('GRPCRoute'));
});

test('host ownership: a GRPCRoute host is not taken by a younger Route of another namespace', (t) => {
  const s = setup([...world(), namespace('other'),
    grpcRoute('apps', 'r', { parentRefs, hostnames: ['owned.test'], rules: [{ backendRefs: svc }] }),
    route('other', 'thief', { host: 'owned.test' }, { creationTimestamp: '2025-01-01T00:00:00Z' }),
  ]);
  t.is(s.call('owned.test', '/a/b'), 'GRPCRoute/apps/r/0/0@owned.test');
  const thief = s.reconciler.admissionResults().find((r) => r.name === 'thief');
  t.like(thief, { admitted: false, reason: 'HostAlreadyClaimed' });
});
