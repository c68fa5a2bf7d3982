// What the dashboard page shows, as JSON: one row per served route (an Ingress contributes one
// per rule/path) and per rejected Route/Ingress, with backends, endpoint health and the
// one-minute figures; filtered, sorted and paginated here so the page stays small at 10k routes.

import type { Reconciler } from '../controller/reconciler.ts';
import type { EndpointRegistry } from '../health/endpoint-registry.ts';
import { endpointPod, type AdmissionResult, type CompiledRoute, type RouteKind } from '../table/types.ts';
import type { RouteStats } from './route-stats.ts';
import type { EndpointFigures } from './stats-sampler.ts';
import type { ProbeResults, ProbeResult } from './probe-results.ts';

export interface EndpointView {
  id: string;
  name: string;
  weight: number;
  acceptsNew: boolean;
  pod?: string;
  /** Active check verdict (true when not checked). */
  up: boolean;
  /** Passive ejection end (ms since epoch), null when not ejected. */
  ejectedUntil: number | null;
  inFlight: number;
  lastProbe: ProbeResult | null;
  /** Takes new requests: up, not ejected, weight > 0. */
  available: boolean;
}

export interface RouteRow {
  key: string;
  kind: RouteKind;
  namespace: string;
  name: string;
  host: string;
  path: string;
  /** 'http' when the route has no TLS. */
  termination: string;
  state: 'admitted' | 'rejected';
  reason?: string;
  message?: string;
  backends: Array<{ service: string; weight: number; endpoints: EndpointView[] }>;
  /** Attached Middlewares in order (name and plugin; their config stays out: it may hold credentials). */
  middlewares?: Array<{ name: string; plugin: string }>;
  endpoints: number;
  available: number;
  stats: RouteStats | null;
}

export interface RouteQuery {
  q?: string;
  namespace?: string;
  /** admitted | rejected | down (admitted, no available endpoint) | degraded (some unavailable) */
  state?: string;
  sort?: string;
  offset?: number;
  limit?: number;
}

interface StaticRow { key: string; owner: string; route: CompiledRoute | null; admission: AdmissionResult | undefined; search: string }

export interface LiveFigures {
  stats: ReadonlyMap<string, RouteStats>;
  /** Seconds the stats cover; null while they are unknown. A route without series then had no requests. */
  windowSeconds: number | null;
  endpoints: ReadonlyMap<string, EndpointFigures>;
}

export const MAX_PAGE = 500;

export class DashboardViews {
  readonly #reconciler: Reconciler;
  readonly #registry: EndpointRegistry;
  readonly #probes: ProbeResults;
  #rows: StaticRow[] | null = null;
  #byKey = new Map<string, StaticRow>();
  #namespaces: string[] = [];

