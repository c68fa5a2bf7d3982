// Every metric switchyard exports, declared once. Per-route label children are resolved when a
// route is compiled into the proxy (see proxy/route-runtime.ts), never per request.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { RouteRequestCounter } from './route-request-counter.ts';
import { RouteDurationHistogram } from './route-duration-histogram.ts';
import { SUM_WITH_EXEMPLARS } from './metrics-openmetrics.ts';

/** What the per-endpoint gauges read from an endpoint state (health/endpoint-state.ts); `label` is its name. */
export interface LiveEndpoint { readonly label: string; readonly active: number; readonly ejectedUntil: number }

export interface GaugeValue<L extends string> { labels: Record<L, string>; value: number }

/**
 * A gauge whose series are computed from live state when it is collected, and kept nowhere
 * in between: a prom-client Gauge holds a labels object, a value object and a key string per
 * series (about 600 bytes per route for switchyard_endpoint_up's three endpoints). Registered
 * like any metric; `source` is set by whoever owns the state (none: no series). /metrics writes
 * its series a few hundred lines at a time (metrics-exposition.ts) instead of building them all
 * at once: `source` yields them one by one.
 */
export class ComputedGauge<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly type = 'gauge';
  readonly labelNames: readonly L[];
  readonly aggregator: 'sum' | 'min' | 'max' | 'first';
  source: (() => Iterable<GaugeValue<L>>) | null = null;

  constructor(options: { name: string; help: string; labelNames: readonly L[]; aggregator?: 'sum' | 'min' | 'max' | 'first'; registers: Registry[] }) {
    this.name = options.name;
    this.help = options.help;
    this.labelNames = options.labelNames;
    this.aggregator = options.aggregator ?? 'sum';
    for (const registry of options.registers) registry.registerMetric(this as never);
  }

  async get(): Promise<{ name: string; help: string; type: 'gauge'; values: Array<GaugeValue<L>>; aggregator: string }> {
    return { name: this.name, help: this.help, type: 'gauge', values: [...(this.source?.() ?? [])], aggregator: this.aggregator };
  }

  /**
   * The series as exposition lines, one at a time, formatted as prom-client's registry does
   * (labels in labelNames order: the sources build their label objects in that order).
   */
  * lines(): Generator<string> {
    for (const { labels, value } of this.source?.() ?? []) {
      let text = '';
      for (const name of this.labelNames) {
        const label = labels[name];
        if (label !== undefined) text += `${text === '' ? '' : ','}${name}="${escapeLabelValue(label)}"`;
      }
      yield `${this.name}${text === '' ? '' : `{${text}}`} ${valueText(value)}`;
    }
  }

  /** prom-client calls this on registry.resetMetrics(); there is nothing stored to reset. */
  reset(): void {}
}

