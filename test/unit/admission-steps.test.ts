import test from 'ava';
import { ingressCandidates, routeCandidate } from '../../src/admission/candidates.ts';
import { CANDIDATE_STEPS, runCandidateSteps } from '../../src/admission/chain.ts';
import { admitDomains, inDomain } from '../../src/admission/domains.ts';
import { isOurIngress } from '../../src/admission/ingress-class.ts';
import { parseLabelSelector } from '../../src/admission/label-selector.ts';
import { selectShard } from '../../src/admission/shard.ts';
import { NOT_SELECTED, type AdmissionContext, type Verdict } from '../../src/admission/types.ts';
import { isDns1123Subdomain, validateCandidate } from '../../src/admission/validation.ts';
import { admitWildcard } from '../../src/admission/wildcard.ts';
import type { RouterConfig } from '../../src/config.ts';
import type { Route } from '../../src/objects/types.ts';
import { ObjectStore } from '../../src/store.ts';
import { config, ingress, ingressClass, namespace, route, simpleIngress } from '../fixtures/table/builders.ts';

function context(overrides: Partial<RouterConfig> = {}, store = new ObjectStore()): AdmissionContext {
  const cfg = config(overrides);
  return { config: cfg, store, routeSelector: parseLabelSelector(cfg.routeLabels), namespaceSelector: parseLabelSelector(cfg.namespaceLabels) };
}

function reason(v: Verdict): string {
  return v.admitted ? 'admitted' : v.reason;
}

test('route host: spec.host lower-cased, else the subdomain template, else NoHostValue', (t) => {
  t.is(routeCandidate(route('ns', 'r', { host: 'WWW.Example.com' }), config()).host, 'www.example.com');
  t.is(routeCandidate(route('team', 'web', {}), config({ subdomain: '${name}-${namespace}.apps.example.com' })).host, 'web-team.apps.example.com');
  const noHost = routeCandidate(route('ns', 'r', {}), config());
  t.is(reason(validateCandidate(noHost, context())), 'NoHostValue');
});

const routeCases: Array<[string, Partial<Route['spec']>, string]> = [
  ['valid', { host: 'a.example.com', path: '/x' }, 'admitted'],
  ['label too long', { host: `${'a'.repeat(64)}.example.com` }, 'InvalidHost'],
  ['underscore', { host: 'a_b.example.com' }, 'InvalidHost'],
  ['leading dash', { host: '-a.example.com' }, 'InvalidHost'],
  ['star in a Route host', { host: '*.example.com' }, 'InvalidHost'],
  ['path without slash', { host: 'a.com', path: 'x' }, 'RouteNotAdmitted'],
  ['weight 257', { host: 'a.com', to: { kind: 'Service', name: 's', weight: 257 } }, 'RouteNotAdmitted'],
  ['weight 0 is fine', { host: 'a.com', to: { kind: 'Service', name: 's', weight: 0 } }, 'admitted'],
  ['alternate weight -1', { host: 'a.com', alternateBackends: [{ kind: 'Service', name: 'b', weight: -1 }] }, 'RouteNotAdmitted'],
  ['kind not Service', { host: 'a.com', to: { kind: 'Deployment', name: 's' } }, 'RouteNotAdmitted'],
  ['passthrough with path', { host: 'a.com', path: '/x', tls: { termination: 'passthrough' } }, 'RouteNotAdmitted'],
  ['bad termination', { host: 'a.com', tls: { termination: 'magic' as 'edge' } }, 'RouteNotAdmitted'],
  ['cert without key', { host: 'a.com', tls: { termination: 'edge', certificate: 'x' } }, 'RouteNotAdmitted'],
  ['targetPort 0', { host: 'a.com', port: { targetPort: 0 } }, 'RouteNotAdmitted'],
];

for (const [name, spec, expected] of routeCases) {
  test(`validation: ${name} → ${expected}`, (t) => {
    t.is(reason(validateCandidate(routeCandidate(route('ns', 'r', spec), config()), context())), expected);
  });
}

test('validation: an invalid annotation rejects with InvalidAnnotation naming it', (t) => {
  const r = route('ns', 'r', { host: 'a.com' }, { annotations: { 'haproxy.router.openshift.io/timeout': 'soon' } });
  const v = validateCandidate(routeCandidate(r, config()), context());
  t.is(reason(v), 'InvalidAnnotation');
  t.true(!v.admitted && v.message.includes('haproxy.router.openshift.io/timeout'));
});

