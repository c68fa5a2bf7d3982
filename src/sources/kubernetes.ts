// The Kubernetes source: one resilient informer per kind the router reads (Routes, Ingresses,
// IngressClasses, Services, EndpointSlices, TLS Secrets, autoport Pods, and Namespaces when
// --namespace-labels is set), feeding the store directly. See kube-informer.ts for restarts,
// the watchdog and re-list diffing; kube-resources.ts for what each informer selects.

import { existsSync } from 'node:fs';
import { delimiter } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { RouterConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { KubeObject } from '../objects/types.ts';
import { validateObject } from '../objects/validate.ts';
import type { ObjectStore } from '../store.ts';
import { KubeInformer } from './kube-informer.ts';
import { gatewayResources, watchedResources } from './kube-resources.ts';
import { gatewayDiscovery } from './gateway-discovery.ts';

export interface KubernetesSourceOptions {
  config: RouterConfig;
  store: ObjectStore;
  logger: Logger;
  metrics?: Metrics;
  /** Loaded by the caller (see KubernetesSource.loadKubeConfig). */
  kubeConfig: KubeConfig;
  /** Restart backoff: first delay and cap (defaults 200 ms and 30 s). Tests shorten them. */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
}

export class KubernetesSource {
  #options: KubernetesSourceOptions;
  #informers: KubeInformer[] = [];
  #started = false;

  constructor(options: KubernetesSourceOptions) {
    this.#options = options;
  }

  /**
   * `--kubeconfig` (or KUBECONFIG; with a list, the first file that exists), else the in-cluster
   * service account. Throws a clear error when neither is available.
   */
  static loadKubeConfig(config: RouterConfig): KubeConfig {
    const kubeConfig = new KubeConfig();
    if (config.kubeconfig) {
      const files = config.kubeconfig.split(delimiter).filter((f) => f.length > 0);
      const file = files.find((f) => existsSync(f));
      if (!file) throw new Error(`kubeconfig not found: ${config.kubeconfig}`);
      kubeConfig.loadFromFile(file);
      if (!kubeConfig.getCurrentCluster()) throw new Error(`kubeconfig ${file} has no current cluster`);
      return kubeConfig;
    }
    if (!process.env['KUBERNETES_SERVICE_HOST']) {
      throw new Error('no --kubeconfig given and not running in a cluster (KUBERNETES_SERVICE_HOST is unset); use --file to serve from files');
    }
    kubeConfig.loadFromCluster();
    return kubeConfig;
  }

  /** Whether every informer has listed at least once. */
  get synced(): boolean {
    return this.#started && this.#informers.every((i) => i.synced);
  }

  /** Start every informer; resolves once each has listed once (retrying failures meanwhile). */
  async start(): Promise<void> {
    if (this.#started) throw new Error('KubernetesSource already started');
    this.#started = true;
    const { config, store, logger, metrics, kubeConfig, backoffInitialMs, backoffMaxMs } = this.#options;
    const log = logger.child({ source: 'kubernetes' });
    // Gateway API: only the kinds whose CRDs are installed (an absent CRD must not block readiness).
    const gatewayPresent = await gatewayDiscovery(kubeConfig, log, backoffInitialMs);
    for (const watched of [...watchedResources(config), ...gatewayResources(config, gatewayPresent)]) {
      this.#informers.push(new KubeInformer({
        kubeConfig, watched, store, logger: log, metrics,
        watchTimeoutMs: config.watchTimeout,
        backoffInitialMs, backoffMaxMs,
        accept: acceptObject,
      }));
    }
    log.info({ resources: this.#informers.map((i) => i.watched.resource), namespace: config.namespace || undefined }, 'starting informers');
    await Promise.all(this.#informers.map((i) => i.start()));
    log.info('initial sync complete');
  }

  async stop(): Promise<void> {
    await Promise.all(this.#informers.map((i) => i.stop()));
  }
}

function acceptObject(object: KubeObject): { object: KubeObject } | { error: string } {
  const result = validateObject(object);
  if (result.ok) return { object: result.object };
  return { error: result.error };
}
