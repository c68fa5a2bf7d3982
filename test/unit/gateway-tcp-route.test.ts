// TCPRoute through the evaluation and the reconciler: TCP listeners (only on Gateways' own
// addresses, no hostname or tls, supportedKinds, InvalidRouteKinds, conflicts on a port), the
// entry points they become, attachment (sectionName, port, every TCP listener, allowedRoutes,
// NotAllowedByListeners through an HTTP listener), backendRefs (BackendNotFound, RefNotPermitted,
// InvalidKind, weights), the stream lookup (the oldest route of the listener), and the features
// claimed; and a TCP listener added by a ListenerSet.
import test from 'ava';
import type { RouterConfig } from '../../src/config.ts';
import type { Listener, ReferenceGrant, TCPRoute } from '../../src/objects/gateway-types.ts';
import type { KubeObject } from '../../src/objects/types.ts';
import { gateway, gatewayClass, streamRouteHarness } from '../support/gateway-reconciler.ts';
import { supportedFeatures } from '../../src/gateway/supported-features.ts';
import { created, endpoint, namespace, service, slice } from '../fixtures/table/builders.ts';

const GW = 'gateway.networking.k8s.io';
const POOL = { gatewayAddresses: ['192.0.2.10-192.0.2.12'] };

function tcpRoute(ns: string, name: string, spec: Partial<TCPRoute['spec']>, meta: Partial<TCPRoute['metadata']> = {}): TCPRoute {
  return {
    apiVersion: `${GW}/v1`, kind: 'TCPRoute', metadata: { name, namespace: ns, generation: 3, ...meta },
    spec: { parentRefs: [{ name: 'gw', namespace: 'infra' }], rules: [{ backendRefs: [{ name: 'svc', port: 5432 }] }], ...spec },
  };
}

const tcp = (name: string, port: number, extra: Partial<Listener> = {}): Listener =>
  ({ name, protocol: 'TCP', port, allowedRoutes: { namespaces: { from: 'All' } }, ...extra });

function setup(initial: KubeObject[], overrides: Partial<RouterConfig> = POOL) {
  const s = streamRouteHarness('TCPRoute', initial, overrides);
  /** The route key serving a connection to this TCP port (of the Gateway's first address). */
  const stream = (port: number) => s.routeKey(port);
  return { ...s, stream };
}

const base = (): KubeObject[] => [
  gatewayClass(), namespace('infra'), namespace('apps'), namespace('other'),
  service('apps', 'svc', [{ name: 'pg', port: 5432, targetPort: 5432 }]), slice('apps', 'svc', [endpoint('10.0.0.1')], [{ name: 'pg', port: 5432 }]),
  service('apps', 'svc2', [{ name: 'pg', port: 5432, targetPort: 5432 }]), slice('apps', 'svc2', [endpoint('10.0.0.2')], [{ name: 'pg', port: 5432 }]),
];

test('a TCP listener takes TCPRoutes only; on its Gateway\'s own address it becomes a TCP entry point', (t) => {
  const s = setup([...base(), gateway('gw', [
    tcp('db', 5432),
    tcp('kinds', 5433, { allowedRoutes: { kinds: [{ kind: 'HTTPRoute' }, { kind: 'TCPRoute' }] } }),
    tcp('http-only', 5434, { allowedRoutes: { kinds: [{ kind: 'HTTPRoute' }] } }),
  ]), tcpRoute('apps', 'pg', { parentRefs: [{ name: 'gw', namespace: 'infra', sectionName: 'db' }] })]);
  t.deepEqual(s.listener('gw', 'db')!.supportedKinds, [{ group: GW, kind: 'TCPRoute' }]);
  t.like(s.accepted('gw', 'db'), { status: 'True' });
  t.is(s.listener('gw', 'db')!.attachedRoutes, 1);
  t.deepEqual(s.listener('gw', 'kinds')!.supportedKinds, [{ group: GW, kind: 'TCPRoute' }]);
  t.like(s.listener('gw', 'kinds')!.conditions.find((c) => c.type === 'ResolvedRefs'), { status: 'False', reason: 'InvalidRouteKinds' });
  t.deepEqual(s.listener('gw', 'http-only')!.supportedKinds, []);
  t.like(s.entry(5432), { address: '192.0.2.10', protocol: 'TCP', listeners: [{ key: 'infra/gw/db', hostname: '', certificate: null }] });
  t.is(s.stream(5432), 'TCPRoute/apps/pg/0/tcp@*');
  t.is(s.stream(5433), null);
  // No HTTP request ever reaches it, and no TLS stream (SNI or none) on the shared HTTPS port.
  t.is(s.table.match('anything.test', '/'), null);
  t.is(s.table.matchStream(''), null);
  const compiled = s.table.matchStream('', s.entry(5432)!)!;
  t.is(compiled.tls, null);
  t.is(compiled.policy.balance, 'roundrobin');
  t.deepEqual(compiled.services.map((svc) => [svc.name, svc.endpoints.map((e) => `${e.address}:${e.port}`)]), [['apps/svc', ['10.0.0.1:5432']]]);
});

