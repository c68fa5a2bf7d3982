// Trace and span ids, made cheaply on the hot path (every traced exchange needs them, sampled or
// not), plus a way to hand the SDK a trace id chosen before the span exists. A new trace's
// sampling decision is taken on its id (the ratio test) before any span is created — an
// unsampled exchange never creates one — so when it is sampled, the SDK must start the span on
// that very id: it asks its IdGenerator for a trace id synchronously inside startSpan, and gets
// the id set just before.
//
// Ids are four (trace) or two (span) random 32-bit words, written as hex. The ratio test of
// OpenTelemetry's TraceIdRatioBasedSampler XORs the trace id's four 32-bit words: the XOR of the
// words just generated is kept, so the test on a new id costs no parsing (exchange-sampler.ts).

import type { IdGenerator } from '@opentelemetry/sdk-trace';

const TWO_32 = 0x1_0000_0000;

function word(): number {
  return (Math.random() * TWO_32) >>> 0;
}

/** Two hex digits per byte value: a word is written as four lookups (Number#toString(16) of a word over 2^31 takes V8's slow path, ~10 times slower). */
const HEX: readonly string[] = Array.from({ length: 256 }, (_, i) => (i < 16 ? '0' : '') + i.toString(16));

function hex8(n: number): string {
  return HEX[n >>> 24]! + HEX[(n >>> 16) & 0xff]! + HEX[(n >>> 8) & 0xff]! + HEX[n & 0xff]!;
}

export class ExchangeIds implements IdGenerator {
  #next: string | null = null;
  /** XOR of the 32-bit words of the last id newTraceId() made (the ratio test's input). */
  lastTraceXor = 0;

  /** A new random trace id (never all zero). */
  newTraceId(): string {
    let a = word();
    const b = word();
    const c = word();
    const d = word();
    if ((a | b | c | d) === 0) a = 1;
    this.lastTraceXor = (a ^ b ^ c ^ d) >>> 0;
    return hex8(a) + hex8(b) + hex8(c) + hex8(d);
  }

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
    return this.newTraceId();
  }

  /** A new random span id (never all zero). */
  generateSpanId(): string {
    let a = word();
    const b = word();
    if ((a | b) === 0) a = 1;
    return hex8(a) + hex8(b);
  }
}
