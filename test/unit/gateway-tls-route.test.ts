// TLSRoute through the evaluation and the reconciler: TLS listeners (Passthrough, Terminate with
// certificateRefs, supportedKinds, InvalidRouteKinds), attachment (hostname intersection,
// sectionName, port, allowedRoutes), backendRefs (kind, ReferenceGrant, existence, weights),
// the stream lookup (RouteTable.matchStream: exact, wildcards at any depth, no hostname,
// listener isolation on Gateways' own addresses), HTTP requests never reaching a TLSRoute, and
// host ownership against Routes.
import test from 'ava';
import type { RouterConfig } from '../../src/config.ts';
import type { Listener, ReferenceGrant, TLSRoute } from '../../src/objects/gateway-types.ts';
import type { KubeObject } from '../../src/objects/types.ts';
import { gateway, gatewayClass, reconcilerHarness } from '../support/gateway-reconciler.ts';
import { created, endpoint, namespace, route, service, slice, tlsSecret } from '../fixtures/table/builders.ts';
import { selfSignedCertificate } from '../support/certs.ts';

const GW = 'gateway.networking.k8s.io';

function tlsRoute(ns: string, name: string, spec: Partial<TLSRoute['spec']>, meta: Partial<TLSRoute['metadata']> = {}): TLSRoute {
  return {
    apiVersion: `${GW}/v1`, kind: 'TLSRoute', metadata: { name, namespace: ns, generation: 3, ...meta },
    spec: { parentRefs: [{ name: 'gw', namespace: 'infra' }], rules: [{ backendRefs: [{ name: 'svc', port: 443 }] }], ...spec },
  };
}

const passthrough = (name: string, extra: Partial<Listener> = {}): Listener =>
  ({ name, protocol: 'TLS', port: 443, tls: { mode: 'Passthrough' }, allowedRoutes: { namespaces: { from: 'All' } }, ...extra });

function setup(initial: KubeObject[], overrides: Partial<RouterConfig> = {}) {
  const { store, reconciler, table, apply, remove } = reconcilerHarness(initial, overrides);
  const status = () => reconciler.gatewayStatus();
  const parent = (name: string, i = 0) => status().routes.find((r) => r.name === name)?.parents[i];
  const condition = (name: string, type: string, i = 0) => parent(name, i)?.conditions.find((c) => c.type === type);
  const listener = (gw: string, name: string) => status().gateways.find((g) => g.name === gw)?.listeners.find((l) => l.name === name);
  /** The route key serving a stream for this SNI on the shared HTTPS port. */
  const stream = (sni: string) => table.matchStream(sni)?.key ?? null;
  return { store, reconciler, table, apply, remove, status, parent, condition, listener, stream };
}

const base = (): KubeObject[] => [
  gatewayClass(), namespace('infra'), namespace('apps'), namespace('other'),
  service('apps', 'svc', [{ name: 'tls', port: 443, targetPort: 8443 }]), slice('apps', 'svc', [endpoint('10.0.0.1')], [{ name: 'tls', port: 8443 }]),
  service('apps', 'svc2', [{ name: 'tls', port: 443, targetPort: 8443 }]), slice('apps', 'svc2', [endpoint('10.0.0.2')], [{ name: 'tls', port: 8443 }]),
];