test('without an address pool a TCP listener is UnsupportedProtocol, and TCPRoute is not claimed', (t) => {
  const s = setup([...base(), gateway('gw', [tcp('db', 5432)]), tcpRoute('apps', 'pg', {})], {});
  t.like(s.accepted('gw', 'db'), { status: 'False', reason: 'UnsupportedProtocol' });
  t.like(s.condition('pg', 'Accepted'), { status: 'False', reason: 'NotAllowedByListeners' });
  t.false(supportedFeatures(false).includes('TCPRoute'));
  t.true(supportedFeatures(true).includes('TCPRoute'));
  t.deepEqual(s.reconciler.snapshot().entryPoints, []);
});

test('a TCP listener with a hostname or tls is UnsupportedValue; TCP listeners on one port conflict, and with another protocol too', (t) => {
  const s = setup([...base(), gateway('gw', [
    tcp('named', 6000, { hostname: 'db.example.com' }),
    tcp('tls', 6001, { tls: { mode: 'Terminate', certificateRefs: [{ name: 'cert' }] } }),
    tcp('one', 6002), tcp('two', 6002),
    tcp('raw', 6003), { name: 'web', protocol: 'HTTP', port: 6003 },
    tcp('fine', 6004),
  ])]);
  t.like(s.accepted('gw', 'named'), { status: 'False', reason: 'UnsupportedValue' });
  t.like(s.accepted('gw', 'tls'), { status: 'False', reason: 'UnsupportedValue' });
  for (const name of ['one', 'two']) t.like(s.accepted('gw', name), { status: 'False', reason: 'HostnameConflict' }, name);
  for (const name of ['raw', 'web']) t.like(s.accepted('gw', name), { status: 'False', reason: 'ProtocolConflict' }, name);
  t.like(s.accepted('gw', 'fine'), { status: 'True' });
  t.deepEqual(s.reconciler.snapshot().entryPoints!.map((e) => [e.port, e.protocol]), [[6004, 'TCP']]);
});

test('attachment: by sectionName, by port, to every TCP listener; not through an HTTP listener', (t) => {
  const s = setup([...base(), gateway('gw', [tcp('a', 7000), tcp('b', 7001), tcp('c', 7002), { name: 'web', protocol: 'HTTP', port: 8080, allowedRoutes: { namespaces: { from: 'All' } } }]),
    tcpRoute('apps', 'by-port', { parentRefs: [{ name: 'gw', namespace: 'infra', port: 7001 }] }, created(1)),
    tcpRoute('apps', 'all', { parentRefs: [{ name: 'gw', namespace: 'infra' }], rules: [{ backendRefs: [{ name: 'svc2', port: 5432 }] }] }, created(2)),
    tcpRoute('apps', 'via-http', { parentRefs: [{ name: 'gw', namespace: 'infra', sectionName: 'web' }] }, created(3)),
    tcpRoute('apps', 'nowhere', { parentRefs: [{ name: 'gw', namespace: 'infra', sectionName: 'z' }] }, created(4)),
  ]);
  t.like(s.condition('by-port', 'Accepted'), { status: 'True', reason: 'Accepted' });
  t.like(s.condition('all', 'Accepted'), { status: 'True', reason: 'Accepted' });
  t.like(s.condition('via-http', 'Accepted'), { status: 'False', reason: 'NotAllowedByListeners' });
  t.like(s.condition('nowhere', 'Accepted'), { status: 'False', reason: 'NoMatchingParent' });
  t.deepEqual([s.listener('gw', 'a')!.attachedRoutes, s.listener('gw', 'b')!.attachedRoutes, s.listener('gw', 'c')!.attachedRoutes, s.listener('gw', 'web')!.attachedRoutes], [1, 2, 1, 0]);
  t.is(s.stream(7000), 'TCPRoute/apps/all/0/tcp@*');
  // Two routes on listener b: the older serves it.
  t.is(s.stream(7001), 'TCPRoute/apps/by-port/0/tcp@*');
  t.is(s.stream(7002), 'TCPRoute/apps/all/0/tcp@*');
  // The older leaves: the other takes its listener.
  s.remove('TCPRoute', 'apps/by-port');
  t.is(s.stream(7001), 'TCPRoute/apps/all/0/tcp@*');
  t.is(s.listener('gw', 'b')!.attachedRoutes, 1);
  // allowedRoutes.namespaces: Same keeps other namespaces out.
  s.apply(gateway('gw', [tcp('a', 7000, { allowedRoutes: { namespaces: { from: 'Same' } } })]));
  t.like(s.condition('all', 'Accepted'), { status: 'False', reason: 'NotAllowedByListeners' });
  t.is(s.stream(7000), null);
});

