// The span export path without a collector: the bounded queue, the drop counts by reason, the
// rate-limited "cannot export" log line (manual clock), and the exchange traces the Tracing
// facade starts (sampling decisions, parenting, per-attempt propagation) read back from an
// in-memory exporter. The real collector is in test/e2e/tracing-jaeger.test.ts.
import test from 'ava';
import { Writable } from 'node:stream';
import { SpanKind } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { InMemorySpanExporter, TracerProvider, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace';
import { Counter, Registry } from 'prom-client';
import { createLogger } from '../../src/log.ts';
import { BoundedSpanExport } from '../../src/tracing/span-export.ts';
import { Tracing } from '../../src/tracing/tracing.ts';
import { defaultConfig } from '../../src/config.ts';
import { parseTraceparent } from '../../src/tracing/trace-context.ts';

/** An exporter whose exports end when the test says so. */
class HeldExporter implements SpanExporter {
  readonly calls: Array<{ spans: ReadableSpan[]; done: (r: ExportResult) => void }> = [];
  export(spans: ReadableSpan[], done: (r: ExportResult) => void): void { this.calls.push({ spans, done }); }
  shutdown(): Promise<void> { return Promise.resolve(); }
}

function counters() {
  const registry = new Registry();
  return {
    registry,
    exported: new Counter({ name: 'exported', help: 'x', registers: [registry] }),
    dropped: new Counter({ name: 'dropped', help: 'x', labelNames: ['reason'], registers: [registry] }),
  };
}

async function value(c: Counter<string>, labels: Record<string, string> = {}): Promise<number> {
  const data = await c.get();
  return data.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value ?? 0;
}

function logSink() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({ write(chunk: Buffer, _enc, cb) { for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l)); cb(); } });
  return { lines, logger: createLogger('info', stream) };
}

const settle = () => new Promise((r) => setImmediate(r));

test('the queue holds at most maxQueueSize spans, in export included; the rest are dropped as queue_full', async (t) => {
  const exporter = new HeldExporter();
  const c = counters();
  const { logger } = logSink();
  const processor = new BoundedSpanExport({ exporter, maxQueueSize: 4, maxExportBatchSize: 2, scheduledDelayMillis: 60_000, exportTimeoutMillis: 60_000, counters: c, logger, destination: 'http://collector/v1/traces' });
  const tracer = new TracerProvider({ spanProcessors: [processor] }).getTracer('t');
  for (let i = 0; i < 10; i++) tracer.startSpan(`s${i}`).end();
  await settle();
  t.is(processor.pending, 4);
  t.is(await value(c.dropped, { reason: 'queue_full' }), 6);
  t.true(exporter.calls.length >= 1, 'a full batch went to the exporter at once');
  // The exports end: the queue empties, the spans count as exported, room for new ones.
  while (exporter.calls.length > 0) { exporter.calls.shift()!.done({ code: ExportResultCode.SUCCESS }); await settle(); }
  await processor.forceFlush();
  while (exporter.calls.length > 0) { exporter.calls.shift()!.done({ code: ExportResultCode.SUCCESS }); await settle(); }
  t.is(processor.pending, 0);
  t.is(await value(c.exported), 4);
  tracer.startSpan('after').end();
  t.is(processor.pending, 1);
});

test('failed exports count their spans as export_failed; the warning comes at most once a minute, recovery once', async (t) => {
  const exporter = new HeldExporter();
  const c = counters();
  const { lines, logger } = logSink();
  let now = 1_000_000;
  const processor = new BoundedSpanExport({ exporter, maxQueueSize: 100, maxExportBatchSize: 1, scheduledDelayMillis: 60_000, exportTimeoutMillis: 60_000, counters: c, logger, destination: 'http://collector/v1/traces', now: () => now });
  const tracer = new TracerProvider({ spanProcessors: [processor] }).getTracer('t');
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4318'), { code: 'ECONNREFUSED' });
  const failNext = async () => {
    tracer.startSpan('s').end();
    await settle();
    exporter.calls.shift()!.done({ code: ExportResultCode.FAILED, error: refused });
    await settle();
  };
  await failNext();
  await failNext();
  now += 59_999;
  await failNext();
  const warnings = () => lines.filter((l) => l['level'] === 'warn');
  t.is(warnings().length, 1, 'one line for three failures within a minute');
  t.like(warnings()[0], { code: 'ECONNREFUSED', collector: 'http://collector/v1/traces', droppedSpans: 1 });
  now += 1;
  await failNext();
  t.is(warnings().length, 2);
  t.is(warnings()[1]!['droppedSpans'], 3, 'the second line counts what was dropped since the first');
  t.is(await value(c.dropped, { reason: 'export_failed' }), 4);
  tracer.startSpan('ok').end();
  await settle();
  exporter.calls.shift()!.done({ code: ExportResultCode.SUCCESS });
  await settle();
  t.is(lines.filter((l) => l['msg'] === 'tracing: exporting spans to the collector again').length, 1);
  t.is(await value(c.exported), 1);
  t.is(processor.pending, 0);
});

