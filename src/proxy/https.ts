// Wires the HTTPS listener (src/proxy/tls/) to the proxy: the route table answers its SNI
// lookups and the proxy handles the requests it terminates.

import type { RouterConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { RouterProxy } from './router-proxy.ts';
import { HttpsListener } from './tls/https-listener.ts';

export interface HttpsHandle {
  port: number;
  /** Stop accepting; resolves when open connections have ended. */
  close(): Promise<void>;
  /** Destroy every open connection now (end of the drain). */
  destroyAll(): void;
}

export async function startHttpsListener(options: {
  config: RouterConfig; proxy: RouterProxy; logger: Logger; metrics: Metrics;
  /** Serve this default certificate (workers get the primary's) instead of loading/generating one. */
  defaultCertificate?: { cert: string; key: string };
}): Promise<HttpsHandle> {
  const { config, proxy, logger, metrics, defaultCertificate } = options;
  const listener = await HttpsListener.create({ config, lookup: proxy.table, handler: proxy, metrics, logger, defaultCertificate });
  const address = await listener.listen(config.httpsPort, config.bind);
  return {
    port: address.port,
    close: () => listener.stopAccepting(),
    destroyAll: () => { void listener.close(); },
  };
}