test('DNS-1123 subdomain limits', (t) => {
  t.true(isDns1123Subdomain(`${'a'.repeat(63)}.com`));
  t.false(isDns1123Subdomain(`${'a'.repeat(63)}.`.repeat(4) + 'com'));
  t.true(isDns1123Subdomain('a-b.c0'));
  t.false(isDns1123Subdomain('a-.com'));
  t.false(isDns1123Subdomain('A.com'));
});

test('shard: route labels and namespace labels (from the Namespace object)', (t) => {
  const store = new ObjectStore();
  store.upsert('Namespace', namespace('blue', { env: 'prod' }));
  const ctx = context({ routeLabels: 'shard in (a,b)', namespaceLabels: 'env=prod' }, store);
  const verdict = (ns: string, labels: Record<string, string>) => reason(selectShard(routeCandidate(route(ns, 'r', { host: 'a.com' }, { labels }), ctx.config), ctx));
  t.is(verdict('blue', { shard: 'a' }), 'admitted');
  t.is(verdict('blue', { shard: 'c' }), NOT_SELECTED);
  t.is(verdict('green', { shard: 'a' }), NOT_SELECTED, 'absent Namespace does not match');
});

test('chain: shard runs first, so an invalid route outside the shard gets no status', (t) => {
  const ctx = context({ routeLabels: 'shard=a' });
  const bad = routeCandidate(route('ns', 'r', { host: 'BAD_HOST' }, { labels: { shard: 'b' } }), ctx.config);
  t.is(reason(runCandidateSteps(bad, ctx)), NOT_SELECTED);
  t.is(CANDIDATE_STEPS[0], selectShard);
});

test('domains: label-boundary suffix match; denied wins over allowed', (t) => {
  t.true(inDomain('example.com', 'example.com'));
  t.true(inDomain('a.example.com', 'example.com'));
  t.false(inDomain('badexample.com', 'example.com'));
  t.true(inDomain('a.example.com', '*.example.com'));
  const ctx = context({ allowedDomains: ['example.com'], deniedDomains: ['secret.example.com'] });
  const v = (host: string) => reason(admitDomains(routeCandidate(route('ns', 'r', { host }), ctx.config), ctx));
  t.is(v('www.example.com'), 'admitted');
  t.is(v('badexample.com'), 'RouteNotAdmitted');
  t.is(v('x.secret.example.com'), 'RouteNotAdmitted');
  t.is(v('secret.example.com'), 'RouteNotAdmitted');
  const onlyDenied = context({ deniedDomains: ['evil.com'] });
  t.is(reason(admitDomains(routeCandidate(route('ns', 'r', { host: 'fine.org' }), onlyDenied.config), onlyDenied)), 'admitted');
});

test('wildcard: needs --allow-wildcard-routes; Ingress wildcard must be *.<valid host>', (t) => {
  const wild = route('ns', 'r', { host: 'www.foo.com', wildcardPolicy: 'Subdomain' });
  t.is(reason(admitWildcard(routeCandidate(wild, config()), context())), 'RouteNotAdmitted');
  const allowed = context({ allowWildcardRoutes: true });
  t.is(reason(admitWildcard(routeCandidate(wild, allowed.config), allowed)), 'admitted');
  const [good] = ingressCandidates(simpleIngress('ns', 'i', [{ host: '*.foo.com' }]));
  t.is(reason(runCandidateSteps(good!, allowed)), 'admitted');
  t.is(reason(runCandidateSteps(good!, context())), 'RouteNotAdmitted');
  const [bad] = ingressCandidates(simpleIngress('ns', 'i', [{ host: 'a.*.foo.com' }]));
  t.is(reason(runCandidateSteps(bad!, allowed)), 'InvalidHost');
  const tld = routeCandidate(route('ns', 'r', { host: 'foo.com', wildcardPolicy: 'Subdomain' }), allowed.config);
  t.is(reason(admitWildcard(tld, allowed)), 'RouteNotAdmitted');
});

