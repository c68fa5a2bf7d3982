// A backend that joins the trace as an instrumented service would: for every request it starts
// a server span whose parent is the request's W3C traceparent (OpenTelemetry's own propagator)
// and exports it to the collector; otherwise the echo backend of backends.ts (it answers with
// the headers it received).

import { ROOT_CONTEXT, SpanKind, defaultTextMapGetter } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { startBackend, type Backend, type BackendOptions } from './backends.ts';

export const BACKEND_SERVICE = 'traced-backend';

export interface TracedBackend extends Backend {
  /** Export what is pending and stop the tracer (close() does it too). */
  flush(): Promise<void>;
}

export async function startTracedBackend(name: string, collectorUrl: string, options: BackendOptions = {}): Promise<TracedBackend> {
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': BACKEND_SERVICE }),
    spanProcessors: [new SimpleSpanProcessor({ exporter: new OTLPTraceExporter({ url: `${collectorUrl}/v1/traces` }) })],
  });
  const tracer = provider.getTracer('test-backend');
  const propagator = new W3CTraceContextPropagator();
  const backend = await startBackend(name, {
    ...options,
    handler: (req, res) => {
      const parent = propagator.extract(ROOT_CONTEXT, req.headers, defaultTextMapGetter);
      const span = tracer.startSpan(`backend ${req.method}`, { kind: SpanKind.SERVER, attributes: { 'url.path': req.url ?? '' } }, parent);
      res.once('close', () => { span.setAttribute('http.response.status_code', res.statusCode); span.end(); });
      return options.handler?.(req, res) ?? false;
    },
  });
  const close = backend.close;
  return Object.assign(backend, {
    flush: () => provider.forceFlush(),
    close: async () => { await close(); await provider.shutdown(); },
  });
}
