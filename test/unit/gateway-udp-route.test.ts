// UDPRoute through the evaluation and the reconciler: UDP listeners (only on Gateways' own
// addresses, no hostname or tls, supportedKinds, InvalidRouteKinds, conflicts on a port, a TCP and
// a UDP listener on one port distinct), the entry points they become, attachment (sectionName,
// port, every UDP listener, NotAllowedByListeners through a TLS listener), backendRefs
// (BackendNotFound, RefNotPermitted until a ReferenceGrant names UDPRoute, InvalidKind, weights),
// the lookup the datagram relay makes (the oldest route of the listener), round robin and no
// active (TCP) health check for its endpoints; UDPRoute claimed with an address pool only; a UDP
// listener added by a ListenerSet (beside a TCP one on the same port).
import test from 'ava';
import type { RouterConfig } from '../../src/config.ts';
import type { Listener, ReferenceGrant, UDPRoute } from '../../src/objects/gateway-types.ts';
import type { KubeObject } from '../../src/objects/types.ts';
import { gateway, gatewayClass, streamRouteHarness } from '../support/gateway-reconciler.ts';
import { supportedFeatures } from '../../src/gateway/supported-features.ts';
import { created, endpoint, namespace, service, slice } from '../fixtures/table/builders.ts';

const GW = 'gateway.networking.k8s.io';
const POOL = { gatewayAddresses: ['192.0.2.10-192.0.2.12'] };

function udpRoute(ns: string, name: string, spec: Partial<UDPRoute['spec']>, meta: Partial<UDPRoute['metadata']> = {}): UDPRoute {
  return {
    apiVersion: `${GW}/v1`, kind: 'UDPRoute', metadata: { name, namespace: ns, generation: 3, ...meta },
    spec: { parentRefs: [{ name: 'gw', namespace: 'infra' }], rules: [{ backendRefs: [{ name: 'dns', port: 53 }] }], ...spec },
  };
}

const udp = (name: string, port: number, extra: Partial<Listener> = {}): Listener =>
  ({ name, protocol: 'UDP', port, allowedRoutes: { namespaces: { from: 'All' } }, ...extra });

function setup(initial: KubeObject[], overrides: Partial<RouterConfig> = POOL) {
  const s = streamRouteHarness('UDPRoute', initial, overrides);
  const entry = (port: number, protocol = 'UDP') => s.entry(port, protocol);
  /** The route key the relay sends a new session of this UDP port to (the Gateway's first address). */
  const datagram = (port: number) => s.routeKey(port, 'UDP');
  return { ...s, entry, datagram };
}

const base = (): KubeObject[] => [
  gatewayClass(), namespace('infra'), namespace('apps'), namespace('other'),
  service('apps', 'dns', [{ name: 'dns', port: 53, targetPort: 53 }]), slice('apps', 'dns', [endpoint('10.0.0.1'), endpoint('10.0.0.3')], [{ name: 'dns', port: 53 }]),
  service('apps', 'dns2', [{ name: 'dns', port: 53, targetPort: 53 }]), slice('apps', 'dns2', [endpoint('10.0.0.2')], [{ name: 'dns', port: 53 }]),
];

test('a UDP listener takes UDPRoutes only; on its Gateway\'s own address it becomes a UDP entry point served round robin, without a TCP health check', (t) => {
  const s = setup([...base(), gateway('gw', [
    udp('dns', 5300),
    udp('kinds', 5301, { allowedRoutes: { kinds: [{ kind: 'TCPRoute' }, { kind: 'UDPRoute' }] } }),
  ]), udpRoute('apps', 'coredns', { parentRefs: [{ name: 'gw', namespace: 'infra', sectionName: 'dns' }] })]);
  t.deepEqual(s.listener('gw', 'dns')!.supportedKinds, [{ group: GW, kind: 'UDPRoute' }]);
  t.like(s.accepted('gw', 'dns'), { status: 'True' });
  t.is(s.listener('gw', 'dns')!.attachedRoutes, 1);
  t.deepEqual(s.listener('gw', 'kinds')!.supportedKinds, [{ group: GW, kind: 'UDPRoute' }]);
  t.like(s.listener('gw', 'kinds')!.conditions.find((c) => c.type === 'ResolvedRefs'), { status: 'False', reason: 'InvalidRouteKinds' });
  t.like(s.entry(5300), { address: '192.0.2.10', protocol: 'UDP', listeners: [{ key: 'infra/gw/dns', hostname: '', certificate: null }] });
  t.is(s.datagram(5300), 'UDPRoute/apps/coredns/0/udp@*');
  t.is(s.datagram(5301), null);
  // No HTTP request and no TLS stream ever reaches it.
  t.is(s.table.match('anything.test', '/'), null);
  t.is(s.table.matchStream(''), null);
  const compiled = s.table.matchStream('', s.entry(5300)!)!;
  t.is(compiled.kind, 'UDPRoute');
  t.is(compiled.policy.balance, 'roundrobin');
  // Two endpoints: a Route would get a TCP connect check; a UDP port would fail it.
  t.is(compiled.policy.healthCheck, null);
  t.deepEqual(compiled.services.map((svc) => [svc.name, svc.endpoints.map((e) => `${e.address}:${e.port}`)]), [['apps/dns', ['10.0.0.1:53', '10.0.0.3:53']]]);
});

