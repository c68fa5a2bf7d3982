// The Gateway API through the reconciler: attachment and its status reasons, the table the
// HTTPRoutes compile into (precedence across rules and routes, request conditions, suffix
// wildcards), host ownership against Routes in both directions, and status updates as objects
// change.
import test from 'ava';
import type { RouterConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/log.ts';
import type { GatewayStatusSet } from '../../src/gateway/status.ts';
import type { Gateway, HTTPRoute, HTTPRouteRule, Listener } from '../../src/objects/gateway-types.ts';
import type { KubeObject, Kind } from '../../src/objects/types.ts';
import { ObjectStore } from '../../src/store.ts';
import { Reconciler } from '../../src/controller/reconciler.ts';
import { RouteTable } from '../../src/table/route-table.ts';
import type { AdmissionResult, TableDelta } from '../../src/table/types.ts';
import { config, created, endpoint, namespace, route, service, slice } from '../fixtures/table/builders.ts';

const GW = 'gateway.networking.k8s.io';

const gatewayClass = (name: string, controllerName = 'switchyard.io/gateway-controller'): KubeObject =>
  ({ apiVersion: `${GW}/v1`, kind: 'GatewayClass', metadata: { name }, spec: { controllerName } });

function gateway(ns: string, name: string, listeners: Listener[], className = 'sy', extra: Partial<Gateway['spec']> = {}): Gateway {
  return { apiVersion: `${GW}/v1`, kind: 'Gateway', metadata: { name, namespace: ns, generation: 4 }, spec: { gatewayClassName: className, listeners, ...extra } };
}

function httpRoute(ns: string, name: string, spec: HTTPRoute['spec'], meta: Partial<HTTPRoute['metadata']> = {}): HTTPRoute {
  return { apiVersion: `${GW}/v1`, kind: 'HTTPRoute', metadata: { name, namespace: ns, generation: 7, ...meta }, spec };
}

const toSvc = (name: string, port = 80) => ({ name, port });
const rule = (r: Partial<HTTPRouteRule>): HTTPRouteRule => ({ backendRefs: [toSvc('svc')], ...r });

interface Request { method?: string; headers?: Record<string, string>; secure?: boolean }

function setup(initial: KubeObject[], overrides: Partial<RouterConfig> = {}) {
  const store = new ObjectStore();
  for (const o of initial) store.upsert(o.kind as Kind, o);
  store.flush();
  const reconciler = new Reconciler(store, { config: config({ httpPort: 80, httpsPort: 443, ...overrides }), logger: silentLogger });
  const statuses: GatewayStatusSet[] = [];
  const deltas: TableDelta[] = [];
  reconciler.on('delta', (d: TableDelta) => deltas.push(d));
  reconciler.on('gateway-status', (s: GatewayStatusSet) => statuses.push(s));
  reconciler.start();
  const table = new RouteTable<string>((r) => r.key, () => {});
  table.apply(reconciler.snapshot());
  const apply = (...objects: KubeObject[]) => {
    deltas.length = 0;
    for (const o of objects) store.upsert(o.kind as Kind, o);
    store.flush();
    for (const d of deltas) table.apply(d);
  };
  const remove = (kind: Kind, key: string) => {
    deltas.length = 0;
    store.remove(kind, key);
    store.flush();
    for (const d of deltas) table.apply(d);
  };
  const match = (host: string, path: string, r: Request = {}) =>
    table.match(host, path, { method: r.method ?? 'GET', headers: r.headers ?? {} }, r.secure ?? false);
  const status = () => reconciler.gatewayStatus();
  const parent = (name: string, i = 0) => status().routes.find((r) => r.name === name)?.parents[i];
  const accepted = (name: string, i = 0) => parent(name, i)?.conditions.find((c) => c.type === 'Accepted');
  return { store, reconciler, table, apply, remove, match, status, statuses, parent, accepted };
}

const base = (): KubeObject[] => [
  gatewayClass('sy'),
  namespace('infra'), namespace('apps', { team: 'apps' }), namespace('other'),
  service('apps', 'svc', [{ name: 'http', port: 80 }]), slice('apps', 'svc', [endpoint('10.0.0.1')], [{ name: 'http', port: 8080 }]),
  gateway('infra', 'gw', [
    { name: 'http', protocol: 'HTTP', port: 80, allowedRoutes: { namespaces: { from: 'All' } } },
    { name: 'same', protocol: 'HTTP', port: 80, hostname: 'same.test' },
    { name: 'selected', protocol: 'HTTP', port: 80, hostname: '*.sel.test', allowedRoutes: { namespaces: { from: 'Selector', selector: { matchExpressions: [{ key: 'team', operator: 'In', values: ['apps'] }] } } } },
  ]),
];

test('precedence across rules and routes: Exact, longest prefix, method, header count, query count, oldest, name', (t) => {
  const s = setup([...base(),
    httpRoute('apps', 'old', {
      parentRefs: [{ name: 'gw', namespace: 'infra' }], hostnames: ['p.test'],
      rules: [
        rule({ matches: [{ path: { type: 'PathPrefix', value: '/a' } }] }),
        rule({ matches: [{ path: { type: 'PathPrefix', value: '/a' }, queryParams: [{ name: 'q', value: '1' }] }] }),
        rule({ matches: [{ path: { type: 'PathPrefix', value: '/a' }, headers: [{ name: 'h', value: '1' }] }] }),
        rule({ matches: [{ path: { type: 'PathPrefix', value: '/a' }, method: 'PUT' }] }),
        rule({ matches: [{ path: { type: 'PathPrefix', value: '/a/b' } }] }),
        rule({ matches: [{ path: { type: 'Exact', value: '/a/b' } }] }),
      ],
    }, { creationTimestamp: '2024-01-01T00:00:00Z' }),
    // Same match as rule 0 of `old`, but newer: never chosen.
    httpRoute('apps', 'new', { parentRefs: [{ name: 'gw', namespace: 'infra' }], hostnames: ['p.test'], rules: [rule({ matches: [{ path: { type: 'PathPrefix', value: '/a' } }] })] }, { creationTimestamp: '2025-01-01T00:00:00Z' }),
  ]);
  const key = (name: string, r: number) => `HTTPRoute/apps/${name}/${r}/0@p.test`;
  t.is(s.match('p.test', '/a/b'), key('old', 5));
  t.is(s.match('p.test', '/a/b/c'), key('old', 4));
  t.is(s.match('p.test', '/a/x', { method: 'PUT', headers: { h: '1' } }), key('old', 3));
  t.is(s.match('p.test', '/a/x?q=1', { headers: { h: '1' } }), key('old', 2));
  t.is(s.match('p.test', '/a/x?z=0&q=1'), key('old', 1));
  t.is(s.match('p.test', '/a/x?q=2'), key('old', 0));
  t.is(s.match('p.test', '/a'), key('old', 0));
  t.is(s.match('p.test', '/ab'), null);
});

test('a route attached only through HTTP is not matched on HTTPS, and the other way round', (t) => {
  const s = setup([...base(), httpRoute('apps', 'r', { parentRefs: [{ name: 'gw', namespace: 'infra', sectionName: 'http' }], hostnames: ['x.test'], rules: [rule({})] })]);
  t.truthy(s.match('x.test', '/'));
  t.is(s.match('x.test', '/', { secure: true }), null);
});

test('attachment reasons, attachedRoutes and observedGeneration', (t) => {
  const ref = (sectionName?: string, port?: number) => [{ name: 'gw', namespace: 'infra', ...(sectionName ? { sectionName } : {}), ...(port ? { port } : {}) }];
  const s = setup([...base(),
    httpRoute('apps', 'ok', { parentRefs: ref('http'), hostnames: ['ok.test'], rules: [rule({})] }),
    httpRoute('apps', 'not-same', { parentRefs: ref('same'), rules: [rule({})] }),
    httpRoute('infra', 'same-ok', { parentRefs: [{ name: 'gw', sectionName: 'same' }], rules: [rule({ backendRefs: [] })] }),
    httpRoute('other', 'not-selected', { parentRefs: ref('selected'), rules: [rule({})] }),
    httpRoute('apps', 'selected', { parentRefs: ref('selected'), hostnames: ['a.sel.test', 'elsewhere.test'], rules: [rule({})] }),
    httpRoute('apps', 'hostname', { parentRefs: ref('selected'), hostnames: ['nope.test'], rules: [rule({})] }),
    httpRoute('apps', 'no-section', { parentRefs: ref('missing'), rules: [rule({})] }),
    httpRoute('apps', 'no-port', { parentRefs: ref(undefined, 8080), rules: [rule({})] }),
    httpRoute('apps', 'not-ours', { parentRefs: [{ name: 'nope', namespace: 'infra' }], rules: [rule({})] }),
  ]);
  t.like(s.accepted('ok'), { status: 'True', reason: 'Accepted' });
  t.like(s.accepted('not-same'), { status: 'False', reason: 'NotAllowedByListeners' });
  t.like(s.accepted('same-ok'), { status: 'True' });
  t.like(s.accepted('not-selected'), { status: 'False', reason: 'NotAllowedByListeners' });
  t.like(s.accepted('selected'), { status: 'True' });
  t.like(s.accepted('hostname'), { status: 'False', reason: 'NoMatchingListenerHostname' });
  t.like(s.accepted('no-section'), { status: 'False', reason: 'NoMatchingParent' });
  t.like(s.accepted('no-port'), { status: 'False', reason: 'NoMatchingParent' });
  t.is(s.parent('not-ours'), undefined);
  t.deepEqual(s.parent('ok')!.parentRef, { group: GW, kind: 'Gateway', namespace: 'infra', name: 'gw', sectionName: 'http' });
  t.is(s.status().routes.find((r) => r.name === 'ok')!.generation, 7);
  const listeners = s.status().gateways[0]!.listeners;
  t.deepEqual(listeners.map((l) => [l.name, l.attachedRoutes]), [['http', 1], ['same', 1], ['selected', 1]]);
  t.is(s.status().gateways[0]!.generation, 4);
  // Only the intersecting hostname is served.
  t.truthy(s.match('a.sel.test', '/'));
  t.is(s.match('elsewhere.test', '/'), null);
  // A route of the Gateway namespace without hostnames on a listener with one: that hostname.
  t.is(s.match('same.test', '/'), 'HTTPRoute/infra/same-ok/0/0@same.test');
});

test('GatewayClass of another controller: no status, its Gateways and routes are ignored', (t) => {
  const s = setup([gatewayClass('theirs', 'example.com/x'), gateway('infra', 'g', [{ name: 'http', protocol: 'HTTP', port: 80 }], 'theirs'),
    httpRoute('infra', 'r', { parentRefs: [{ name: 'g' }], hostnames: ['t.test'], rules: [rule({})] })]);
  t.deepEqual(s.status(), { classes: [], gateways: [], routes: [], policies: [], listenerSets: [] });
  t.is(s.match('t.test', '/'), null);
});

test('Gateway conditions: Programmed needs requested addresses to be ours; all listeners invalid is not Accepted', (t) => {
  const s = setup([gatewayClass('sy'),
    gateway('infra', 'addr', [{ name: 'http', protocol: 'HTTP', port: 80 }], 'sy', { addresses: [{ type: 'IPAddress', value: '192.0.2.9' }] }),
    gateway('infra', 'bad', [{ name: 'http', protocol: 'HTTP', port: 81 }]),
  ], { publishStatusAddress: ['192.0.2.1'] });
  const gw = (name: string) => s.status().gateways.find((g) => g.name === name)!;
  t.deepEqual(gw('addr').addresses, [{ type: 'IPAddress', value: '192.0.2.1' }]);
  t.like(gw('addr').conditions.find((c) => c.type === 'Programmed'), { status: 'False', reason: 'AddressNotAssigned' });
  t.like(gw('bad').conditions.find((c) => c.type === 'Accepted'), { status: 'False', reason: 'ListenersNotValid' });
  t.like(gw('bad').conditions.find((c) => c.type === 'Programmed'), { status: 'False', reason: 'Invalid' });
});

test('suffix wildcards: a *.domain HTTPRoute host serves any depth; an OpenShift wildcard Route one label', (t) => {
  const s = setup([...base(), httpRoute('apps', 'w', { parentRefs: [{ name: 'gw', namespace: 'infra', sectionName: 'selected' }], rules: [rule({})] })], { allowWildcardRoutes: true });
  t.is(s.match('a.sel.test', '/'), 'HTTPRoute/apps/w/0/0@*.sel.test');
  t.is(s.match('a.b.c.sel.test', '/'), 'HTTPRoute/apps/w/0/0@*.sel.test');
  t.is(s.match('sel.test', '/'), null);
  t.deepEqual(s.table.lookupHost('x.y.sel.test')?.key, '*.sel.test');
  s.apply(route('apps', 'sub', { host: 'www.osw.test', wildcardPolicy: 'Subdomain', to: { kind: 'Service', name: 'svc' } }));
  t.is(s.match('a.osw.test', '/'), 'Route/apps/sub');
  t.is(s.match('a.b.osw.test', '/'), null);
});

test('ownership: an HTTPRoute host is not taken by a newer Route of another namespace, and the other way round', (t) => {
  const s = setup([...base(),
    httpRoute('apps', 'gwr', { parentRefs: [{ name: 'gw', namespace: 'infra', sectionName: 'http' }], hostnames: ['shared.test'], rules: [rule({})] }, { creationTimestamp: '2024-01-01T00:00:00Z' }),
    route('other', 'late', { host: 'shared.test', path: '/late' }, created(3600)),
    route('other', 'early', { host: 'mine.test' }, { creationTimestamp: '2023-01-01T00:00:00Z' }),
    httpRoute('apps', 'intruder', { parentRefs: [{ name: 'gw', namespace: 'infra', sectionName: 'http' }], hostnames: ['mine.test'], rules: [rule({})] }, { creationTimestamp: '2024-01-01T00:00:00Z' }),
  ]);
  const results = Object.fromEntries(s.reconciler.admissionResults().map((r) => [r.name, r]));
  t.like(results.late, { admitted: false, reason: 'HostAlreadyClaimed' });
  t.is(s.match('shared.test', '/late'), 'HTTPRoute/apps/gwr/0/0@shared.test');
  t.like(results.early, { admitted: true });
  t.is(s.match('mine.test', '/'), 'Route/other/early');
  t.like(s.accepted('intruder'), { status: 'False', reason: 'HostAlreadyClaimed' });
  t.regex(s.accepted('intruder')!.message, /route other\/early already exposes mine\.test/);
});

test('HTTPRoutes of different namespaces share a Gateway host (allowedRoutes decides, precedence splits requests)', (t) => {
  const s = setup([...base(), namespace('team2'),
    service('team2', 'svc', [{ name: 'http', port: 80 }]),
    httpRoute('apps', 'one', { parentRefs: [{ name: 'gw', namespace: 'infra', sectionName: 'http' }], hostnames: ['shared.test'], rules: [rule({ matches: [{ path: { type: 'PathPrefix', value: '/one' } }] })] }),
    httpRoute('team2', 'two', { parentRefs: [{ name: 'gw', namespace: 'infra', sectionName: 'http' }], hostnames: ['shared.test'], rules: [rule({ matches: [{ path: { type: 'PathPrefix', value: '/two' } }] })] }),
  ]);
  t.is(s.match('shared.test', '/one'), 'HTTPRoute/apps/one/0/0@shared.test');
  t.is(s.match('shared.test', '/two'), 'HTTPRoute/team2/two/0/0@shared.test');
});

test('status follows changes: a Service appearing resolves refs; a deleted Gateway detaches routes', (t) => {
  const s = setup([...base(), httpRoute('apps', 'r', { parentRefs: [{ name: 'gw', namespace: 'infra', sectionName: 'http' }], hostnames: ['r.test'], rules: [rule({ backendRefs: [toSvc('later')] })] })]);
  const resolved = () => s.parent('r')?.conditions.find((c) => c.type === 'ResolvedRefs');
  t.like(resolved(), { status: 'False', reason: 'BackendNotFound' });
  s.statuses.length = 0;
  s.apply(service('apps', 'later', [{ name: 'http', port: 80 }]));
  t.like(resolved(), { status: 'True' });
  t.is(s.statuses.length, 1);
  t.truthy(s.match('r.test', '/'));
  s.remove('Gateway', 'infra/gw');
  t.is(s.parent('r'), undefined);
  t.is(s.match('r.test', '/'), null);
});

// Issue 19 item 4: an HTTPRoute wildcard serves hosts at any depth, so it owns them at any depth.
const deepBase = (): KubeObject[] => [
  ...base(), namespace('a'), namespace('b'),
  service('a', 'svc', [{ name: 'http', port: 80 }]), slice('a', 'svc', [endpoint('10.0.0.2')], [{ name: 'http', port: 8080 }]),
  service('b', 'svc', [{ name: 'http', port: 80 }]), slice('b', 'svc', [endpoint('10.0.0.3')], [{ name: 'http', port: 8080 }]),
];
const wildHttpRoute = (n: number) => httpRoute('b', 'wild', { parentRefs: [{ name: 'gw', namespace: 'infra', sectionName: 'http' }], hostnames: ['*.team.apps.test'], rules: [rule({})] }, created(n));
const deepRoute = (name: string, host: string, n: number, ns = 'a') => route(ns, name, { host, to: { kind: 'Service', name: 'svc' } }, created(n));

test('deep wildcards: an older HTTPRoute *.team.apps.test keeps hosts two labels deep from a younger Route of another namespace', (t) => {
  const s = setup([...deepBase(), wildHttpRoute(1), deepRoute('deep', 'x.y.team.apps.test', 2), deepRoute('shallow', 'x.team.apps.test', 3), deepRoute('mine', 'q.r.team.apps.test', 4, 'b')]);
  const results = Object.fromEntries(s.reconciler.admissionResults().map((r) => [r.name, r]));
  t.like(results.shallow, { admitted: false, reason: 'HostAlreadyClaimed' });
  t.like(results.deep, { admitted: false, reason: 'HostAlreadyClaimed' });
  t.regex(results.deep!.message!, /httproute b\/wild already exposes/);
  t.like(results.mine, { admitted: true }, 'the same namespace may take a host under its own wildcard');
  t.is(s.match('x.y.team.apps.test', '/'), 'HTTPRoute/b/wild/0/0@*.team.apps.test');
  t.is(s.match('p.q.team.apps.test', '/'), 'HTTPRoute/b/wild/0/0@*.team.apps.test');
  t.is(s.match('q.r.team.apps.test', '/'), 'Route/b/mine');
  t.like(s.accepted('wild'), { status: 'True' });
  // The wildcard goes: the deep host is free.
  s.remove('HTTPRoute', 'b/wild');
  t.like(s.reconciler.admissionResults().find((r) => r.name === 'deep'), { admitted: true });
  t.is(s.match('x.y.team.apps.test', '/'), 'Route/a/deep');
});

test('deep wildcards: a younger HTTPRoute wildcard does not take a host two labels deep that an older Route of another namespace serves', (t) => {
  const s = setup([...deepBase(), deepRoute('deep', 'x.y.team.apps.test', 1), wildHttpRoute(2)]);
  t.like(s.reconciler.admissionResults().find((r) => r.name === 'deep'), { admitted: true });
  t.like(s.accepted('wild'), { status: 'False', reason: 'HostAlreadyClaimed' });
  t.regex(s.accepted('wild')!.message, /route a\/deep already exposes/);
  t.is(s.match('x.y.team.apps.test', '/'), 'Route/a/deep');
  t.is(s.match('p.q.team.apps.test', '/'), null);
});

test('deep wildcards: an OpenShift wildcard Route one label deep under an HTTPRoute wildcard is judged against it; unrelated domains are not', (t) => {
  const s = setup([...deepBase(), wildHttpRoute(1),
    route('a', 'sub', { host: 'www.y.team.apps.test', wildcardPolicy: 'Subdomain', to: { kind: 'Service', name: 'svc' } }, created(2)),
    deepRoute('elsewhere', 'x.y.other.apps.test', 3),
    route('a', 'sibling', { host: 'www.z.apps.test', wildcardPolicy: 'Subdomain', to: { kind: 'Service', name: 'svc' } }, created(4)),
  ], { allowWildcardRoutes: true });
  const results = Object.fromEntries(s.reconciler.admissionResults().map((r) => [r.name, r]));
  t.like(results.sub, { admitted: false, reason: 'HostAlreadyClaimed' });
  t.like(results.elsewhere, { admitted: true });
  t.like(results.sibling, { admitted: true });
});

test('deep wildcards: seeded random orders give the same results', (t) => {
  const routes = [deepRoute('older', 'o.p.team.apps.test', 1), deepRoute('deep', 'x.y.team.apps.test', 3), deepRoute('shallow', 'x.team.apps.test', 4),
    deepRoute('mine', 'q.r.team.apps.test', 5, 'b'), deepRoute('deeper', 'a.b.c.team.apps.test', 6)];
  const verdicts = (s: ReturnType<typeof setup>) => JSON.stringify({
    results: s.reconciler.admissionResults().map((r) => `${r.key}=${r.admitted ? 'admitted' : r.reason}`).sort(),
    wild: s.accepted('wild')?.status,
    matches: ['o.p.team.apps.test', 'x.y.team.apps.test', 'x.team.apps.test', 'q.r.team.apps.test', 'a.b.c.team.apps.test', 'z.team.apps.test'].map((h) => s.match(h, '/')),
  });
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  // The wildcard younger than one Route two labels deep (it is refused), and older than all (they are).
  for (const [age, wild] of [[2, 'False'], [0, 'True']] as const) {
    const objects = [wildHttpRoute(age), ...routes];
    const expected = verdicts(setup([...deepBase(), ...objects]));
    t.true(expected.includes(`"wild":"${wild}"`), expected);
    for (let run = 0; run < 12; run++) {
      const s = setup(deepBase());
      const shuffled = [...objects].sort(() => random() - 0.5);
      for (const o of shuffled) s.apply(o);
      // Deleting and re-adding the wildcard comes back to the same state.
      if (run % 3 === 0) {
        s.remove('HTTPRoute', 'b/wild');
        s.apply(wildHttpRoute(age));
      }
      t.is(verdicts(s), expected, `age ${age}, run ${run}: ${shuffled.map((o) => o.metadata.name).join(',')}`);
    }
  }
});

test('a GatewayClass or Gateway that changes is not judged as a Route: no admission result (status.ingress write) for it', (t) => {
  const s = setup(base());
  const kinds: string[] = [];
  s.reconciler.on('admission', (changed: AdmissionResult[], unselected: Array<{ kind: string }>) => kinds.push(...changed.map((r) => r.kind), ...unselected.map((r) => r.kind)));
  s.apply(gateway('infra', 'gw2', [{ name: 'http', protocol: 'HTTP', port: 80, hostname: 'two.test' }]), gatewayClass('other', 'example.com/other'));
  s.apply(gateway('infra', 'gw2', [{ name: 'http', protocol: 'HTTP', port: 80, hostname: 'three.test' }], 'other'));
  s.remove('Gateway', 'infra/gw2');
  t.deepEqual(kinds, []);
  t.deepEqual(s.reconciler.admissionResults().filter((r) => (r.kind as string) === 'Gateway' || (r.kind as string) === 'GatewayClass'), []);
});
