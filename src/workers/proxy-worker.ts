// A proxy worker thread (`--workers N`): binds the HTTP and HTTPS ports itself with
// SO_REUSEPORT (the kernel spreads connections over the threads; the main thread's event loop is
// not on the accept path), and runs a RouterProxy whose table comes from the main thread and
// whose endpoint and limit state is the router's shared memory. Serving and drain are the same
// code as the single process (src/proxy/serving.ts).

import { readFileSync } from 'node:fs';
import type { MessagePort } from 'node:worker_threads';
import type { RouterConfig } from '../config.ts';
import { flushLog, type Logger } from '../log.ts';
import { Metrics } from '../metrics.ts';
import { RouterProxy } from '../proxy/router-proxy.ts';
import { ProxyListeners } from '../proxy/serving.ts';
import type { PluginRegistry } from '../pipeline/plugin-registry.ts';
import type { SharedState } from '../shared-memory/shared-state.ts';
import { isMessage, type MainMessage, type WorkerMessage } from './messages.ts';
import { releaseStartupMemory } from '../release-startup-memory.ts';
import { startTracing } from '../tracing/start-tracing.ts';
import { threadId } from 'node:worker_threads';

export async function runProxyWorker(port: MessagePort, config: RouterConfig, logger: Logger, plugins: PluginRegistry, shared: SharedState): Promise<void> {
  // No process metrics (the main thread reports the process) and no endpoint gauges (their
  // shared values are reported by the main thread, which holds every endpoint of the table).
  const metrics = new Metrics({ defaultMetrics: false });
  const proxy = new RouterProxy(config, logger, metrics, plugins, shared);
  if (config.defaultDestinationCA) proxy.defaultDestinationCA = readFileSync(config.defaultDestinationCA, 'utf8');
  let listeners: ProxyListeners | null = null;
  const send = (message: WorkerMessage) => port.postMessage(message);
  let firstTable = true;

  const onMessage = async (message: MainMessage): Promise<void> => {
    switch (message.t) {
      case 'init': {
        // This worker exports its own spans; the resource says which (switchyard.worker).
        proxy.tracing = await startTracing(config, { logger, metrics, worker: String(threadId), routerName: config.routerName });
        listeners = await ProxyListeners.open({
          config, proxy, logger, metrics,
          defaultCertificate: message.defaultCertificate ?? undefined,
          ticketKeys: Buffer.from(message.ticketKeys, 'base64'),
        }, message.ports);
        send({ t: 'listening', ...listeners.ports });
        return;
      }
      case 'table':
        proxy.apply(message.delta);
        // The first is the whole table (deserialized from one large message): give back what that grew.
        if (firstTable) {
          firstTable = false;
          setImmediate(() => releaseStartupMemory(logger));
        }
        return;
      case 'ticket-keys':
        listeners?.setTicketKeys(Buffer.from(message.keys, 'base64'));
        return;
      case 'default-certificate':
        listeners?.setDefaultCertificate(message.certificate);
        return;
      case 'metrics-request':
        send({ t: 'metrics', requestId: message.requestId, metrics: await metrics.registry.getMetricsAsJSON() as never });
        return;
      case 'drain': {
        if (listeners) await listeners.drain(message.deadlines);
        await proxy.close();
        await flushLog(logger);
        process.exit(0); // in a worker thread: ends this thread only
      }
    }
  };

  port.on('message', (message: unknown) => {
    if (!isMessage<MainMessage>(message)) return;
    onMessage(message).catch((err: Error) => {
      logger.fatal({ err: err.message }, 'worker failed');
      send({ t: 'fatal', message: err.message });
      setTimeout(() => process.exit(1), 100); // in a worker thread: ends this thread only
    });
  });
}
