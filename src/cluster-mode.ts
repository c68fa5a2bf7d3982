// Running against a cluster: the Kubernetes source feeding the store, and the status
// controller (leader-elected) writing Route/Ingress status from the reconciler's results.

import type { RouterConfig } from './config.ts';
import type { Logger } from './log.ts';
import type { Metrics } from './metrics.ts';
import type { ObjectStore } from './store.ts';
import type { Reconciler } from './controller/reconciler.ts';
import { KubernetesSource } from './sources/kubernetes.ts';
import { startStatusController } from './status/status-controller.ts';

export interface ClusterMode {
  stop(): Promise<void>;
  /** The status Lease holder as last seen; null when status writes are off. */
  leaseHolder(): string | null;
}

export async function startClusterMode(options: {
  config: RouterConfig; store: ObjectStore; reconciler: Reconciler; logger: Logger; metrics: Metrics;
}): Promise<ClusterMode> {
  const { config, store, reconciler, logger, metrics } = options;
  const kubeConfig = KubernetesSource.loadKubeConfig(config);
  const source = new KubernetesSource({ config, store, logger, metrics, kubeConfig });
  await source.start();
  const status = startStatusController({ kubeConfig, config, logger, metrics, reconciler });
  return {
    leaseHolder: () => (status.elector ? status.elector.holder : null),
    async stop() {
      await status.stop();
      await source.stop();
    },
  };
}
