// A proxy worker process (`--workers N`): the HTTP and HTTPS listeners (sharing their ports
// with the other workers through node:cluster) and a RouterProxy whose table and endpoint
// health come from the primary over IPC. Passive ejection is local to each worker.

import type { RouterConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import { Metrics } from '../metrics.ts';
import { RouterProxy } from '../proxy/router-proxy.ts';
import type { PluginRegistry } from '../pipeline/plugin-registry.ts';
import { createHttpListener } from '../proxy/http-listener.ts';
import { startHttpsListener, type HttpsHandle } from '../proxy/https.ts';
import { HealthVerdicts } from '../health/health-verdicts.ts';
import { isMessage, type PrimaryMessage, type WorkerMessage } from './ipc.ts';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { readFileSync } from 'node:fs';

export async function runWorker(config: RouterConfig, logger: Logger, plugins?: PluginRegistry): Promise<void> {
  const metrics = new Metrics();
  const proxy = new RouterProxy(config, logger, metrics, plugins);
  if (config.defaultDestinationCA) proxy.defaultDestinationCA = readFileSync(config.defaultDestinationCA, 'utf8');
  const verdicts = new HealthVerdicts(proxy.registry);
  let http: Server | null = null;
  let https: HttpsHandle | null = null;
  const send = (message: WorkerMessage) => process.send?.(message);

  const onMessage = async (message: PrimaryMessage): Promise<void> => {
    switch (message.t) {
      case 'init': {
        http = createHttpListener(proxy, config, metrics);
        await new Promise<void>((resolve, reject) => {
          http!.once('error', reject);
          http!.listen(config.httpPort, config.bind, () => resolve());
        });
        https = await startHttpsListener({
          config, proxy, logger, metrics,
          defaultCertificate: message.defaultCertificate ?? undefined,
          ticketKeys: Buffer.from(message.ticketKeys, 'base64'),
        });
        send({ t: 'listening', http: (http.address() as AddressInfo).port, https: https.port });
        return;
      }
      case 'table':
        proxy.apply(message.delta);
        verdicts.afterTable();
        return;
      case 'health':
        verdicts.verdict(message.id, message.up);
        return;
      case 'ticket-keys':
        https?.setTicketKeys(Buffer.from(message.keys, 'base64'));
        return;
      case 'probe-pass':
        verdicts.probePassed(message.id, message.startedAt);
        return;
      case 'metrics-request':
        send({ t: 'metrics', requestId: message.requestId, metrics: await metrics.registry.getMetricsAsJSON() as never });
        return;
      case 'drain': {
        const closing: Promise<unknown>[] = [];
        if (http) { const server = http; closing.push(new Promise((r) => server.close(r))); server.closeIdleConnections(); }
        if (https) closing.push(https.close());
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([proxy.idle(), new Promise<void>((r) => { timer = setTimeout(r, message.timeoutMs); })]);
        clearTimeout(timer);
        (http as Server | null)?.closeAllConnections();
        https?.destroyAll();
        await proxy.close();
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
