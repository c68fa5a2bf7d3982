// ctx.trace for a traced exchange: the ids, and the server span's attributes and events for the
// plugin's own use, through the exchange's trace. Values are checked as OpenTelemetry checks
// them (a bad one is dropped, not thrown: a phase that throws fails the request).

import type { Attributes } from '@opentelemetry/api';
import type { TraceAttributeValue, TraceView } from '../pipeline/views.ts';
import type { ExchangeTrace } from './exchange-trace.ts';

function isValue(value: unknown): value is TraceAttributeValue {
  const t = typeof value;
  if (t === 'string' || t === 'boolean' || (t === 'number' && Number.isFinite(value as number))) return true;
  if (!Array.isArray(value)) return false;
  const first = typeof value[0];
  return value.every((v) => typeof v === first && (first === 'string' || first === 'boolean' || (first === 'number' && Number.isFinite(v as number))));
}

export class PluginTraceView implements TraceView {
  readonly #trace: ExchangeTrace;

  constructor(trace: ExchangeTrace) {
    this.#trace = trace;
  }

  get traceId(): string {
    return this.#trace.traceId;
  }

  get spanId(): string {
    return this.#trace.spanId;
  }

  get sampled(): boolean {
    return this.#trace.sampled;
  }

  setAttribute(key: string, value: TraceAttributeValue): void {
    if (typeof key !== 'string' || key === '' || !isValue(value)) return;
    this.#trace.setAttribute(key, value as Attributes[string] & {});
  }

  addEvent(name: string, attributes?: Readonly<Record<string, TraceAttributeValue>>): void {
    if (typeof name !== 'string' || name === '') return;
    let clean: Attributes | undefined;
    if (attributes !== undefined && attributes !== null && typeof attributes === 'object') {
      clean = {};
      for (const [k, v] of Object.entries(attributes)) if (k !== '' && isValue(v)) clean[k] = v as Attributes[string];
    }
    this.#trace.addEvent(name, clean);
  }

  toJSON(): object {
    return { traceId: this.traceId, spanId: this.spanId, sampled: this.sampled };
  }
}
