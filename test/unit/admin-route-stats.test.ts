// One-minute route figures from samples of the cumulative series: rate, 5xx ratio and
// bucket-interpolated quantiles, as Prometheus' rate() and histogram_quantile() compute them.
import test from 'ava';
import { RouteStatsWindow, quantile, type RouteSample } from '../../src/admin/route-stats.ts';
import { Metrics } from '../../src/metrics.ts';
import { readRouteSample } from '../../src/admin/stats-sampler.ts';

const BOUNDS = [0.01, 0.1, 1, Infinity];
const sample = (at: number, byClass: [number, number, number, number, number], buckets: number[]): RouteSample =>
  ({ at, bounds: BOUNDS, routes: new Map([['ns/a', { byClass, buckets }]]) });

test('quantile interpolates inside the bucket holding the rank; the +Inf bucket answers the top finite bound', (t) => {
  t.true(Math.abs(quantile(0.5, BOUNDS, [0, 10, 10, 10])! - 0.055) < 1e-9);
  t.is(quantile(0.5, BOUNDS, [10, 10, 10, 10]), 0.005);
  t.is(quantile(0.99, BOUNDS, [0, 0, 0, 4]), 1);
  t.is(quantile(0.5, BOUNDS, [0, 0, 0, 0]), null);
});

test('rate, 5xx ratio and quantiles cover the samples inside the window', (t) => {
  const window = new RouteStatsWindow(60_000);
  window.add(sample(0, [0, 100, 0, 0, 0], [100, 100, 100, 100]));
  t.is(window.all().size, 0, 'one sample says nothing about a rate');
  window.add(sample(10_000, [0, 180, 0, 0, 20], [100, 200, 200, 200]));
  const stats = window.all().get('ns/a')!;
  t.is(stats.rate, 10);
  t.is(stats.errorRatio, 0.2);
  t.true(Math.abs(stats.p50! - 0.055) < 1e-9); // every new request fell in (0.01, 0.1]
  t.is(stats.windowSeconds, 10);
  // 70 s later the first sample has left the window: the base is the newest one before the cutoff.
  window.add(sample(80_000, [0, 180, 0, 0, 20], [100, 200, 200, 200]));
  const idle = window.all().get('ns/a')!;
  t.is(idle.rate, 0);
  t.is(idle.errorRatio, null);
  t.is(idle.p99, null);
});

test('a counter that goes back (a worker restarted) counts from zero instead of going negative', (t) => {
  const window = new RouteStatsWindow();
  window.add(sample(0, [0, 500, 0, 0, 0], [500, 500, 500, 500]));
  window.add(sample(5_000, [0, 10, 0, 0, 0], [10, 10, 10, 10]));
  const stats = window.all().get('ns/a')!;
  t.true(stats.rate >= 0);
  t.is(stats.p50, 0.005);
});

test('a sample reads the request counters and duration buckets of a real registry', async (t) => {
  const metrics = new Metrics({ defaultMetrics: false });
  metrics.requests.labels('ns/a', '2xx').inc(3);
  metrics.requests.labels('ns/a', '5xx').inc(1);
  metrics.requestDuration.labels('ns/a').observe(0.003);
  metrics.requestDuration.labels('ns/a').observe(2);
  const s = await readRouteSample(metrics.registry, 1000);
  const a = s.routes.get('ns/a')!;
  t.deepEqual(a.byClass, [0, 3, 0, 0, 1]);
  t.is(s.bounds[s.bounds.length - 1], Infinity);
  t.is(a.buckets[a.buckets.length - 1], 2);
  t.is(a.buckets[s.bounds.indexOf(0.0025)], 0);
  t.is(a.buckets[s.bounds.indexOf(0.005)], 1);
});

test('gRPC calls by status: read from switchyard_grpc_responses_total, counted within the window; null for a route without gRPC', async (t) => {
  const metrics = new Metrics({ defaultMetrics: false });
  metrics.requests.labels('ns/grpc', '2xx').inc(3);
  metrics.requests.labels('ns/web', '2xx').inc(1);
  metrics.grpcResponses.labels('ns/grpc', 'OK').inc(2);
  metrics.grpcResponses.labels('ns/grpc', 'UNAVAILABLE').inc(1);
  const window = new RouteStatsWindow(60_000);
  window.add(await readRouteSample(metrics.registry, 1_000));
  metrics.requests.labels('ns/grpc', '2xx').inc(5);
  metrics.grpcResponses.labels('ns/grpc', 'OK').inc(4);
  metrics.grpcResponses.labels('ns/grpc', 'DEADLINE_EXCEEDED').inc(1);
  window.add(await readRouteSample(metrics.registry, 3_000));
  const stats = window.all();
  t.deepEqual(stats.get('ns/grpc')!.grpc, { OK: 4, UNAVAILABLE: 0, DEADLINE_EXCEEDED: 1 });
  t.is(stats.get('ns/web')!.grpc, null);
});
