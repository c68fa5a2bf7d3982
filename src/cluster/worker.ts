// A proxy worker process (`--workers N`): binds the HTTP and HTTPS ports itself with
// SO_REUSEPORT (the kernel spreads connections over the workers; the primary's event loop is
// not on the accept path), and runs a RouterProxy whose table and endpoint health come from the
// primary over IPC. Passive ejection is local to each worker. Serving and drain are the same
// code as the single process (src/proxy/serving.ts).

import type { RouterConfig } from '../config.ts';
import { flushLog, type Logger } from '../log.ts';
import { Metrics } from '../metrics.ts';
import { RouterProxy } from '../proxy/router-proxy.ts';
import { ProxyListeners } from '../proxy/serving.ts';
import type { PluginRegistry } from '../pipeline/plugin-registry.ts';
import { HealthVerdicts } from '../health/health-verdicts.ts';
import { isMessage, type PrimaryMessage, type WorkerMessage } from './ipc.ts';
import { readFileSync } from 'node:fs';
import { releaseStartupMemory } from '../release-startup-memory.ts';
import { unpackMiddlewareConfigs } from '../table/middleware-configs.ts';
import { startTracing } from '../tracing/start-tracing.ts';
import cluster from 'node:cluster';

export async function runWorker(config: RouterConfig, logger: Logger, plugins?: PluginRegistry): Promise<void> {
  const metrics = new Metrics();
  const proxy = new RouterProxy(config, logger, metrics, plugins);
  metrics.liveEndpoints = () => proxy.registry.values();
  if (config.defaultDestinationCA) proxy.defaultDestinationCA = readFileSync(config.defaultDestinationCA, 'utf8');
  const verdicts = new HealthVerdicts(proxy.registry);
  let listeners: ProxyListeners | null = null;
  const send = (message: WorkerMessage) => process.send?.(message);
  let firstTable = true;

  const onMessage = async (message: PrimaryMessage): Promise<void> => {
    switch (message.t) {
      case 'init': {
        // This worker exports its own spans; the resource says which (switchyard.worker).
        proxy.tracing = await startTracing(config, { logger, metrics, worker: String(cluster.worker?.id ?? process.pid), routerName: config.routerName });
        listeners = await ProxyListeners.open({
          config, proxy, logger, metrics,
          defaultCertificate: message.defaultCertificate ?? undefined,
          ticketKeys: Buffer.from(message.ticketKeys, 'base64'),
        }, message.ports);
        send({ t: 'listening', ...listeners.ports });
        return;
      }
      case 'table':
        proxy.apply(unpackMiddlewareConfigs(message.delta));
        verdicts.afterTable();
        // The first is the whole table (deserialized from one large message): give back what that grew.
        if (firstTable) {
          firstTable = false;
          setImmediate(() => releaseStartupMemory(logger));
        }
        return;
      case 'health':
        verdicts.verdict(message.id, message.up);
        return;
      case 'ticket-keys':
        listeners?.setTicketKeys(Buffer.from(message.keys, 'base64'));
        return;
      case 'default-certificate':
        listeners?.setDefaultCertificate(message.certificate);
        return;
      case 'probe-pass':
        verdicts.probePassed(message.id, message.startedAt);
        return;
      case 'metrics-request':
        send({ t: 'metrics', requestId: message.requestId, metrics: await metrics.registry.getMetricsAsJSON() as never });
        return;
      case 'drain': {
        if (listeners) await listeners.drain(message.deadlines);
        await proxy.close();
        await flushLog(logger);
        process.exit(0);
      }
    }
  };

  process.on('message', (message: unknown) => {
    if (!isMessage<PrimaryMessage>(message)) return;
    onMessage(message).catch((err: Error) => {
      logger.fatal({ err: err.message }, 'worker failed');
      send({ t: 'fatal', message: err.message });
      setTimeout(() => process.exit(1), 100);
    });
  });
  // The primary handles SIGTERM and tells us to drain; a worker ignores the signal itself so
  // a process-group signal does not cut in-flight requests.
  process.on('SIGTERM', () => {});
  process.on('SIGINT', () => {});
}