test('without an address pool a UDP listener is UnsupportedProtocol, its routes NotAllowedByListeners, and UDPRoute is not claimed', (t) => {
  const s = setup([...base(), gateway('gw', [udp('dns', 5300)]), udpRoute('apps', 'coredns', {})], {});
  t.like(s.accepted('gw', 'dns'), { status: 'False', reason: 'UnsupportedProtocol' });
  t.regex(s.accepted('gw', 'dns')!.message, /UDP listeners need a Gateway address of their own/);
  t.like(s.condition('coredns', 'Accepted'), { status: 'False', reason: 'NotAllowedByListeners' });
  t.deepEqual(s.reconciler.snapshot().entryPoints, []);
  t.false(supportedFeatures(false).includes('UDPRoute'));
  t.true(supportedFeatures(true).includes('UDPRoute'));
});

test('UDP listeners: hostname or tls is UnsupportedValue; two on one port conflict; a TCP and a UDP listener on one port are distinct', (t) => {
  const s = setup([...base(), gateway('gw', [
    udp('named', 6000, { hostname: 'dns.example.com' }),
    udp('tls', 6001, { tls: { mode: 'Terminate', certificateRefs: [{ name: 'cert' }] } }),
    udp('one', 6002), udp('two', 6002),
    udp('raw', 6003), { name: 'web', protocol: 'HTTP', port: 6003 },
    udp('dns-udp', 6004), { name: 'dns-tcp', protocol: 'TCP', port: 6004, allowedRoutes: { namespaces: { from: 'All' } } },
  ])]);
  t.like(s.accepted('gw', 'named'), { status: 'False', reason: 'UnsupportedValue' });
  t.like(s.accepted('gw', 'tls'), { status: 'False', reason: 'UnsupportedValue' });
  for (const name of ['one', 'two']) t.like(s.accepted('gw', name), { status: 'False', reason: 'HostnameConflict' }, name);
  for (const name of ['raw', 'web']) t.like(s.accepted('gw', name), { status: 'False', reason: 'ProtocolConflict' }, name);
  for (const name of ['dns-udp', 'dns-tcp']) t.like(s.accepted('gw', name), { status: 'True' }, name);
  t.deepEqual(s.reconciler.snapshot().entryPoints!.map((e) => [e.port, e.protocol]).sort(), [[6004, 'TCP'], [6004, 'UDP']]);
});

test('attachment: by sectionName, by port, to every UDP listener; not through a TLS listener; the oldest route of a listener serves it', (t) => {
  const s = setup([...base(), gateway('gw', [udp('a', 7000), udp('b', 7001), udp('c', 7002),
    { name: 'tls', protocol: 'TLS', port: 443, tls: { mode: 'Passthrough' }, allowedRoutes: { namespaces: { from: 'All' } } }]),
  udpRoute('apps', 'by-port', { parentRefs: [{ name: 'gw', namespace: 'infra', port: 7001 }] }, created(1)),
  udpRoute('apps', 'all', { parentRefs: [{ name: 'gw', namespace: 'infra' }], rules: [{ backendRefs: [{ name: 'dns2', port: 53 }] }] }, created(2)),
  udpRoute('apps', 'via-tls', { parentRefs: [{ name: 'gw', namespace: 'infra', sectionName: 'tls' }] }, created(3)),
  udpRoute('apps', 'both', { parentRefs: [{ name: 'gw', namespace: 'infra', sectionName: 'c', port: 7002 }] }, created(4)),
  ]);
  for (const name of ['by-port', 'all', 'both']) t.like(s.condition(name, 'Accepted'), { status: 'True', reason: 'Accepted' }, name);
  t.like(s.condition('via-tls', 'Accepted'), { status: 'False', reason: 'NotAllowedByListeners' });
  t.deepEqual(['a', 'b', 'c', 'tls'].map((l) => s.listener('gw', l)!.attachedRoutes), [1, 2, 2, 0]);
  t.is(s.datagram(7000), 'UDPRoute/apps/all/0/udp@*');
  t.is(s.datagram(7001), 'UDPRoute/apps/by-port/0/udp@*');
  t.is(s.datagram(7002), 'UDPRoute/apps/all/0/udp@*');
  s.remove('UDPRoute', 'apps/by-port');
  t.is(s.datagram(7001), 'UDPRoute/apps/all/0/udp@*');
  s.remove('UDPRoute', 'apps/all');
  t.is(s.datagram(7000), null);
  t.is(s.datagram(7002), 'UDPRoute/apps/both/0/udp@*');
});

