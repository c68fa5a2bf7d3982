// Every option of `switchyard run`, declared once: flag, environment variable (OpenShift's name
// where one exists), type, default and documentation. `--help` and the README options table are
// produced from this table; nothing else parses argv or reads these environment variables.

import { BALANCE_ALGORITHMS, FORWARDED_POLICIES } from './table/types.ts';
import { checkTracingOptions, DEFAULT_SERVICE_NAME, PROPAGATORS, TRACE_SAMPLERS, type PropagatorName, type TraceSamplerName, type TracingConfig } from './tracing/tracing-settings.ts';
import { MAX_DURATION_MS, parseDurationText } from './duration.ts';
import { availableParallelism } from 'node:os';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { AddressPool } from './gateway/address-pool.ts';

/**
 * --watch-list: `auto` (the default) reads built-in kinds by one unpaged list at resourceVersion=0
 * from the API server's watch cache, and custom resources (Routes) by watch-list; `list` every
 * kind by such a list; `true` every kind by watch-list; `false` every kind by paged lists. Why:
 * sources/watched-resources.ts (initialRead).
 */
export const WATCH_LIST_MODES = ['auto', 'true', 'false', 'list'] as const;
export type WatchListSetting = typeof WATCH_LIST_MODES[number];

export type OptionType = 'string' | 'int' | 'number' | 'bool' | 'duration' | 'list' | 'enum';

export interface OptionSpec {
  /** Property name on the parsed config. */
  key: keyof RouterConfig;
  flag: string;
  env?: string;
  type: OptionType;
  default: unknown;
  doc: string;
  /** enum values; for a list option, the values it may hold */
  values?: readonly string[];
  /** list options: the flag may repeat; the env var is comma-separated */
  repeatable?: boolean;
  /** list options: white space separates items too (OpenShift's space-separated lists) */
  spaceSeparated?: boolean;
  /** How --help and the README show a computed default. */
  defaultText?: string;
  /** int and number options: inclusive bounds */
  min?: number;
  max?: number;
}

export interface RouterConfig extends TracingConfig {
  file: string[];
  kubeconfig: string;
  namespace: string;
  bind: string;
  httpPort: number;
  httpsPort: number;
  adminPort: number;
  adminBind: string;
  adminSocket: string;
  statsUsername: string;
  statsPassword: string;
  statsUsernameFile: string;
  statsPasswordFile: string;
  routerName: string;
  nodeName: string;
  workers: number;
  routeLabels: string;
  namespaceLabels: string;
  ingressClass: string;
  subdomain: string;
  allowedDomains: string[];
  deniedDomains: string[];
  allowWildcardRoutes: boolean;
  disableNamespaceOwnershipCheck: boolean;
  loadBalanceAlgorithm: 'random' | 'roundrobin' | 'leastconn' | 'source';
  setForwardedHeaders: 'append' | 'replace' | 'if-none' | 'never';
  backendCheckInterval: number;
  connectTimeout: number;
  serverTimeout: number;
  tunnelTimeout: number;
  clientTimeout: number;
  clientFinTimeout: number;
  headerTimeout: number;
  maxHeaderSize: number;
  maxConnections: number;
  maxUdpSessions: number;
  udpSessionTimeout: number;
  maxMirrorsInFlight: number;
  mirrorSeed: number;
  useProxyProtocol: boolean;
  proxyProtocolTrusted: string[];
  canonicalHostname: string;
  accessLog: boolean;
  enableCompression: boolean;
  compressionMime: string[];
  logLevel: string;
  updateStatus: boolean;
  publishStatusAddress: string[];
  gatewayAddresses: string[];
  leaseName: string;
  leaseNamespace: string;
  leaseDuration: number;
  leaseRenewDeadline: number;
  leaseRetryPeriod: number;
  bindPortsAfterSync: boolean;
  drainTimeout: number;
  shutdownDelay: number;
  tunnelDrainTimeout: number;
  watchTimeout: number;
  /** How informers read the initial state: see WATCH_LIST_MODES. */
  watchList: WatchListSetting;
  kubeProtobuf: boolean;
  kubeCbor: boolean;
  defaultCertificate: string;
  defaultCertificateDir: string;
  defaultDestinationCA: string;
  sslMinVersion: string;
  ciphers: string;
  disableHttp2: boolean;
  http2ConnectionGlitches: number;
  http2ClientGlitches: number;
  plugins: string[];
  middlewares: string[];
  otlpEndpoint: string;
  otlpTracesEndpoint: string;
  otlpProtocol: 'http/protobuf' | 'grpc';
  otlpHeaders: string[];
  otlpTimeout: number;
  traceSampler: TraceSamplerName;
  traceSamplerArg: number;
  tracePropagators: PropagatorName[];
  serviceName: string;
  resourceAttributes: string[];
  traceQueueSize: number;
  traceBatchSize: number;
  traceBatchDelay: number;
  tracingDisabled: boolean;
}

const SECOND = 1000;