test('backendRefs: BackendNotFound, RefNotPermitted until a ReferenceGrant names TCPRoute, InvalidKind; weights and their invalid share', (t) => {
  const grant: ReferenceGrant = {
    apiVersion: `${GW}/v1beta1`, kind: 'ReferenceGrant', metadata: { name: 'g', namespace: 'other' },
    spec: { from: [{ group: GW, kind: 'TCPRoute', namespace: 'apps' }], to: [{ group: '', kind: 'Service' }] },
  };
  const s = setup([...base(), gateway('gw', [tcp('a', 7000), tcp('b', 7001), tcp('c', 7002), tcp('d', 7003)]),
    service('other', 'remote', [{ name: 'pg', port: 5432, targetPort: 5432 }]), slice('other', 'remote', [endpoint('10.0.1.1')], [{ name: 'pg', port: 5432 }]),
    tcpRoute('apps', 'missing', { parentRefs: [{ name: 'gw', namespace: 'infra', sectionName: 'a' }], rules: [{ backendRefs: [{ name: 'nope', port: 5432 }] }] }),
    tcpRoute('apps', 'xns', { parentRefs: [{ name: 'gw', namespace: 'infra', sectionName: 'b' }], rules: [{ backendRefs: [{ name: 'remote', namespace: 'other', port: 5432 }] }] }),
    tcpRoute('apps', 'kind', { parentRefs: [{ name: 'gw', namespace: 'infra', sectionName: 'c' }], rules: [{ backendRefs: [{ name: 'x', kind: 'ConfigMap', group: '', port: 1 }] }] }),
    tcpRoute('apps', 'weights', { parentRefs: [{ name: 'gw', namespace: 'infra', sectionName: 'd' }], rules: [{ backendRefs: [{ name: 'svc', port: 5432, weight: 3 }, { name: 'nope', port: 5432, weight: 1 }, { name: 'svc2', port: 5432, weight: 0 }] }] }),
  ]);
  t.like(s.condition('missing', 'ResolvedRefs'), { status: 'False', reason: 'BackendNotFound' });
  t.like(s.condition('missing', 'Accepted'), { status: 'True' });
  t.like(s.condition('xns', 'ResolvedRefs'), { status: 'False', reason: 'RefNotPermitted' });
  t.like(s.condition('kind', 'ResolvedRefs'), { status: 'False', reason: 'InvalidKind' });
  // Every connection of a route without a usable backend is refused (the plugin resets it).
  const missing = s.table.matchStream('', s.entry(7000)!)!;
  t.deepEqual(missing.services, []);
  t.like(missing.gateway, { invalidShare: 1 });
  t.deepEqual(missing.plugins.find((p) => p.plugin === 'gateway-invalid-backends')?.config, { share: 1, stream: true });
  const weights = s.table.matchStream('', s.entry(7003)!)!;
  t.deepEqual(weights.services.map((svc) => [svc.name, svc.weight]), [['apps/svc', 3], ['apps/svc2', 0]]);
  t.like(weights.gateway, { invalidShare: 0.25 });
  s.apply(grant);
  t.like(s.condition('xns', 'ResolvedRefs'), { status: 'True' });
  t.deepEqual(s.table.matchStream('', s.entry(7001)!)!.services.map((svc) => svc.name), ['other/remote']);
  s.remove('ReferenceGrant', 'other/g');
  t.like(s.condition('xns', 'ResolvedRefs'), { status: 'False', reason: 'RefNotPermitted' });
});

test('a TCP listener a ListenerSet adds to the Gateway serves the TCPRoutes attached to the ListenerSet', (t) => {
  const g = gateway('gw', [tcp('own', 7100)]);
  g.spec.allowedListeners = { namespaces: { from: 'All' } };
  const set: KubeObject = {
    apiVersion: `${GW}/v1`, kind: 'ListenerSet', metadata: { name: 'extra', namespace: 'apps', generation: 1 },
    spec: { parentRef: { name: 'gw', namespace: 'infra' }, listeners: [tcp('db', 7101)] },
  };
  const s = setup([...base(), g, set,
    tcpRoute('apps', 'via-set', { parentRefs: [{ group: GW, kind: 'ListenerSet', name: 'extra', sectionName: 'db' }] }),
    tcpRoute('apps', 'via-gateway', { parentRefs: [{ name: 'gw', namespace: 'infra' }], rules: [{ backendRefs: [{ name: 'svc2', port: 5432 }] }] }),
  ]);
  t.like(s.condition('via-set', 'Accepted'), { status: 'True' });
  t.is(s.stream(7101), 'TCPRoute/apps/via-set/0/tcp@*');
  // A parentRef to the Gateway reaches its own listener only.
  t.is(s.stream(7100), 'TCPRoute/apps/via-gateway/0/tcp@*');
  t.like(s.entry(7101), { address: '192.0.2.10', protocol: 'TCP' });
});
