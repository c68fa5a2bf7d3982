// The proxy's live form of a compiled route: built once per table change (never per request)
// from the CompiledRoute data. Holds the members (shared EndpointStates with this route's
// weights), the balancer, the resolved plugin chain, the reencrypt pools and the metric
// children. It is built with the previous runtime of the same route key, whose state it takes
// over: what plugins retained (rate-limit windows, concurrency slots, user plugin instances),
// the balancer's rotation, and the pools whose TLS settings did not change.
//
// The members are acquired at once (health checks follow the table, not the traffic); the
// balancer and the plugin chain are made on the first request, because most routes of a large
// table see none for a long time and these are most of a runtime's memory (measured at 10k
// routes: about 1.5 KB of a route's 3.2 KB). They are made at once when there is state to take
// over from the previous runtime, or when the route has Middlewares (a user plugin's create()
// runs, and fails loudly, when the route is applied).

import type { Counter, Histogram } from 'prom-client';
import type { EndpointState } from '../health/endpoint-state.ts';
import type { UpstreamDispatcher } from './upstream-h2-pool.ts';
import { backendTlsSettings, type UpstreamTls } from './upstream-tls.ts';
import type { BackendFilters, CompiledRoute } from '../table/types.ts';
import type { Balancer, Member } from '../balance/types.ts';
import { createBalancer } from '../balance/create-balancer.ts';
import type { EndpointRegistry } from '../health/endpoint-registry.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { candidatesOf } from '../pipeline/candidates.ts';
import { RouteChain, type ChainEntry } from '../pipeline/chain.ts';
import type { ExchangeKind, Outcome } from '../pipeline/context.ts';
import type { ChainOwner } from '../pipeline/phase-run.ts';
import type { PluginRegistry } from '../pipeline/plugin-registry.ts';
import type { EndpointCandidate, Phases, PluginLogger, PluginServices, RouteInfo } from '../pipeline/types.ts';
import { routeChainEntries } from '../plugins/builtins.ts';
import { upstreamRequestHeaders } from './headers.ts';
import type { CompressSettings } from '../plugins/compress.ts';
import type { MiddlewareFailures } from './middleware-failures.ts';
import type { LimitTable } from '../shared-memory/limit-table.ts';
import { joined } from '../flat-string.ts';
import type { CompiledMirror } from '../table/types.ts';

/** A route's metric series, each made on first use; shared by the runtimes that succeed each other. */
interface MetricChildren {
  /** The route's requests by status class (metrics.requests.acquire: index status / 100 - 1). */
  requests: number[] | undefined;
  duration: Histogram.Internal<'route'> | undefined;
  errors: Map<string, Counter.Internal> | undefined;
  passthrough: Map<string, Counter.Internal> | undefined;
  grpc: Map<string, Counter.Internal> | undefined;
}

export interface RuntimeDeps {
  registry: EndpointRegistry;
  metrics: Metrics;
  logger: Logger;
  plugins: PluginRegistry;
  /** Where middleware failures are counted and logged (shared by every way in). */
  failures: MiddlewareFailures;
  /** --enable-compression: the compress plugin's settings for every route; null when off. */
  compression?: CompressSettings | null;
  /** The router's shared limit table (rate limits, pod-concurrent-connections). */
  limits: LimitTable;
  /** The proxy thread sends RequestMirrors (its ExchangeHost's `mirrors`); without it no route mirrors. */
  mirrors?: boolean;
}

/**
 * One RequestMirror of a route: its Service as a runtime of its own (members, balancer) and its
 * share; request-mirror.ts sends the copies. Declared here, not there, so that the runtime does
 * not import the sender (which imports the forwarders, which import the runtime).
 */
export interface MirrorTarget {
  readonly runtime: RouteRuntime;
  readonly numerator: number;
  readonly denominator: number;
}

/** The reencrypt pools of a route that has none (every route that does not reencrypt): never written. */
const NO_TLS_POOLS: ReadonlyMap<string, UpstreamDispatcher> = new Map();

/** A sampled trace, as a duration bucket's exemplar names it. */
export interface Exemplar { readonly traceId: string; readonly spanId: string }