export const OPTIONS: readonly OptionSpec[] = [
  // --- sources
  { key: 'file', flag: '--file', env: 'SWITCHYARD_FILES', type: 'list', repeatable: true, default: [], doc: 'YAML/JSON file of Kubernetes objects to serve (repeatable); without it the cluster is read' },
  { key: 'kubeconfig', flag: '--kubeconfig', env: 'KUBECONFIG', type: 'string', default: '', doc: 'kubeconfig path (default: in-cluster config)' },
  { key: 'namespace', flag: '--namespace', env: 'WATCH_NAMESPACE', type: 'string', default: '', doc: 'watch only this namespace (default: all)' },
  // --- listeners
  { key: 'bind', flag: '--bind', env: 'ROUTER_BIND_ADDRESS', type: 'string', default: '0.0.0.0', doc: 'address the HTTP and HTTPS listeners bind to' },
  { key: 'httpPort', flag: '--http-port', env: 'ROUTER_SERVICE_HTTP_PORT', type: 'int', min: 0, max: 65535, default: 80, doc: 'HTTP port (0 = any free port, printed in the "listening" log line)' },
  { key: 'httpsPort', flag: '--https-port', env: 'ROUTER_SERVICE_HTTPS_PORT', type: 'int', min: 0, max: 65535, default: 443, doc: 'HTTPS port (0 = any free port, printed in the "listening" log line)' },
  { key: 'adminPort', flag: '--admin-port', env: 'STATS_PORT', type: 'int', min: 0, max: 65535, default: 1936, doc: 'admin port: /healthz, /healthz/ready, /metrics, /debug/routes, the dashboard at / (0 = any free port)' },
  { key: 'adminBind', flag: '--admin-bind', env: 'STATS_BIND_ADDRESS', type: 'string', default: '', doc: 'address the admin listener binds to (default: --bind)' },
  { key: 'adminSocket', flag: '--admin-socket', env: 'ROUTER_ADMIN_SOCKET', type: 'string', default: '', doc: 'also serve the admin endpoints on this Unix socket: pod-local probes while an old and a new router share the admin port during a rollout' },
  { key: 'statsUsername', flag: '--stats-username', env: 'STATS_USERNAME', type: 'string', default: '', doc: 'basic-auth user for /metrics, /debug and the dashboard (health endpoints stay open)' },
  { key: 'statsPassword', flag: '--stats-password', env: 'STATS_PASSWORD', type: 'string', default: '', doc: 'basic-auth password for /metrics, /debug and the dashboard' },
  { key: 'statsUsernameFile', flag: '--stats-username-file', env: 'STATS_USERNAME_FILE', type: 'string', default: '', doc: 'read the basic-auth user from this file (a mounted Secret key); wins over --stats-username' },
  { key: 'statsPasswordFile', flag: '--stats-password-file', env: 'STATS_PASSWORD_FILE', type: 'string', default: '', doc: 'read the basic-auth password from this file; wins over --stats-password' },
  { key: 'workers', flag: '--workers', env: 'ROUTER_THREADS', type: 'int', min: 0, max: 256, default: availableParallelism() > 1 ? availableParallelism() : 0, defaultText: 'CPU count (0 on one CPU)', doc: 'proxy worker threads sharing the ports (limits and health shared); 0 = proxy in the main thread' },
  { key: 'useProxyProtocol', flag: '--use-proxy-protocol', env: 'ROUTER_USE_PROXY_PROTOCOL', type: 'bool', default: false, doc: 'expect a PROXY protocol v1/v2 header on every HTTP and HTTPS connection (behind an L4 load balancer)' },
  { key: 'proxyProtocolTrusted', flag: '--proxy-protocol-trusted', env: 'ROUTER_PROXY_PROTOCOL_TRUSTED', type: 'list', default: [], doc: 'source CIDRs allowed to send PROXY headers (required with --use-proxy-protocol); other peers are refused' },
  { key: 'maxConnections', flag: '--max-connections', env: 'ROUTER_MAX_CONNECTIONS', type: 'int', min: 0, default: 50000, doc: 'concurrent client connections per listener (0 = unlimited)' },
  { key: 'maxUdpSessions', flag: '--max-udp-sessions', env: 'ROUTER_MAX_UDP_SESSIONS', type: 'int', min: 1, default: 10000, doc: 'UDP sessions (client address and port) per Gateway UDP listener and proxy thread; a datagram that would open one more is dropped (switchyard_udp_datagrams_total{result="session_limit"})' },
  // --- identity and sharding
  { key: 'routerName', flag: '--router-name', env: 'ROUTER_SERVICE_NAME', type: 'string', default: 'default', doc: 'router name, the key of this router\'s entry in route status' },
  { key: 'nodeName', flag: '--node-name', env: 'NODE_NAME', type: 'string', default: '', doc: 'the node this router runs on, named in the User-Agent of its API requests (default: the host name)' },
  { key: 'routeLabels', flag: '--route-labels', env: 'ROUTE_LABELS', type: 'string', default: '', doc: 'label selector: serve only matching Routes/Ingresses' },
  { key: 'namespaceLabels', flag: '--namespace-labels', env: 'NAMESPACE_LABELS', type: 'string', default: '', doc: 'label selector: serve only Routes/Ingresses in matching namespaces' },
  { key: 'ingressClass', flag: '--ingress-class', env: 'ROUTER_INGRESS_CLASS', type: 'string', default: 'switchyard', doc: 'IngressClass name (or controller) whose Ingresses are served' },
  // --- admission
  { key: 'subdomain', flag: '--subdomain', env: 'ROUTER_SUBDOMAIN', type: 'string', default: '', doc: 'host template for Routes without a host, e.g. ${name}-${namespace}.apps.example.com' },
  { key: 'allowedDomains', flag: '--allowed-domains', env: 'ROUTER_ALLOWED_DOMAINS', type: 'list', default: [], doc: 'only admit hosts in these domains (comma-separated)' },
  { key: 'deniedDomains', flag: '--denied-domains', env: 'ROUTER_DENIED_DOMAINS', type: 'list', default: [], doc: 'never admit hosts in these domains (wins over --allowed-domains)' },
  { key: 'allowWildcardRoutes', flag: '--allow-wildcard-routes', env: 'ROUTER_ALLOW_WILDCARD_ROUTES', type: 'bool', default: false, doc: 'admit Routes with wildcardPolicy Subdomain and wildcard Ingress hosts' },
  { key: 'disableNamespaceOwnershipCheck', flag: '--disable-namespace-ownership-check', env: 'ROUTER_DISABLE_NAMESPACE_OWNERSHIP_CHECK', type: 'bool', default: false, doc: 'let other namespaces claim other paths of a host' },
  // --- balancing, forwarding, timeouts
  { key: 'loadBalanceAlgorithm', flag: '--load-balance-algorithm', env: 'ROUTER_LOAD_BALANCE_ALGORITHM', type: 'enum', values: BALANCE_ALGORITHMS, default: 'random', doc: 'default balancing algorithm' },
  { key: 'setForwardedHeaders', flag: '--set-forwarded-headers', env: 'ROUTER_SET_FORWARDED_HEADERS', type: 'enum', values: FORWARDED_POLICIES, default: 'append', doc: 'X-Forwarded-* and Forwarded header policy' },
  { key: 'backendCheckInterval', flag: '--backend-check-interval', env: 'ROUTER_BACKEND_CHECK_INTERVAL', type: 'duration', default: 5 * SECOND, doc: 'active health check interval for backends with more than one endpoint' },
  { key: 'connectTimeout', flag: '--connect-timeout', env: 'ROUTER_DEFAULT_CONNECT_TIMEOUT', type: 'duration', default: 5 * SECOND, doc: 'upstream connect timeout' },
  { key: 'serverTimeout', flag: '--server-timeout', env: 'ROUTER_DEFAULT_SERVER_TIMEOUT', type: 'duration', default: 30 * SECOND, doc: 'upstream response timeout (per route: haproxy.router.openshift.io/timeout)' },
  { key: 'tunnelTimeout', flag: '--tunnel-timeout', env: 'ROUTER_DEFAULT_TUNNEL_TIMEOUT', type: 'duration', default: 3600 * SECOND, doc: 'idle timeout of WebSocket/Upgrade tunnels and passthrough' },
  { key: 'clientTimeout', flag: '--client-timeout', env: 'ROUTER_DEFAULT_CLIENT_TIMEOUT', type: 'duration', default: 30 * SECOND, doc: 'idle keep-alive timeout of client connections, and longest pause while a request body arrives (408 after it)' },
  { key: 'udpSessionTimeout', flag: '--udp-session-timeout', env: 'ROUTER_UDP_SESSION_TIMEOUT', type: 'duration', default: 60 * SECOND, doc: 'idle timeout of a UDPRoute session (no datagram either way): its upstream socket is closed' },
  { key: 'clientFinTimeout', flag: '--client-fin-timeout', env: 'ROUTER_CLIENT_FIN_TIMEOUT', type: 'duration', default: 1 * SECOND, doc: 'idle timeout of a tunnel once one side has closed its half' },
  { key: 'headerTimeout', flag: '--header-timeout', env: 'ROUTER_SLOWLORIS_TIMEOUT', type: 'duration', default: 10 * SECOND, doc: 'time a client has to send complete request headers' },
  { key: 'maxMirrorsInFlight', flag: '--max-mirrors-in-flight', env: 'ROUTER_MAX_MIRRORS_IN_FLIGHT', type: 'int', min: 0, default: 256, doc: 'HTTPRoute RequestMirror copies in flight at most, per proxy thread; over it a copy is dropped (switchyard_request_mirrors_total{outcome="dropped_limit"})' },
  { key: 'mirrorSeed', flag: '--mirror-seed', env: 'ROUTER_MIRROR_SEED', type: 'int', min: 0, default: 0, defaultText: '0 (unseeded)', doc: 'seed of the RequestMirror percent/fraction sampling (the same seed mirrors the same requests of a sequence: reproducible tests); 0 = Math.random' },
  { key: 'maxHeaderSize', flag: '--max-header-size', env: 'ROUTER_MAX_HEADER_SIZE', type: 'int', min: 1024, max: 1048576, default: 16384, doc: 'largest request header block in bytes (431 above it)' },
  // --- observability
  { key: 'canonicalHostname', flag: '--canonical-hostname', env: 'ROUTER_CANONICAL_HOSTNAME', type: 'string', default: '', doc: 'external host name of this router, written to route status' },
  { key: 'accessLog', flag: '--access-log', env: 'ROUTER_ACCESS_LOG', type: 'bool', default: false, doc: 'log one line per request' },
  { key: 'enableCompression', flag: '--enable-compression', env: 'ROUTER_ENABLE_COMPRESSION', type: 'bool', default: false, doc: 'compress responses on every route (gzip, br, zstd by Accept-Encoding; the compress plugin with --compression-mime)' },
  { key: 'compressionMime', flag: '--compression-mime', env: 'ROUTER_COMPRESSION_MIME', type: 'list', spaceSeparated: true, default: [], defaultText: 'the compress plugin\'s list (text, JSON, JavaScript, XML, SVG, …)', doc: 'media types --enable-compression compresses (space- or comma-separated; text/* for a whole type)' },
  { key: 'logLevel', flag: '--log-level', env: 'ROUTER_LOG_LEVEL', type: 'enum', values: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], default: 'info', doc: 'log level' },
  // --- status and lifecycle (Kubernetes source)
  { key: 'updateStatus', flag: '--update-status', env: 'ROUTER_UPDATE_STATUS', type: 'bool', default: true, doc: 'write Route/Ingress status (leader only)' },
  { key: 'publishStatusAddress', flag: '--publish-status-address', env: 'ROUTER_PUBLISH_STATUS_ADDRESS', type: 'list', default: [], doc: 'IPs written to Ingress status.loadBalancer (default: canonical hostname)' },
  { key: 'gatewayAddresses', flag: '--gateway-addresses', env: 'ROUTER_GATEWAY_ADDRESSES', type: 'list', repeatable: true, default: [], doc: 'addresses to give Gateways, one each (IPs, IPv4 CIDR blocks, IPv4 ranges a-b; the node must hold them): each Gateway\'s listeners are bound on its own address and ports, isolated from other Gateways (default: Gateways share --http-port/--https-port)' },
  { key: 'leaseName', flag: '--lease-name', env: 'ROUTER_LEASE_NAME', type: 'string', default: '', doc: 'Lease used to elect the status writer (default switchyard-<router-name>)' },
  { key: 'leaseNamespace', flag: '--lease-namespace', env: 'POD_NAMESPACE', type: 'string', default: 'default', doc: 'namespace of the Lease' },
  { key: 'leaseDuration', flag: '--lease-duration', env: 'ROUTER_LEASE_DURATION', type: 'duration', default: 15 * SECOND, doc: 'time a Lease not renewed stays held; a crashed leader is replaced after this long' },
  { key: 'leaseRenewDeadline', flag: '--lease-renew-deadline', env: 'ROUTER_LEASE_RENEW_DEADLINE', type: 'duration', default: 10 * SECOND, doc: 'a leader that cannot renew within this long steps down (less than --lease-duration)' },
  { key: 'leaseRetryPeriod', flag: '--lease-retry-period', env: 'ROUTER_LEASE_RETRY_PERIOD', type: 'duration', default: 2 * SECOND, doc: 'interval between Lease acquire/renew attempts (less than --lease-renew-deadline)' },
  { key: 'bindPortsAfterSync', flag: '--bind-ports-after-sync', env: 'ROUTER_BIND_PORTS_AFTER_SYNC', type: 'bool', default: true, doc: 'open the proxy ports only after the first full sync, so a router sharing the ports with another never serves a partial table (false: bind at start)' },
  { key: 'shutdownDelay', flag: '--shutdown-delay', env: 'ROUTER_GRACEFUL_SHUTDOWN_DELAY', type: 'duration', default: 0, defaultText: '0', doc: 'on SIGTERM, readiness fails at once but the router keeps accepting for this long (lets an L4 load balancer\'s health check take the node out) before it drains' },
  { key: 'drainTimeout', flag: '--drain-timeout', env: 'ROUTER_DRAIN_TIMEOUT', type: 'duration', default: 30 * SECOND, doc: 'after it stops accepting, time in-flight requests and keep-alive connections get to finish' },
  { key: 'tunnelDrainTimeout', flag: '--tunnel-drain-timeout', env: 'ROUTER_TUNNEL_DRAIN_TIMEOUT', type: 'duration', default: 5 * 60 * SECOND, doc: 'after it stops accepting, time open tunnels (WebSocket, passthrough) get to finish (at least --drain-timeout)' },
  { key: 'watchTimeout', flag: '--watch-timeout', env: 'ROUTER_WATCH_TIMEOUT', type: 'duration', default: 5 * 60 * SECOND, doc: 'restart a watch that sent nothing (not even a bookmark) for this long' },
  { key: 'watchList', flag: '--watch-list', env: 'ROUTER_WATCH_LIST', type: 'enum', values: WATCH_LIST_MODES, default: 'auto', doc: 'how the initial state is read, then watched from the version read: auto, built-in kinds (Services, EndpointSlices, Ingresses, ...) by one unpaged list at resourceVersion=0, served whole from the API server\'s watch cache (no etcd read; after a 410 Gone a consistent read), custom resources (Routes) by streaming list (watch-list), since kube-apiserver holds a deep copy of a custom resource\'s whole list while it sends it; list, every kind by one list at resourceVersion=0 (the least API-server CPU; its memory peaks with the Routes × the routers starting at once); true, every kind by watch-list (where the API server supports it; paged lists where it does not); false, every kind by paged lists (their continue pages are read from etcd once a compaction has passed a kind\'s last change)' },
  { key: 'kubeProtobuf', flag: '--kube-protobuf', env: 'ROUTER_KUBE_PROTOBUF', type: 'bool', default: true, doc: 'read Services, EndpointSlices, Ingresses, IngressClasses and Namespaces as protobuf, as client-go does (cheaper for the API server to send); false: JSON' },
  { key: 'kubeCbor', flag: '--kube-cbor', env: 'ROUTER_KUBE_CBOR', type: 'bool', default: true, doc: 'ask for lists and watches (watch-lists too) of custom resources (Routes, Middlewares, Gateway API kinds) as CBOR, JSON accepted too: served only where kube-apiserver runs with its CBORServingAndStorage feature gate (alpha in v1.36), where it costs the API server about half the CPU of JSON; false: JSON' },
  // --- TLS
  { key: 'defaultCertificate', flag: '--default-certificate', env: 'DEFAULT_CERTIFICATE_PATH', type: 'string', default: '', doc: 'PEM file (certificate chain + key) served when no route certificate applies' },
  { key: 'defaultCertificateDir', flag: '--default-certificate-dir', env: 'DEFAULT_CERTIFICATE_DIR', type: 'string', default: '', doc: 'directory with tls.crt and tls.key (a mounted kubernetes.io/tls Secret), reloaded when they change; wins over --default-certificate' },
  { key: 'defaultDestinationCA', flag: '--default-destination-ca', env: 'DEFAULT_DESTINATION_CA_PATH', type: 'string', default: '', doc: 'CA bundle verifying reencrypt endpoints without destinationCACertificate' },
  { key: 'sslMinVersion', flag: '--ssl-min-version', env: 'SSL_MIN_VERSION', type: 'enum', values: ['TLSv1.2', 'TLSv1.3'], default: 'TLSv1.2', doc: 'minimum TLS version' },
  { key: 'ciphers', flag: '--ciphers', env: 'ROUTER_CIPHERS', type: 'string', default: 'intermediate', doc: 'TLS 1.2 cipher list, or "intermediate"/"modern" (Mozilla profiles)' },
  { key: 'disableHttp2', flag: '--disable-http2', env: 'ROUTER_DISABLE_HTTP2', type: 'bool', default: false, doc: 'no HTTP/2 from clients: neither h2 via ALPN on the HTTPS port nor h2c (prior knowledge) on the HTTP port' },
  { key: 'http2ConnectionGlitches', flag: '--http2-connection-glitches', env: 'ROUTER_H2_CONNECTION_GLITCHES', type: 'int', min: 1, max: 1_000_000, default: 100, doc: 'HTTP/2 glitches (streams reset before their response) one connection may spend in a burst, regained at a tenth per second; past it: GOAWAY ENHANCE_YOUR_CALM' },
  { key: 'http2ClientGlitches', flag: '--http2-client-glitches', env: 'ROUTER_H2_CLIENT_GLITCHES', type: 'int', min: 1, max: 1_000_000, default: 500, doc: 'the same budget for all connections of one client address; past it they get GOAWAY and its new HTTPS and h2c connections are refused until it regains budget' },
  // --- plugins
  { key: 'plugins', flag: '--plugin', env: 'SWITCHYARD_PLUGINS', type: 'list', repeatable: true, default: [], doc: 'plugin module to load: a path or a package name (repeatable); Middlewares configure its instances' },
  { key: 'middlewares', flag: '--middlewares', env: 'SWITCHYARD_MIDDLEWARES', type: 'list', default: [], doc: 'router-wide Middlewares (namespace/name, comma-separated), run on every route before its own' },
  // --- tracing (OpenTelemetry; the environment variables are the standard OTEL_* ones)
  { key: 'otlpEndpoint', flag: '--otlp-endpoint', env: 'OTEL_EXPORTER_OTLP_ENDPOINT', type: 'string', default: '', doc: 'OTLP collector base URL, e.g. http://$(HOST_IP):4318 (http/protobuf: spans go to its /v1/traces) or http://collector:4317 (grpc); tracing is on when this or --otlp-traces-endpoint is set' },
  { key: 'otlpTracesEndpoint', flag: '--otlp-traces-endpoint', env: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', type: 'string', default: '', doc: 'full OTLP URL for spans, used as is (wins over --otlp-endpoint)' },
  { key: 'otlpProtocol', flag: '--otlp-protocol', env: 'OTEL_EXPORTER_OTLP_PROTOCOL', type: 'enum', values: ['http/protobuf', 'grpc'], default: 'http/protobuf', doc: 'OTLP transport' },
  { key: 'otlpHeaders', flag: '--otlp-headers', env: 'OTEL_EXPORTER_OTLP_HEADERS', type: 'list', default: [], doc: 'headers (gRPC metadata) sent to the collector: key=value, comma-separated, values percent-encoded; never logged' },
  { key: 'otlpTimeout', flag: '--otlp-timeout', env: 'OTEL_EXPORTER_OTLP_TIMEOUT', type: 'duration', default: 10 * SECOND, doc: 'time one export (with its retries) may take before its spans are dropped' },
  { key: 'traceSampler', flag: '--trace-sampler', env: 'OTEL_TRACES_SAMPLER', type: 'enum', values: TRACE_SAMPLERS, default: 'parentbased_always_on', doc: 'which exchanges are sampled: parentbased_* follow the incoming traceparent\'s sampled flag and decide only new traces (per route: switchyard.io/trace-sampling)' },
  { key: 'traceSamplerArg', flag: '--trace-sampler-arg', env: 'OTEL_TRACES_SAMPLER_ARG', type: 'number', min: 0, max: 1, default: 1, doc: 'sampling ratio of the traceidratio samplers (0.01 = 1 %)' },
  { key: 'tracePropagators', flag: '--trace-propagators', env: 'OTEL_PROPAGATORS', type: 'list', values: PROPAGATORS, default: ['tracecontext', 'baggage'], doc: 'trace-context formats read and written: tracecontext (W3C), b3 (single header), b3multi (X-B3-*), none; baggage is always passed through untouched' },
  { key: 'serviceName', flag: '--service-name', env: 'OTEL_SERVICE_NAME', type: 'string', default: '', defaultText: DEFAULT_SERVICE_NAME, doc: 'service.name of the router\'s spans (default: service.name of --resource-attributes, else switchyard)' },
  { key: 'resourceAttributes', flag: '--resource-attributes', env: 'OTEL_RESOURCE_ATTRIBUTES', type: 'list', default: [], doc: 'extra resource attributes of the router\'s spans: key=value, comma-separated, values percent-encoded' },
  { key: 'traceQueueSize', flag: '--trace-queue-size', env: 'OTEL_BSP_MAX_QUEUE_SIZE', type: 'int', min: 1, max: 1048576, default: 2048, doc: 'finished spans held for export (per worker); beyond it spans are dropped and counted (switchyard_tracing_spans_dropped_total)' },
  { key: 'traceBatchSize', flag: '--trace-batch-size', env: 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', type: 'int', min: 1, max: 1048576, default: 512, doc: 'spans per export request (at most --trace-queue-size)' },
  { key: 'traceBatchDelay', flag: '--trace-batch-delay', env: 'OTEL_BSP_SCHEDULE_DELAY', type: 'duration', default: 5 * SECOND, doc: 'longest a finished span waits before it is exported' },
  { key: 'tracingDisabled', flag: '--tracing-disabled', env: 'OTEL_SDK_DISABLED', type: 'bool', default: false, doc: 'no spans and no propagation even with an OTLP endpoint set' },
];

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export { MAX_DURATION_MS };

/**
 * `5s`, `300ms`, `1h`, `2m`, `1m30s`, or a bare number of milliseconds (as HAProxy reads it);
 * at most MAX_DURATION_MS. Every duration (flag, environment variable, annotation) goes through
 * duration.ts.
 */
export function parseDuration(text: string): number {
  try {
    return parseDurationText(text);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
}

function parseValue(spec: OptionSpec, raw: string, source: string): unknown {
  const fail = (why: string): never => { throw new ConfigError(`${source}: ${why}`); };
  switch (spec.type) {
    case 'string':
      return raw;
    case 'int':
    case 'number': {
      const pattern = spec.type === 'int' ? /^-?\d+$/ : /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
      if (!pattern.test(raw.trim())) fail(`expected ${spec.type === 'int' ? 'an integer' : 'a number'}, got "${raw}"`);
      const n = Number(raw);
      if (spec.min !== undefined && n < spec.min) fail(`must be >= ${spec.min}, got ${n}`);
      if (spec.max !== undefined && n > spec.max) fail(`must be <= ${spec.max}, got ${n}`);
      return n;
    }
    case 'bool': {
      const v = raw.trim().toLowerCase();
      if (['true', '1', 'yes', 'on', ''].includes(v)) return true;
      if (['false', '0', 'no', 'off'].includes(v)) return false;
      return fail(`expected true or false, got "${raw}"`);
    }
    case 'duration':
      try { return parseDuration(raw); } catch (err) { return fail((err as Error).message); }
    case 'list': {
      const list = raw.split(spec.spaceSeparated === true ? /[\s,]+/ : ',').map((s) => s.trim()).filter((s) => s.length > 0);
      const unknown = spec.values ? list.find((v) => !spec.values!.includes(v)) : undefined;
      if (unknown !== undefined) fail(`"${unknown}" is not one of ${spec.values!.join(', ')}`);
      return list;
    }
    case 'enum': {
      // An enum with true and false among its values (a former bool) takes the bool spellings too.
      if (spec.values!.includes('true') && spec.values!.includes('false') && !spec.values!.includes(raw)) {
        const v = raw.trim().toLowerCase();
        if (['true', '1', 'yes', 'on', ''].includes(v)) return 'true';
        if (['false', '0', 'no', 'off'].includes(v)) return 'false';
      }
      if (!spec.values!.includes(raw)) fail(`must be one of ${spec.values!.join(', ')}, got "${raw}"`);
      return raw;
    }
  }
}

export function defaultConfig(): RouterConfig {
  const config: Record<string, unknown> = {};
  for (const spec of OPTIONS) config[spec.key] = Array.isArray(spec.default) ? [...spec.default] : spec.default;
  return config as unknown as RouterConfig;
}

/**
 * Parse argv (after the subcommand) and the environment. Flags win over environment variables,
 * which win over defaults. Throws ConfigError naming the option on anything unknown or invalid.
 */
export function parseConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): RouterConfig {
  const config = defaultConfig() as unknown as Record<string, unknown>;
  for (const spec of OPTIONS) {
    const raw = spec.env ? env[spec.env] : undefined;
    if (raw !== undefined && raw !== '') config[spec.key] = parseValue(spec, raw, spec.env!);
  }
  const byFlag = new Map(OPTIONS.map((s) => [s.flag, s]));
  const seenList = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new ConfigError(`unexpected argument "${arg}"`);
    const eq = arg.indexOf('=');
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    const spec = byFlag.get(flag);
    if (!spec) throw new ConfigError(`unknown option ${flag} (see --help)`);
    let raw: string;
    if (eq !== -1) raw = arg.slice(eq + 1);
    // A bare flag is true: for a bool, and for an enum that has true among its values (a former bool, e.g. --watch-list).
    else if (spec.type === 'bool' || (spec.type === 'enum' && spec.values!.includes('true'))) raw = 'true';
    else {
      const next = argv[++i];
      if (next === undefined) throw new ConfigError(`${flag}: missing value`);
      raw = next;
    }
    const value = parseValue(spec, raw, flag);
    if (spec.type === 'list' && spec.repeatable) {
      const list = seenList.has(spec.key) ? (config[spec.key] as string[]) : [];
      seenList.add(spec.key);
      config[spec.key] = [...list, ...(value as string[])];
    } else {
      config[spec.key] = value;
    }
  }
  return checkConfig(config as unknown as RouterConfig);
}

