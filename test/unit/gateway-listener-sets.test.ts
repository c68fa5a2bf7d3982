import test from 'ava';
import { evaluateListenerSets, listenerSetsByGateway, type ListenerSetParent } from '../../src/gateway/listener-sets.ts';
import type { ListenerInputs } from '../../src/gateway/listeners.ts';
import type { Gateway, Listener, ListenerSet, ReferenceGrant } from '../../src/objects/gateway-types.ts';
import type { Secret } from '../../src/objects/types.ts';
import { selfSignedCertificate } from '../support/certs.ts';

const GW = 'gateway.networking.k8s.io';

function gateway(listeners: Listener[], allowedListeners?: Gateway['spec']['allowedListeners']): Gateway {
  return { apiVersion: `${GW}/v1`, kind: 'Gateway', metadata: { name: 'gw', namespace: 'infra' }, spec: { gatewayClassName: 'c', listeners, ...(allowedListeners ? { allowedListeners } : {}) } };
}

function listenerSet(name: string, namespace: string, created: string | undefined, listeners: Listener[]): ListenerSet {
  return {
    apiVersion: `${GW}/v1`, kind: 'ListenerSet', metadata: { name, namespace, ...(created ? { creationTimestamp: created } : {}) },
    spec: { parentRef: { name: 'gw', namespace: 'infra' }, listeners },
  };
}

function inputs(secrets: Record<string, Secret> = {}, grants: ReferenceGrant[] = []): ListenerInputs {
  return { ports: null, grants: { grantsIn: (ns) => grants.filter((g) => g.metadata.namespace === ns) }, secret: (key) => secrets[key], configMap: () => undefined };
}

const parent = (g: Gateway): ListenerSetParent => ({ gateway: g, key: 'infra/gw', accepted: true, programmed: true, served: true });
const http = (name: string, hostname: string): Listener => ({ name, protocol: 'HTTP', port: 80, hostname });
const reasons = (conditions: Array<{ type: string; status: string; reason: string }>) => conditions.map((c) => `${c.type}=${c.status}/${c.reason}`);
const noLabels = () => undefined;

test('ListenerSets are grouped by the Gateway they name, oldest first, then by namespace/name', (t) => {
  const sets = listenerSetsByGateway([
    listenerSet('b', 'x', '2024-01-02T00:00:00Z', []), listenerSet('a', 'y', '2024-01-02T00:00:00Z', []),
    listenerSet('z', 'z', '2024-01-01T00:00:00Z', []), listenerSet('none', 'n', undefined, []),
    { ...listenerSet('other', 'x', undefined, []), spec: { parentRef: { name: 'gw2', namespace: 'infra' }, listeners: [] } },
  ]);
  t.deepEqual(sets.get('infra/gw')!.map((s) => s.metadata.name), ['z', 'b', 'a', 'none']);
  t.deepEqual(sets.get('infra/gw2')!.map((s) => s.metadata.name), ['other']);
});

test('allowedListeners: none by default; Same, Selector and All as a listener\'s allowedRoutes', (t) => {
  const set = listenerSet('s', 'team', undefined, [http('web', 'web.test')]);
  const labels = (ns: string) => (ns === 'team' ? { tier: 'web' } : undefined);
  const accepted = (g: Gateway) => evaluateListenerSets(parent(g), [set], inputs(), labels)[0]!;
  t.deepEqual(reasons(accepted(gateway([])).conditions), ['Accepted=False/NotAllowed', 'Programmed=False/NotAllowed']);
  t.deepEqual(reasons(accepted(gateway([], { namespaces: {} })).conditions), ['Accepted=False/NotAllowed', 'Programmed=False/NotAllowed']);
  t.false(accepted(gateway([], { namespaces: { from: 'Same' } })).accepted);
  t.true(accepted(gateway([], { namespaces: { from: 'All' } })).accepted);
  t.true(accepted(gateway([], { namespaces: { from: 'Selector', selector: { matchLabels: { tier: 'web' } } } })).accepted);
  t.false(accepted(gateway([], { namespaces: { from: 'Selector', selector: { matchLabels: { tier: 'db' } } } })).accepted);
});

