// The Gateway API unit tests' reconciler harness: a store holding `initial`, a started Reconciler
// (HTTP on 80, HTTPS on 443 unless `overrides` say otherwise) and a RouteTable kept up to date
// with its deltas; `apply` and `remove` change the store and apply what the reconciler emits.
// Plus the GatewayClass and Gateway (namespace infra) every case starts from.

import type { RouterConfig } from '../../src/config.ts';
import { Reconciler } from '../../src/controller/reconciler.ts';
import { silentLogger } from '../../src/log.ts';
import type { Gateway, Listener } from '../../src/objects/gateway-types.ts';
import type { Kind, KubeObject } from '../../src/objects/types.ts';
import { ObjectStore } from '../../src/store.ts';
import { RouteTable } from '../../src/table/route-table.ts';
import type { CompiledRoute, TableDelta } from '../../src/table/types.ts';
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
