// Wires status writing to admission: only the Lease holder writes. On gaining leadership it
// writes the status every considered Route/Ingress should have; afterwards it follows the
// reconciler's `admission` events (changed results, and routes no longer ours).

import type { EventEmitter } from 'node:events';
import type { RouterConfig } from '../config.ts';
import type { KubeClient } from '../kube/client.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { AdmissionResult } from '../table/types.ts';
import { LeaderElector, type LeaderElectorOptions } from './leader-election.ts';
import { StatusWriter, type StatusRef, type StatusWriterOptions } from './status-writer.ts';
import { GatewayStatusWriter } from './gateway-status-writer.ts';
import type { GatewayStatusSet } from '../gateway/status.ts';

/** What the controller needs of the reconciler (src/controller/reconciler.ts). */
export interface AdmissionSource extends EventEmitter {
  admissionResults(): AdmissionResult[];
  /** Gateway API status set; its changes come as `gateway-status` events. */
  gatewayStatus?(): GatewayStatusSet;
}

export interface StatusControllerOptions {
  /** The router's API client (src/kube/client.ts). */
  client: KubeClient;
  config: RouterConfig;
  logger: Logger;
  metrics?: Metrics;
  reconciler: AdmissionSource;
  /** Tests shorten lease timings, set identities and drive the election with a manual clock. */
  election?: Partial<Pick<LeaderElectorOptions, 'identity' | 'leaseDurationMs' | 'renewDeadlineMs' | 'retryPeriodMs' | 'clock'>>;
  writer?: Partial<Pick<StatusWriterOptions, 'window' | 'maxAttempts'>>;
  /** The informers' copies (the router's store): status is compared with them, not read per object. */
  current?: StatusWriterOptions['current'];
}

export interface StatusController {
  /** The elector (undefined when status updates are off). */
  readonly elector: LeaderElector | undefined;
  stop(): Promise<void>;
}

/**
 * The Lease timings from the config, checked as client-go checks them: a leader must give up
 * (renew deadline) before others may take over (lease duration), and must get more than one
 * try (retry period) within its renew deadline. Throws an Error naming the options otherwise.
 */
export function leaseTimingsOf(config: RouterConfig): Required<Pick<LeaderElectorOptions, 'leaseDurationMs' | 'renewDeadlineMs' | 'retryPeriodMs'>> {
  // The relations between the three are checked once, when options are parsed (src/config.ts).
  const { leaseDuration, leaseRenewDeadline, leaseRetryPeriod } = config;
  return { leaseDurationMs: leaseDuration, renewDeadlineMs: leaseRenewDeadline, retryPeriodMs: leaseRetryPeriod };
}

export function startStatusController(options: StatusControllerOptions): StatusController {
  const { client, config, logger, metrics, reconciler } = options;
  const log = logger.child({ component: 'status' });
  if (!config.updateStatus) {
    log.info('status updates disabled (--update-status=false)');
    return { elector: undefined, stop: async () => {} };
  }
  const elector = new LeaderElector({
    client, logger, metrics,
    leaseName: config.leaseName || `switchyard-${config.routerName}`,
    leaseNamespace: config.leaseNamespace || 'default',
    ...leaseTimingsOf(config),
    ...options.election,
  });
  let writer: StatusWriter | undefined;
  let gatewayWriter: GatewayStatusWriter | undefined;
  const onGatewayStatus = (set: GatewayStatusSet) => gatewayWriter?.sync(set);

  const onAdmission = (changed: AdmissionResult[], unselected: StatusRef[]) => {
    if (!writer) return;
    writer.sync(changed);
    writer.forget(unselected);
  };
  elector.on('started-leading', () => {
    writer?.stop();
    const leading = writer = new StatusWriter({ client, config, logger, metrics, current: options.current, ...options.writer });
    const results = reconciler.admissionResults();
    log.info({ routes: results.length }, 'leading: writing route and ingress status');
    const started = Date.now();
    writer.sync(results);
    // What taking over cost: with the informers' copies up to date, no request at all.
    void writer.idle().then(() => {
      if (writer === leading) log.info({ objects: results.length, ...leading.counts, peakInFlight: leading.peakInFlight, ms: Date.now() - started }, 'status pass complete');
    });
    gatewayWriter?.stop();
    gatewayWriter = new GatewayStatusWriter({ client, logger });
    const gatewaySet = reconciler.gatewayStatus?.();
    if (gatewaySet) gatewayWriter.sync(gatewaySet);
  });
  elector.on('stopped-leading', () => {
    writer?.stop();
    writer = undefined;
    gatewayWriter?.stop();
    gatewayWriter = undefined;
  });
  reconciler.on('admission', onAdmission);
  reconciler.on('gateway-status', onGatewayStatus);
  elector.start();

  return {
    elector,
    async stop() {
      reconciler.off('admission', onAdmission);
      reconciler.off('gateway-status', onGatewayStatus);
      writer?.stop();
      writer = undefined;
      gatewayWriter?.stop();
      gatewayWriter = undefined;
      await elector.stop();
    },
  };
}