test('backendRefs: BackendNotFound, RefNotPermitted until a ReferenceGrant names UDPRoute (not TCPRoute), InvalidKind; weights and their invalid share', (t) => {
  const grant = (kind: string): ReferenceGrant => ({
    apiVersion: `${GW}/v1beta1`, kind: 'ReferenceGrant', metadata: { name: 'g', namespace: 'other' },
    spec: { from: [{ group: GW, kind, namespace: 'apps' }], to: [{ group: '', kind: 'Service' }] },
  });
  const s = setup([...base(), gateway('gw', [udp('a', 7000), udp('b', 7001), udp('c', 7002), udp('d', 7003)]),
    service('other', 'remote', [{ name: 'dns', port: 53, targetPort: 53 }]), slice('other', 'remote', [endpoint('10.0.1.1')], [{ name: 'dns', port: 53 }]),
    udpRoute('apps', 'missing', { parentRefs: [{ name: 'gw', namespace: 'infra', sectionName: 'a' }], rules: [{ backendRefs: [{ name: 'nope', port: 53 }] }] }),
    udpRoute('apps', 'xns', { parentRefs: [{ name: 'gw', namespace: 'infra', sectionName: 'b' }], rules: [{ backendRefs: [{ name: 'remote', namespace: 'other', port: 53 }] }] }),
    udpRoute('apps', 'kind', { parentRefs: [{ name: 'gw', namespace: 'infra', sectionName: 'c' }], rules: [{ backendRefs: [{ name: 'x', kind: 'ConfigMap', group: '', port: 1 }] }] }),
    udpRoute('apps', 'weights', { parentRefs: [{ name: 'gw', namespace: 'infra', sectionName: 'd' }], rules: [{ backendRefs: [{ name: 'dns', port: 53, weight: 7 }, { name: 'nope', port: 53, weight: 1 }, { name: 'dns2', port: 53, weight: 0 }] }] }),
    grant('TCPRoute'),
  ]);
  t.like(s.condition('missing', 'ResolvedRefs'), { status: 'False', reason: 'BackendNotFound' });
  t.like(s.condition('missing', 'Accepted'), { status: 'True' });
  t.like(s.condition('xns', 'ResolvedRefs'), { status: 'False', reason: 'RefNotPermitted' });
  t.like(s.condition('kind', 'ResolvedRefs'), { status: 'False', reason: 'InvalidKind' });
  const missing = s.table.matchStream('', s.entry(7000)!)!;
  t.deepEqual(missing.services, []);
  t.like(missing.gateway, { invalidShare: 1 });
  const weights = s.table.matchStream('', s.entry(7003)!)!;
  t.deepEqual(weights.services.map((svc) => [svc.name, svc.weight]), [['apps/dns', 7], ['apps/dns2', 0]]);
  t.like(weights.gateway, { invalidShare: 0.125 });
  s.apply(grant('UDPRoute'));
  t.like(s.condition('xns', 'ResolvedRefs'), { status: 'True', reason: 'ResolvedRefs' });
  t.deepEqual(s.table.matchStream('', s.entry(7001)!)!.services.map((svc) => svc.name), ['other/remote']);
  s.remove('ReferenceGrant', 'other/g');
  t.like(s.condition('xns', 'ResolvedRefs'), { status: 'False', reason: 'RefNotPermitted' });
});

test('a UDP listener a ListenerSet adds to the Gateway serves the UDPRoutes attached to the ListenerSet', (t) => {
  const g = gateway('gw', [udp('own', 7100)]);
  g.spec.allowedListeners = { namespaces: { from: 'All' } };
  const set: KubeObject = {
    apiVersion: `${GW}/v1`, kind: 'ListenerSet', metadata: { name: 'extra', namespace: 'apps', generation: 1 },
    spec: { parentRef: { name: 'gw', namespace: 'infra' }, listeners: [udp('dns', 7101), { name: 'dns-tcp', protocol: 'TCP', port: 7101, allowedRoutes: { namespaces: { from: 'All' } } }] },
  };
  const s = setup([...base(), g, set,
    udpRoute('apps', 'via-set', { parentRefs: [{ group: GW, kind: 'ListenerSet', name: 'extra', sectionName: 'dns' }] }),
    udpRoute('apps', 'via-gateway', { parentRefs: [{ name: 'gw', namespace: 'infra' }], rules: [{ backendRefs: [{ name: 'dns2', port: 53 }] }] }),
  ]);
  t.like(s.condition('via-set', 'Accepted'), { status: 'True' });
  t.is(s.datagram(7101), 'UDPRoute/apps/via-set/0/udp@*');
  // A parentRef to the Gateway reaches its own listener only.
  t.is(s.datagram(7100), 'UDPRoute/apps/via-gateway/0/udp@*');
  t.like(s.entry(7101), { address: '192.0.2.10', protocol: 'UDP' });
  // The ListenerSet's TCP listener on the same port number is a socket of its own.
  t.like(s.entry(7101, 'TCP'), { address: '192.0.2.10', protocol: 'TCP' });
});
