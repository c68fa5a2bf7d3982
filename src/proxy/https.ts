// Wires the HTTPS listener (src/proxy/tls/) to the proxy: the route table answers its SNI
// lookups and the proxy handles the requests it terminates.

import type { RouterConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { RouterProxy } from './router-proxy.ts';
import { HttpsListener } from './tls/https-listener.ts';
import { RequestEntry } from './request-entry.ts';

export interface HttpsHandle {
  port: number;
  /** Stop accepting; resolves when open connections have ended. */
  close(): Promise<void>;
  /** Destroy every open connection now (end of the drain). */
  destroyAll(): void;
  /** Replace externally managed session ticket keys. */
  setTicketKeys(keys: Buffer): void;
}

export async function startHttpsListener(options: {
  config: RouterConfig; proxy: RouterProxy; logger: Logger; metrics: Metrics;
  /** Serve this default certificate (workers get the primary's) instead of loading/generating one. */
  defaultCertificate?: { cert: string; key: string };
  /** Session ticket keys shared by every worker (rotated by the primary). */
  ticketKeys?: Buffer;
}): Promise<HttpsHandle> {
  const { config, proxy, logger, metrics, defaultCertificate, ticketKeys } = options;
  const listener = await HttpsListener.create({ config, lookup: proxy.table, handler: new RequestEntry(proxy, { logger, metrics, bodyIdleTimeoutMs: config.clientTimeout }), metrics, logger, defaultCertificate, ticketKeys });
  const address = await listener.listen(config.httpsPort, config.bind);
  return {
    port: address.port,
    close: () => listener.stopAccepting(),
    destroyAll: () => { void listener.close(); },
    setTicketKeys: (keys) => listener.terminator.setTicketKeys(keys),
  };
}
