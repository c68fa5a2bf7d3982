// The tracing options of the option table (src/config.ts) checked and turned into what the
// exporter and the tracer take. Tracing is on when an OTLP endpoint is configured (flag or the
// standard OTEL_EXPORTER_OTLP_*ENDPOINT variables) and OTEL_SDK_DISABLED is not true.

// The option table's value lists (kept here, free of OpenTelemetry imports: src/config.ts loads
// this module in every process, the SDK is loaded only when tracing is on).

/** OTEL_TRACES_SAMPLER values (exchange-sampler.ts). */
export const TRACE_SAMPLERS = [
  'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio', 'always_on', 'always_off', 'traceidratio',
] as const;
export type TraceSamplerName = typeof TRACE_SAMPLERS[number];

/** OTEL_PROPAGATORS values (propagation.ts). */
export const PROPAGATORS = ['tracecontext', 'baggage', 'b3', 'b3multi', 'none'] as const;
export type PropagatorName = typeof PROPAGATORS[number];

export const DEFAULT_SERVICE_NAME = 'switchyard';

/**
 * The tracing options of the router's configuration (src/config.ts's RouterConfig has them all;
 * written out here so this module imports nothing of config.ts, which imports it).
 */
export interface TracingConfig {
  otlpEndpoint: string;
  otlpTracesEndpoint: string;
  otlpProtocol: 'http/protobuf' | 'grpc';
  otlpHeaders: readonly string[];
  otlpTimeout: number;
  traceSampler: TraceSamplerName;
  traceSamplerArg: number;
  tracePropagators: readonly PropagatorName[];
  serviceName: string;
  resourceAttributes: readonly string[];
  traceQueueSize: number;
  traceBatchSize: number;
  traceBatchDelay: number;
  tracingDisabled: boolean;
}

export function tracingEnabled(config: TracingConfig): boolean {
  return !config.tracingDisabled && (config.otlpEndpoint !== '' || config.otlpTracesEndpoint !== '');
}

/**
 * The URL spans are sent to. http/protobuf: the signal URL as given, else `<base>/v1/traces`
 * (the OTLP exporter specification's rule); grpc: the endpoint (its path is not used).
 */
export function tracesUrl(config: TracingConfig): string {
  if (config.otlpTracesEndpoint !== '') return config.otlpTracesEndpoint;
  if (config.otlpProtocol === 'grpc') return config.otlpEndpoint;
  return `${config.otlpEndpoint.replace(/\/+$/, '')}/v1/traces`;
}

/**
 * `key=value` pairs as OTEL_EXPORTER_OTLP_HEADERS and OTEL_RESOURCE_ATTRIBUTES write them (the
 * list is already split on commas): keys trimmed, values percent-decoded. Throws on a malformed pair.
 */
export function parseKeyValues(pairs: readonly string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [i, pair] of pairs.entries()) {
    const eq = pair.indexOf('=');
    const key = eq === -1 ? '' : pair.slice(0, eq).trim();
    // The text itself is never echoed: a header value is often a token.
    if (key === '') throw new Error(`${what}: entry ${i + 1} is not key=value`);
    let value: string;
    try {
      value = decodeURIComponent(pair.slice(eq + 1).trim());
    } catch {
      throw new Error(`${what}: the value of "${key}" is not valid percent-encoding`);
    }
    out[key] = value;
  }
  return out;
}

/** The tracing options' cross-checks (src/config.ts's parseConfig); null when they hold. */
export function checkTracingOptions(config: TracingConfig): string | null {
  for (const [flag, url] of [['--otlp-endpoint', config.otlpEndpoint], ['--otlp-traces-endpoint', config.otlpTracesEndpoint]] as const) {
    if (url === '') continue;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return `${flag}: "${url}" is not a URL (e.g. http://collector:4318)`;
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return `${flag}: "${url}" must be an http:// or https:// URL`;
  }
  if (config.traceBatchSize > config.traceQueueSize) {
    return `--trace-batch-size (${config.traceBatchSize}) must not exceed --trace-queue-size (${config.traceQueueSize})`;
  }
  if (config.tracePropagators.includes('none') && config.tracePropagators.length > 1) {
    return '--trace-propagators: "none" cannot be combined with other formats';
  }
  try {
    parseKeyValues(config.otlpHeaders, '--otlp-headers');
    parseKeyValues(config.resourceAttributes, '--resource-attributes');
  } catch (err) {
    return (err as Error).message;
  }
  return null;
}
