// `switchyard kube-relay` options: flags, each with an environment variable, validated once.

import { parseArgs } from 'node:util';
import { pluralOf, groupVersionPath } from '../kube/resources.ts';
import type { Kind } from '../objects/types.ts';

/** What the routers read, cached by default (src/sources/watched-resources.ts lists their informers). */
export const ROUTER_KINDS: readonly Kind[] = [
  'Route', 'Ingress', 'IngressClass', 'Service', 'EndpointSlice', 'Namespace', 'Pod', 'Secret', 'ConfigMap', 'Middleware',
  'GatewayClass', 'Gateway', 'HTTPRoute', 'GRPCRoute', 'TLSRoute', 'TCPRoute', 'UDPRoute', 'ReferenceGrant', 'BackendTLSPolicy', 'ListenerSet',
];

/**
 * Collections held at most (each one upstream list + watch under the relay's identity). A fleet
 * reads about 20 collections plus one per Secret and ConfigMap its routes name (by name); 2,000
 * covers that with room, and bounds the watches one relay adds to the API server. The 10,000 of
 * before had no measurement behind it: only memory, while each watch costs the API server a
 * watcher held outside API Priority and Fairness.
 */
export const DEFAULT_MAX_COLLECTIONS = 2_000;
/** Collections one user may have opened that are still held: a router's ~20 cluster-wide ones fit, a tenant's selector sweep does not. */
export const DEFAULT_MAX_COLLECTIONS_PER_USER = 32;

export interface RelayOptions {
  kubeconfig: string;
  bind: string;
  port: number;
  adminPort: number;
  tlsCertFile: string;
  tlsKeyFile: string;
  /** Collection paths answered from the cache. */
  cached: Set<string>;
  windowEvents: number;
  authTtlMs: number;
  maxCollections: number;
  maxCollectionsPerUser: number;
  /** Usernames not bound by maxCollectionsPerUser. */
  uncappedUsers: Set<string>;
  unreadyAfterMs: number;
  logLevel: string;
  name: string;
}

export class RelayOptionsError extends Error {
  override name = 'RelayOptionsError';
}

export const RELAY_HELP = `switchyard kube-relay: a caching read tier between the API server and the routers

  --kubeconfig PATH          the relay's own credentials (KUBECONFIG; default: in-cluster)
  --bind ADDRESS             address to listen on (RELAY_BIND, default 0.0.0.0)
  --port N                   API port, TLS, HTTP/2 and HTTP/1.1 (RELAY_PORT, default 6443)
  --admin-port N             /metrics, /healthz, /readyz, plain HTTP (RELAY_ADMIN_PORT, default 9090)
  --tls-cert-file PATH       serving certificate, PEM (RELAY_TLS_CERT_FILE, required)
  --tls-key-file PATH        its key, PEM (RELAY_TLS_KEY_FILE, required)
  --cache LIST               plural resource names answered from the cache, comma-separated
                             (RELAY_CACHE, default: every kind the router reads: ${ROUTER_KINDS.map((k) => pluralOf(k)).join(',')})
  --watch-cache-events N     events kept per collection for watches that resume (RELAY_WATCH_CACHE_EVENTS, default 10000)
  --auth-cache-ttl SECONDS   how long token and access reviews are reused after their answer (RELAY_AUTH_CACHE_TTL, default 10)
  --max-collections N        collections held at most, each one list + watch at the API server under the
                             relay's identity (RELAY_MAX_COLLECTIONS, default ${DEFAULT_MAX_COLLECTIONS}: a fleet reads ~20
                             plus one per Secret or ConfigMap its routes name; beyond it reads are proxied)
  --max-collections-per-user N
                             collections one user (as the TokenReview names it) may have opened that are
                             still held; that user's reads of more are proxied with its own token, under the
                             API server's Priority and Fairness (RELAY_MAX_COLLECTIONS_PER_USER, default ${DEFAULT_MAX_COLLECTIONS_PER_USER})
  --uncapped-users LIST      usernames not bound by --max-collections-per-user, comma-separated: the routers'
                             ServiceAccount, whose named Secret reads are many (RELAY_UNCAPPED_USERS, default none)
  --unready-after SECONDS    /readyz answers 503 until the API server has answered the relay (GET /version with
                             its own credentials), and once it has not for this long (RELAY_UNREADY_AFTER, default 30)
  --log-level LEVEL          (RELAY_LOG_LEVEL, default info)
  --name NAME                named in the relay's User-Agent (POD_NAME, default kube-relay)
`;