test('a Passthrough listener takes TLSRoutes only: supportedKinds, InvalidRouteKinds for the others, no certificate needed', (t) => {
  const s = setup([...base(), gateway('gw', [
    passthrough('tls'),
    passthrough('kinds', { port: 443, hostname: 'k.test', allowedRoutes: { kinds: [{ kind: 'TCPRoute' }, { kind: 'TLSRoute' }] } }),
    passthrough('http-only', { hostname: 'h.test', allowedRoutes: { kinds: [{ kind: 'HTTPRoute' }] } }),
  ])]);
  const tls = s.listener('gw', 'tls')!;
  t.deepEqual(tls.supportedKinds, [{ group: GW, kind: 'TLSRoute' }]);
  t.like(tls.conditions.find((c) => c.type === 'Accepted'), { status: 'True' });
  t.like(tls.conditions.find((c) => c.type === 'ResolvedRefs'), { status: 'True' });
  t.like(tls.conditions.find((c) => c.type === 'Programmed'), { status: 'True' });
  const kinds = s.listener('gw', 'kinds')!;
  t.deepEqual(kinds.supportedKinds, [{ group: GW, kind: 'TLSRoute' }]);
  t.like(kinds.conditions.find((c) => c.type === 'ResolvedRefs'), { status: 'False', reason: 'InvalidRouteKinds' });
  const httpOnly = s.listener('gw', 'http-only')!;
  t.deepEqual(httpOnly.supportedKinds, []);
  t.like(httpOnly.conditions.find((c) => c.type === 'ResolvedRefs'), { status: 'False', reason: 'InvalidRouteKinds' });
});

test('a TLS listener on a port other than the shared HTTPS port is PortUnavailable without an address pool; an unknown mode UnsupportedValue', (t) => {
  const s = setup([...base(), gateway('gw', [passthrough('p8443', { port: 8443 }), passthrough('odd', { tls: { mode: 'Mirror' as 'Passthrough' } })])]);
  t.like(s.listener('gw', 'p8443')!.conditions.find((c) => c.type === 'Accepted'), { status: 'False', reason: 'PortUnavailable' });
  t.like(s.listener('gw', 'odd')!.conditions.find((c) => c.type === 'Accepted'), { status: 'False', reason: 'UnsupportedValue' });
});

test('a Terminate listener needs its certificateRefs (InvalidCertificateRef, RefNotPermitted across namespaces)', async (t) => {
  const cert = await selfSignedCertificate(['tls.test']);
  const terminate = (name: string, refs: Array<{ name: string; namespace?: string }>, hostname: string): Listener =>
    ({ name, protocol: 'TLS', port: 443, hostname, tls: { mode: 'Terminate', certificateRefs: refs }, allowedRoutes: { namespaces: { from: 'All' } } });
  const s = setup([...base(), tlsSecret('infra', 'cert', cert.cert, cert.key), tlsSecret('other', 'cert', cert.cert, cert.key), gateway('gw', [
    terminate('ok', [{ name: 'cert' }], 'a.test'),
    terminate('none', [], 'b.test'),
    terminate('missing', [{ name: 'gone' }], 'c.test'),
    terminate('cross', [{ name: 'cert', namespace: 'other' }], 'd.test'),
  ])]);
  t.like(s.listener('gw', 'ok')!.conditions.find((c) => c.type === 'Programmed'), { status: 'True' });
  t.like(s.listener('gw', 'none')!.conditions.find((c) => c.type === 'ResolvedRefs'), { status: 'False', reason: 'InvalidCertificateRef' });
  t.like(s.listener('gw', 'missing')!.conditions.find((c) => c.type === 'ResolvedRefs'), { status: 'False', reason: 'InvalidCertificateRef' });
  t.like(s.listener('gw', 'cross')!.conditions.find((c) => c.type === 'ResolvedRefs'), { status: 'False', reason: 'RefNotPermitted' });
});

