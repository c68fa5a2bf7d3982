// A process's (or worker's) tracing: the OpenTelemetry tracer provider with its resource, the
// bounded batch export over OTLP (http/protobuf, or gRPC), the sampler and the propagation
// formats. Loaded only when tracing is on (router.ts imports this module dynamically), so a
// router without a collector never loads the SDK. Each worker builds its own and exports its
// own spans; the resource says which (`switchyard.worker`, `service.instance.id`).
//
// The hot path meets it once per exchange, in begin(): the incoming context is read, the
// sampling decided on the trace id, and an ExchangeTrace returned (null: nothing to do).

import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { IncomingHttpHeaders } from 'node:http';
import type { Tracer } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AlwaysOnSampler, TracerProvider, type SpanExporter } from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_INSTANCE_ID, ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { packageVersion } from '../version.ts';
import { ExchangeIds } from './exchange-ids.ts';
import { ExchangeSampler, type RouteSampling } from './exchange-sampler.ts';
import { ExchangeTrace, type TraceHost } from './exchange-trace.ts';
import { Propagation } from './propagation.ts';
import { BoundedSpanExport } from './span-export.ts';
import { DEFAULT_SERVICE_NAME, parseKeyValues, tracesUrl, type TracingConfig } from './tracing-settings.ts';

export interface TracingDeps {
  logger: Logger;
  metrics: Pick<Metrics, 'tracingSpansExported' | 'tracingSpansDropped'>;
  /** Which process exports: 'single' (--workers 0), or the worker's number. */
  worker: string;
  routerName: string;
  /** Replaces the OTLP exporter (tests of the export path). */
  exporter?: SpanExporter;
  /** Clock of the "cannot export" log line's rate limit. */
  now?: () => number;
}

export class Tracing implements TraceHost {
  readonly tracer: Tracer;
  readonly ids = new ExchangeIds();
  readonly propagation: Propagation;
  readonly #sampler: ExchangeSampler;
  readonly #provider: TracerProvider;
  readonly #export: BoundedSpanExport;
  readonly resourceAttributes: Readonly<Record<string, string | number>>;

  static async create(config: TracingConfig, deps: TracingDeps): Promise<Tracing> {
    return new Tracing(config, deps, deps.exporter ?? (await createOtlpExporter(config)));
  }

  private constructor(config: TracingConfig, deps: TracingDeps, exporter: SpanExporter) {
    this.propagation = new Propagation(config.tracePropagators);
    this.#sampler = new ExchangeSampler(config.traceSampler, config.traceSamplerArg);
    this.resourceAttributes = resourceAttributes(config, deps);
    this.#export = new BoundedSpanExport({
      exporter,
      maxQueueSize: config.traceQueueSize,
      maxExportBatchSize: config.traceBatchSize,
      scheduledDelayMillis: config.traceBatchDelay,
      exportTimeoutMillis: config.otlpTimeout,
      counters: { exported: deps.metrics.tracingSpansExported, dropped: deps.metrics.tracingSpansDropped },
      logger: deps.logger,
      destination: redactUrl(tracesUrl(config)),
      now: deps.now,
    });
    this.#provider = new TracerProvider({
      resource: resourceFromAttributes(this.resourceAttributes),
      // The decision is taken before a span is started (begin): every span started is sampled.
      sampler: new AlwaysOnSampler(),
      idGenerator: this.ids,
      spanProcessors: [this.#export],
    });
    this.tracer = this.#provider.getTracer('switchyard', packageVersion());
  }

  /**
   * The trace of a new exchange. `headers`: the request's (null for a passthrough connection,
   * which can only start a trace); `sampling`: the route's override. Null when there is nothing
   * to record or propagate (the route says never; or unsampled with propagation off).
   */
  begin(headers: IncomingHttpHeaders | null, sampling: RouteSampling): ExchangeTrace | null {
    if (sampling === 'never') return null;
    const parent = headers !== null ? this.propagation.extract(headers) : null;
    let traceId: string;
    let sampled: boolean;
    if (parent !== null) {
      traceId = parent.traceId;
      sampled = sampling === 'always' || this.#sampler.sampled(traceId, parent);
    } else {
      traceId = this.ids.newTraceId();
      sampled = sampling === 'always' || this.#sampler.sampledNew(this.ids.lastTraceXor);
    }
    if (!sampled && !this.propagation.enabled) return null;
    return new ExchangeTrace(this, traceId, sampled, parent, headers !== null && this.propagation.present(headers));
  }

  /** Spans waiting for or in export. */
  get pendingSpans(): number {
    return this.#export.pending;
  }

  /** Export what is queued now. */
  forceFlush(): Promise<void> {
    return this.#provider.forceFlush();
  }

  /** Export what is queued (bounded by --otlp-timeout) and stop. */
  shutdown(): Promise<void> {
    return this.#provider.shutdown();
  }
}

async function createOtlpExporter(config: TracingConfig): Promise<SpanExporter> {
  const url = tracesUrl(config);
  const headers = parseKeyValues(config.otlpHeaders, '--otlp-headers');
  if (config.otlpProtocol === 'grpc') {
    const [{ OTLPTraceExporter }, { Metadata }] = await Promise.all([import('@opentelemetry/exporter-trace-otlp-grpc'), import('@grpc/grpc-js')]);
    const metadata = new Metadata();
    for (const [key, value] of Object.entries(headers)) metadata.set(key, value);
    return new OTLPTraceExporter({ url, metadata, timeoutMillis: config.otlpTimeout });
  }
  const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-proto');
  return new OTLPTraceExporter({ url, headers, timeoutMillis: config.otlpTimeout });
}

/**
 * The resource every span of this process carries: --resource-attributes (where a DaemonSet puts
 * k8s.pod.name, k8s.node.name from the downward API: manifests/overlays/tracing), then what the
 * router knows of itself: service name and version, a unique instance id per exporting process,
 * the worker, host and pid.
 */
function resourceAttributes(config: TracingConfig, deps: TracingDeps): Record<string, string | number> {
  const extra = parseKeyValues(config.resourceAttributes, '--resource-attributes');
  return {
    ...extra,
    [ATTR_SERVICE_NAME]: config.serviceName || extra[ATTR_SERVICE_NAME] || DEFAULT_SERVICE_NAME,
    [ATTR_SERVICE_VERSION]: packageVersion(),
    [ATTR_SERVICE_INSTANCE_ID]: randomUUID(),
    'host.name': hostname(), // incubating semantic conventions: copied, not imported
    'process.pid': process.pid,
    'switchyard.router_name': deps.routerName,
    'switchyard.worker': deps.worker,
  };
}

/** A URL for a log line: without user info or query (either may hold a credential). */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}
