// HTTPRoute RequestMirror filters read into rule data (src/gateway/mirror-rules.ts), and the
// sampling the proxy applies to them (src/proxy/request-mirror.ts).
import test from 'ava';
import { evaluateRouteRules, type RuleInputs } from '../../src/gateway/route-rules.ts';
import type { HTTPRoute, HTTPRouteFilter, HTTPRouteRule, ReferenceGrant } from '../../src/objects/gateway-types.ts';
import type { Service } from '../../src/objects/types.ts';
import { inShare, seededRandom } from '../../src/proxy/request-mirror.ts';

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

function mirror(name: string, extra: Partial<NonNullable<HTTPRouteFilter['requestMirror']>> = {}, ns?: string): HTTPRouteFilter {
  return { type: 'RequestMirror', requestMirror: { backendRef: { name, port: 8080, ...(ns ? { namespace: ns } : {}) }, ...extra } };
}

const SERVICES = ['apps/a', 'apps/m1', 'apps/m2', 'shadow/m3'];

test('mirrors in filter order with their shares: none given is all, percent is n/100, fraction defaults its denominator to 100', (t) => {
  const result = evaluateRouteRules(route([{
    filters: [mirror('m1'), mirror('m2', { percent: 35 }), mirror('m1', { fraction: { numerator: 25, denominator: 50 } }), mirror('m2', { fraction: { numerator: 3 } })],
    backendRefs: [{ name: 'a', port: 80 }],
  }]), inputs(SERVICES));
  t.is(result.unsupported, null);
  const backend = (service: string) => ({ service, namespace: 'apps', kind: 'Service', weight: 1, servicePort: { number: 8080 } });
  t.deepEqual(result.rules[0]!.mirrors, [
    { backend: backend('m1'), numerator: 1, denominator: 1 },
    { backend: backend('m2'), numerator: 35, denominator: 100 },
    { backend: backend('m1'), numerator: 25, denominator: 50 },
    { backend: backend('m2'), numerator: 3, denominator: 100 },
  ]);
  t.deepEqual(result.services.sort(), ['apps/a', 'apps/m1', 'apps/m2']);
  t.like(result.resolvedRefs, { status: 'True' });
});

test('a mirror that cannot be used is left out with ResolvedRefs=False; the rule keeps its backends; a share of 0 mirrors nothing', (t) => {
  const check = (filter: HTTPRouteFilter, grants: ReferenceGrant[] = []) => evaluateRouteRules(route([{ filters: [filter], backendRefs: [{ name: 'a', port: 80 }] }]), inputs(SERVICES, grants));
  const missing = check(mirror('nope'));
  t.like(missing.resolvedRefs, { status: 'False', reason: 'BackendNotFound' });
  t.is(missing.rules[0]!.mirrors, undefined);
  t.is(missing.rules[0]!.backends.length, 1);
  t.is(missing.rules[0]!.invalidShare, 0);
  t.like(check(mirror('m3', {}, 'shadow')).resolvedRefs, { status: 'False', reason: 'RefNotPermitted' });
  const grant: ReferenceGrant = {
    apiVersion: `${GW}/v1beta1`, kind: 'ReferenceGrant', metadata: { name: 'g', namespace: 'shadow' },
    spec: { from: [{ group: GW, kind: 'HTTPRoute', namespace: 'apps' }], to: [{ group: '', kind: 'Service' }] },
  };
  const granted = check(mirror('m3', {}, 'shadow'), [grant]);
  t.like(granted.resolvedRefs, { status: 'True' });
  t.is(granted.rules[0]!.mirrors![0]!.backend.namespace, 'shadow');
  t.like(check({ type: 'RequestMirror', requestMirror: { backendRef: { kind: 'Pod', name: 'm1', port: 80 } } }).resolvedRefs, { status: 'False', reason: 'InvalidKind' });
  t.like(check({ type: 'RequestMirror', requestMirror: { backendRef: { name: 'm1' } } }).resolvedRefs, { status: 'False', reason: 'UnsupportedValue' });
  const zero = check(mirror('m1', { percent: 0 }));
  t.is(zero.rules[0]!.mirrors, undefined);
  t.like(zero.resolvedRefs, { status: 'True' });
});

test('a malformed share or a missing backendRef: the route is not accepted (UnsupportedValue)', (t) => {
  const unsupported = (filter: HTTPRouteFilter) => evaluateRouteRules(route([{ filters: [filter], backendRefs: [{ name: 'a', port: 80 }] }]), inputs(SERVICES)).unsupported;
  t.like(unsupported(mirror('m1', { percent: 10, fraction: { numerator: 1 } })), { status: 'False', reason: 'UnsupportedValue' });
  t.like(unsupported(mirror('m1', { percent: 101 })), { reason: 'UnsupportedValue' });
  t.like(unsupported(mirror('m1', { fraction: { numerator: 3, denominator: 2 } })), { reason: 'UnsupportedValue' });
  t.like(unsupported(mirror('m1', { fraction: { numerator: 0, denominator: 0 } })), { reason: 'UnsupportedValue' });
  t.like(unsupported({ type: 'RequestMirror' }), { reason: 'UnsupportedValue' });
});

test('sampling: a draw falls in numerator/denominator; a seeded source repeats its sequence and samples the share', (t) => {
  t.true(inShare(0.2999, 30, 100));
  t.false(inShare(0.3, 30, 100));
  t.true(inShare(0.999, 1, 1));
  t.false(inShare(0, 0, 100));
  const a = seededRandom(7);
  const b = seededRandom(7);
  const draws = Array.from({ length: 1000 }, () => a());
  t.deepEqual(draws, Array.from({ length: 1000 }, () => b()));
  t.true(draws.every((r) => r >= 0 && r < 1));
  const sampled = draws.filter((r) => inShare(r, 20, 100)).length;
  // Binomial(1000, 0.2): 200 ± 3 standard deviations (12.6).
  t.true(sampled > 162 && sampled < 238, String(sampled));
  t.notDeepEqual(Array.from({ length: 10 }, seededRandom(8)), draws.slice(0, 10));
});
