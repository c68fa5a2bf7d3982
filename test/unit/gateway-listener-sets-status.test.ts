// ListenerSet status beyond evaluation: attachedRoutes on listeners that are not accepted
// (Conflicted) as the spec counts them, and what the status writer takes out of a ListenerSet
// that no longer attaches to a Gateway of ours (withoutListenerSetStatus).
import test from 'ava';
import { evaluateGateways } from '../../src/gateway/evaluate.ts';
import type { Gateway, HTTPRoute, Listener, ListenerSet } from '../../src/objects/gateway-types.ts';
import type { Kind, KubeObject } from '../../src/objects/types.ts';
import { withoutListenerSetStatus } from '../../src/status/gateway-status.ts';
import { ObjectStore } from '../../src/store.ts';
import { config, namespace } from '../fixtures/table/builders.ts';

const GW = 'gateway.networking.k8s.io';
const http = (name: string, hostname: string): Listener => ({ name, protocol: 'HTTP', port: 80, hostname });

function evaluate(objects: KubeObject[]) {
  const store = new ObjectStore();
  for (const o of objects) store.upsert(o.kind as Kind, o);
  store.flush();
  return evaluateGateways(store, config({ httpPort: 80, httpsPort: 443 }));
}

const gatewayClass: KubeObject = { apiVersion: `${GW}/v1`, kind: 'GatewayClass', metadata: { name: 'sy' }, spec: { controllerName: 'switchyard.io/gateway-controller' } } as KubeObject;

function gateway(listeners: Listener[]): Gateway {
  return {
    apiVersion: `${GW}/v1`, kind: 'Gateway', metadata: { name: 'gw', namespace: 'infra' },
    spec: { gatewayClassName: 'sy', listeners, allowedListeners: { namespaces: { from: 'All' } } },
  };
}

function listenerSet(listeners: Listener[]): ListenerSet {
  return { apiVersion: `${GW}/v1`, kind: 'ListenerSet', metadata: { name: 'ls', namespace: 'team' }, spec: { parentRef: { name: 'gw', namespace: 'infra' }, listeners } };
}

function route(ns: string, name: string, parentRefs: HTTPRoute['spec']['parentRefs'], hostnames: string[]): HTTPRoute {
  return { apiVersion: `${GW}/v1`, kind: 'HTTPRoute', metadata: { name, namespace: ns }, spec: { parentRefs, hostnames, rules: [{ backendRefs: [{ name: 'svc', port: 80 }] }] } };
}

const attached = (listeners: Array<{ name: string; attachedRoutes: number }>) => Object.fromEntries(listeners.map((l) => [l.name, l.attachedRoutes]));

test('attachedRoutes counts an accepted route on the Conflicted listeners it would attach to (the spec: listener status does not impact attachment)', (t) => {
  // x1 and x2 conflict (same port, protocol and hostname): neither is served.
  const result = evaluate([
    namespace('infra'), gatewayClass,
    gateway([http('a', 'a.test'), http('x1', 'c.test'), http('x2', 'c.test'), http('other', 'other.test')]),
    route('infra', 'both', [{ name: 'gw' }], ['a.test', 'c.test']),
    // Named by sectionName only through a Conflicted listener: not accepted, so not counted.
    route('infra', 'only-x1', [{ name: 'gw', sectionName: 'x1' }], ['c.test']),
  ]);
  const status = result.gateways.get('infra/gw')!;
  t.deepEqual(attached(status.listeners), { a: 1, x1: 1, x2: 1, other: 0 });
  t.like(status.listeners.find((l) => l.name === 'x1')!.conditions.find((c) => c.type === 'Conflicted'), { status: 'True' });
  t.like(result.routes.get('HTTPRoute/infra/only-x1')!.parents[0]!.conditions[0], { status: 'False', reason: 'NotAllowedByListeners' });
  // Nothing is served through the Conflicted listeners: only a.test has candidates.
  t.deepEqual([...new Set(result.candidates.get('HTTPRoute/infra/both')!.map((c) => c.host))], ['a.test']);
});

test('attachedRoutes on a ListenerSet listener Conflicted with its Gateway\'s counts the routes naming the ListenerSet', (t) => {
  const result = evaluate([
    namespace('infra'), namespace('team'), gatewayClass,
    gateway([http('a', 'a.test')]),
    listenerSet([http('dup', 'a.test'), http('b', 'b.test')]),
    route('team', 'r', [{ group: GW, kind: 'ListenerSet', name: 'ls' }], ['a.test', 'b.test']),
    // A route of another namespace: `Same` (the default) is the ListenerSet's namespace, so not attached.
    route('elsewhere', 'r', [{ group: GW, kind: 'ListenerSet', name: 'ls', namespace: 'team' }], ['a.test', 'b.test']),
  ]);
  const set = result.listenerSets.get('team/ls')!;
  t.deepEqual(attached(set.listeners), { dup: 1, b: 1 });
  t.like(set.listeners.find((l) => l.name === 'dup')!.conditions.find((c) => c.type === 'Conflicted'), { status: 'True', reason: 'HostnameConflict' });
  // The Gateway's own listener is not named by the route.
  t.deepEqual(attached(result.gateways.get('infra/gw')!.listeners), { a: 0 });
});

const written = {
  conditions: [
    { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'attached to Gateway infra/gw', observedGeneration: 1, lastTransitionTime: 't1' },
    { type: 'Programmed', status: 'True', reason: 'Programmed', message: 'served by the router', observedGeneration: 1, lastTransitionTime: 't1' },
  ],
  listeners: [
    { name: 'web', attachedRoutes: 1, supportedKinds: [], conditions: [{ type: 'Accepted', status: 'True', reason: 'Accepted', message: 'listener accepted', lastTransitionTime: 't1' }] },
  ],
};

test('a ListenerSet no longer ours: the conditions and listeners we wrote are taken out', (t) => {
  t.deepEqual(withoutListenerSetStatus(written, structuredClone(written)), { conditions: [], listeners: [] });
  // Bookkeeping fields changed by the API (observedGeneration, times) do not make them someone else's.
  const bumped = structuredClone(written);
  bumped.conditions[0]!.observedGeneration = 2;
  t.deepEqual(withoutListenerSetStatus(written, bumped), { conditions: [], listeners: [] });
});

test('what another controller wrote after us stays', (t) => {
  const theirs = {
    conditions: [
      { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'attached by example.com/other', lastTransitionTime: 't2' },
      written.conditions[1]!,
    ],
    listeners: [
      { name: 'web', attachedRoutes: 0, supportedKinds: [], conditions: [{ type: 'Accepted', status: 'False', reason: 'PortUnavailable', message: 'theirs', lastTransitionTime: 't2' }] },
      { name: 'extra', attachedRoutes: 0, supportedKinds: [], conditions: [] },
    ],
  };
  const out = withoutListenerSetStatus(written, theirs) as typeof theirs;
  t.deepEqual(out.conditions, [theirs.conditions[0]]);
  t.deepEqual(out.listeners.map((l) => l.name), ['web', 'extra']);
});