async function tracingWith(overrides: Partial<ReturnType<typeof defaultConfig>>) {
  const exporter = new InMemorySpanExporter();
  const c = counters();
  const config = { ...defaultConfig(), otlpEndpoint: 'http://127.0.0.1:1', traceBatchDelay: 1, ...overrides };
  const tracing = await Tracing.create(config, { logger: logSink().logger, metrics: { tracingSpansExported: c.exported, tracingSpansDropped: c.dropped }, worker: 'single', routerName: 'default', exporter });
  const flush = async () => { await tracing.forceFlush(); return exporter.getFinishedSpans(); };
  return { tracing, flush };
}

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const PARENT = 'b7ad6b7169203331';

test('a sampled exchange: server span continues the incoming trace, each attempt a client span whose id goes upstream', async (t) => {
  const { tracing, flush } = await tracingWith({});
  const trace = tracing.begin({ traceparent: `00-${TRACE}-${PARENT}-01`, tracestate: 'vendor=x' }, 'default')!;
  t.true(trace.sampled);
  trace.startServer('GET Route/shop/web', SpanKind.SERVER, { 'http.request.method': 'GET' }, performance.now());
  const headers = ['host', 'shop', 'traceparent', `00-${TRACE}-${PARENT}-01`, 'baggage', 'k=v'];
  trace.startAttempt('GET', {}, headers);
  const first = parseTraceparent(headers[headers.indexOf('traceparent') + 1])!;
  t.is(first.traceId, TRACE);
  t.is(first.traceFlags, 1);
  t.is(headers.filter((h) => h === 'traceparent').length, 1, 'the client\'s traceparent was replaced');
  t.is(headers[headers.indexOf('tracestate') + 1], 'vendor=x');
  t.is(headers[headers.indexOf('baggage') + 1], 'k=v');
  trace.endAttempt(0, 'connect');
  trace.startAttempt('GET', {}, headers);
  const second = parseTraceparent(headers[headers.indexOf('traceparent') + 1])!;
  t.not(second.spanId, first.spanId);
  trace.endAttempt(200, null);
  trace.end(200);
  const spans = await flush();
  const server = spans.find((s) => s.kind === SpanKind.SERVER)!;
  const clients = spans.filter((s) => s.kind === SpanKind.CLIENT);
  t.is(server.spanContext().traceId, TRACE);
  t.is(server.parentSpanContext?.spanId, PARENT);
  t.deepEqual(clients.map((s) => s.spanContext().spanId), [first.spanId, second.spanId]);
  for (const client of clients) t.is(client.parentSpanContext?.spanId, server.spanContext().spanId, 'attempts are siblings under the server span');
  t.is(clients[0]!.status.code, 2, 'the failed attempt is an error');
  t.is(clients[0]!.attributes['error.type'], 'connect');
  t.is(clients[1]!.attributes['http.request.resend_count'], 1);
  t.is(server.status.code, 0);
});

test('an unsampled exchange records nothing and still propagates: same trace id, a new span id, flags 00', async (t) => {
  const { tracing, flush } = await tracingWith({});
  const trace = tracing.begin({ traceparent: `00-${TRACE}-${PARENT}-00` }, 'default')!;
  t.false(trace.sampled);
  trace.startServer('GET', SpanKind.SERVER, {}, performance.now());
  const headers: string[] = [];
  trace.startAttempt('GET', {}, headers);
  const sent = parseTraceparent(headers[1])!;
  t.deepEqual([sent.traceId, sent.traceFlags], [TRACE, 0]);
  t.not(sent.spanId, PARENT);
  trace.end(200);
  t.deepEqual(await flush(), []);
});