test('ingress candidates: one per rule path, pathType and TLS carried', (t) => {
  const ing = ingress('ns', 'web', {
    tls: [{ hosts: ['a.com'], secretName: 'a-tls' }],
    rules: [
      { host: 'A.com', http: { paths: [{ path: '/x', pathType: 'Exact', backend: { service: { name: 's', port: { number: 80 } } } }, { pathType: 'Prefix', backend: { service: { name: 's', port: { name: 'http' } } } }] } },
      { host: 'b.com', http: { paths: [{ path: '/', pathType: 'ImplementationSpecific', backend: { service: { name: 't', port: { number: 81 } } } }] } },
    ],
  });
  const cs = ingressCandidates(ing);
  t.deepEqual(cs.map((c) => [c.key, c.host, c.path, c.match]), [
    ['Ingress/ns/web/0/0', 'a.com', '/x', 'exact'],
    ['Ingress/ns/web/0/1', 'a.com', '/', 'prefix'],
    ['Ingress/ns/web/1/0', 'b.com', '/', 'prefix'],
  ]);
  t.deepEqual(cs[0]!.ingressTls, { secretName: 'a-tls' });
  t.is(cs[2]!.ingressTls, null);
  t.true(cs.every((c) => c.ownerKey === 'Ingress/ns/web'));
});

test('ingress class: name, controller, legacy annotation, default class', (t) => {
  const store = new ObjectStore();
  const cfg = config();
  const plain = (spec: Partial<Parameters<typeof ingress>[2]>, annotations?: Record<string, string>) =>
    ingress('ns', 'i', { rules: [], ...spec }, annotations ? { annotations } : {});
  t.true(isOurIngress(plain({ ingressClassName: 'switchyard' }), store, cfg));
  t.false(isOurIngress(plain({ ingressClassName: 'nginx' }), store, cfg));
  store.upsert('IngressClass', ingressClass('edge', 'switchyard.io/ingress-controller'));
  t.true(isOurIngress(plain({ ingressClassName: 'edge' }), store, cfg));
  const noClass = { ...plain({}), spec: { rules: [] } };
  t.true(isOurIngress({ ...noClass, metadata: { ...noClass.metadata, annotations: { 'kubernetes.io/ingress.class': 'switchyard' } } }, store, cfg));
  t.false(isOurIngress({ ...noClass, metadata: { ...noClass.metadata, annotations: { 'kubernetes.io/ingress.class': 'nginx' } } }, store, cfg));
  t.false(isOurIngress(noClass, store, cfg));
  store.upsert('IngressClass', ingressClass('edge', 'switchyard.io/ingress-controller', { annotations: { 'ingressclass.kubernetes.io/is-default-class': 'true' } }));
  t.true(isOurIngress(noClass, store, cfg));
});

test('Ingress rule without host: valid, outside domains and wildcard policy, plain HTTP; a Route without host stays NoHostValue', (t) => {
  const backend = { service: { name: 's', port: { number: 80 } } };
  const ing = ingress('ns', 'catch', {
    // A tls[] entry can never cover a rule without host, even one listing "".
    tls: [{ hosts: ['', 'a.com'], secretName: 'a-tls' }],
    rules: [{ http: { paths: [{ path: '/api', pathType: 'Exact', backend }, { path: '/', pathType: 'Prefix', backend }] } }],
  });
  const cs = ingressCandidates(ing);
  t.deepEqual(cs.map((c) => [c.host, c.path, c.match, c.wildcard, c.ingressTls]), [['', '/api', 'exact', false, null], ['', '/', 'prefix', false, null]]);
  const strict = context({ allowedDomains: ['example.com'], deniedDomains: ['evil.com'], allowWildcardRoutes: false });
  for (const c of cs) {
    t.is(reason(validateCandidate(c, strict)), 'admitted');
    t.is(reason(admitDomains(c, strict)), 'admitted');
    t.is(reason(admitWildcard(c, strict)), 'admitted');
    t.is(reason(runCandidateSteps(c, strict)), 'admitted');
  }
  // Its paths are still validated, and shard selection still applies.
  const [badPath] = ingressCandidates(ingress('ns', 'bad', { rules: [{ http: { paths: [{ path: 'api', pathType: 'Prefix', backend }] } }] }));
  t.is(reason(runCandidateSteps(badPath!, context())), 'RouteNotAdmitted');
  t.is(reason(runCandidateSteps(cs[0]!, context({ routeLabels: 'team=a' }))), NOT_SELECTED);
  t.is(reason(runCandidateSteps(routeCandidate(route('ns', 'r', {}), config()), context())), 'NoHostValue');
});
