// The Kubernetes source (sources/kubernetes.ts: one informer per watched kind, restarted on
// failure) as a public Source. `switchyard run` against a cluster starts it like any Source and
// adds the status writer (cluster-mode.ts) on the same API client; an embedding program that only
// wants the objects uses this.

import { parseConfig, type RouterConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { openKubeClient, type KubeClient } from '../kube/client.ts';
import type { ConfigErrorLog } from './config-error-log.ts';
import { KubernetesSource } from './kubernetes.ts';
import { StoreSink, type Source, type SourceSink } from './source.ts';

export interface ClusterSourceOptions {
  /** Settings by RouterConfig key (`kubeconfig`, `namespace`, `routeLabels`, …); unset ones take their defaults. */
  config?: Partial<RouterConfig>;
  logger: Logger;
  metrics?: Metrics;
  errors?: ConfigErrorLog;
  // @internal keeps this out of the published types (tsconfig stripInternal): through KubeClient
  // they would reach @kubernetes/client-node's, which a consumer cannot type-check without @types/ws.
  /** @internal The router's API client, shared with its status writer; by default the source opens (and closes) its own. */
  client?: KubeClient;
}

export class ClusterSource implements Source {
  readonly name = 'kubernetes';
  readonly #options: Omit<ClusterSourceOptions, 'config'> & { config: RouterConfig };
  #source: KubernetesSource | null = null;
  #ownClient: KubeClient | null = null;

  constructor(options: ClusterSourceOptions) {
    // `kubeconfig` (or KUBECONFIG), else the in-cluster service account.
    this.#options = { ...options, config: { ...parseConfig([], {}), ...options.config } };
  }

  async start(sink: SourceSink): Promise<void> {
    if (!(sink instanceof StoreSink)) throw new Error('kubernetes source: needs the router\'s own sink');
    const { config } = this.#options;
    let client = this.#options.client;
    if (!client) client = this.#ownClient = openKubeClient({ kubeconfig: config.kubeconfig, name: config.routerName, node: config.nodeName, metrics: this.#options.metrics });
    this.#source = new KubernetesSource({ ...this.#options, store: sink.store, client });
    await this.#source.start();
  }

  async stop(): Promise<void> {
    await this.#source?.stop();
    await this.#ownClient?.close();
  }
}