export function parseRelayOptions(argv: string[], env: NodeJS.ProcessEnv): RelayOptions {
  let values: Record<string, string | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv, strict: true, allowPositionals: false,
      options: Object.fromEntries(['kubeconfig', 'bind', 'port', 'admin-port', 'tls-cert-file', 'tls-key-file', 'cache', 'watch-cache-events', 'auth-cache-ttl', 'max-collections', 'max-collections-per-user', 'uncapped-users', 'unready-after', 'log-level', 'name']
        .map((name) => [name, { type: 'string' as const }])),
    }) as { values: Record<string, string | undefined> });
  } catch (err) {
    throw new RelayOptionsError((err as Error).message);
  }
  const pick = (flag: string, name: string, fallback: string) => values[flag] ?? env[name] ?? fallback;
  const int = (flag: string, name: string, fallback: number, min: number) => {
    const text = pick(flag, name, String(fallback));
    if (!/^\d+$/.test(text) || Number(text) < min) throw new RelayOptionsError(`--${flag} must be a whole number ≥ ${min}, not ${JSON.stringify(text)}`);
    return Number(text);
  };
  const tlsCertFile = pick('tls-cert-file', 'RELAY_TLS_CERT_FILE', '');
  const tlsKeyFile = pick('tls-key-file', 'RELAY_TLS_KEY_FILE', '');
  if (!tlsCertFile || !tlsKeyFile) throw new RelayOptionsError('--tls-cert-file and --tls-key-file are required (the relay serves TLS only)');
  const byPlural = new Map(ROUTER_KINDS.map((kind) => [pluralOf(kind), `${groupVersionPath(kind)}/${pluralOf(kind)}`]));
  const cache = pick('cache', 'RELAY_CACHE', [...byPlural.keys()].join(','));
  const cached = new Set<string>();
  for (const plural of cache.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const path = byPlural.get(plural);
    if (!path) throw new RelayOptionsError(`--cache: ${JSON.stringify(plural)} is not a resource the router reads (one of ${[...byPlural.keys()].join(', ')})`);
    cached.add(path);
  }
  const port = int('port', 'RELAY_PORT', 6443, 0);
  const adminPort = int('admin-port', 'RELAY_ADMIN_PORT', 9090, 0);
  if (port > 65535 || adminPort > 65535) throw new RelayOptionsError('ports are at most 65535');
  return {
    kubeconfig: pick('kubeconfig', 'KUBECONFIG', ''),
    bind: pick('bind', 'RELAY_BIND', '0.0.0.0'),
    port, adminPort, tlsCertFile, tlsKeyFile, cached,
    windowEvents: int('watch-cache-events', 'RELAY_WATCH_CACHE_EVENTS', 10_000, 1),
    authTtlMs: int('auth-cache-ttl', 'RELAY_AUTH_CACHE_TTL', 10, 0) * 1000,
    maxCollections: int('max-collections', 'RELAY_MAX_COLLECTIONS', DEFAULT_MAX_COLLECTIONS, 0),
    maxCollectionsPerUser: int('max-collections-per-user', 'RELAY_MAX_COLLECTIONS_PER_USER', DEFAULT_MAX_COLLECTIONS_PER_USER, 0),
    uncappedUsers: new Set(pick('uncapped-users', 'RELAY_UNCAPPED_USERS', '').split(',').map((s) => s.trim()).filter((s) => s !== '')),
    unreadyAfterMs: int('unready-after', 'RELAY_UNREADY_AFTER', 30, 1) * 1000,
    logLevel: pick('log-level', 'RELAY_LOG_LEVEL', 'info'),
    name: pick('name', 'POD_NAME', 'kube-relay'),
  };
}