test('precedence: the Gateway\'s listeners, then older ListenerSets win a conflict; siblings conflicting with each other both lose', (t) => {
  const g = gateway([http('gw', 'a.test')], { namespaces: { from: 'All' } });
  const states = evaluateListenerSets(parent(g), [
    listenerSet('old', 'x', '2024-01-01T00:00:00Z', [http('same-as-gateway', 'a.test'), http('b', 'b.test'), { name: 'tcp', protocol: 'TCP', port: 80 }]),
    listenerSet('new', 'y', '2024-01-02T00:00:00Z', [http('b', 'b.test'), http('c', 'c.test')]),
    listenerSet('siblings', 'z', '2024-01-03T00:00:00Z', [{ name: 'h', protocol: 'HTTP', port: 81 }, { name: 'tls', protocol: 'HTTPS', port: 81, tls: { certificateRefs: [{ name: 's' }] } }]),
  ], inputs(), noLabels);
  const listener = (set: number, name: string) => reasons(states[set]!.listeners.find((l) => l.name === name)!.conditions);
  t.deepEqual(listener(0, 'same-as-gateway'), ['Accepted=False/HostnameConflict', 'Programmed=False/HostnameConflict', 'ResolvedRefs=True/ResolvedRefs', 'Conflicted=True/HostnameConflict']);
  t.deepEqual(listener(0, 'tcp'), ['Accepted=False/ProtocolConflict', 'Programmed=False/ProtocolConflict', 'ResolvedRefs=True/ResolvedRefs', 'Conflicted=True/ProtocolConflict']);
  t.true(states[0]!.listeners.find((l) => l.name === 'b')!.usable, 'the older ListenerSet keeps b.test');
  t.deepEqual(listener(1, 'b'), ['Accepted=False/HostnameConflict', 'Programmed=False/HostnameConflict', 'ResolvedRefs=True/ResolvedRefs', 'Conflicted=True/HostnameConflict']);
  t.true(states[1]!.listeners.find((l) => l.name === 'c')!.usable);
  t.deepEqual(reasons(states[0]!.conditions), ['Accepted=True/ListenersNotValid', 'Programmed=True/Programmed']);
  // Within one ListenerSet no winner is picked, as within a Gateway.
  t.is(states[2]!.listeners.filter((l) => l.conditions.some((c) => c.type === 'Conflicted' && c.status === 'True')).length, 2);
  t.deepEqual(reasons(states[2]!.conditions), ['Accepted=False/ListenersNotValid', 'Programmed=False/ListenersNotValid']);
  t.false(states[2]!.accepted);
  // Messages name no other object: the ListenerSet's author need not see them.
  t.false(JSON.stringify(states[1]!.listeners).includes('x/old'));
  t.is(states[0]!.listeners[1]!.key, 'infra/gw/ListenerSet/x/old/b');
});

test('certificateRefs are the ListenerSet\'s: across namespaces only with a ReferenceGrant from ListenerSets of its namespace', async (t) => {
  const cert = await selfSignedCertificate(['s.test']);
  const secret: Secret = {
    apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 'cert', namespace: 'certs' },
    data: { 'tls.crt': Buffer.from(cert.cert).toString('base64'), 'tls.key': Buffer.from(cert.key).toString('base64') },
  };
  const https: Listener = { name: 'https', protocol: 'HTTPS', port: 443, hostname: 's.test', tls: { certificateRefs: [{ name: 'cert', namespace: 'certs' }] } };
  const g = gateway([], { namespaces: { from: 'All' } });
  const grant = (kind: string): ReferenceGrant => ({
    apiVersion: `${GW}/v1beta1`, kind: 'ReferenceGrant', metadata: { name: 'g', namespace: 'certs' },
    spec: { from: [{ group: GW, kind, namespace: 'team' }], to: [{ group: '', kind: 'Secret' }] },
  });
  const evaluate = (grants: ReferenceGrant[]) => evaluateListenerSets(parent(g), [listenerSet('s', 'team', undefined, [https])], inputs({ 'certs/cert': secret }, grants), noLabels)[0]!;
  const resolved = (state: ReturnType<typeof evaluate>) => state.listeners[0]!.conditions.find((c) => c.type === 'ResolvedRefs')!;
  t.like(resolved(evaluate([grant('ListenerSet')])), { status: 'True' });
  t.true(evaluate([grant('ListenerSet')]).accepted);
  // A grant to Gateways of that namespace is not one to ListenerSets.
  t.like(resolved(evaluate([grant('Gateway')])), { status: 'False', reason: 'RefNotPermitted' });
  t.deepEqual(reasons(evaluate([]).conditions), ['Accepted=False/ListenersNotValid', 'Programmed=False/ListenersNotValid']);
});

test('a Gateway not accepted or not yet programmed: its ListenerSets say so', (t) => {
  const g = gateway([], { namespaces: { from: 'All' } });
  const set = listenerSet('s', 'team', undefined, [http('web', 'web.test')]);
  const notAccepted = evaluateListenerSets({ ...parent(g), accepted: false }, [set], inputs(), noLabels)[0]!;
  t.deepEqual(reasons(notAccepted.conditions), ['Accepted=False/ParentNotAccepted', 'Programmed=False/ParentNotProgrammed']);
  const pending = evaluateListenerSets({ ...parent(g), programmed: false, served: false }, [set], inputs(), noLabels)[0]!;
  t.deepEqual(reasons(pending.conditions), ['Accepted=True/Accepted', 'Programmed=False/ParentNotProgrammed']);
  t.false(pending.listeners[0]!.usable);
  t.like(pending.listeners[0]!.conditions.find((c) => c.type === 'Programmed'), { status: 'False', reason: 'Pending' });
});
