// The Kubernetes source (sources/kubernetes.ts: one informer per watched kind, restarted on
// failure) as a public Source. `switchyard run` against a cluster starts it like any Source and
// adds the status writer (cluster-mode.ts); an embedding program that only wants the objects uses this.

import { parseConfig, type RouterConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { ConfigErrorLog } from './config-error-log.ts';
import { KubernetesSource } from './kubernetes.ts';
import { StoreSink, type Source, type SourceSink } from './source.ts';

export class ClusterSource implements Source {
  readonly name = 'kubernetes';
  readonly #options: { config: RouterConfig; logger: Logger; metrics?: Metrics; errors?: ConfigErrorLog };

  /** Settings by RouterConfig key (`kubeconfig`, `namespace`, `routeLabels`, …); unset ones take their defaults. */
  #source: KubernetesSource | null = null;

  constructor(options: { config?: Partial<RouterConfig>; logger: Logger; metrics?: Metrics; errors?: ConfigErrorLog }) {
    // `kubeconfig` (or KUBECONFIG), else the in-cluster service account.
    this.#options = { ...options, config: { ...parseConfig([], {}), ...options.config } };
  }

  async start(sink: SourceSink): Promise<void> {
    if (!(sink instanceof StoreSink)) throw new Error('kubernetes source: needs the router\'s own sink');
    const { config } = this.#options;
    this.#source = new KubernetesSource({ ...this.#options, store: sink.store, kubeConfig: KubernetesSource.loadKubeConfig(config) });
    await this.#source.start();
  }

  async stop(): Promise<void> {
    await this.#source?.stop();
  }
}