export class RouteRuntime implements ChainOwner {
  readonly route: CompiledRoute;
  readonly members: readonly Member[];
  /** `namespace/name` — the metrics label. */
  readonly label: string;
  /** true when at least one member has weight > 0 (else every request is 503 ZERO_WEIGHT). */
  readonly hasWeight: boolean;
  readonly reencrypt: boolean;
  /** TLS server name for reencrypt endpoints; undefined otherwise. */
  readonly serverName: string | undefined;
  readonly failures: MiddlewareFailures;
  #balancer: Balancer | null = null;
  #chain: RouteChain | null = null;
  #info: RouteInfo | null = null;
  #candidates: readonly EndpointCandidate[] | null = null;
  readonly #deps: RuntimeDeps;
  /**
   * Requests counter children by status class index (status / 100 - 1), and the duration
   * child: resolved on first countResponse, so a route without traffic has no series (and
   * costs no label lookups at start-up). Shared with the successor runtime of the same route.
   */
  readonly #children: MetricChildren;
  /** TLS pools (reencrypt, BackendTLSPolicy) by endpoint id, `h2/<id>` for HTTP/2, `alpn/<id>` for ALPN's choice (cleartext pools live on the shared EndpointState); NO_TLS_POOLS for other routes. */
  readonly tlsPools: Map<string, UpstreamDispatcher>;
  /** Endpoints of the route's services that speak HTTP/2 (backend-protocol.ts); null when none does. */
  readonly http2: ReadonlySet<EndpointState> | null;
  /** Reencrypt endpoints whose HTTP version ALPN decides (upstream-alpn-pool.ts); null when none. */
  readonly alpn: ReadonlySet<EndpointState> | null;
  /**
   * Endpoints of services a BackendTLSPolicy applies to, with the TLS to speak (their pools live
   * in tlsPools); null when none. An endpoint behind two such services of one rule takes the first's.
   */
  readonly backendTls: ReadonlyMap<EndpointState, UpstreamTls> | null;
  /**
   * HTTPRoute/GRPCRoute backendRef filters by the member they apply to (the members of that
   * backendRef's service); null when no backendRef of the route has any (nearly every route).
   */
  readonly backendFilters: ReadonlyMap<Member, BackendFilters> | null;
  /** Fingerprint of the TLS settings the pools were made with ('' when none: no TLS pools). */
  readonly #tlsKey: string;
  readonly #metrics: Metrics;
  /** What plugins retained (services.retain), to hand to the next runtime of this route; null until the chain is built. */
  retained: Map<string, unknown> | null = null;
  /** HTTPRoute RequestMirror filters: each Service as a runtime of its own (members, balancer); null when none. */
  readonly mirrors: readonly MirrorTarget[] | null;

