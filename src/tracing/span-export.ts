// Getting finished spans to the collector without ever holding up a request: the SDK's
// BatchSpanProcessor batches and exports in the background; around it, one count of the spans
// handed over and not yet exported bounds memory to --trace-queue-size (the SDK's own bound
// leaves out the batch being exported, and a timed-out export keeps its spans), and every span
// that does not reach the collector is counted by reason:
//   queue_full     the queue was full when the span ended (a slow or unreachable collector)
//   export_failed  its export failed after the exporter's retries, or timed out
// Dropping is logged at most once a minute (an unreachable collector would otherwise log on
// every batch), with the spans dropped since the last line; the first export that succeeds
// after failures says so.

import type { Context } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { BatchSpanProcessor, type ReadableSpan, type Span, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace';
import type { Counter } from 'prom-client';
import type { Logger } from '../log.ts';

export type DropReason = 'queue_full' | 'export_failed';

export interface SpanExportCounters {
  exported: Pick<Counter, 'inc'>;
  dropped: Pick<Counter<'reason'>, 'labels'>;
}

export interface SpanExportOptions {
  exporter: SpanExporter;
  maxQueueSize: number;
  maxExportBatchSize: number;
  scheduledDelayMillis: number;
  exportTimeoutMillis: number;
  counters: SpanExportCounters;
  logger: Logger;
  /** Where spans go, for the log line (never with credentials). */
  destination: string;
  /** Milliseconds; injectable for tests. */
  now?: () => number;
  /** Shortest time between two "collector unreachable" log lines. */
  logIntervalMs?: number;
}

const MINUTE = 60_000;

/** The span processor the tracer provider is given: bounded hand-over to a BatchSpanProcessor. */
export class BoundedSpanExport implements SpanProcessor {
  readonly #batch: BatchSpanProcessor;
  readonly #maxQueueSize: number;
  readonly #counters: SpanExportCounters;
  readonly #reporter: ExportFailureReporter;
  /** Spans handed to the batch processor whose export has not ended. */
  #pending = 0;

  constructor(options: SpanExportOptions) {
    this.#maxQueueSize = options.maxQueueSize;
    this.#counters = options.counters;
    this.#reporter = new ExportFailureReporter(options.logger, options.destination, options.now ?? Date.now, options.logIntervalMs ?? MINUTE);
    this.#batch = new BatchSpanProcessor({
      exporter: new AccountedExporter(options.exporter, this),
      maxQueueSize: options.maxQueueSize,
      maxExportBatchSize: options.maxExportBatchSize,
      scheduledDelayMillis: options.scheduledDelayMillis,
      exportTimeoutMillis: options.exportTimeoutMillis,
    });
  }

  /** Spans waiting for or in export. */
  get pending(): number {
    return this.#pending;
  }

  onStart(_span: Span, _parentContext: Context): void {}

  onEnd(span: ReadableSpan): void {
    if (this.#pending >= this.#maxQueueSize) {
      this.#drop('queue_full', 1);
      return;
    }
    this.#pending++;
    this.#batch.onEnd(span);
  }

  forceFlush(): Promise<void> {
    return this.#batch.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.#batch.shutdown();
  }

  /** An export of `count` spans ended (AccountedExporter). */
  exportEnded(count: number, result: ExportResult): void {
    this.#pending -= count;
    if (result.code === ExportResultCode.SUCCESS) {
      this.#counters.exported.inc(count);
      this.#reporter.succeeded();
    } else {
      this.#drop('export_failed', count);
      this.#reporter.failed(result.error);
    }
  }

  #drop(reason: DropReason, count: number): void {
    this.#counters.dropped.labels(reason).inc(count);
    this.#reporter.dropped(count);
    if (reason === 'queue_full') this.#reporter.queueFull(this.#maxQueueSize);
  }
}

/** The exporter as the batch processor sees it: tells BoundedSpanExport how each export ended. */
class AccountedExporter implements SpanExporter {
  readonly #inner: SpanExporter;
  readonly #owner: BoundedSpanExport;

  constructor(inner: SpanExporter, owner: BoundedSpanExport) {
    this.#inner = inner;
    this.#owner = owner;
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    let ended = false;
    const done = (result: ExportResult): void => {
      if (ended) return;
      ended = true;
      this.#owner.exportEnded(spans.length, result);
      resultCallback(result);
    };
    try {
      this.#inner.export(spans, done);
    } catch (err) {
      done({ code: ExportResultCode.FAILED, error: err as Error });
    }
  }

  shutdown(): Promise<void> {
    return this.#inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.#inner.forceFlush?.() ?? Promise.resolve();
  }
}

/** One warning per interval while exports fail, and one line when they work again. */
export class ExportFailureReporter {
  readonly #logger: Logger;
  readonly #destination: string;
  readonly #now: () => number;
  readonly #intervalMs: number;
  #lastLog = -Infinity;
  #failing = false;
  #droppedSinceLog = 0;

  constructor(logger: Logger, destination: string, now: () => number, intervalMs: number) {
    this.#logger = logger;
    this.#destination = destination;
    this.#now = now;
    this.#intervalMs = intervalMs;
  }

  dropped(count: number): void {
    this.#droppedSinceLog += count;
  }

  failed(error: Error | undefined): void {
    this.#failing = true;
    if (!this.#due()) return;
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    this.#logger.warn({
      collector: this.#destination,
      err: error?.message ?? 'export failed',
      ...(code !== undefined ? { code } : {}),
      droppedSpans: this.#droppedSinceLog,
    }, 'tracing: cannot export spans to the collector; dropping them (logged at most once a minute, counted in switchyard_tracing_spans_dropped_total)');
    this.#droppedSinceLog = 0;
  }

  queueFull(capacity: number): void {
    if (!this.#due()) return;
    this.#logger.warn({ collector: this.#destination, capacity, droppedSpans: this.#droppedSinceLog },
      'tracing: the span queue is full (the collector is slower than the spans arrive); dropping spans (logged at most once a minute, counted in switchyard_tracing_spans_dropped_total)');
    this.#droppedSinceLog = 0;
  }

  #due(): boolean {
    const now = this.#now();
    if (now - this.#lastLog < this.#intervalMs) return false;
    this.#lastLog = now;
    return true;
  }

  succeeded(): void {
    if (!this.#failing) return;
    this.#failing = false;
    this.#logger.info({ collector: this.#destination, droppedSpans: this.#droppedSinceLog }, 'tracing: exporting spans to the collector again');
    this.#droppedSinceLog = 0;
    this.#lastLog = -Infinity;
  }
}
