// A proxy worker process (`--workers N`): the HTTP and HTTPS listeners (sharing their ports
// with the other workers through node:cluster) and a RouterProxy whose table and endpoint
// health come from the primary over IPC. Passive ejection is local to each worker.

import type { RouterConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import { Metrics } from '../metrics.ts';
import { RouterProxy } from '../proxy/router-proxy.ts';
import { createHttpListener } from '../proxy/http-listener.ts';
import { startHttpsListener, type HttpsHandle } from '../proxy/https.ts';
import { endEjectionAfterActivePass } from '../health/passive.ts';
import { isMessage, type PrimaryMessage, type WorkerMessage } from './ipc.ts';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { readFileSync } from 'node:fs';

export async function runWorker(config: RouterConfig, logger: Logger): Promise<void> {
  const metrics = new Metrics();
  const proxy = new RouterProxy(config, logger, metrics);
  if (config.defaultDestinationCA) proxy.defaultDestinationCA = readFileSync(config.defaultDestinationCA, 'utf8');
  /** Endpoints the primary's active checks hold down; applied to states created later too. */
  const down = new Set<string>();
  let http: Server | null = null;
  let https: HttpsHandle | null = null;
  const send = (message: WorkerMessage) => process.send?.(message);

  const onMessage = async (message: PrimaryMessage): Promise<void> => {
    switch (message.t) {
      case 'init': {
        http = createHttpListener(proxy, config, metrics, logger);
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
        for (const id of down) {
          const state = proxy.registry.get(id);
          if (state) state.activeUp = false;
        }
        return;
      case 'health': {
        if (message.up) down.delete(message.id); else down.add(message.id);
        const state = proxy.registry.get(message.id);
        if (state) {
          state.activeUp = message.up;
          if (message.up) { state.ejectedUntil = 0; state.consecutiveFailures = 0; }
        }
        return;
      }
      case 'ticket-keys':
        https?.setTicketKeys(Buffer.from(message.keys, 'base64'));
        return;
      case 'probe-pass': {
        const state = proxy.registry.get(message.id);
        if (state) endEjectionAfterActivePass(state, message.startedAt, Date.now());
        return;
      }
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
        if (proxy.inFlight > 0) logger.warn({ inFlight: proxy.inFlight }, 'drain timeout: closing remaining connections');
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
