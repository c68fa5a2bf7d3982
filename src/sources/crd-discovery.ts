// Which optional CRD-backed resources the cluster serves: the Gateway API (installed by users from
// the upstream release) and switchyard's own Middleware CRD. Either may be absent: an absent
// resource must neither fail start-up nor hold back readiness (an informer on a missing resource
// would never sync), so the router asks discovery once at start and watches only what exists.
// CRDs installed later are picked up on restart.

import type { Logger } from '../log.ts';
import { KubeApiError, type KubeClient } from '../kube/client.ts';
import { groupVersionPath, pluralOf } from '../kube/resources.ts';
import type { Kind } from '../objects/types.ts';
import { GATEWAY_KINDS } from './watched-resources.ts';

interface APIResourceList { resources?: Array<{ name?: string }> }

/** The kinds asked of discovery: read only when served (Middleware: always when --plugin loads a plugin). */
export const OPTIONAL_KINDS: readonly Kind[] = [...GATEWAY_KINDS, 'Middleware'];

/** `<group-version path>/<plural>` of every optional resource served; retries until discovery answers. */
export async function optionalResourceDiscovery(client: KubeClient, logger: Logger, retryMs = 1_000, signal?: AbortSignal): Promise<Set<string>> {
  const present = new Set<string>();
  const paths = new Set(OPTIONAL_KINDS.map((k) => groupVersionPath(k)));
  for (const path of paths) {
    for (let attempt = 0; ; attempt++) {
      if (signal?.aborted) return present;
      try {
        const list = await client.request<APIResourceList>({ method: 'GET', path, timeoutMs: 10_000 });
        for (const r of list.resources ?? []) if (r.name && !r.name.includes('/')) present.add(`${path}/${r.name}`);
        break;
      } catch (err) {
        if (err instanceof KubeApiError && (err.statusCode === 404 || err.statusCode === 403)) break; // not installed (or not ours to see)
        if (attempt === 0) logger.warn({ path, err: (err as Error).message }, 'API discovery failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, Math.min(retryMs * 2 ** attempt, 30_000)));
      }
    }
  }
  const served = (kind: Kind) => present.has(`${groupVersionPath(kind)}/${pluralOf(kind)}`);
  const found = GATEWAY_KINDS.filter(served);
  logger.info({ kinds: found }, found.length > 0 ? 'Gateway API resources found' : 'Gateway API CRDs not installed; Gateway API disabled');
  if (!served('Middleware')) logger.info('Middleware CRD (middlewares.switchyard.io) not installed; routes that name a Middleware answer 500 SY_MIDDLEWARE_INVALID');
  return present;
}
