// Tracing for a proxying process (the single process, or each worker): null when it is off, so
// the hot path pays one null check; the OpenTelemetry SDK is loaded only when it is on.

import type { TracingConfig } from './tracing-settings.ts';
import { tracingEnabled } from './tracing-settings.ts';
import type { Tracing, TracingDeps } from './tracing.ts';

export async function startTracing(config: TracingConfig, deps: TracingDeps): Promise<Tracing | null> {
  if (!tracingEnabled(config)) return null;
  const { Tracing } = await import('./tracing.ts');
  const tracing = await Tracing.create(config, deps);
  deps.logger.info({ worker: deps.worker, sampler: config.traceSampler, ratio: config.traceSamplerArg, propagators: config.tracePropagators, protocol: config.otlpProtocol }, 'tracing on');
  return tracing;
}