/**
 * The `config` of createRouter: RouterConfig keys (the README's options table), each of the type
 * the table declares — durations and sizes as numbers (ms, bytes), lists as arrays — checked as
 * the command line checks its flags; unset keys take their defaults (not the environment's).
 * An unknown key or a wrong type is an error naming it.
 */
export function configFromOptions(options: Readonly<Record<string, unknown>> | undefined, overrides: Partial<RouterConfig> = {}): RouterConfig {
  const config = { ...(defaultConfig() as unknown as Record<string, unknown>), ...overrides } as Record<string, unknown>;
  const byKey = new Map(OPTIONS.map((s) => [s.key as string, s]));
  for (const [key, value] of Object.entries(options ?? {})) {
    if (value === undefined) continue;
    const spec = byKey.get(key);
    if (spec === undefined) {
      throw new ConfigError(`config.${key}: unknown option (the keys are RouterConfig's, as in the README's options table: ${suggest(key, [...byKey.keys()])})`);
    }
    config[key] = checkValue(spec, value);
  }
  return checkConfig(config as unknown as RouterConfig);
}

/** A key close to `key` (a typo), or the first few keys. */
function suggest(key: string, keys: readonly string[]): string {
  const lower = key.toLowerCase();
  const near = keys.filter((k) => k.toLowerCase() === lower || k.toLowerCase().includes(lower) || lower.includes(k.toLowerCase()));
  return near.length > 0 ? `did you mean ${near.slice(0, 3).join(', ')}?` : `e.g. ${keys.slice(0, 4).join(', ')}, …`;
}

