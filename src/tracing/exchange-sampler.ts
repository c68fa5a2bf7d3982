// The head-sampling decision for an exchange, made before any span exists: an unsampled exchange
// (most of them at a low ratio) then costs no OpenTelemetry object at all, only the ids it
// propagates. The samplers are OpenTelemetry's (OTEL_TRACES_SAMPLER names and meaning); the ratio
// test on the trace id is the SDK's own TraceIdRatioBasedSampler, so a trace is kept or dropped
// here exactly as an OpenTelemetry JS service would decide it.

import { ROOT_CONTEXT } from '@opentelemetry/api';
import { SamplingDecision, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace';
import { SAMPLED_FLAG, type RemoteParent } from './trace-context.ts';
import type { TraceSamplerName } from './tracing-settings.ts';


/** The per-route override (annotation switchyard.io/trace-sampling). */
export type RouteSampling = 'default' | 'always' | 'never';

export class ExchangeSampler {
  readonly #parentBased: boolean;
  /** For new traces (or every trace, when not parent-based): 0 never, 1 always, else the ratio test. */
  readonly #ratio: number;
  readonly #ratioSampler: TraceIdRatioBasedSampler | null;
  /** The SDK ratio sampler's bound on the XOR of a trace id's four 32-bit words (its constructor's formula). */
  readonly #upperBound: number;

  constructor(name: TraceSamplerName, ratio: number) {
    this.#parentBased = name.startsWith('parentbased_');
    const root = this.#parentBased ? name.slice('parentbased_'.length) : name;
    this.#ratio = root === 'always_on' ? 1 : root === 'always_off' ? 0 : ratio;
    this.#ratioSampler = this.#ratio > 0 && this.#ratio < 1 ? new TraceIdRatioBasedSampler(this.#ratio) : null;
    this.#upperBound = Math.floor(this.#ratio * 0xffffffff);
  }

  /** Whether the exchange on the trace of a remote parent is recorded and exported. */
  sampled(traceId: string, parent: RemoteParent): boolean {
    if (this.#parentBased) return (parent.traceFlags & SAMPLED_FLAG) !== 0;
    if (this.#ratioSampler === null) return this.#ratio === 1;
    return this.#ratioSampler.shouldSample(ROOT_CONTEXT, traceId).decision === SamplingDecision.RECORD_AND_SAMPLED;
  }

  /**
   * Whether a new trace is recorded: `traceXor` is the XOR of its id's four 32-bit words
   * (ExchangeIds.lastTraceXor), the very value the SDK's ratio sampler compares.
   */
  sampledNew(traceXor: number): boolean {
    if (this.#ratioSampler === null) return this.#ratio === 1;
    return traceXor < this.#upperBound;
  }

  /** Never samples anything (always_off, or a ratio of 0 without a parent to follow). */
  get off(): boolean {
    return this.#ratio === 0 && !this.#parentBased;
  }
}