test('attachment: hostname intersection, sectionName, port, allowedRoutes, and the reasons the spec names', (t) => {
  const s = setup([...base(), gateway('gw', [passthrough('wild', { hostname: '*.example.com' }), passthrough('same', { hostname: 'same.test', allowedRoutes: { namespaces: { from: 'Same' } } })]),
    tlsRoute('apps', 'ok', { hostnames: ['abc.example.com'] }),
    tlsRoute('apps', 'no-host', { hostnames: ['abc.example.org'] }),
    tlsRoute('apps', 'no-section', { hostnames: ['abc.example.com'], parentRefs: [{ name: 'gw', namespace: 'infra', sectionName: 'nope' }] }),
    tlsRoute('apps', 'no-port', { hostnames: ['abc.example.com'], parentRefs: [{ name: 'gw', namespace: 'infra', port: 8443 }] }),
    tlsRoute('apps', 'not-same', { hostnames: ['same.test'], parentRefs: [{ name: 'gw', namespace: 'infra', sectionName: 'same' }] }),
  ]);
  t.like(s.condition('ok', 'Accepted'), { status: 'True', reason: 'Accepted' });
  t.like(s.condition('ok', 'ResolvedRefs'), { status: 'True', reason: 'ResolvedRefs' });
  t.like(s.condition('no-host', 'Accepted'), { status: 'False', reason: 'NoMatchingListenerHostname' });
  t.like(s.condition('no-section', 'Accepted'), { status: 'False', reason: 'NoMatchingParent' });
  t.like(s.condition('no-port', 'Accepted'), { status: 'False', reason: 'NoMatchingParent' });
  t.like(s.condition('not-same', 'Accepted'), { status: 'False', reason: 'NotAllowedByListeners' });
  t.is(s.listener('gw', 'wild')!.attachedRoutes, 1);
  t.is(s.stream('abc.example.com'), 'TLSRoute/apps/ok/0/passthrough@abc.example.com');
  t.is(s.stream('abc.example.org'), null);
  t.is(s.stream('other.example.com'), null);
});

test('backendRefs: BackendNotFound, InvalidKind, RefNotPermitted without a ReferenceGrant naming TLSRoute; weights carried', (t) => {
  const grant = (kind: string): ReferenceGrant => ({
    apiVersion: `${GW}/v1beta1`, kind: 'ReferenceGrant', metadata: { name: `g-${kind}`, namespace: 'other' },
    spec: { from: [{ group: GW, kind, namespace: 'apps' }], to: [{ group: '', kind: 'Service' }] },
  });
  const rules = (backendRefs: NonNullable<TLSRoute['spec']['rules']>[number]['backendRefs']) => [{ backendRefs }];
  const s = setup([...base(), gateway('gw', [passthrough('tls')]), service('other', 'far', [{ name: 'tls', port: 443 }]), grant('HTTPRoute'),
    tlsRoute('apps', 'gone', { hostnames: ['gone.test'], rules: rules([{ name: 'nope', port: 443 }]) }),
    tlsRoute('apps', 'kind', { hostnames: ['kind.test'], rules: rules([{ group: 'example.com', kind: 'Bucket', name: 'b', port: 443 }]) }),
    tlsRoute('apps', 'cross', { hostnames: ['cross.test'], rules: rules([{ name: 'far', namespace: 'other', port: 443 }]) }),
    tlsRoute('apps', 'weights', { hostnames: ['w.test'], rules: rules([{ name: 'svc', port: 443, weight: 3 }, { name: 'svc2', port: 443, weight: 1 }]) }),
  ]);
  t.like(s.condition('gone', 'ResolvedRefs'), { status: 'False', reason: 'BackendNotFound' });
  t.like(s.condition('gone', 'Accepted'), { status: 'True' });
  t.like(s.condition('kind', 'ResolvedRefs'), { status: 'False', reason: 'InvalidKind' });
  t.like(s.condition('cross', 'ResolvedRefs'), { status: 'False', reason: 'RefNotPermitted' });
  // All weight invalid: the stream's connections are refused (gateway-invalid-backends, connection phase).
  const gone = s.table.matchStream('gone.test')!;
  t.true(gone.plugins.some((p) => p.plugin === 'gateway-invalid-backends' && (p.config as { stream?: boolean }).stream === true));
  s.apply(grant('TLSRoute'));
  t.like(s.condition('cross', 'ResolvedRefs'), { status: 'True' });
  const weighted = s.table.matchStream('w.test')!;
  t.deepEqual(weighted.services.map((x) => [x.name, x.weight]), [['apps/svc', 3], ['apps/svc2', 1]]);
  t.deepEqual(weighted.tls, { termination: 'passthrough', insecurePolicy: 'None', certificate: null, destinationCA: null });
});