  constructor(route: CompiledRoute, deps: RuntimeDeps, previous: RouteRuntime | undefined) {
    this.route = route;
    this.label = joined([route.namespace, route.name], '/');
    this.#metrics = deps.metrics;
    this.#deps = deps;
    let count = 0;
    for (const service of route.services) count += service.endpoints.length;
    // Sized up front: an array grown by push keeps room for 17 (152 bytes) per route.
    const members = new Array<Member>(count);
    let hasWeight = false;
    let i = 0;
    let http2: Set<EndpointState> | null = null;
    let alpn: Set<EndpointState> | null = null;
    const filters = route.gateway?.backendFilters;
    let backendFilters: Map<Member, BackendFilters> | null = null;
    let backendTls: Map<EndpointState, UpstreamTls> | null = null;
    for (let s = 0; s < route.services.length; s++) {
      const service = route.services[s]!;
      const serviceFilters = filters?.[s] ?? null;
      const tls = service.tls === undefined ? null : backendTlsSettings(service.tls);
      for (const ep of service.endpoints) {
        const endpoint = deps.registry.acquire(ep);
        const member: Member = { endpoint, weight: ep.weight, acceptsNew: ep.acceptsNew };
        members[i++] = member;
        if (serviceFilters !== null) (backendFilters ??= new Map()).set(member, serviceFilters);
        if (tls !== null && !(backendTls ??= new Map()).has(endpoint)) backendTls.set(endpoint, tls);
        if (ep.weight > 0) hasWeight = true;
        if (service.protocol === 'http2') (http2 ??= new Set()).add(endpoint);
        else if (service.protocol === 'alpn') (alpn ??= new Set()).add(endpoint);
      }
    }
    this.members = members;
    this.backendFilters = backendFilters;
    this.http2 = http2;
    this.alpn = alpn;
    this.backendTls = backendTls;
    this.hasWeight = hasWeight;
    this.reencrypt = route.tls?.termination === 'reencrypt';
    this.serverName = this.reencrypt ? route.tls!.serverName : undefined;
    this.#tlsKey = this.reencrypt ? `${route.tls!.serverName}\n${route.tls!.destinationCA}`
      : backendTls !== null ? JSON.stringify(route.services.map((s) => s.tls ?? null)) : '';
    // A previous runtime of the same key (not '') made its pools with the same TLS: they go on.
    if (this.#tlsKey === '') {
      this.tlsPools = NO_TLS_POOLS as Map<string, UpstreamDispatcher>;
    } else {
      this.tlsPools = previous !== undefined && previous.#tlsKey === this.#tlsKey ? previous.tlsPools : new Map();
    }
    this.#children = previous !== undefined && previous.label === this.label ? previous.#children : { requests: undefined, duration: undefined, errors: undefined, passthrough: undefined, grpc: undefined };
    this.failures = deps.failures;
    // State to take over is taken now (the previous runtime is released after this swap).
    if (previous !== undefined && previous.#balancer !== null && previous.route.policy.balance === route.policy.balance) {
      this.balancer.inherit?.(previous.#balancer);
    }
    if (route.middlewares.length > 0 || (previous !== undefined && previous.#chain !== null)) this.#chain = buildChain(this, deps, previous);
    const mirrors = route.gateway?.mirrors;
    this.mirrors = mirrors === undefined || deps.mirrors !== true ? null :
      mirrors.map((m, i) => ({ runtime: new RouteRuntime(mirrorRoute(route, m, i), deps, undefined), numerator: m.numerator, denominator: m.denominator }));
  }

  /**
   * What bounds each attempt's wait for the response headers and each pause in its body: the
   * route's server timeout (an HTTPRoute rule's timeouts.request), or the rule's shorter
   * timeouts.backendRequest. The transports' own per-connection timers carry it.
   */
  get attemptTimeoutMs(): number {
    return this.route.gateway?.backendTimeoutMs ?? this.route.policy.serverTimeoutMs;
  }

  get balancer(): Balancer {
    return (this.#balancer ??= createBalancer(this.route.policy.balance, this.members));
  }

  /** The plugin chain (built-in policies and Middlewares), made on first use. */
  get chain(): RouteChain {
    return (this.#chain ??= buildChain(this, this.#deps, undefined));
  }

  /** What plugins see of the route: a frozen snapshot without key material (made on first use). */
  get info(): RouteInfo {
    if (this.#info === null) {
      const r = this.route;
      this.#info = Object.freeze({
        key: r.key, kind: r.kind, namespace: r.namespace, name: r.name, host: r.host, path: r.path,
        // Narrowed objects' annotations are frozen already (objects/narrow.ts): no copy per route.
        annotations: Object.isFrozen(r.annotations) ? r.annotations : Object.freeze({ ...r.annotations }),
      });
    }
    return this.#info;
  }

  /** The members as plugins see them: read-only views (made on first use). */
  get candidates(): readonly EndpointCandidate[] {
    return (this.#candidates ??= candidatesOf(this.members));
  }

  get termination(): 'edge' | 'passthrough' | 'reencrypt' | null {
    return this.route.tls?.termination ?? null;
  }

  /**
   * An exchange's response: HTTP and Upgrade count in the HTTP request metrics (status class and
   * duration), a TLS passthrough connection — which has no status — by its outcome.
   */
  countExchange(kind: ExchangeKind, status: number, outcome: Outcome, seconds: number, exemplar: Exemplar | null = null): void {
    if (kind !== 'passthrough') {
      this.countResponse(status, seconds, exemplar);
      return;
    }
    const counters = (this.#children.passthrough ??= new Map());
    let child = counters.get(outcome);
    if (child === undefined) counters.set(outcome, (child = this.#metrics.passthroughConnections.labels(this.label, outcome)));
    child.inc();
  }

  /** `exemplar`: the sampled trace of this exchange (its duration bucket then names it), else null. */
  countResponse(status: number, seconds: number, exemplar: Exemplar | null = null): void {
    const raw = ((status / 100) | 0) - 1;
    const index = raw < 0 ? 0 : raw > 4 ? 4 : raw;
    const children = this.#children;
    (children.requests ??= this.#metrics.requests.acquire(this.label))[index]!++;
    if (exemplar === null) (children.duration ??= this.#metrics.requestDuration.labels(this.label)).observe(seconds);
    // (prom-client types exemplar labels as the metric's own label names; any names are valid.)
    else this.#metrics.requestDuration.observe({ labels: { route: this.label }, value: seconds, exemplarLabels: { trace_id: exemplar.traceId, span_id: exemplar.spanId } as never });
  }

  /** Errors are rare: the child is resolved on first use and cached on the route. */
  countUpstreamError(reason: string): void {
    const errors = (this.#children.errors ??= new Map());
    let child = errors.get(reason);
    if (!child) errors.set(reason, (child = this.#metrics.upstreamErrors.labels(this.label, reason)));
    child.inc();
  }

  /** A gRPC call ended with this status (by name, see grpc.ts): rare enough to resolve on first use. */
  countGrpc(code: string): void {
    const grpc = (this.#children.grpc ??= new Map());
    let child = grpc.get(code);
    if (!child) grpc.set(code, (child = this.#metrics.grpcResponses.labels(this.label, code)));
    child.inc();
  }

  /**
   * Release what this runtime holds. `successor` is the runtime that replaced it (same route
   * key), or null when the route left the table: then its metric series go too, and its pools
   * are closed unless the successor took them over.
   */
  release(registry: EndpointRegistry, successor: RouteRuntime | null): void {
    for (const member of this.members) registry.release(member.endpoint);
    if (this.mirrors !== null) for (const t of this.mirrors) t.runtime.release(registry, null);
    if (successor === null || successor.tlsPools !== this.tlsPools) {
      for (const pool of this.tlsPools.values()) void pool.close().catch(() => {});
    }
    if (successor === null) this.#removeSeries();
  }

  #removeSeries(): void {
    const m = this.#metrics;
    const children = this.#children;
    if (children.requests !== undefined) m.requests.release(this.label);
    if (children.duration !== undefined) m.requestDuration.remove(this.label);
    if (children.errors !== undefined) for (const reason of children.errors.keys()) m.upstreamErrors.remove(this.label, reason);
    if (children.passthrough !== undefined) for (const outcome of children.passthrough.keys()) m.passthroughConnections.remove(this.label, outcome);
    if (children.grpc !== undefined) for (const code of children.grpc.keys()) m.grpcResponses.remove(this.label, code);
    children.requests = undefined;
    children.duration = undefined;
    children.errors = undefined;
    children.passthrough = undefined;
    children.grpc = undefined;
  }
}

/** A mirror's Service as a route of its own: the primary's policy (timeouts, balance), no filters, no plugins. */
function mirrorRoute(route: CompiledRoute, mirror: CompiledMirror, index: number): CompiledRoute {
  const { gateway: _gateway, ...rest } = route;
  return { ...rest, key: `${route.key}#mirror/${index}`, services: [mirror.service], plugins: [], middlewares: [] };
}

function buildChain(runtime: RouteRuntime, deps: RuntimeDeps, previous: RouteRuntime | undefined): RouteChain {
  const route = runtime.route;
  const retain = <T>(key: string, make: () => T): T => {
    const retained = (runtime.retained ??= new Map());
    let value: T;
    if (retained.has(key)) value = retained.get(key) as T;
    else if (previous?.retained?.has(key) === true) value = previous.retained.get(key) as T;
    else value = make();
    retained.set(key, value);
    return value;
  };
  // `route` is read when an instance asks for it (rate limits, Middlewares), so a route whose
  // plugins never do makes no RouteInfo (~80 bytes per route).
  const services = (name: string): PluginServices => ({
    get route(): RouteInfo { return runtime.info; }, instanceName: name, logger: lazyChildLogger(deps.logger, { middleware: name, route: route.key }), retain,
  });
  const middlewares: ChainEntry[] = [];
  for (const m of route.middlewares) {
    const plugin = deps.plugins.get(m.plugin);
    let phases: Phases;
    try {
      if (plugin === undefined) throw new Error(`plugin "${m.plugin}" is not loaded in this process`);
      // The instance survives endpoint changes while its config is unchanged (same version: no
      // need to compare the config itself, which may be large).
      // The router's own plugins (rate-limit) count in the shared limit table, as when an annotation asks for them.
      const given = deps.plugins.isBuiltin(m.plugin) ? Object.assign(services(m.name), { limits: deps.limits }) : services(m.name);
      phases = retain(`middleware:${m.name}:${m.version}`, () => plugin.create(m.config, given));
      if (typeof phases !== 'object' || phases === null) throw new Error('create() did not return an object of phases');
    } catch (err) {
      deps.logger.error({ route: route.key, middleware: m.name, err: (err as Error).message }, 'middleware could not be created; its route answers 500');
      phases = failingPhases(err);
    }
    middlewares.push({ name: m.name, phases, makeLocal: plugin?.local ?? null });
  }
  const entries = routeChainEntries(route, {
    balancer: runtime.balancer, hasWeight: runtime.hasWeight, buildUpstreamHeaders: upstreamRequestHeaders, compression: deps.compression ?? null, limits: deps.limits,
  }, middlewares, services);
  return new RouteChain(entries, route.policy.serverTimeoutMs);
}

/**
 * The plugin instance's logger, made on its first line: a pino child serializes (and redacts)
 * its bindings when created, and most instances never log — at 100k routes the eager children
 * cost seconds of start-up.
 */
export function lazyChildLogger(parent: Logger, bindings: { middleware: string; route: string }): PluginLogger {
  let child: Logger | undefined;
  const get = (): Logger => (child ??= parent.child(bindings));
  return {
    debug: (obj, msg) => { if (parent.isLevelEnabled('debug')) get().debug(obj, msg); },
    info: (obj, msg) => get().info(obj, msg),
    warn: (obj, msg) => get().warn(obj, msg),
    error: (obj, msg) => get().error(obj, msg),
  };
}

/** A middleware whose instance could not be created fails every exchange of its route (500). */
function failingPhases(error: unknown): Phases {
  return {
    connection(): void {
      throw error;
    },
  };
}