test('sampling: parent-based follows the flag, new traces by ratio decided on their own trace id, the route override wins', async (t) => {
  const { tracing } = await tracingWith({ traceSampler: 'parentbased_traceidratio', traceSamplerArg: 0.5 });
  let sampled = 0;
  for (let i = 0; i < 400; i++) {
    const trace = tracing.begin({}, 'default')!;
    if (trace.sampled) {
      sampled++;
      // The span the SDK starts carries the very trace id the decision was taken on.
      trace.startServer('GET', SpanKind.SERVER, {}, performance.now());
      const headers: string[] = [];
      trace.startAttempt('GET', {}, headers);
      t.is(parseTraceparent(headers[1])!.traceId, trace.traceId);
    }
  }
  t.true(sampled > 120 && sampled < 280, `about half sampled: ${sampled}`);
  t.true(tracing.begin({ traceparent: `00-${TRACE}-${PARENT}-01` }, 'default')!.sampled);
  t.false(tracing.begin({ traceparent: `00-${TRACE}-${PARENT}-00` }, 'default')!.sampled);
  t.true(tracing.begin({ traceparent: `00-${TRACE}-${PARENT}-00` }, 'always')!.sampled);
  t.is(tracing.begin({ traceparent: `00-${TRACE}-${PARENT}-01` }, 'never'), null);
  const off = (await tracingWith({ traceSampler: 'always_off' })).tracing;
  t.false(off.begin({ traceparent: `00-${TRACE}-${PARENT}-01` }, 'default')!.sampled, 'always_off ignores the parent');
  const none = (await tracingWith({ traceSampler: 'always_off', tracePropagators: ['none'] })).tracing;
  t.is(none.begin({}, 'default'), null, 'nothing to record, nothing to propagate');
});

test('the resource names the service, the worker and a unique instance per exporting process', async (t) => {
  const a = (await tracingWith({ resourceAttributes: ['deployment.environment.name=prod', 'service.name=edge'] })).tracing;
  const b = (await tracingWith({ serviceName: 'router' })).tracing;
  t.is(a.resourceAttributes['service.name'], 'edge', 'from --resource-attributes when --service-name is not set');
  t.is(a.resourceAttributes['deployment.environment.name'], 'prod');
  t.is(b.resourceAttributes['service.name'], 'router');
  t.is(a.resourceAttributes['switchyard.worker'], 'single');
  t.not(a.resourceAttributes['service.instance.id'], b.resourceAttributes['service.instance.id']);
});

test('a new trace is sampled exactly as OpenTelemetry\'s TraceIdRatioBasedSampler decides on its id', async (t) => {
  const { ExchangeIds } = await import('../../src/tracing/exchange-ids.ts');
  const { ExchangeSampler } = await import('../../src/tracing/exchange-sampler.ts');
  const { TraceIdRatioBasedSampler, SamplingDecision } = await import('@opentelemetry/sdk-trace');
  const { ROOT_CONTEXT } = await import('@opentelemetry/api');
  const ids = new ExchangeIds();
  for (const ratio of [0.01, 0.3, 0.5, 0.99]) {
    const ours = new ExchangeSampler('parentbased_traceidratio', ratio);
    const sdk = new TraceIdRatioBasedSampler(ratio);
    let kept = 0;
    for (let i = 0; i < 20_000; i++) {
      const id = ids.newTraceId();
      t.regex(id, /^[0-9a-f]{32}$/);
      const decision = ours.sampledNew(ids.lastTraceXor);
      if (decision !== (sdk.shouldSample(ROOT_CONTEXT, id).decision === SamplingDecision.RECORD_AND_SAMPLED)) t.fail(`ratio ${ratio}, id ${id}`);
      if (decision) kept++;
    }
    t.true(Math.abs(kept / 20_000 - ratio) < 0.02, `ratio ${ratio}: kept ${kept}`);
  }
  t.regex(ids.generateSpanId(), /^[0-9a-f]{16}$/);
});

test('whatever the client sent in a propagated format is replaced upstream, valid or not; other headers stay', async (t) => {
  const { tracing } = await tracingWith({});
  for (const sent of ['garbage', `00-${TRACE}-${PARENT}-01`]) {
    const trace = tracing.begin({ traceparent: sent, tracestate: 'k=v' }, 'default')!;
    const headers = ['host', 'shop', 'traceparent', sent, 'tracestate', 'k=v', 'x-other', '1'];
    trace.startAttempt('GET', {}, headers);
    t.is(headers.filter((h) => h === 'traceparent').length, 1, sent);
    t.not(headers[headers.indexOf('traceparent') + 1], sent);
    t.is(headers.indexOf('x-other') >= 0, true);
    // tracestate goes on with a valid parent only.
    t.is(headers.includes('tracestate'), sent !== 'garbage', sent);
  }
});