test('stream lookup: exact before wildcard, wildcards at any depth, no hostname last; HTTP requests never reach a TLSRoute', (t) => {
  const s = setup([...base(), gateway('gw', [passthrough('tls')]),
    tlsRoute('apps', 'exact', { hostnames: ['abc.example.com'] }),
    tlsRoute('apps', 'wild', { hostnames: ['*.example.com'], rules: [{ backendRefs: [{ name: 'svc2', port: 443 }] }] }),
  ]);
  t.is(s.stream('abc.example.com'), 'TLSRoute/apps/exact/0/passthrough@abc.example.com');
  t.is(s.stream('other.example.com'), 'TLSRoute/apps/wild/0/passthrough@*.example.com');
  t.is(s.stream('a.b.example.com'), 'TLSRoute/apps/wild/0/passthrough@*.example.com');
  t.is(s.stream('example.com'), null);
  t.is(s.stream(''), null);
  for (const secure of [false, true]) t.is(s.table.match('abc.example.com', '/', { method: 'GET', headers: {} }, secure), null);
  // Gone and back: the lookup follows the table (a table without TLSRoutes answers at once).
  s.remove('TLSRoute', 'apps/wild');
  s.remove('TLSRoute', 'apps/exact');
  t.is(s.stream('abc.example.com'), null);
  t.is(s.stream('other.example.com'), null);
  s.apply(tlsRoute('apps', 'exact', { hostnames: ['abc.example.com'] }));
  t.is(s.stream('abc.example.com'), 'TLSRoute/apps/exact/0/passthrough@abc.example.com');
});

test('listener isolation on own addresses: a stream belongs to the most specific listener matching its name', (t) => {
  const s = setup([...base(),
    gateway('gw', [passthrough('exact', { hostname: 'abc.example.com' }), passthrough('any', { port: 443 })]),
    tlsRoute('apps', 'on-exact', { hostnames: ['*.example.com'], parentRefs: [{ name: 'gw', namespace: 'infra', sectionName: 'exact' }] }),
    tlsRoute('apps', 'on-any', { hostnames: ['*.com'], parentRefs: [{ name: 'gw', namespace: 'infra', sectionName: 'any' }], rules: [{ backendRefs: [{ name: 'svc2', port: 443 }] }] }),
  ], { gatewayAddresses: ['192.0.2.10-192.0.2.11'] });
  t.like(s.condition('on-exact', 'Accepted'), { status: 'True' });
  const [entry] = s.reconciler.snapshot().entryPoints!;
  t.like(entry, { address: '192.0.2.10', port: 443, protocol: 'TLS' });
  t.deepEqual(entry!.listeners.map((l) => l.key), ['infra/gw/exact', 'infra/gw/any']);
  t.is(s.table.matchStream('abc.example.com', entry!)?.key, 'TLSRoute/apps/on-exact/0/passthrough@abc.example.com');
  t.is(s.table.matchStream('other.example.com', entry!)?.key, 'TLSRoute/apps/on-any/0/passthrough@*.com');
  t.is(s.table.matchStream('other.example.org', entry!), null);
  // Not attached through the shared HTTPS port: nothing there.
  t.is(s.stream('abc.example.com'), null);
});

test('mixed termination on one port of the router\'s shared HTTPS port is a ProtocolConflict for both listeners (streams there are not told apart by listener)', (t) => {
  const s = setup([...base(), gateway('gw', [
    passthrough('pass', { hostname: 'p.example.com' }),
    { name: 'term', protocol: 'TLS', port: 443, hostname: 't.example.com', tls: { mode: 'Terminate', certificateRefs: [{ name: 'cert' }] } },
  ])]);
  for (const name of ['pass', 'term']) {
    t.like(s.listener('gw', name)!.conditions.find((c) => c.type === 'Accepted'), { status: 'False', reason: 'ProtocolConflict' }, name);
    t.deepEqual(s.listener('gw', name)!.supportedKinds, [], `${name}: a listener not accepted serves no kind`);
  }
});

