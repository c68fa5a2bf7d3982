// Assembles one router process: store ← source (files or cluster), reconciler → table →
// proxy, health monitor, admin server, listeners, status controller, and the SIGTERM drain.

import type { Server } from 'node:http';
import type { AddressInfo, Server as NetServer } from 'node:net';
import { readFileSync } from 'node:fs';
import type { RouterConfig } from './config.ts';
import type { Logger } from './log.ts';
import { Metrics } from './metrics.ts';
import { ObjectStore } from './store.ts';
import { Reconciler } from './controller/reconciler.ts';
import { RouterProxy } from './proxy/router-proxy.ts';
import { createHttpListener } from './proxy/http-listener.ts';
import { HealthService } from './health/health-service.ts';
import { HealthVerdicts } from './health/health-verdicts.ts';
import { PluginRegistry } from './pipeline/plugin-registry.ts';
import { createAdminServer } from './admin/admin-server.ts';
import { debugRoutes } from './admin/debug-routes.ts';
import { FilesSource } from './sources/file-source-adapter.ts';
import { StoreSink, type Source } from './sources/source.ts';
import type { ClusterMode } from './cluster-mode.ts';
import { startHttpsListener, type HttpsHandle } from './proxy/https.ts';
import { loadDefaultCertificate } from './proxy/tls/default-certificate.ts';
import { WorkerPool } from './cluster/worker-pool.ts';

export interface ListeningPorts { http: number; https: number; admin: number }

export interface RouterOptions {
  /** Loaded plugins (--plugin); Middlewares can name only these. */
  plugins?: PluginRegistry;
  /** Where objects come from; default: the files of --file, else the cluster. */
  sources?: Source[];
}

export class Router {
  readonly config: RouterConfig;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly store = new ObjectStore();
  readonly reconciler: Reconciler;
  readonly proxy: RouterProxy;
  readonly health: HealthService;
  readonly #verdicts: HealthVerdicts;
  #ready = false;
  #draining = false;
  #notReady = 'initial load not applied yet';
  #sources: Source[] = [];
  readonly #customSources: Source[] | null;
  #cluster: ClusterMode | null = null;
  #http: Server | null = null;
  #https: HttpsHandle | null = null;
  #admin: Server | null = null;
  /** `--workers N`: the proxy runs in N worker processes; this one is the primary. */
  #workers: WorkerPool | null = null;

  constructor(config: RouterConfig, logger: Logger, metrics = new Metrics(), options: RouterOptions = {}) {
    this.config = config;
    this.logger = logger;
    this.metrics = metrics;
    this.#customSources = options.sources ?? null;
    this.reconciler = new Reconciler(this.store, { config, logger, metrics, plugins: options.plugins });
    this.health = new HealthService({ logger });
    this.proxy = new RouterProxy(config, logger, metrics, options.plugins);
    this.#verdicts = new HealthVerdicts(this.proxy.registry);
    if (config.defaultDestinationCA) this.proxy.defaultDestinationCA = readFileSync(config.defaultDestinationCA, 'utf8');
    // One serving path for every proxy: the table and the health verdicts reach the in-process
    // proxy and the workers alike.
    this.reconciler.on('delta', (delta) => {
      this.health.apply(delta);
      this.proxy.apply(delta);
      this.#verdicts.afterTable();
      this.#workers?.broadcast({ t: 'table', delta });
    });
    this.health.on('verdict', (id, up) => {
      this.#verdicts.verdict(id, up);
      this.#workers?.broadcast({ t: 'health', id, up });
    });
    this.health.on('pass', (id, startedAt) => {
      this.#verdicts.probePassed(id, startedAt);
      this.#workers?.broadcast({ t: 'probe-pass', id, startedAt });
    });
  }

  /** The table as served now: host entries (compiled routes) and every admission verdict. */
  inspect(): { version: number; hosts: import('./table/types.ts').HostEntry[]; admission: import('./table/types.ts').AdmissionResult[] } {
    const snapshot = this.reconciler.snapshot();
    return { version: snapshot.version, hosts: snapshot.upsert, admission: this.reconciler.admissionResults() };
  }

  get ready(): boolean {
    return this.#ready && !this.#draining;
  }

