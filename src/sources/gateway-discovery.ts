// Which Gateway API resources the cluster serves. The CRDs are installed by users from the
// upstream release and may be absent: an absent group must neither fail start-up nor hold back
// readiness (an informer on a missing resource would never sync), so the router asks discovery
// once at start and watches only what exists. CRDs installed later are picked up on restart.

import type { Logger } from '../log.ts';
import { KubeApiError, type KubeClient } from '../kube/client.ts';
import { groupVersionPath, pluralOf } from '../kube/resources.ts';
import { GATEWAY_KINDS } from './watched-resources.ts';

interface APIResourceList { resources?: Array<{ name?: string }> }

/** `<group-version path>/<plural>` of every Gateway API resource served; retries until discovery answers. */
export async function gatewayDiscovery(client: KubeClient, logger: Logger, retryMs = 1_000, signal?: AbortSignal): Promise<Set<string>> {
  const present = new Set<string>();
  const paths = new Set(GATEWAY_KINDS.map((k) => groupVersionPath(k)));
  for (const path of paths) {
    for (let attempt = 0; ; attempt++) {
      if (signal?.aborted) return present;
      try {
        const list = await client.request<APIResourceList>({ method: 'GET', path, timeoutMs: 10_000 });
        for (const r of list.resources ?? []) if (r.name && !r.name.includes('/')) present.add(`${path}/${r.name}`);
        break;
      } catch (err) {
        if (err instanceof KubeApiError && (err.statusCode === 404 || err.statusCode === 403)) break; // not installed (or not ours to see)
        if (attempt === 0) logger.warn({ path, err: (err as Error).message }, 'Gateway API discovery failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, Math.min(retryMs * 2 ** attempt, 30_000)));
      }
    }
  }
  const found = GATEWAY_KINDS.filter((k) => present.has(`${groupVersionPath(k)}/${pluralOf(k)}`));
  logger.info({ kinds: found }, found.length > 0 ? 'Gateway API resources found' : 'Gateway API CRDs not installed; Gateway API disabled');
  return present;
}
