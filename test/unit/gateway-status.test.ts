import test from 'ava';
import type { GatewayStatusData, RouteStatusData } from '../../src/gateway/evaluate.ts';
import { gatewayStatus, routeStatus, sameStatus } from '../../src/status/gateway-status.ts';

const ours = 'switchyard.io/gateway-controller';
const ref = { group: 'gateway.networking.k8s.io', kind: 'Gateway', namespace: 'infra', name: 'gw' };

function routeData(status: 'True' | 'False', reason: string): RouteStatusData {
  return {
    kind: 'HTTPRoute', namespace: 'apps', name: 'r', generation: 5,
    parents: [{ parentRef: ref, controllerName: ours, conditions: [{ type: 'Accepted', status, reason, message: 'm' }] }],
  };
}

test('HTTPRoute status: our parent entries are replaced, other controllers\' entries kept, observedGeneration set', (t) => {
  const theirs = { parentRef: { name: 'other' }, controllerName: 'example.com/x', conditions: [] };
  const out = routeStatus(routeData('True', 'Accepted'), { parents: [theirs, { parentRef: ref, controllerName: ours, conditions: [] }] }, '2026-01-01T00:00:00Z') as { parents: any[] };
  t.is(out.parents.length, 2);
  t.deepEqual(out.parents[0], theirs);
  t.like(out.parents[1].conditions[0], { type: 'Accepted', status: 'True', observedGeneration: 5, lastTransitionTime: '2026-01-01T00:00:00Z' });
  // Forgotten: only the other controller's entry is left.
  t.deepEqual((routeStatus(undefined, out, 'later') as { parents: any[] }).parents, [theirs]);
});

test('lastTransitionTime changes only when a condition\'s status does; an unchanged status is not rewritten', (t) => {
  const first = routeStatus(routeData('True', 'Accepted'), undefined, 't1');
  const same = routeStatus(routeData('True', 'Accepted'), first, 't2');
  t.true(sameStatus(first, same));
  const flipped = routeStatus(routeData('False', 'NotAllowedByListeners'), same, 't3') as { parents: any[] };
  t.is(flipped.parents[0].conditions[0].lastTransitionTime, 't3');
  t.false(sameStatus(same, flipped));
});

test('Gateway status: addresses, conditions and listeners with their own condition history', (t) => {
  const data: GatewayStatusData = {
    namespace: 'infra', name: 'gw', generation: 2, addresses: [{ type: 'Hostname', value: 'router.example.com' }],
    conditions: [{ type: 'Accepted', status: 'True', reason: 'Accepted', message: '' }],
    listeners: [{ name: 'http', supportedKinds: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute' }], attachedRoutes: 3, conditions: [{ type: 'Programmed', status: 'True', reason: 'Programmed', message: '' }] }],
    attachedListenerSets: 1,
  };
  const out = gatewayStatus(data, { listeners: [{ name: 'http', conditions: [{ type: 'Programmed', status: 'True', lastTransitionTime: 'old' }] }] }, 'now') as any;
  t.deepEqual(out.addresses, data.addresses);
  t.like(out.conditions[0], { observedGeneration: 2, lastTransitionTime: 'now' });
  t.like(out.listeners[0], { name: 'http', attachedRoutes: 3 });
  t.is(out.listeners[0].conditions[0].lastTransitionTime, 'old');
  t.is(out.attachedListenerSets, 1);
});
