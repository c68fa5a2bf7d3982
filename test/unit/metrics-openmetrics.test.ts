// The OpenMetrics exposition (metrics-openmetrics.ts): family names and sample names by type,
// escaping, exemplars on histogram buckets, and the merge over workers that sums the series and
// keeps each one's most recent exemplar. Prometheus itself reads it in test/e2e/tracing-exemplars.test.ts.
import test from 'ava';
import { AggregatorRegistry, Counter, Registry } from 'prom-client';
import { Metrics } from '../../src/metrics.ts';
import { expositionPieces } from '../../src/metrics-exposition.ts';
import { openMetricsFamily, wantsOpenMetrics, type FamilyJson } from '../../src/metrics-openmetrics.ts';

async function text(pieces: AsyncIterable<string>): Promise<string> {
  let out = '';
  for await (const piece of pieces) out += piece;
  return out;
}

test('Accept negotiation: OpenMetrics only when asked for', (t) => {
  t.true(wantsOpenMetrics('application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'));
  t.false(wantsOpenMetrics('text/plain;version=0.0.4'));
  t.false(wantsOpenMetrics(undefined));
});

test('families: a counter is named without _total, its samples with it; labels and help escaped', async (t) => {
  const registry = new Registry();
  const c = new Counter({ name: 'x_requests_total', help: 'a "quoted" \\ help\nline', labelNames: ['path'], registers: [registry] });
  c.labels('a"b\\c\nd').inc(2);
  t.is(openMetricsFamily(await c.get() as unknown as FamilyJson), [
    '# HELP x_requests a \\"quoted\\" \\\\ help\\nline',
    '# TYPE x_requests counter',
    'x_requests_total{path="a\\"b\\\\c\\nd"} 2',
  ].join('\n'));
});

test('the request duration histogram: an exemplar (trace_id, span_id) on the bucket the sampled request fell in', async (t) => {
  const metrics = new Metrics({ defaultMetrics: false });
  metrics.requestDuration.labels('ns/r').observe(0.0004);
  metrics.requestDuration.observe({ labels: { route: 'ns/r' }, value: 0.03, exemplarLabels: { trace_id: 'a'.repeat(32), span_id: 'b'.repeat(16) } as never });
  const out = await text(expositionPieces(metrics.registry, metrics.registry, 'openmetrics'));
  t.regex(out, /^switchyard_http_request_duration_seconds_bucket\{le="0\.001",route="ns\/r"\} 1$/m);
  t.regex(out, new RegExp(`^switchyard_http_request_duration_seconds_bucket\\{le="0\\.05",route="ns/r"\\} 2 # \\{trace_id="${'a'.repeat(32)}",span_id="${'b'.repeat(16)}"\\} 0\\.03 \\d+(\\.\\d+)?$`, 'm'));
  t.regex(out, /^switchyard_http_request_duration_seconds_bucket\{le="\+Inf",route="ns\/r"\} 2$/m);
  t.regex(out, /^# TYPE switchyard_http_requests counter$/m);
  t.true(out.endsWith('\n# EOF\n'));
  t.false(out.includes('\n\n'));
  // The Prometheus text format is prom-client's, unchanged: no exemplars.
  const prom = await text(expositionPieces(metrics.registry));
  t.false(prom.includes('# {'));
  t.regex(prom, /^# TYPE switchyard_http_requests_total counter$/m);
});

test('over workers: series are summed and each keeps its most recent exemplar', async (t) => {
  const worker = (traceId: string, at: number) => {
    const m = new Metrics({ defaultMetrics: false });
    const now = Date.now;
    Date.now = () => at;
    try {
      m.requestDuration.observe({ labels: { route: 'ns/r' }, value: 0.2, exemplarLabels: { trace_id: traceId, span_id: 'c'.repeat(16) } as never });
    } finally {
      Date.now = now;
    }
    return m.registry.getMetricsAsJSON();
  };
  const merged = AggregatorRegistry.aggregate([await worker('1'.repeat(32), 1_000_000), await worker('2'.repeat(32), 2_000_000), await worker('3'.repeat(32), 1_500_000)]);
  const family = await merged.getSingleMetric('switchyard_http_request_duration_seconds')!.get() as unknown as FamilyJson;
  const bucket = family.values.find((v) => v.metricName?.endsWith('_bucket') && v.labels.le === 0.25)!;
  t.is(bucket.value, 3);
  t.is(bucket.exemplar!.labelSet.trace_id, '2'.repeat(32), 'the latest of the three');
  t.is(family.values.find((v) => v.metricName?.endsWith('_count'))!.value, 3);
});
