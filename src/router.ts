// Assembles one router process: store ← source (files or cluster), reconciler → table →
// proxy, health monitor, admin server, listeners, status controller, and the SIGTERM drain.

import type { Server } from 'node:http';
import { createServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { rm } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { readFileSync } from 'node:fs';
import type { RouterConfig } from './config.ts';
import type { Logger } from './log.ts';
import { Metrics } from './metrics.ts';
import { expositionPieces, type ExpositionFormat } from './metrics-exposition.ts';
import { ObjectStore } from './store.ts';
import { Reconciler } from './controller/reconciler.ts';
import { RouterProxy } from './proxy/router-proxy.ts';
import { HealthService } from './health/health-service.ts';
import { SharedState } from './shared-memory/shared-state.ts';
import { PluginRegistry } from './pipeline/plugin-registry.ts';
import { createAdminServer } from './admin/admin-server.ts';
import { debugRoutes, type RoutesView } from './admin/debug-routes.ts';
import { FilesSource } from './sources/file-source-adapter.ts';
import { StoreSink, type Source } from './sources/source.ts';
import type { ClusterMode } from './cluster-mode.ts';
import { ProxyListeners, type DrainDeadlines } from './proxy/serving.ts';
import { DefaultCertificateWatcher, initialDefaultCertificate } from './proxy/tls/default-certificate.ts';
import { ProxyWorkers } from './workers/proxy-workers.ts';
import { Dashboard } from './admin/dashboard.ts';
import { ServedGauges } from './admin/served-gauges.ts';
import type { CompiledRoute } from './table/types.ts';
import { ConfigErrorLog } from './sources/config-error-log.ts';
import { packageVersion } from './version.ts';
import { startTracing } from './tracing/start-tracing.ts';

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
  /** What the proxy threads share: endpoint health and in-flight counts, limit counters. */
  readonly #shared = SharedState.create();
  #ready = false;
  #draining = false;
  #notReady = 'initial load not applied yet';
  #sources: Source[] = [];
  readonly #customSources: Source[] | null;
  #cluster: ClusterMode | null = null;
  #listeners: ProxyListeners | null = null;
  #admin: Server | null = null;
  #adminSocket: NetServer | null = null;
  #certificateWatcher: DefaultCertificateWatcher | null = null;
  /** `--workers N`: the proxy runs in N worker threads; this is the main thread. */
  #workers: ProxyWorkers | null = null;
  /** Details of recent configuration errors (the dashboard lists them). */
  readonly configErrors = new ConfigErrorLog();
  readonly #servedGauges: ServedGauges;
  #dashboard: Dashboard | null = null;
  readonly #startedAt = Date.now();

  constructor(config: RouterConfig, logger: Logger, metrics = new Metrics(), options: RouterOptions = {}) {
    this.config = config;
    this.logger = logger;
    this.metrics = metrics;
    this.#customSources = options.sources ?? null;
    this.reconciler = new Reconciler(this.store, { config, logger, metrics, plugins: options.plugins });
    // A bug while applying changes: logged with its stack, counted, and the table rebuilt (store.ts).
    this.store.onListenerError = (err, phase) => {
      metrics.internalErrors.labels('store').inc();
      logger.error({ err, phase }, phase === 'delivery' ? 'applying store changes failed: rebuilding the table' : 'rebuilding the table failed: retrying');
    };
    const defaultDestinationCA = config.defaultDestinationCA ? readFileSync(config.defaultDestinationCA, 'utf8') : null;
    // The health checks and every proxy (this one, each worker thread's) see one endpoint state
    // per id in shared memory: a verdict or an ejection holds everywhere at once. The checks use
    // this thread's proxy's registry: one EndpointState per endpoint in this thread, not two.
    this.proxy = new RouterProxy(config, logger, metrics, options.plugins, this.#shared);
    this.proxy.defaultDestinationCA = defaultDestinationCA;
    this.health = new HealthService({ logger, defaultDestinationCA, registry: this.proxy.registry });
    // In-flight counts and ejections are shared: this registry's are every thread's (so the
    // workers do not report them again).
    this.metrics.liveEndpoints = () => this.proxy.registry.values();
    this.#servedGauges = new ServedGauges(metrics, { routes: () => this.#servedRoutes(), registry: this.proxy.registry });
    // One serving path for every proxy: the table reaches the in-process proxy and the workers alike.
    this.reconciler.on('delta', (delta) => {
      this.health.apply(delta);
      this.proxy.apply(delta);
      this.#workers?.broadcast({ t: 'table', delta });
    });
  }

  /** The table as served now, as /debug/routes shows it: hosts, routes, endpoints, every admission verdict (no key material). */
  inspect(): RoutesView {
    return debugRoutes(this.reconciler, this.proxy);
  }

  get ready(): boolean {
    return this.#ready && !this.#draining && this.store.healthy;
  }

  /**
   * `beforeServing` runs once the first table is built, before the proxy ports open (by default)
   * and readiness turns 200: the CLI collects the start-up garbage there, so that pause delays
   * readiness instead of stalling a router that already said it was ready.
   */
  async start(options: { beforeServing?: () => void } = {}): Promise<ListeningPorts> {
    const { config } = this;
    this.#dashboard = new Dashboard({
      reconciler: this.reconciler,
      registry: this.proxy.registry,
      monitor: this.health.monitor,
      configErrors: this.configErrors,
      identity: () => ({
        routerName: config.routerName,
        routeLabels: config.routeLabels,
        namespaceLabels: config.namespaceLabels,
        leaseHolder: this.#cluster?.leaseHolder() ?? null,
        version: packageVersion(),
        workers: config.workers,
        mode: config.file.length > 0 ? 'file' : 'cluster',
        startedAt: this.#startedAt,
      }),
      metricsRegistry: async () => {
        this.#refreshServedGauges();
        return this.#workers ? this.#workers.aggregatedRegistry() : this.metrics.registry;
      },
      logger: this.logger,
    });
    this.#admin = createAdminServer({
      metrics: this.metrics,
      logger: this.logger,
      ready: () => this.ready,
      notReadyReason: () => (this.#draining ? 'draining' : !this.store.healthy ? 'the route table missed changes: resyncing' : this.#notReady),
      debugRoutes: () => debugRoutes(this.reconciler, this.proxy),
      beforeScrape: () => this.#refreshServedGauges(),
      exposition: (format) => this.#exposition(format),
      dashboard: this.#dashboard,
      username: config.statsUsername,
      password: config.statsPassword,
    });
    // Shared like the proxy ports, so a new router can start beside the old one; probes that must
    // reach this very process use --admin-socket.
    const admin = await listen(this.#admin, config.adminPort, config.adminBind);
    if (config.adminSocket) this.#adminSocket = await listenAdminSocket(this.#admin, config.adminSocket);
    warnWithoutMigrateReq(this.logger);
    let ports: ListeningPorts | null = null;
    if (!config.bindPortsAfterSync) ports = { ...(await this.#openProxyPorts()), admin };
    const clusterMode = this.#customSources === null && config.file.length === 0;
    if (this.#customSources !== null) {
      this.#sources = this.#customSources;
    } else if (!clusterMode) {
      this.#sources = [new FilesSource(config.file, { logger: this.logger, metrics: this.metrics, errors: this.configErrors })];
    } else {
      this.#notReady = 'waiting for the first sync of every watched resource';
      // Loaded only in cluster mode: keeps the Kubernetes client out of file-mode start-up.
      const { openClusterMode } = await import('./cluster-mode.ts');
      this.#cluster = openClusterMode({ config, logger: this.logger, metrics: this.metrics, errors: this.configErrors });
      this.#sources = [this.#cluster.source];
    }
    // Every mode feeds the store the same way: Source → StoreSink.
    const sink = new StoreSink(this.store);
    for (const source of this.#sources) await source.start(sink);
    // The reconciler starts on the synced store: every host is compiled once and the first table
    // built in one delta. Started earlier, it would recompile a host each time its Service or
    // EndpointSlice arrived in a later list than its Route (at 100k routes, most of start-up).
    this.store.flush();
    this.reconciler.start();
    this.#cluster?.startStatus({ reconciler: this.reconciler, store: this.store });
    options.beforeServing?.();
    if (ports === null) ports = { ...(await this.#openProxyPorts()), admin };
    this.#ready = true;
    this.logger.info({ ...ports, bind: config.bind, routes: this.reconciler.admissionResults().length }, 'listening');
    return ports;
  }

  async #openProxyPorts(): Promise<{ http: number; https: number }> {
    const { config } = this;
    // Read (or generated) once here, so every worker serves the same default certificate.
    const defaultCertificate = await initialDefaultCertificate({ dir: config.defaultCertificateDir, path: config.defaultCertificate }, this.logger);
    if (config.defaultCertificateDir !== '') {
      this.#certificateWatcher = new DefaultCertificateWatcher(config.defaultCertificateDir, defaultCertificate, (pair) => {
        this.#servedGauges.setDefaultCertificate(pair.cert);
        this.#listeners?.setDefaultCertificate(pair);
        this.#workers?.setDefaultCertificate(pair);
      }, this.logger);
    }
    this.#servedGauges.setDefaultCertificate(defaultCertificate.cert);
    if (config.workers > 0) {
      this.#workers = new ProxyWorkers({
        count: config.workers,
        config,
        logger: this.logger,
        metrics: this.metrics,
        snapshot: () => this.reconciler.snapshot(),
        shared: this.#shared.buffers,
        defaultCertificate,
        ports: { http: config.httpPort, https: config.httpsPort },
      });
      return this.#workers.start();
    }
    // Each proxying process exports its own spans (each worker thread its own: src/workers/proxy-worker.ts).
    this.proxy.tracing = await startTracing(config, { logger: this.logger, metrics: this.metrics, worker: 'single', routerName: config.routerName });
    this.#listeners = await ProxyListeners.open({ config, proxy: this.proxy, logger: this.logger, metrics: this.metrics, defaultCertificate });
    return this.#listeners.ports;
  }

  /**
   * Graceful stop (SIGTERM): readiness 503 at once; the proxy keeps accepting for
   * --shutdown-delay; then the listeners close and open connections drain (serving.ts) within
   * --drain-timeout, tunnels within --tunnel-drain-timeout; then everything is closed.
   * `immediate` (a failed start-up) skips the delay and cuts connections at once.
   */
  async stop(immediate = false): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    const { config } = this;
    const serving = this.#listeners !== null || this.#workers !== null;
    if (serving && !immediate && config.shutdownDelay > 0) {
      this.logger.info({ shutdownDelayMs: config.shutdownDelay }, 'not ready; still accepting for the shutdown delay');
      await delay(config.shutdownDelay);
    }
    const deadlines: DrainDeadlines = immediate
      ? { requestsMs: 0, tunnelsMs: 0 }
      : { requestsMs: config.drainTimeout, tunnelsMs: Math.max(config.drainTimeout, config.tunnelDrainTimeout) };
    this.logger.info({ inFlight: this.proxy.inFlight, connections: this.#listeners?.connections, ...deadlines }, 'draining');
    if (this.#workers) await this.#workers.drain(deadlines);
    if (this.#listeners) await this.#listeners.drain(deadlines);
    this.health.stop();
    this.#certificateWatcher?.close();
    await this.#cluster?.stop(); // the status writer before the objects it reports on
    for (const source of this.#sources) await source.stop();
    await this.#cluster?.close();
    await this.proxy.close();
    if (this.#adminSocket) await closeServer(this.#adminSocket);
    this.#dashboard?.close();
    if (this.#admin) { this.#admin.closeAllConnections(); await closeServer(this.#admin); }
    this.logger.info('stopped');
  }

  /** /metrics: this process's registry, or merged with the workers' (metrics-exposition.ts). */
  async * #exposition(format: ExpositionFormat): AsyncGenerator<string> {
    yield* expositionPieces(this.metrics.registry, this.#workers ? await this.#workers.aggregatedRegistry() : this.metrics.registry, format);
  }

  #refreshServedGauges(): void {
    this.#servedGauges.refresh(this.#servedRoutes(), this.ready);
  }

  #servedRoutes(): CompiledRoute[] {
    const snapshot = this.reconciler.snapshot();
    const routes = snapshot.upsert.flatMap((entry) => entry.routes);
    if (snapshot.defaultBackend) routes.push(snapshot.defaultBackend);
    return routes;
  }
}

function listen(server: NetServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, reusePort: true }, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** The admin server, also on a Unix socket (a stale socket file from a previous run is replaced). */
async function listenAdminSocket(admin: Server, path: string): Promise<NetServer> {
  await rm(path, { force: true });
  const server = createServer((socket) => admin.emit('connection', socket));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => { server.off('error', reject); resolve(); });
  });
  return server;
}

const MIGRATE_REQ = '/proc/sys/net/ipv4/tcp_migrate_req';

/** Say so when the kernel will reset connections queued on our listeners when they close. */
function warnWithoutMigrateReq(logger: Logger): void {
  let value: string;
  try { value = readFileSync(MIGRATE_REQ, 'utf8').trim(); } catch { return; } // not Linux, or < 5.14
  if (value === '0') {
    logger.warn('net.ipv4.tcp_migrate_req is 0: connections queued on this router\'s listeners when it stops are reset instead of moving to the next router on the port; set it to 1 for lossless rollovers (manifests/README.md)');
  }
}

function closeServer(server: NetServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
