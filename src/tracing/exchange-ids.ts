// Trace and span ids: OpenTelemetry's random generator, plus a way to hand the SDK a trace id
// chosen before the span exists. A new trace's sampling decision is taken on its id (the
// ratio test) before any span is created — an unsampled exchange never creates one — so when
// it is sampled, the SDK must start the span on that very id. The SDK asks its IdGenerator for
// a trace id synchronously inside startSpan: the id set just before is the one it gets.

import { RandomIdGenerator, type IdGenerator } from '@opentelemetry/sdk-trace';

export class ExchangeIds implements IdGenerator {
  readonly #random = new RandomIdGenerator();
  #next: string | null = null;

  /** The trace id the next root span the SDK starts gets (consumed by that call). */
  useTraceId(traceId: string): void {
    this.#next = traceId;
  }

  generateTraceId(): string {
    const next = this.#next;
    if (next !== null) {
      this.#next = null;
      return next;
    }
    return this.#random.generateTraceId();
  }

  generateSpanId(): string {
    return this.#random.generateSpanId();
  }
}