test('mixed termination on one port of a Gateway\'s own address (TLSRouteModeMixed): both served, the server name selects the listener and so the mode', async (t) => {
  const cert = await selfSignedCertificate(['*.example.com']);
  const s = setup([...base(), tlsSecret('infra', 'cert', cert.cert, cert.key),
    gateway('gw', [
      passthrough('pass', { hostname: '*.example.com' }),
      { name: 'term', protocol: 'TLS', port: 443, hostname: 't.example.com', tls: { mode: 'Terminate', certificateRefs: [{ name: 'cert' }] }, allowedRoutes: { namespaces: { from: 'All' } } },
      // Same port, protocol and hostname: still a conflict, whatever the modes.
      passthrough('dup', { hostname: 'd.example.com' }),
      { name: 'dup2', protocol: 'TLS', port: 443, hostname: 'd.example.com', tls: { mode: 'Terminate', certificateRefs: [{ name: 'cert' }] } },
    ]),
    tlsRoute('apps', 'both', { hostnames: ['p.example.com', 't.example.com'] }),
  ], { gatewayAddresses: ['192.0.2.10'] });
  for (const name of ['pass', 'term']) t.like(s.listener('gw', name)!.conditions.find((c) => c.type === 'Accepted'), { status: 'True' }, name);
  for (const name of ['dup', 'dup2']) t.like(s.listener('gw', name)!.conditions.find((c) => c.type === 'Accepted'), { status: 'False', reason: 'HostnameConflict' }, name);
  // pass (*.example.com) takes p and t; term (t.example.com) takes t.
  t.is(s.listener('gw', 'pass')!.attachedRoutes, 1);
  t.is(s.listener('gw', 'term')!.attachedRoutes, 1);
  const [entry] = s.reconciler.snapshot().entryPoints!;
  t.like(entry, { port: 443, protocol: 'TLS' });
  // One socket for both modes; the conflicted listeners are not on it.
  t.deepEqual(entry!.listeners.map((l) => l.key), ['infra/gw/term', 'infra/gw/pass']);
  t.like(s.table.matchStream('p.example.com', entry!)!.tls, { termination: 'passthrough' });
  // t.example.com is reached through both listeners: the more specific one (Terminate) takes the stream.
  const terminated = s.table.matchStream('t.example.com', entry!)!;
  t.is(terminated.key, 'TLSRoute/apps/both/0/terminate@t.example.com');
  t.is(terminated.tls!.certificate!.cert, cert.cert);
});

test('Terminate: the candidate carries its listener certificate; Passthrough and Terminate of one route are two streams', async (t) => {
  const cert = await selfSignedCertificate(['*.example.com']);
  const s = setup([...base(), tlsSecret('infra', 'cert', cert.cert, cert.key),
    gateway('gw', [
      passthrough('pass', { hostname: 'p.example.com', port: 8443 }),
      { name: 'term', protocol: 'TLS', port: 443, hostname: 't.example.com', tls: { mode: 'Terminate', certificateRefs: [{ name: 'cert' }] }, allowedRoutes: { namespaces: { from: 'All' } } },
    ]),
    tlsRoute('apps', 'both', { hostnames: ['p.example.com', 't.example.com'] }),
  ], { gatewayAddresses: ['192.0.2.10'] });
  t.is(s.listener('gw', 'pass')!.attachedRoutes, 1);
  t.is(s.listener('gw', 'term')!.attachedRoutes, 1);
  const [term, pass] = s.reconciler.snapshot().entryPoints!;
  t.like(pass, { port: 8443, protocol: 'TLS' });
  t.like(s.table.matchStream('p.example.com', pass!)!.tls, { termination: 'passthrough', certificate: null });
  t.is(s.table.matchStream('t.example.com', pass!), null);
  const terminated = s.table.matchStream('t.example.com', term!)!;
  t.is(terminated.key, 'TLSRoute/apps/both/0/terminate@t.example.com');
  t.like(terminated.tls, { termination: 'edge' });
  t.is(terminated.tls!.certificate!.cert, cert.cert);
});

