// What `switchyard run` against a cluster adds to a router: one API client (src/kube/client.ts)
// shared by the objects' source (the public ClusterSource, started by the router like any Source)
// and the status controller (leader-elected), which writes Route/Ingress status from the
// reconciler's results, comparing with the copies the source keeps in the store.

import type { RouterConfig } from './config.ts';
import type { Logger } from './log.ts';
import type { Metrics } from './metrics.ts';
import type { Reconciler } from './controller/reconciler.ts';
import type { Ingress, Route } from './objects/types.ts';
import type { ObjectStore } from './store.ts';
import { openKubeClient, type KubeClient } from './kube/client.ts';
import { KubeConfigError } from './kube/kubeconfig.ts';
import type { ConfigErrorLog } from './sources/config-error-log.ts';
import { ClusterSource } from './sources/cluster-source.ts';
import { startStatusController, type StatusController } from './status/status-controller.ts';

export interface ClusterMode {
  /** The objects' source, on the shared client. */
  readonly source: ClusterSource;
  /** Start the status controller once the reconciler runs. */
  startStatus(options: { reconciler: Reconciler; store: ObjectStore }): void;
  /** Stop the status controller (before the sources: it reports on their objects). */
  stop(): Promise<void>;
  /** Close the API client (after the sources have stopped). */
  close(): Promise<void>;
  /** The status Lease holder as last seen; null when status writes are off. */
  leaseHolder(): string | null;
}

export function openClusterMode(options: { config: RouterConfig; logger: Logger; metrics: Metrics; errors?: ConfigErrorLog }): ClusterMode {
  const { config, logger, metrics, errors } = options;
  let client: KubeClient;
  try {
    client = openKubeClient({ kubeconfig: config.kubeconfig, name: config.routerName, node: config.nodeName, metrics });
  } catch (err) {
    if (err instanceof KubeConfigError) throw new KubeConfigError(`${err.message}; use --file to serve from files`);
    throw err;
  }
  const source = new ClusterSource({ config, logger, metrics, errors, client });
  let status: StatusController | undefined;
  return {
    source,
    startStatus({ reconciler, store }) {
      const current = (ref: { kind: 'Route' | 'Ingress'; namespace: string; name: string }) =>
        store.get(ref.kind, `${ref.namespace}/${ref.name}`) as Route | Ingress | undefined;
      status = startStatusController({ client, config, logger, metrics, reconciler, current });
    },
    leaseHolder: () => (status?.elector ? status.elector.holder : null),
    stop: async () => { await status?.stop(); },
    close: () => client.close(),
  };
}
