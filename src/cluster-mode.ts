// What `switchyard run` against a cluster adds to the objects (which come through the public
// ClusterSource, started by the router like any Source): the status controller (leader-elected)
// writing Route/Ingress status from the reconciler's results.

import type { RouterConfig } from './config.ts';
import type { Logger } from './log.ts';
import type { Metrics } from './metrics.ts';
import type { Reconciler } from './controller/reconciler.ts';
import { KubernetesSource } from './sources/kubernetes.ts';
import { startStatusController } from './status/status-controller.ts';

export interface ClusterMode {
  stop(): Promise<void>;
  /** The status Lease holder as last seen; null when status writes are off. */
  leaseHolder(): string | null;
}

export function startClusterMode(options: {
  config: RouterConfig; reconciler: Reconciler; logger: Logger; metrics: Metrics;
}): ClusterMode {
  const { config, reconciler, logger, metrics } = options;
  const kubeConfig = KubernetesSource.loadKubeConfig(config);
  const status = startStatusController({ kubeConfig, config, logger, metrics, reconciler });
  return {
    leaseHolder: () => (status.elector ? status.elector.holder : null),
    stop: () => status.stop(),
  };
}