function checkValue(spec: OptionSpec, value: unknown): unknown {
  // Every option type has its case: a new type without one would pass undefined on silently.
  const fail = (want: string): never => {
    const shown = typeof value === 'string' ? JSON.stringify(value) : Array.isArray(value) ? 'an array' : String(value);
    throw new ConfigError(`config.${spec.key}: expected ${want} (${spec.flag}), got ${shown} (${Array.isArray(value) ? 'array' : typeof value})`);
  };
  switch (spec.type) {
    case 'string':
      return typeof value === 'string' ? value : fail('a string');
    case 'bool':
      return typeof value === 'boolean' ? value : fail('true or false');
    case 'int': {
      if (typeof value !== 'number' || !Number.isInteger(value)) return fail('an integer');
      if (spec.min !== undefined && value < spec.min) fail(`an integer >= ${spec.min}`);
      if (spec.max !== undefined && value > spec.max) fail(`an integer <= ${spec.max}`);
      return value;
    }
    case 'number': {
      if (typeof value !== 'number' || !Number.isFinite(value)) return fail('a number');
      if (spec.min !== undefined && value < spec.min) fail(`a number >= ${spec.min}`);
      if (spec.max !== undefined && value > spec.max) fail(`a number <= ${spec.max}`);
      return value;
    }
    case 'duration':
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) return fail('a duration in milliseconds (a number >= 0)');
      if (value > MAX_DURATION_MS) fail(`at most ${MAX_DURATION_MS} ms`);
      return value;
    case 'list':
      return Array.isArray(value) && value.every((v) => typeof v === 'string') ? [...value] : fail('an array of strings');
    case 'enum':
      // An enum that has true and false among its values (a former bool) takes booleans as well.
      if (typeof value === 'boolean' && spec.values!.includes(String(value))) return String(value);
      return typeof value === 'string' && spec.values!.includes(value) ? value : fail(`one of ${spec.values!.join(', ')}`);
    default: {
      const missing: never = spec.type;
      throw new Error(`option type ${String(missing)} has no check`);
    }
  }
}