const NEEDS_ESCAPE = /[\\\n"]/;

// As prom-client's registry writes them (lib/registry.js, lib/util.js), so a computed family
// reads the same whether prom-client or metrics-exposition.ts prints it.
export function escapeText(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}
function escapeLabelValue(text: string): string {
  return NEEDS_ESCAPE.test(text) ? escapeText(text).replace(/"/g, '\\"') : text;
}
function valueText(value: number): string {
  if (Number.isNaN(value)) return 'Nan';
  if (!Number.isFinite(value)) return value < 0 ? '-Inf' : '+Inf';
  return `${value}`;
}

export class Metrics {
  readonly registry: Registry;
  readonly requests: RouteRequestCounter;
  readonly requestDuration: Histogram<'route'>;
  readonly upstreamErrors: Counter<'route' | 'reason'>;
  readonly passthroughConnections: Counter<'route' | 'outcome'>;
  readonly grpcResponses: Counter<'route' | 'grpc_code'>;
  readonly endpointUp: ComputedGauge<'route' | 'endpoint'>;
  readonly routes: Gauge<'state'>;
  readonly tableUpdates: Counter;
  readonly tableUpdateDuration: Histogram;
  readonly configErrors: Counter<'source'>;
  readonly watchRestarts: Counter<'resource'>;
  readonly lastSync: Gauge<'resource'>;
  readonly kubeRequests: Counter<'verb' | 'code'>;
  readonly kubeConnections: Counter;
  readonly kubeObjectsRead: Counter<'resource' | 'encoding'>;
  readonly tlsHandshakes: Counter<'result'>;
  readonly tcpConnections: Counter<'result'>;
  readonly udpDatagrams: Counter<'result'>;
  readonly udpSessions: Counter<'event'>;
  readonly udpSessionsActive: Gauge;
  readonly tunnelsActive: Gauge<'kind'>;
  readonly connectionsActive: Gauge<'listener'>;
  readonly endpointsSkipped: Gauge<'route' | 'reason'>;
  readonly statusWrites: Counter<'kind' | 'result'>;
  readonly leader: Gauge;
  readonly http2Glitches: Counter;
  readonly http2Calm: Counter<'reason'>;
  readonly proxyProtocol: Counter<'result'>;
  readonly middlewareErrors: Counter<'middleware'>;
  readonly internalErrors: Counter<'where'>;
  readonly ready: Gauge;
  readonly certificateExpiry: Gauge<'certificate' | 'route'>;
  readonly routeEndpointsAvailable: ComputedGauge<'route'>;
  readonly endpointInFlight: ComputedGauge<'endpoint'>;
  readonly endpointEjectedUntil: ComputedGauge<'endpoint'>;
  readonly tracingSpansExported: Counter;
  readonly requestMirrors: Counter<'outcome'>;
  readonly requestMirrorsInFlight: Gauge;
  readonly tracingSpansDropped: Counter<'reason'>;
  /** This process's live endpoint states, read at collection time (set by whoever owns the proxy). */
  liveEndpoints: (() => Iterable<LiveEndpoint>) | null = null;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [(this.registry = new Registry())];
    if (options.defaultMetrics !== false) {
      collectDefaultMetrics({ register: this.registry });
      // Gauges named like counters: `promtool check metrics` (and Prometheus' naming rules) reject them.
      for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) this.registry.removeSingleMetric(name);
    }
    this.requests = new RouteRequestCounter({ name: 'switchyard_http_requests_total', help: 'HTTP requests answered, by route and status class', registers });
    // With exemplars (a sampled trace's id per bucket, shown in the OpenMetrics format): prom-client
    // allows those only on OpenMetrics registries, so it is registered by hand (metrics-openmetrics.ts).
    this.requestDuration = new RouteDurationHistogram({
      name: 'switchyard_http_request_duration_seconds', help: 'Time from request to response end, by route', registers: [],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      aggregator: SUM_WITH_EXEMPLARS as 'sum',
    });
    this.registry.registerMetric(this.requestDuration);
    this.upstreamErrors = new Counter({ name: 'switchyard_upstream_errors_total', help: 'Failed upstream attempts, by route and reason', labelNames: ['route', 'reason'], registers });
    this.passthroughConnections = new Counter({ name: 'switchyard_passthrough_connections_total', help: 'Streams piped to an endpoint (TLS passthrough, TLSRoute and TCPRoute streams), by route and outcome (forwarded, answered: refused by a policy or an invalid backend, error, client-closed)', labelNames: ['route', 'outcome'], registers });
    this.grpcResponses = new Counter({ name: 'switchyard_grpc_responses_total', help: 'gRPC calls ended, by route and gRPC status (the backend\'s, or the router\'s own answer)', labelNames: ['route', 'grpc_code'], registers });
    this.endpointUp = new ComputedGauge({ name: 'switchyard_endpoint_up', help: '1 when the endpoint can take requests (healthy, not ejected)', labelNames: ['route', 'endpoint'], registers });
    this.routes = new Gauge({ name: 'switchyard_routes', help: 'Routes and Ingresses considered by this router, by admission state', labelNames: ['state'], registers });
    this.tableUpdates = new Counter({ name: 'switchyard_table_updates_total', help: 'Route table updates applied', registers });
    this.tableUpdateDuration = new Histogram({
      name: 'switchyard_table_update_duration_seconds', help: 'Time to recompile and swap the affected host entries', registers,
      buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
    });
    this.configErrors = new Counter({ name: 'switchyard_config_errors_total', help: 'Objects or files rejected while loading configuration', labelNames: ['source'], registers });
    this.watchRestarts = new Counter({ name: 'switchyard_watch_restarts_total', help: 'Kubernetes watch restarts, by resource', labelNames: ['resource'], registers });
    this.lastSync = new Gauge({ name: 'switchyard_last_sync_timestamp_seconds', help: 'Last time a resource was listed or received an event', labelNames: ['resource'], registers });
    this.kubeRequests = new Counter({ name: 'switchyard_kube_requests_total', help: 'Requests to the Kubernetes API server, by verb (get, put, patch, post, delete; watch for streams) and HTTP status', labelNames: ['verb', 'code'], registers });
    this.kubeConnections = new Counter({ name: 'switchyard_kube_connections_total', help: 'Connections opened to the Kubernetes API server (HTTP/2: one, unless its stream limit is reached)', registers });
    this.kubeObjectsRead = new Counter({ name: 'switchyard_kube_objects_read_total', help: 'Objects read from the Kubernetes API server (list items and watch events), by resource and the encoding the server sent (protobuf, cbor or json)', labelNames: ['resource', 'encoding'], registers });
    this.tlsHandshakes = new Counter({ name: 'switchyard_tls_handshakes_total', help: 'TLS handshakes on the HTTPS port, by result', labelNames: ['result'], registers });
    this.tcpConnections = new Counter({ name: 'switchyard_tcp_connections_total', help: 'Connections to Gateway TCP listeners, by result (routed to a TCPRoute; no_route: reset, none is attached)', labelNames: ['result'], registers });
    this.udpDatagrams = new Counter({ name: 'switchyard_udp_datagrams_total', help: 'Datagrams of Gateway UDP listeners, by result: to_backend, to_client (relayed), dropped for no_route (no UDPRoute attached), no_endpoint, session_limit (--max-udp-sessions), queue_full (the upstream socket not connected yet, or a connection phase pending); unreachable: an endpoint refused (ICMP port unreachable); refused by the route\'s connection phase: forbidden (allowlist), rate_limited, middleware_invalid, invalid_backend (the share of invalid backendRefs), refused (a plugin\'s answer), plugin_error', labelNames: ['result'], registers });
    this.udpSessions = new Counter({ name: 'switchyard_udp_sessions_total', help: 'UDPRoute sessions (one per client address and port and listener), by event: opened, closed_idle (--udp-session-timeout), closed_unreachable, closed_error, closed_route_changed (the route or endpoint went away), closed_closed (listener closed)', labelNames: ['event'], registers });
    this.udpSessionsActive = new Gauge({ name: 'switchyard_udp_sessions_active', help: 'Open UDPRoute sessions', registers });
    this.tunnelsActive = new Gauge({ name: 'switchyard_tunnels_active', help: 'Open tunnels (WebSocket/Upgrade, TLS passthrough, TCPRoute streams)', labelNames: ['kind'], registers });
    this.connectionsActive = new Gauge({ name: 'switchyard_connections_active', help: 'Open client connections, by listener', labelNames: ['listener'], registers });
    this.endpointsSkipped = new Gauge({ name: 'switchyard_endpoints_skipped', help: 'Endpoints left out of a route, by reason (e.g. missing target-port annotation)', labelNames: ['route', 'reason'], registers });
    this.statusWrites = new Counter({ name: 'switchyard_status_writes_total', help: 'Route/Ingress status writes, by kind and result', labelNames: ['kind', 'result'], registers });
    this.middlewareErrors = new Counter({ name: 'switchyard_middleware_errors_total', help: 'Plugin phases that threw, rejected or did not settle in time, by middleware', labelNames: ['middleware'], registers });
    this.internalErrors = new Counter({ name: 'switchyard_internal_errors_total', help: 'Bugs caught at a boundary (a request, a store listener, the process), by where', labelNames: ['where'], registers });
    this.requestMirrors = new Counter({ name: 'switchyard_request_mirrors_total', help: 'HTTPRoute RequestMirror copies, by outcome: completed (the mirror answered), failed (connect, reset, timeout), dropped_limit (--max-mirrors-in-flight reached), dropped_body (request body over 64 KiB or never complete), no_endpoint', labelNames: ['outcome'], registers });
    this.requestMirrorsInFlight = new Gauge({ name: 'switchyard_request_mirrors_in_flight', help: 'HTTPRoute RequestMirror copies sent (or waiting for their request body) and not yet answered', registers });
    this.tracingSpansExported = new Counter({ name: 'switchyard_tracing_spans_exported_total', help: 'Spans the OTLP collector accepted', registers });
    this.tracingSpansDropped = new Counter({ name: 'switchyard_tracing_spans_dropped_total', help: 'Spans that never reached the collector, by reason: queue_full (--trace-queue-size reached), export_failed (export failed or timed out after retries)', labelNames: ['reason'], registers });
    this.leader = new Gauge({ name: 'switchyard_leader', help: '1 while this process holds the status-writer Lease', registers });
    this.proxyProtocol = new Counter({ name: 'switchyard_proxy_protocol_total', help: 'Connections by PROXY protocol result: ok, untrusted (peer not in --proxy-protocol-trusted), invalid, timeout', labelNames: ['result'], registers });
    this.http2Glitches = new Counter({ name: 'switchyard_http2_glitches_total', help: 'HTTP/2 glitches: streams the client reset before their response (rapid reset)', registers });
    this.http2Calm = new Counter({
      name: 'switchyard_http2_calm_total', help: 'HTTP/2 connections closed with GOAWAY ENHANCE_YOUR_CALM by the budget they spent (connection_budget, client_budget), and HTTPS connections refused while their client had no budget left (client_refused)', labelNames: ['reason'], registers,
    });
    this.ready = new Gauge({ name: 'switchyard_ready', help: '1 while /healthz/ready answers 200 (initial load applied, not draining)', registers });
    this.certificateExpiry = new Gauge({
      name: 'switchyard_certificate_expiry_timestamp_seconds', help: 'notAfter of a served certificate: the default one (route="") or a route\'s own', labelNames: ['certificate', 'route'], registers,
      aggregator: 'min',
    });
    this.routeEndpointsAvailable = new ComputedGauge({ name: 'switchyard_route_endpoints_available', help: 'Endpoints of an admitted route that can take requests (0: every request gets 503)', labelNames: ['route'], registers, aggregator: 'min' });
    // Read from the live endpoint states when scraped, so the hot path only moves its own counters;
    // computed gauges, so the series are not kept from one scrape to the next (a prom-client
    // Gauge reset and refilled by collect() kept 30,000 series at 10k routes: 445 bytes per route).
    const live = () => this.liveEndpoints?.() ?? [];
    this.endpointInFlight = new ComputedGauge({
      name: 'switchyard_endpoint_in_flight', help: 'Requests and tunnels in flight to an endpoint (summed over workers)', labelNames: ['endpoint'], registers,
    });
    this.endpointInFlight.source = function* () {
      for (const ep of live()) yield { labels: { endpoint: ep.label }, value: ep.active };
    };
    this.endpointEjectedUntil = new ComputedGauge({
      name: 'switchyard_endpoint_ejected_until_timestamp_seconds', help: 'Passive ejection: the endpoint gets no new requests before this time (only ejected endpoints; latest over workers)', labelNames: ['endpoint'], registers,
      aggregator: 'max',
    });
    this.endpointEjectedUntil.source = function* () {
      const now = Date.now();
      for (const ep of live()) if (ep.ejectedUntil > now) yield { labels: { endpoint: ep.label }, value: ep.ejectedUntil / 1000 };
    };
  }
}