test('host ownership: a TLSRoute and an older Route of another namespace do not share a host; the older keeps it', (t) => {
  const s = setup([...base(), gateway('gw', [passthrough('tls')]),
    route('other', 'older', { host: 'taken.test', to: { kind: 'Service', name: 'svc' } }, created(1)),
    tlsRoute('apps', 'younger', { hostnames: ['taken.test'] }, created(2)),
    tlsRoute('apps', 'first', { hostnames: ['mine.test'] }, created(3)),
    route('other', 'late', { host: 'mine.test', tls: { termination: 'passthrough' }, to: { kind: 'Service', name: 'svc' } }, created(4)),
  ]);
  t.like(s.condition('younger', 'Accepted'), { status: 'False', reason: 'HostAlreadyClaimed' });
  t.is(s.stream('taken.test'), null);
  t.like(s.condition('first', 'Accepted'), { status: 'True' });
  t.is(s.stream('mine.test'), 'TLSRoute/apps/first/0/passthrough@mine.test');
  t.false(s.reconciler.admissionResults().find((r) => r.name === 'late')?.admitted ?? true);
});

test('a Terminate TLSRoute without hostnames serves every name\'s stream, but its certificate never answers HTTPS for other names', async (t) => {
  const cert = await selfSignedCertificate(['any.example.com']);
  const s = setup([...base(), tlsSecret('infra', 'cert', cert.cert, cert.key),
    gateway('gw', [{ name: 'term', protocol: 'TLS', port: 443, tls: { mode: 'Terminate', certificateRefs: [{ name: 'cert' }] }, allowedRoutes: { namespaces: { from: 'All' } } }]),
    tlsRoute('apps', 'all', { hostnames: [] }),
  ]);
  t.is(s.stream('whatever.test'), 'TLSRoute/apps/all/0/terminate@*');
  t.is(s.stream(''), 'TLSRoute/apps/all/0/terminate@*');
  t.is(s.table.lookupHost('whatever.test'), null);
});

test('on the shared HTTPS port a TLSRoute and an HTTPRoute of overlapping hosts do not share them: the older keeps them; on own addresses they coexist', async (t) => {
  const cert = await selfSignedCertificate(['*.example.com']);
  const httpRoute = (name: string, hostnames: string[], parent: string, n: number): KubeObject => ({
    apiVersion: `${GW}/v1`, kind: 'HTTPRoute', metadata: { name, namespace: 'apps', generation: 1, ...created(n) },
    spec: { parentRefs: [{ name: parent, namespace: 'infra' }], hostnames, rules: [{ backendRefs: [{ name: 'svc', port: 443 }] }] },
  });
  const objects = (): KubeObject[] => [...base(), tlsSecret('infra', 'cert', cert.cert, cert.key),
    gateway('web', [{ name: 'https', protocol: 'HTTPS', port: 443, tls: { certificateRefs: [{ name: 'cert' }] }, allowedRoutes: { namespaces: { from: 'All' } } }]),
    gateway('gw', [passthrough('tls')]),
    httpRoute('older-web', ['a.example.com'], 'web', 1),
    tlsRoute('apps', 'younger-stream', { hostnames: ['a.example.com'] }, created(2)),
    tlsRoute('apps', 'older-stream', { hostnames: ['*.team.example.com'] }, created(3)),
    httpRoute('younger-web', ['x.team.example.com'], 'web', 4),
  ];
  const shared = setup(objects());
  t.like(shared.condition('younger-stream', 'Accepted'), { status: 'False', reason: 'HostAlreadyClaimed' });
  t.is(shared.stream('a.example.com'), null);
  t.truthy(shared.table.match('a.example.com', '/', { method: 'GET', headers: {} }, true));
  t.like(shared.condition('older-stream', 'Accepted'), { status: 'True' });
  t.like(shared.condition('younger-web', 'Accepted'), { status: 'False', reason: 'HostAlreadyClaimed' });
  t.is(shared.stream('x.team.example.com'), 'TLSRoute/apps/older-stream/0/passthrough@*.team.example.com');
  const own = setup(objects(), { gatewayAddresses: ['192.0.2.20-192.0.2.21'] });
  for (const name of ['older-web', 'younger-stream', 'older-stream', 'younger-web']) t.like(own.condition(name, 'Accepted'), { status: 'True' }, name);
});