/** What holds between options, and the values derived from others (command line and createRouter alike). */
function checkConfig(result: RouterConfig): RouterConfig {
  if (!result.adminBind) result.adminBind = result.bind;
  if (!result.leaseName) result.leaseName = `switchyard-${result.routerName}`;
  if (!(result.leaseRenewDeadline < result.leaseDuration)) {
    throw new ConfigError(`--lease-renew-deadline (${result.leaseRenewDeadline}ms) must be less than --lease-duration (${result.leaseDuration}ms)`);
  }
  if (!(result.leaseRetryPeriod > 0)) throw new ConfigError('--lease-retry-period must be more than 0');
  try {
    new AddressPool(result.gatewayAddresses);
  } catch (err) {
    throw new ConfigError(`--gateway-addresses: ${(err as Error).message}`);
  }
  if (!(result.leaseRetryPeriod < result.leaseRenewDeadline)) {
    throw new ConfigError(`--lease-retry-period (${result.leaseRetryPeriod}ms) must be less than --lease-renew-deadline (${result.leaseRenewDeadline}ms)`);
  }
  if (result.statsUsernameFile) result.statsUsername = readSecretFile(result.statsUsernameFile, '--stats-username-file');
  if (result.statsPasswordFile) result.statsPassword = readSecretFile(result.statsPasswordFile, '--stats-password-file');
  if (result.statsUsername === '' && result.statsPassword !== '') {
    // Auth would silently turn off: refuse instead.
    throw new ConfigError('a stats password is set but the stats username is empty (--stats-username / --stats-username-file)');
  }
  if (result.statsUsername !== '' && result.statsPassword === '') {
    throw new ConfigError('a stats username is set but the stats password is empty (--stats-password / --stats-password-file)');
  }
  for (const cidr of result.proxyProtocolTrusted) {
    if (parseCidr(cidr) === null) throw new ConfigError(`--proxy-protocol-trusted: "${cidr}" is not an IP address or CIDR`);
  }
  for (const type of result.compressionMime) {
    if (!MEDIA_TYPE.test(type)) throw new ConfigError(`--compression-mime: "${type}" is not a media type (type/subtype, or type/*)`);
  }
  if (result.useProxyProtocol && result.proxyProtocolTrusted.length === 0) {
    throw new ConfigError('--use-proxy-protocol needs --proxy-protocol-trusted (the load balancers\' source CIDRs; 0.0.0.0/0 to trust every peer)');
  }
  const tracingProblem = checkTracingOptions(result);
  if (tracingProblem !== null) throw new ConfigError(tracingProblem);
  return Object.freeze(result);
}

