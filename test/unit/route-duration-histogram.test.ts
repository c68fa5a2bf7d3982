// The compact request-duration histogram (src/route-duration-histogram.ts) reads exactly as
// prom-client's Histogram with exemplars does, for the same observations.
import test from 'ava';
import { Histogram, Registry } from 'prom-client';
import { RouteDurationHistogram } from '../../src/route-duration-histogram.ts';

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

function pair() {
  const reference = new Histogram({ name: 'd_seconds', help: 'h', labelNames: ['route'], registers: [], buckets: BUCKETS, enableExemplars: true });
  const compact = new RouteDurationHistogram({ name: 'd_seconds', help: 'h', registers: [], buckets: BUCKETS });
  return { reference, compact, both: [reference, compact] as Histogram<'route'>[] };
}

/** get() with the exemplars' timestamps (wall clock) taken out. */
async function read(h: Histogram<'route'>): Promise<unknown> {
  const data = await h.get();
  return {
    ...data,
    values: data.values.map((value) => {
      const v = value as typeof value & { exemplar?: { timestamp?: number } | null };
      return { ...v, exemplar: v.exemplar == null ? v.exemplar : { ...v.exemplar, timestamp: typeof v.exemplar.timestamp } };
    }),
  };
}

test('the same observations read the same: buckets at their bounds, +Inf, sums and counts, exemplars, a removed route', async (t) => {
  const { reference, compact, both } = pair();
  for (const h of both) {
    const a = h.labels('ns/a');
    for (const v of [0, 0.001, 0.0011, 0.3, 30, 31, 1e6]) a.observe(v);
    h.labels({ route: 'ns/b' }).observe(0.02);
    h.observe({ labels: { route: 'ns/b' }, value: 0.2, exemplarLabels: { trace_id: 'a'.repeat(32), span_id: 'b'.repeat(16) } } as never);
    h.observe({ labels: { route: 'ns/b' }, value: 99, exemplarLabels: { trace_id: 'c'.repeat(32), span_id: 'd'.repeat(16) } } as never);
    h.observe({ labels: { route: 'ns/c' }, value: 0.004, exemplarLabels: {} } as never);
    h.labels('ns/gone').observe(1);
    h.remove('ns/gone');
  }
  t.deepEqual(await read(compact), await read(reference));
  // and the registry's text (the Prometheus format)
  const texts = await Promise.all(both.map(async (h) => { const r = new Registry(); r.registerMetric(h); return r.metrics(); }));
  t.is(texts[1], texts[0]);
  t.true(texts[0]!.includes('d_seconds_bucket{le="+Inf",route="ns/a"} 7'));
});

test('invalid values and oversized exemplar labels are refused as prom-client refuses them', (t) => {
  const { compact } = pair();
  t.throws(() => compact.labels('ns/a').observe(Number.NaN), { instanceOf: TypeError });
  t.throws(() => compact.observe({ labels: { route: 'ns/a' }, value: 1, exemplarLabels: { trace_id: 'x'.repeat(200) } } as never), { instanceOf: RangeError });
});

test('reset() forgets every route; a read between observations does not disturb them', async (t) => {
  const { compact } = pair();
  compact.labels('ns/a').observe(0.5);
  const first = await compact.get();
  compact.labels('ns/a').observe(0.5);
  const second = await compact.get();
  const count = (d: typeof first) => d.values.find((v) => v.metricName === 'd_seconds_count')?.value;
  t.deepEqual([count(first), count(second)], [1, 2]);
  compact.reset();
  t.deepEqual((await compact.get()).values, []);
});
