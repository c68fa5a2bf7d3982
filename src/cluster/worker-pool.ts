// The primary's side of `--workers N`: forks the proxy workers (each binds the ports itself with
// SO_REUSEPORT), feeds them the table and the active-check verdicts, collects their metrics for
// /metrics, re-forks a worker that dies, and drains them on SIGTERM.

import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { Logger } from '../log.ts';
import { ComputedGauge, type Metrics } from '../metrics.ts';
import type { TableDelta } from '../table/types.ts';
import type { DrainDeadlines, Ports } from '../proxy/serving.ts';
import { isMessage, type MetricsJson, type PrimaryMessage, type WorkerMessage } from './ipc.ts';
import { newTicketKeys, TICKET_KEY_ROTATION_MS } from '../proxy/tls/tls-terminator.ts';
import { packMiddlewareConfigs } from '../table/middleware-configs.ts';

export interface WorkerPoolOptions {
  count: number;
  logger: Logger;
  metrics: Metrics;
  /** Full table for a newly forked worker. */
  snapshot(): TableDelta;
  /** Endpoints the active checks hold down (sent to a new worker). */
  downIds: () => string[];
  defaultCertificate: { cert: string; key: string } | null;
  /** The configured ports (0 = any free port: the first worker picks, the others follow). */
  ports: Ports;
}

export class WorkerPool {
  readonly #options: WorkerPoolOptions;
  readonly #workers = new Set<Worker>();
  #draining = false;
  #requestId = 0;
  readonly #pendingMetrics = new Map<number, { remaining: number; results: MetricsJson[]; done: () => void }>();
  /** TLS session ticket keys every worker uses, so any worker resumes any session. */
  #ticketKeys = newTicketKeys().toString('base64');
  readonly #ticketTimer: NodeJS.Timeout;
  #ports: Ports;
  #defaultCertificate: { cert: string; key: string } | null;

  constructor(options: WorkerPoolOptions) {
    this.#options = options;
    this.#ports = options.ports;
    this.#defaultCertificate = options.defaultCertificate;
    this.#ticketTimer = setInterval(() => {
      this.#ticketKeys = newTicketKeys().toString('base64');
      this.broadcast({ t: 'ticket-keys', keys: this.#ticketKeys });
    }, TICKET_KEY_ROTATION_MS).unref();
  }

  /** Fork every worker; resolves with the shared ports once all of them listen. */
  async start(): Promise<Ports> {
    // The first worker resolves port 0 to a real port; the others join it there.
    this.#ports = await this.#fork();
    await Promise.all(Array.from({ length: this.#options.count - 1 }, () => this.#fork()));
    return this.#ports;
  }

  setDefaultCertificate(certificate: { cert: string; key: string }): void {
    this.#defaultCertificate = certificate;
    this.broadcast({ t: 'default-certificate', certificate });
  }

  broadcast(message: PrimaryMessage): void {
    for (const worker of this.#workers) if (worker.isConnected()) worker.send(message);
  }

  /**
   * The merged registry: the primary's metrics and every worker's (counters summed by label
   * set). The computed families (ComputedGauge: the primary's per-route gauges, empty in the
   * workers) are left out: /metrics writes them piece by piece from the primary
   * (metrics-exposition.ts) and the dashboard does not read them.
   */
  async aggregatedRegistry(): Promise<Registry> {
    const computed = new Set<string>();
    const own: MetricsJson = [];
    for (const metric of this.#options.metrics.registry.getMetricsAsArray() as unknown[]) {
      if (metric instanceof ComputedGauge) computed.add(metric.name);
      else own.push(await (metric as { get(): Promise<MetricsJson[number]> }).get());
    }
    const workers = [...this.#workers].filter((w) => w.isConnected());
    const results: MetricsJson[] = [own];
    if (workers.length > 0) {
      const requestId = ++this.#requestId;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2000); // a stuck worker must not hang the scrape
        this.#pendingMetrics.set(requestId, { remaining: workers.length, results, done: () => { clearTimeout(timer); resolve(); } });
        for (const worker of workers) worker.send({ t: 'metrics-request', requestId } satisfies PrimaryMessage);
      });
      this.#pendingMetrics.delete(requestId);
    }
    return AggregatorRegistry.aggregate(results.map((metrics) => metrics.filter((metric) => !computed.has(metric.name))) as never);
  }

  /** Tell every worker to drain and wait until all have exited. */
  async drain(deadlines: DrainDeadlines): Promise<void> {
    this.#draining = true;
    clearInterval(this.#ticketTimer);
    const exits = [...this.#workers].map((worker) => new Promise<void>((resolve) => {
      if (worker.isDead()) return resolve();
      worker.once('exit', () => resolve());
    }));
    this.broadcast({ t: 'drain', deadlines });
    const hardStop = setTimeout(() => { for (const w of this.#workers) w.process.kill('SIGKILL'); }, Math.max(deadlines.requestsMs, deadlines.tunnelsMs) + 5000);
    await Promise.all(exits);
    clearTimeout(hardStop);
  }

  #fork(): Promise<Ports> {
    const worker = cluster.fork({ SWITCHYARD_WORKER: '1' });
    this.#workers.add(worker);
    const { logger } = this.#options;
    return new Promise((resolve, reject) => {
      let listening = false;
      worker.on('online', () => {
        worker.send({ t: 'init', ports: this.#ports, defaultCertificate: this.#defaultCertificate, ticketKeys: this.#ticketKeys } satisfies PrimaryMessage);
        worker.send({ t: 'table', delta: packMiddlewareConfigs(this.#options.snapshot()) } satisfies PrimaryMessage);
        for (const id of this.#options.downIds()) worker.send({ t: 'health', id, up: false } satisfies PrimaryMessage);
      });
      worker.on('message', (message: unknown) => {
        if (!isMessage<WorkerMessage>(message)) return;
        if (message.t === 'listening') { listening = true; resolve({ http: message.http, https: message.https }); }
        else if (message.t === 'metrics') {
          const pending = this.#pendingMetrics.get(message.requestId);
          if (pending) { pending.results.push(message.metrics); if (--pending.remaining === 0) pending.done(); }
        } else if (message.t === 'fatal') {
          logger.error({ worker: worker.process.pid, err: message.message }, 'worker reported a fatal error');
          if (!listening) reject(new Error(`worker failed to start: ${message.message}`));
        }
      });
      worker.on('exit', (code, signal) => {
        this.#workers.delete(worker);
        if (this.#draining) return;
        if (!listening) { reject(new Error(`worker exited (${code ?? signal}) before listening`)); return; }
        logger.error({ worker: worker.process.pid, code, signal }, 'worker died; starting a new one');
        setTimeout(() => { if (!this.#draining) this.#fork().catch((err: Error) => logger.error({ err: err.message }, 'worker restart failed')); }, 1000).unref();
      });
    });
  }
}