/** `text/html`, `application/vnd.api+json`, `text/*` (parameters are not part of the match). */
const MEDIA_TYPE = /^[A-Za-z0-9!#$&^_.+-]+\/([A-Za-z0-9!#$&^_.+-]+|\*)$/;

/** A credential file's content without its trailing newline (as `echo … > file` writes it). */
function readSecretFile(path: string, flag: string): string {
  try {
    return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new ConfigError(`${flag}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** `10.0.0.0/8`, `2001:db8::/32` or a bare address; null when invalid. */
export function parseCidr(text: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | null {
  const slash = text.indexOf('/');
  const address = slash === -1 ? text : text.slice(0, slash);
  const version = isIP(address);
  if (version === 0) return null;
  const max = version === 4 ? 32 : 128;
  const prefixText = slash === -1 ? String(max) : text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) return null;
  return { address, prefix: Number(prefixText), family: version === 4 ? 'ipv4' : 'ipv6' };
}

export function formatDefault(spec: OptionSpec): string {
  if (spec.defaultText) return spec.defaultText;
  const d = spec.default;
  if (spec.type === 'duration') return formatDuration(d as number);
  if (Array.isArray(d)) return d.length ? d.join(',') : '';
  return String(d);
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

export function helpText(): string {
  const lines = [
    'Usage: switchyard [run] [options]      serve Routes/Ingresses from --file or the cluster',
    '       switchyard demo                 two echo backends and the router on :8080',
    '       switchyard autoport [options] -- command args…',
    '',
    'Options (flag, environment variable, default):',
  ];
  for (const spec of OPTIONS) {
    const value = spec.type === 'bool' ? '' : spec.type === 'enum' ? ` <${spec.values!.join('|')}>` : ` <${spec.type}>`;
    const def = formatDefault(spec);
    lines.push(`  ${spec.flag}${value}`);
    lines.push(`      ${spec.doc}${spec.env ? ` [${spec.env}]` : ''}${def !== '' ? ` (default ${def})` : ''}`);
  }
  return lines.join('\n');
}