  constructor(reconciler: Reconciler, registry: EndpointRegistry, probes: ProbeResults) {
    this.#reconciler = reconciler;
    this.#registry = registry;
    this.#probes = probes;
    // Rebuilt lazily on the next request after a change, never per event.
    const invalidate = () => { this.#rows = null; };
    reconciler.on('delta', invalidate);
    reconciler.on('admission', invalidate);
  }

  /** One page of rows matching the query, plus the total and the namespaces for the filter. */
  routes(query: RouteQuery, live: LiveFigures): { total: number; offset: number; limit: number; namespaces: string[]; items: RouteRow[] } {
    const rows = this.#staticRows();
    const q = query.q?.trim().toLowerCase() ?? '';
    const limit = Math.min(Math.max(1, query.limit ?? 100), MAX_PAGE);
    const offset = Math.max(0, query.offset ?? 0);
    const needsLive = query.state === 'down' || query.state === 'degraded' || (query.sort !== undefined && query.sort !== 'name');
    let matched: Array<{ row: StaticRow; view: RouteRow | null }> = [];
    for (const row of rows) {
      if (q !== '' && !row.search.includes(q)) continue;
      if (query.namespace && row.route?.namespace !== query.namespace && row.admission?.namespace !== query.namespace) continue;
      const admitted = row.route !== null;
      if (query.state === 'admitted' && !admitted) continue;
      if (query.state === 'rejected' && admitted) continue;
      if ((query.state === 'down' || query.state === 'degraded') && !admitted) continue;
      matched.push({ row, view: needsLive ? this.#view(row, live) : null });
    }
    if (query.state === 'down') matched = matched.filter((m) => m.view!.available === 0);
    if (query.state === 'degraded') matched = matched.filter((m) => m.view!.available < m.view!.endpoints);
    const sortBy = SORTS[query.sort ?? ''];
    if (sortBy !== undefined) matched.sort((a, b) => sortBy(b.view!) - sortBy(a.view!) || (a.row.key < b.row.key ? -1 : 1));
    const page = matched.slice(offset, offset + limit).map((m) => m.view ?? this.#view(m.row, live));
    return { total: matched.length, offset, limit, namespaces: this.#namespaces, items: page };
  }

  /** Everything known about one row: the row, the compiled route (policies, TLS summary) and the admission result. */
  detail(key: string, live: LiveFigures): unknown {
    this.#staticRows();
    const row = this.#byKey.get(key);
    if (row === undefined) return null;
    const route = row.route;
    return {
      row: this.#view(row, live),
      admission: row.admission ?? null,
      // The route's forwarding settings and its built-in policies with their configs, in chain order.
      policy: route ? { ...route.policy, plugins: route.plugins } : null,
      tls: route?.tls ? {
        termination: route.tls.termination,
        insecureEdgeTerminationPolicy: route.tls.insecurePolicy,
        certificate: route.tls.certificate === null ? 'default' : 'route',
        destinationCA: route.tls.destinationCA === null ? 'default' : 'route',
        serverName: route.tls.serverName,
      } : null,
      match: route?.match ?? null,
      notes: route?.notes ?? [],
    };
  }

  counts(live: LiveFigures): { routes: number; admitted: number; rejected: number; down: number; endpoints: number; endpointsAvailable: number } {
    const rows = this.#staticRows();
    let admitted = 0, down = 0;
    for (const row of rows) {
      if (row.route === null) continue;
      admitted++;
      if (this.#view(row, live).available === 0) down++;
    }
    let endpoints = 0, available = 0;
    const now = Date.now();
    for (const state of this.#registry.values()) {
      endpoints++;
      const ejected = (live.endpoints.get(state.label)?.ejectedUntil ?? 0) > now;
      if (state.available(now) && !ejected) available++;
    }
    return { routes: rows.length, admitted, rejected: rows.length - admitted, down, endpoints, endpointsAvailable: available };
  }

  #staticRows(): StaticRow[] {
    if (this.#rows !== null) return this.#rows;
    const admissions = new Map<string, AdmissionResult>();
    for (const result of this.#reconciler.admissionResults()) admissions.set(result.key, result);
    const rows: StaticRow[] = [];
    const served = new Set<string>();
    const add = (route: CompiledRoute | null, admission: AdmissionResult | undefined, key: string, owner: string) => {
      const host = route ? displayHost(route) : admission?.host ?? '';
      const ns = route?.namespace ?? admission?.namespace ?? '';
      const name = route?.name ?? admission?.name ?? '';
      rows.push({ key, owner, route, admission, search: `${host}${route?.path ?? ''} ${ns}/${name}`.toLowerCase() });
    };
    const snapshot = this.#reconciler.snapshot();
    const compiled = snapshot.upsert.flatMap((entry) => entry.routes);
    if (snapshot.defaultBackend) compiled.push(snapshot.defaultBackend);
    for (const route of compiled) {
      const owner = `${route.kind}/${route.namespace}/${route.name}`;
      served.add(owner);
      add(route, admissions.get(owner), route.key, owner);
    }
    for (const [owner, admission] of admissions) {
      if (!served.has(owner)) add(null, admission, owner, owner);
    }
    rows.sort((a, b) => compare(a, b));
    this.#byKey = new Map(rows.map((r) => [r.key, r]));
    this.#namespaces = [...new Set(rows.map((r) => r.route?.namespace ?? r.admission?.namespace ?? ''))].sort();
    this.#rows = rows;
    return rows;
  }

  #view(row: StaticRow, live: LiveFigures): RouteRow {
    const route = row.route;
    const admission = row.admission;
    const now = Date.now();
    let endpoints = 0, available = 0;
    const backends = (route?.services ?? []).map((service) => ({
      service: service.name,
      weight: service.weight,
      endpoints: service.endpoints.map((ep): EndpointView => {
        const state = this.#registry.get(ep.id);
        const figures = state ? live.endpoints.get(state.label) : undefined;
        const ejectedUntil = Math.max(state?.ejectedUntil ?? 0, figures?.ejectedUntil ?? 0);
        const up = state ? state.activeUp : true;
        const ok = up && ejectedUntil <= now && ep.weight > 0;
        endpoints++;
        if (ok) available++;
        return {
          id: ep.id, name: state?.label ?? `${ep.address}:${ep.port}`, weight: ep.weight, acceptsNew: ep.acceptsNew, pod: endpointPod(service, ep),
          up, ejectedUntil: ejectedUntil > now ? ejectedUntil : null,
          inFlight: figures?.inFlight ?? state?.active ?? 0,
          lastProbe: this.#probes.get(ep.id) ?? null,
          available: ok,
        };
      }),
    }));
    const view: RouteRow = {
      key: row.key,
      kind: route?.kind ?? admission?.kind ?? 'Route',
      namespace: route?.namespace ?? admission?.namespace ?? '',
      name: route?.name ?? admission?.name ?? '',
      host: route ? displayHost(route) : admission?.host ?? '',
      path: route?.path ?? '',
      termination: route?.tls?.termination ?? (route ? 'http' : ''),
      state: route !== null ? 'admitted' : 'rejected',
      backends,
      endpoints,
      available,
      stats: route ? live.stats.get(`${route.namespace}/${route.name}`) ?? idle(live.windowSeconds) : null,
    };
    if (route === null && admission !== undefined) {
      view.reason = admission.reason ?? 'NotServed';
      view.message = admission.admitted ? 'admitted, but not in the table (no host entry)' : admission.message;
    }
    if (route !== null && route.middlewares?.length > 0) view.middlewares = route.middlewares.map((m) => ({ name: m.name, plugin: m.plugin }));
    return view;
  }
}

/** Figures of a route that has no series yet: it answered nothing in the window. */
function idle(windowSeconds: number | null): RouteStats | null {
  return windowSeconds === null ? null : { requests: 0, rate: 0, errorRatio: null, p50: null, p99: null, grpc: null, windowSeconds };
}

const SORTS: Record<string, (row: RouteRow) => number> = {
  rate: (r) => r.stats?.rate ?? -1,
  errors: (r) => r.stats?.errorRatio ?? -1,
  p99: (r) => r.stats?.p99 ?? -1,
  unavailable: (r) => r.endpoints - r.available,
};

function displayHost(route: CompiledRoute): string {
  if (route.host === '') return '*';
  return route.wildcard ? `*.${route.host}` : route.host;
}

function compare(a: StaticRow, b: StaticRow): number {
  const ka = `${a.route?.namespace ?? a.admission?.namespace}/${a.route?.name ?? a.admission?.name}\0${a.key}`;
  const kb = `${b.route?.namespace ?? b.admission?.namespace}/${b.route?.name ?? b.admission?.name}\0${b.key}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}
