// The main thread's side of `--workers N`: starts the proxy worker threads (each binds the ports
// itself with SO_REUSEPORT), feeds them the table, collects their metrics for /metrics, starts a
// new thread for one that dies, and drains them on SIGTERM.

import { Worker } from 'node:worker_threads';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { RouterConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import { ComputedGauge, type Metrics } from '../metrics.ts';
import type { TableDelta } from '../table/types.ts';
import type { DrainDeadlines, Ports } from '../proxy/serving.ts';
import { isMessage, type MetricsJson, type MainMessage, type WorkerMessage } from './messages.ts';
import type { ProxyWorkerData } from './proxy-worker-entry.ts';
import type { SharedBuffers } from '../shared-memory/shared-state.ts';
import { newTicketKeys, TICKET_KEY_ROTATION_MS } from '../proxy/tls/tls-terminator.ts';

export interface ProxyWorkersOptions {
  count: number;
  config: RouterConfig;
  logger: Logger;
  metrics: Metrics;
  /** Full table for a new worker. */
  snapshot(): TableDelta;
  /** The router's shared memory (endpoint slots, limit table), attached to by every worker. */
  shared: SharedBuffers;
  defaultCertificate: { cert: string; key: string } | null;
  /** The configured ports (0 = any free port: the first worker picks, the others follow). */
  ports: Ports;
}

/** The entry module, next to this one (.ts when run from the sources, .js when built). */
const ENTRY = new URL(`./proxy-worker-entry${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

export class ProxyWorkers {
  readonly #options: ProxyWorkersOptions;
  readonly #workers = new Set<Worker>();
  #draining = false;
  #requestId = 0;
  readonly #pendingMetrics = new Map<number, { remaining: number; answered: Set<Worker>; done: () => void }>();
  /** Each worker's latest metrics, for a scrape it does not answer in time. */
  readonly #lastMetrics = new Map<Worker, MetricsJson>();
  /** TLS session ticket keys every worker uses, so any worker resumes any session. */
  #ticketKeys = newTicketKeys().toString('base64');
  readonly #ticketTimer: NodeJS.Timeout;
  #ports: Ports;
  #defaultCertificate: { cert: string; key: string } | null;

  constructor(options: ProxyWorkersOptions) {
    this.#options = options;
    this.#ports = options.ports;
    this.#defaultCertificate = options.defaultCertificate;
    this.#ticketTimer = setInterval(() => {
      this.#ticketKeys = newTicketKeys().toString('base64');
      this.broadcast({ t: 'ticket-keys', keys: this.#ticketKeys });
    }, TICKET_KEY_ROTATION_MS).unref();
  }

  /** Start every worker; resolves with the shared ports once all of them listen. */
  async start(): Promise<Ports> {
    // Port 0: the first worker resolves it to a real port, the others join it there.
    const { count, ports } = this.#options;
    if (ports.http !== 0 && ports.https !== 0) {
      await Promise.all(Array.from({ length: count }, () => this.#spawn()));
      return this.#ports;
    }
    this.#ports = await this.#spawn();
    await Promise.all(Array.from({ length: count - 1 }, () => this.#spawn()));
    return this.#ports;
  }

  setDefaultCertificate(certificate: { cert: string; key: string }): void {
    this.#defaultCertificate = certificate;
    this.broadcast({ t: 'default-certificate', certificate });
  }

  broadcast(message: MainMessage): void {
    for (const worker of this.#workers) worker.postMessage(message);
  }

  /**
   * The merged registry: the main thread's metrics and every worker's (counters summed by label
   * set). The computed families (ComputedGauge: the main thread's per-route gauges, empty in the
   * workers) are left out: /metrics writes them piece by piece from the main thread
   * (metrics-exposition.ts) and the dashboard does not read them.
   */
  async aggregatedRegistry(): Promise<Registry> {
    const computed = new Set<string>();
    const own: MetricsJson = [];
    for (const metric of this.#options.metrics.registry.getMetricsAsArray() as unknown[]) {
      if (metric instanceof ComputedGauge) computed.add(metric.name);
      else own.push(await (metric as { get(): Promise<MetricsJson[number]> }).get());
    }
    const workers = [...this.#workers];
    const results: MetricsJson[] = [own];
    if (workers.length > 0) {
      const requestId = ++this.#requestId;
      const answered = new Set<Worker>();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2000); // a stuck worker must not hang the scrape
        this.#pendingMetrics.set(requestId, { remaining: workers.length, answered, done: () => { clearTimeout(timer); resolve(); } });
        for (const worker of workers) worker.postMessage({ t: 'metrics-request', requestId } satisfies MainMessage);
      });
      this.#pendingMetrics.delete(requestId);
      // A worker that did not answer in time (its event loop held by a long synchronous plugin
      // phase, say) is counted from its last answer: leaving it out would make the merged
      // counters go down, which Prometheus reads as a counter reset.
      const late = workers.filter((worker) => !answered.has(worker));
      if (late.length > 0) this.#options.logger.warn({ workers: late.map((w) => w.threadId) }, 'metrics: workers did not answer within 2 s; their last metrics are used');
      for (const worker of workers) {
        const last = this.#lastMetrics.get(worker);
        if (last !== undefined) results.push(last);
      }
    }
    return AggregatorRegistry.aggregate(results.map((metrics) => metrics.filter((metric) => !computed.has(metric.name))) as never);
  }

  /** Tell every worker to drain and wait until all have ended. */
  async drain(deadlines: DrainDeadlines): Promise<void> {
    this.#draining = true;
    clearInterval(this.#ticketTimer);
    const exits = [...this.#workers].map((worker) => new Promise<void>((resolve) => {
      if (worker.threadId === -1) return resolve(); // already ended
      worker.once('exit', () => resolve());
    }));
    this.broadcast({ t: 'drain', deadlines });
    const hardStop = setTimeout(() => { for (const w of this.#workers) void w.terminate(); }, Math.max(deadlines.requestsMs, deadlines.tunnelsMs) + 5000);
    await Promise.all(exits);
    clearTimeout(hardStop);
  }

  #spawn(): Promise<Ports> {
    const { logger, config, shared } = this.#options;
    const worker = new Worker(ENTRY, { workerData: { config, shared } satisfies ProxyWorkerData, stdout: false, stderr: false });
    this.#workers.add(worker);
    // Queued until the thread listens for messages; every later broadcast comes after these.
    worker.postMessage({ t: 'init', ports: this.#ports, defaultCertificate: this.#defaultCertificate, ticketKeys: this.#ticketKeys } satisfies MainMessage);
    worker.postMessage({ t: 'table', delta: this.#options.snapshot() } satisfies MainMessage);
    const spawnedAt = performance.now();
    return new Promise((resolve, reject) => {
      let listening = false;
      worker.on('message', (message: unknown) => {
        if (!isMessage<WorkerMessage>(message)) return;
        if (message.t === 'listening') {
          listening = true;
          logger.debug({ worker: worker.threadId, ms: Math.round(performance.now() - spawnedAt) }, 'worker listening');
          resolve({ http: message.http, https: message.https });
        }
        else if (message.t === 'metrics') {
          this.#lastMetrics.set(worker, message.metrics);
          const pending = this.#pendingMetrics.get(message.requestId);
          if (pending) { pending.answered.add(worker); if (--pending.remaining === 0) pending.done(); }
        } else if (message.t === 'fatal') {
          logger.error({ worker: worker.threadId, err: message.message }, 'worker reported a fatal error');
          if (!listening) reject(new Error(`worker failed to start: ${message.message}`));
        }
      });
      // An exception nothing caught in the thread: it ends ('exit' follows).
      worker.on('error', (err) => {
        process.stderr.write(`switchyard: worker ${worker.threadId}: fatal uncaught exception: ${err.stack ?? String(err)}\n`);
      });
      const id = worker.threadId;
      worker.once('exit', (code) => {
        this.#workers.delete(worker);
        this.#lastMetrics.delete(worker);
        if (this.#draining) return;
        if (!listening) { reject(new Error(`worker exited (${code}) before listening`)); return; }
        logger.error({ worker: id, code }, 'worker died; starting a new one');
        setTimeout(() => { if (!this.#draining) this.#spawn().catch((err: Error) => logger.error({ err: err.message }, 'worker restart failed')); }, 1000).unref();
      });
    });
  }
}
