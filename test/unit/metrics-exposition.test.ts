// /metrics in pieces (metrics-exposition.ts): the same bytes prom-client's registry.metrics()
// prints, with the computed per-route families cut into pieces of LINES_PER_PIECE series.

import test from 'ava';
import { Registry } from 'prom-client';
import { ServedGauges } from '../../src/admin/served-gauges.ts';
import { EndpointRegistry } from '../../src/health/endpoint-registry.ts';
import { ComputedGauge, Metrics } from '../../src/metrics.ts';
import { expositionPieces, LINES_PER_PIECE } from '../../src/metrics-exposition.ts';
import type { CompiledRoute } from '../../src/table/types.ts';

async function collect(pieces: AsyncIterable<string>): Promise<string[]> {
  const all: string[] = [];
  for await (const piece of pieces) all.push(piece);
  return all;
}

/** A compiled route as the served gauges read it: namespace, name and the services' endpoints. */
function served(i: number): CompiledRoute {
  const endpoints = [1, 2, 3].map((n) => ({ id: `ep-${i}-${n}`, address: `10.${i >> 8}.${i & 255}.${n}`, port: 8080, weight: n === 3 ? 0 : 1 }));
  return { kind: i % 10 === 0 ? 'Ingress' : 'Route', namespace: `ns${i % 7}`, name: `r${i}`, services: [{ endpoints }] } as unknown as CompiledRoute;
}

test('a router with many routes: the pieces join to exactly registry.metrics(), the per-route families in several pieces', async (t) => {
  const metrics = new Metrics();
  const routes = Array.from({ length: 1000 }, (_, i) => served(i));
  const gauges = new ServedGauges(metrics, { routes: () => routes, registry: new EndpointRegistry() });
  gauges.refresh(routes, true);
  metrics.requests.labels('ns1/r1', '2xx').inc(3);
  metrics.requestDuration.labels('ns1/r1').observe(0.02);
  const pieces = await collect(expositionPieces(metrics.registry));
  // Default metrics (CPU seconds, heap sizes) move between two reads: compare the rest.
  const stable = (text: string) => text.split('\n').filter((l) => !/^(process|nodejs)_/.test(l)).join('\n');
  t.is(stable(pieces.join('')), stable(await metrics.registry.metrics()));
  t.true(pieces.length >= Math.floor(4000 / LINES_PER_PIECE), `${pieces.length} pieces`);
  const computedSeries = (piece: string) => piece.split('\n').filter((l) => /^switchyard_(endpoint_up|route_endpoints_available)\{/.test(l)).length;
  t.true(pieces.every((piece) => computedSeries(piece) <= LINES_PER_PIECE), 'no piece holds more than LINES_PER_PIECE computed series');
  const text = pieces.join('');
  t.is(text.split('\n').filter((l) => l.startsWith('switchyard_endpoint_up{')).length, 3000);
  t.true(text.includes('switchyard_endpoint_up{route="ns5/r999",endpoint="10.3.231.3:8080"} 1\n'));
  t.true(text.includes('switchyard_route_endpoints_available{route="ns5/r999"} 2\n'));
  t.is(text.match(/^# HELP switchyard_endpoint_up /gm)?.length, 1);
  t.is(text.match(/^# TYPE switchyard_route_endpoints_available gauge$/gm)?.length, 1);
});

test('escaping and special values read as prom-client prints them', async (t) => {
  const registry = new Registry();
  const gauge = new ComputedGauge({ name: 'odd', help: 'back\\slash and\nnewline', labelNames: ['a', 'b'], registers: [registry] });
  gauge.source = () => [
    { labels: { a: 'quote"d', b: 'back\\slash' }, value: NaN },
    { labels: { a: 'new\nline', b: '' }, value: Infinity },
    { labels: { a: 'x', b: 'y' }, value: -Infinity },
    { labels: { a: 'x', b: 'z' }, value: 0.1 + 0.2 },
  ];
  const empty = new ComputedGauge({ name: 'none', help: 'no source', labelNames: ['a'], registers: [registry] });
  t.is(empty.source, null);
  t.is((await collect(expositionPieces(registry))).join(''), await registry.metrics());
});

test('another registry supplies the other families (the merge over workers), the computed ones stay in place', async (t) => {
  const own = new Registry();
  const merged = new Registry();
  for (const registry of [own, merged]) registry.registerMetric({ name: 'first', help: 'h', type: 'counter', get: async () => ({ name: 'first', help: 'h', type: 'counter', values: [{ labels: {}, value: registry === own ? 1 : 5 }] }) } as never);
  const gauge = new ComputedGauge({ name: 'computed', help: 'c', labelNames: ['route'], registers: [own] });
  gauge.source = () => [{ labels: { route: 'ns/a' }, value: 1 }];
  merged.registerMetric({ name: 'workers_only', help: 'w', type: 'gauge', get: async () => ({ name: 'workers_only', help: 'w', type: 'gauge', values: [{ labels: {}, value: 2 }] }) } as never);
  t.is((await collect(expositionPieces(own, merged))).join(''),
    '# HELP first h\n# TYPE first counter\nfirst 5\n\n# HELP computed c\n# TYPE computed gauge\ncomputed{route="ns/a"} 1\n\n# HELP workers_only w\n# TYPE workers_only gauge\nworkers_only 2\n');
});

test('a collect() that fails rejects before the first piece', async (t) => {
  const registry = new Registry();
  registry.registerMetric({ name: 'broken', help: 'h', type: 'gauge', get: async () => { throw new Error('boom'); } } as never);
  await t.throwsAsync(() => expositionPieces(registry).next(), { message: 'boom' });
});

test('the per-endpoint gauges are read from the live endpoints at each scrape and keep no series in between', async (t) => {
  const metrics = new Metrics();
  const future = Date.now() + 60_000;
  let live = [
    { label: '10.0.0.1:8080', active: 2, ejectedUntil: 0 },
    { label: '10.0.0.2:8080', active: 0, ejectedUntil: future },
  ];
  metrics.liveEndpoints = () => live;
  const first = (await collect(expositionPieces(metrics.registry))).join('');
  t.true(first.includes('switchyard_endpoint_in_flight{endpoint="10.0.0.1:8080"} 2\n'));
  t.true(first.includes('switchyard_endpoint_in_flight{endpoint="10.0.0.2:8080"} 0\n'));
  t.true(first.includes(`switchyard_endpoint_ejected_until_timestamp_seconds{endpoint="10.0.0.2:8080"} ${future / 1000}\n`));
  t.false(first.includes('switchyard_endpoint_ejected_until_timestamp_seconds{endpoint="10.0.0.1:8080"}'), 'only ejected endpoints');
  const stable = (text: string) => text.split('\n').filter((l) => !/^(process|nodejs)_/.test(l)).join('\n');
  t.is(stable(first), stable(await metrics.registry.metrics()), 'the same text as prom-client prints');
  // An endpoint gone from the table is gone from the next scrape; values follow the state.
  live = [{ label: '10.0.0.1:8080', active: 5, ejectedUntil: 0 }];
  const second = (await collect(expositionPieces(metrics.registry))).join('');
  t.true(second.includes('switchyard_endpoint_in_flight{endpoint="10.0.0.1:8080"} 5\n'));
  t.false(second.includes('10.0.0.2:8080'));
  const values = (await metrics.endpointInFlight.get()).values;
  t.deepEqual(values, [{ labels: { endpoint: '10.0.0.1:8080' }, value: 5 }]);
});
