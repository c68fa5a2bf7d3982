// The Gateway API unit tests' reconciler harness: a store holding `initial`, a started Reconciler
// (HTTP on 80, HTTPS on 443 unless `overrides` say otherwise) and a RouteTable kept up to date
// with its deltas; `apply` and `remove` change the store and apply what the reconciler emits.
// Plus the GatewayClass and Gateway (namespace infra) every case starts from, and the lookups a
// stream route kind's tests (TCPRoute, UDPRoute) make on top of the harness.

import type { RouterConfig } from '../../src/config.ts';
import { Reconciler } from '../../src/controller/reconciler.ts';
import { silentLogger } from '../../src/log.ts';
import type { Gateway, Listener } from '../../src/objects/gateway-types.ts';
import type { Kind, KubeObject } from '../../src/objects/types.ts';
import { ObjectStore } from '../../src/store.ts';
import { RouteTable } from '../../src/table/route-table.ts';
import type { CompiledRoute, GatewayEntryPoint, TableDelta } from '../../src/table/types.ts';
import { config } from '../fixtures/table/builders.ts';

const GW = 'gateway.networking.k8s.io';

export const gatewayClass = (): KubeObject => ({ apiVersion: `${GW}/v1`, kind: 'GatewayClass', metadata: { name: 'sy' }, spec: { controllerName: 'switchyard.io/gateway-controller' } });

export function gateway(name: string, listeners: Listener[]): Gateway {
  return { apiVersion: `${GW}/v1`, kind: 'Gateway', metadata: { name, namespace: 'infra', generation: 1 }, spec: { gatewayClassName: 'sy', listeners } };
}

export function reconcilerHarness(initial: KubeObject[], overrides: Partial<RouterConfig> = {}) {
  const store = new ObjectStore();
  for (const o of initial) store.upsert(o.kind as Kind, o);
  store.flush();
  const reconciler = new Reconciler(store, { config: config({ httpPort: 80, httpsPort: 443, ...overrides }), logger: silentLogger });
  const deltas: TableDelta[] = [];
  reconciler.on('delta', (d: TableDelta) => deltas.push(d));
  reconciler.start();
  const table = new RouteTable<CompiledRoute>((r) => r, () => {});
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
  return { store, reconciler, table, apply, remove };
}

/**
 * reconcilerHarness with the lookups of a stream route kind (`TCPRoute`, `UDPRoute`): a route's
 * status and conditions by name, a listener and its Accepted condition, the entry point of a port
 * (of `protocol` when given), and the route key a new connection or session on that port goes to
 * (the Gateway's first address).
 */
export function streamRouteHarness(kind: string, initial: KubeObject[], overrides: Partial<RouterConfig> = {}) {
  const harness = reconcilerHarness(initial, overrides);
  const { reconciler, table } = harness;
  const status = () => reconciler.gatewayStatus();
  const route = (name: string) => status().routes.find((r) => r.kind === kind && r.name === name);
  const condition = (name: string, type: string, i = 0) => route(name)?.parents[i]?.conditions.find((c) => c.type === type);
  const listener = (gw: string, name: string) => status().gateways.find((g) => g.name === gw)?.listeners.find((l) => l.name === name);
  const accepted = (gw: string, name: string) => listener(gw, name)?.conditions.find((c) => c.type === 'Accepted');
  const entry = (port: number, protocol?: string): GatewayEntryPoint | undefined =>
    reconciler.snapshot().entryPoints!.find((e) => e.port === port && (protocol === undefined || e.protocol === protocol));
  const routeKey = (port: number, protocol?: string) => {
    const e = entry(port, protocol);
    return e === undefined ? null : table.matchStream('', e)?.key ?? null;
  };
  return { ...harness, status, route, condition, listener, accepted, entry, routeKey };
}