  async start(): Promise<ListeningPorts> {
    const { config } = this;
    this.#admin = createAdminServer({
      metrics: this.metrics,
      logger: this.logger,
      ready: () => this.ready,
      notReadyReason: () => (this.#draining ? 'draining' : this.#notReady),
      debugRoutes: () => debugRoutes(this.reconciler, this.proxy),
      beforeScrape: () => this.#refreshEndpointGauges(),
      metricsText: () => (this.#workers ? this.#workers.metricsText() : this.metrics.registry.metrics()),
      username: config.statsUsername,
      password: config.statsPassword,
    });
    const admin = await listen(this.#admin, config.adminPort, config.adminBind);
    this.reconciler.start();
    let ports: ListeningPorts | null = null;
    if (!config.bindPortsAfterSync) ports = { ...(await this.#openProxyPorts()), admin };
    if (this.#customSources !== null || config.file.length > 0) {
      this.#sources = this.#customSources ?? [new FilesSource(config.file, { logger: this.logger, metrics: this.metrics })];
      const sink = new StoreSink(this.store);
      for (const source of this.#sources) await source.start(sink);
    } else {
      this.#notReady = 'waiting for the first sync of every watched resource';
      // Loaded only in cluster mode: keeps the Kubernetes client out of file-mode start-up.
      const { startClusterMode } = await import('./cluster-mode.ts');
      this.#cluster = await startClusterMode({ config, store: this.store, reconciler: this.reconciler, logger: this.logger, metrics: this.metrics });
    }
    this.store.flush();
    if (ports === null) ports = { ...(await this.#openProxyPorts()), admin };
    this.#ready = true;
    this.logger.info({ ...ports, bind: config.bind, routes: this.reconciler.admissionResults().length }, 'listening');
    return ports;
  }

  async #openProxyPorts(): Promise<{ http: number; https: number }> {
    const { config } = this;
    if (config.workers > 0) {
      this.#workers = new WorkerPool({
        count: config.workers,
        logger: this.logger,
        metrics: this.metrics,
        snapshot: () => this.reconciler.snapshot(),
        downIds: () => this.health.downIds(),
        // Generated (or read) once here, so every worker serves the same default certificate.
        defaultCertificate: await loadDefaultCertificate(config.defaultCertificate, this.logger),
      });
      return this.#workers.start();
    }
    this.#http = createHttpListener(this.proxy, config, this.metrics);
    const http = await listen(this.#http, config.httpPort, config.bind);
    this.#https = await startHttpsListener({ config, proxy: this.proxy, logger: this.logger, metrics: this.metrics });
    return { http, https: this.#https.port };
  }

  /**
   * Graceful stop: readiness 503 at once, listeners stop accepting, in-flight requests and
   * tunnels get up to drainTimeout to finish, then everything is closed.
   */
  async stop(drainTimeoutMs = this.config.drainTimeout): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    this.logger.info({ inFlight: this.proxy.inFlight, drainTimeoutMs }, 'draining');
    const closing: Promise<unknown>[] = [];
    if (this.#workers) closing.push(this.#workers.drain(drainTimeoutMs));
    if (this.#http) { closing.push(closeServer(this.#http)); this.#http.closeIdleConnections(); }
    if (this.#https) closing.push(this.#https.close());
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => { timer = setTimeout(resolve, drainTimeoutMs); });
    await Promise.race([this.proxy.idle(), deadline]);
    clearTimeout(timer);
    if (this.proxy.inFlight > 0) this.logger.warn({ inFlight: this.proxy.inFlight }, 'drain timeout: closing remaining connections');
    this.#http?.closeAllConnections();
    this.#https?.destroyAll();
    this.health.stop();
    for (const source of this.#sources) await source.stop();
    await this.#cluster?.stop();
    await this.proxy.close();
    await Promise.allSettled(closing);
    if (this.#admin) { this.#admin.closeAllConnections(); await closeServer(this.#admin); }
    this.logger.info('stopped');
  }

  #refreshEndpointGauges(): void {
    const gauge = this.metrics.endpointUp;
    gauge.reset();
    const now = Date.now();
    for (const runtime of this.proxy.table.items()) {
      for (const member of runtime.members) gauge.labels(runtime.label, member.endpoint.name).set(member.endpoint.available(now) ? 1 : 0);
    }
  }
}

function listen(server: NetServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host }, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: NetServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
