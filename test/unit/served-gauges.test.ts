// switchyard_endpoint_up and switchyard_route_endpoints_available are computed from the served
// routes and the endpoint states when collected: the values follow the states, routes that
// leave take their series with them, and nothing per series is stored between scrapes.

import test from 'ava';
import { routeCandidate } from '../../src/admission/candidates.ts';
import { ServedGauges } from '../../src/admin/served-gauges.ts';
import { compileRoute } from '../../src/controller/compile.ts';
import { newDeps } from '../../src/controller/compile-endpoints.ts';
import { EndpointRegistry } from '../../src/health/endpoint-registry.ts';
import { ComputedGauge, Metrics } from '../../src/metrics.ts';
import { ObjectStore } from '../../src/store.ts';
import type { CompiledRoute } from '../../src/table/types.ts';
import { config, endpoint, route, slice } from '../fixtures/table/builders.ts';

function compiled(name: string, addresses: string[]): CompiledRoute {
  const store = new ObjectStore();
  store.upsert('EndpointSlice', slice('ns', name, addresses.map((a) => endpoint(a))));
  return compileRoute(routeCandidate(route('ns', name, { host: `${name}.com`, to: { kind: 'Service', name } }), config()), store, config(), newDeps()).route;
}

const lines = async (metrics: Metrics, prefix: string) =>
  (await metrics.registry.metrics()).split('\n').filter((l) => l.startsWith(prefix)).sort();

test('values follow the endpoint states; a route that leaves takes its series along', async (t) => {
  const metrics = new Metrics({ defaultMetrics: false });
  const registry = new EndpointRegistry();
  let routes = [compiled('a', ['10.0.0.1', '10.0.0.2']), compiled('b', ['10.0.0.3'])];
  for (const r of routes) for (const s of r.services) for (const ep of s.endpoints) registry.acquire(ep);
  const gauges = new ServedGauges(metrics, { routes: () => routes, registry });
  gauges.refresh(routes, true);
  t.deepEqual(await lines(metrics, 'switchyard_endpoint_up{'), [
    'switchyard_endpoint_up{route="ns/a",endpoint="10.0.0.1:8080"} 1',
    'switchyard_endpoint_up{route="ns/a",endpoint="10.0.0.2:8080"} 1',
    'switchyard_endpoint_up{route="ns/b",endpoint="10.0.0.3:8080"} 1',
  ]);
  registry.get(routes[0]!.services[0]!.endpoints.find((e) => e.address === '10.0.0.2')!.id)!.activeUp = false;
  t.deepEqual(await lines(metrics, 'switchyard_route_endpoints_available{'), [
    'switchyard_route_endpoints_available{route="ns/a"} 1',
    'switchyard_route_endpoints_available{route="ns/b"} 1',
  ]);
  t.true((await lines(metrics, 'switchyard_endpoint_up{')).includes('switchyard_endpoint_up{route="ns/a",endpoint="10.0.0.2:8080"} 0'));
  routes = [routes[1]!];
  t.deepEqual(await lines(metrics, 'switchyard_endpoint_up{'), ['switchyard_endpoint_up{route="ns/b",endpoint="10.0.0.3:8080"} 1']);
  t.deepEqual(await lines(metrics, 'switchyard_route_endpoints_available{'), ['switchyard_route_endpoints_available{route="ns/b"} 1']);
  t.deepEqual(await lines(metrics, 'switchyard_ready '), ['switchyard_ready 1']);
});

test('the computed gauges keep no series of their own; without a source they have none', async (t) => {
  const metrics = new Metrics({ defaultMetrics: false });
  t.true(metrics.endpointUp instanceof ComputedGauge);
  t.deepEqual(Object.keys(metrics.endpointUp).sort(), ['aggregator', 'help', 'labelNames', 'name', 'source', 'type']);
  t.deepEqual(await lines(metrics, 'switchyard_endpoint_up'), []);
  t.true((await metrics.registry.metrics()).includes('# TYPE switchyard_endpoint_up gauge'));
});

test('compiled routes that share a label (not next to each other) make one series per endpoint and one sum', async (t) => {
  const metrics = new Metrics({ defaultMetrics: false });
  const registry = new EndpointRegistry();
  // A Route and an Ingress (rule) named alike share the label ns/a.
  const ingressRule: CompiledRoute = { ...compiled('a', ['10.0.0.2', '10.0.0.4']), kind: 'Ingress', key: 'Ingress/ns/a/0/0' };
  const routes = [compiled('a', ['10.0.0.1', '10.0.0.2']), compiled('b', ['10.0.0.3']), ingressRule];
  new ServedGauges(metrics, { routes: () => routes, registry });
  const text = await metrics.registry.metrics();
  t.deepEqual(text.split('\n').filter((l) => l.startsWith('switchyard_endpoint_up{')), [
    'switchyard_endpoint_up{route="ns/a",endpoint="10.0.0.1:8080"} 1',
    'switchyard_endpoint_up{route="ns/a",endpoint="10.0.0.2:8080"} 1',
    'switchyard_endpoint_up{route="ns/a",endpoint="10.0.0.4:8080"} 1',
    'switchyard_endpoint_up{route="ns/b",endpoint="10.0.0.3:8080"} 1',
  ]);
  t.deepEqual(text.split('\n').filter((l) => l.startsWith('switchyard_route_endpoints_available{')), [
    'switchyard_route_endpoints_available{route="ns/a"} 4',
    'switchyard_route_endpoints_available{route="ns/b"} 1',
  ]);
});

test('a label with many endpoints (some listed twice) has each once, in the order first listed', async (t) => {
  const metrics = new Metrics({ defaultMetrics: false });
  const registry = new EndpointRegistry();
  const first = Array.from({ length: 40 }, (_, i) => `10.1.0.${i}`);
  const again = ['10.1.0.39', '10.1.0.2', '10.1.0.77'];
  const routes = [compiled('big', first), { ...compiled('big', again), kind: 'Ingress' as const, key: 'Ingress/ns/big/0/0' }];
  for (const r of routes) for (const s of r.services) for (const ep of s.endpoints) registry.acquire(ep);
  // 10.1.0.2 (listed twice) is down.
  const downId = routes[1]!.services[0]!.endpoints.find((e) => e.address === '10.1.0.2')!.id;
  registry.get(downId)!.activeUp = false;
  new ServedGauges(metrics, { routes: () => routes, registry });
  const up = (await lines(metrics, 'switchyard_endpoint_up{')).length;
  t.is(up, 41);
  const text = await metrics.registry.metrics();
  const series = text.split('\n').filter((l) => l.startsWith('switchyard_endpoint_up{'));
  t.deepEqual(series.filter((l) => l.includes('"10.1.0.2:8080"')), ['switchyard_endpoint_up{route="ns/big",endpoint="10.1.0.2:8080"} 0']);
  t.deepEqual(series.filter((l) => l.includes('"10.1.0.39:8080"')), ['switchyard_endpoint_up{route="ns/big",endpoint="10.1.0.39:8080"} 1']);
  t.is(series.at(-1), 'switchyard_endpoint_up{route="ns/big",endpoint="10.1.0.77:8080"} 1', 'a new endpoint after the first listing');
});
