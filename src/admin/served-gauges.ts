// Gauges the main thread reports from what it serves: endpoint availability per route
// (switchyard_endpoint_up, switchyard_route_endpoints_available: computed when collected),
// certificate expiry (route certificates and the default one) and readiness (refreshed right
// before a scrape). Certificates are parsed once per PEM text, not per scrape.

import { X509Certificate } from 'node:crypto';
import type { GaugeValue, Metrics } from '../metrics.ts';
import type { CompiledRoute } from '../table/types.ts';
import type { EndpointRegistry } from '../health/endpoint-registry.ts';

export class ServedGauges {
  readonly #metrics: Metrics;
  /** notAfter (s since epoch) by PEM text; entries of certificates no longer served are dropped. */
  #expiry = new Map<string, number | null>();
  #defaultCertificate: string | null = null;

  /**
   * switchyard_endpoint_up and switchyard_route_endpoints_available are computed from the
   * served routes and the endpoint states each time they are collected and kept nowhere in
   * between (metrics.ts, ComputedGauge): three series per route were about 1.2 KB of the
   * router's memory per route as stored gauge children plus the last values compared with.
   */
  constructor(metrics: Metrics, served?: { routes: () => Iterable<CompiledRoute>; registry: EndpointRegistry }) {
    this.#metrics = metrics;
    if (served !== undefined) {
      metrics.endpointUp.source = () => endpointUpValues(served.routes(), served.registry, Date.now());
      metrics.routeEndpointsAvailable.source = () => availableValues(served.routes(), served.registry, Date.now());
    }
  }

  /** The default certificate's PEM chain (its first certificate is the leaf). */
  setDefaultCertificate(pem: string): void {
    this.#defaultCertificate = pem;
  }

  /** Before a scrape: certificate expiry (parsed once per PEM text) and readiness. */
  refresh(routes: Iterable<CompiledRoute>, ready: boolean): void {
    const { certificateExpiry } = this.#metrics;
    certificateExpiry.reset();
    this.#metrics.ready.set(ready ? 1 : 0);
    const seen = new Map<string, number | null>();
    const expiry = (pem: string) => {
      let value = seen.get(pem) ?? this.#expiry.get(pem);
      if (value === undefined) value = notAfter(pem);
      seen.set(pem, value);
      return value;
    };
    if (this.#defaultCertificate !== null) {
      const value = expiry(this.#defaultCertificate);
      if (value !== null) certificateExpiry.labels('default', '').set(value);
    }
    for (const route of routes) {
      if (route.tls?.certificate) {
        const value = expiry(route.tls.certificate.cert);
        if (value !== null) certificateExpiry.labels('route', `${route.namespace}/${route.name}`).set(value);
      }
    }
    this.#expiry = seen;
  }
}

/**
 * Compiled routes by metrics label (`namespace/name`), in order of first appearance. An Ingress
 * or HTTPRoute compiles to several routes that share one label (not always next to each other),
 * and a Route can share its label with them; a Route alone compiles to one (its key is
 * `Route/ns/name`). So only labels of other kinds are grouped up front: a router of Routes keeps
 * no per-route map while a scrape writes these series.
 */
function* byLabel(routes: Iterable<CompiledRoute>): Generator<[string, CompiledRoute | CompiledRoute[]]> {
  const list = Array.isArray(routes) ? (routes as CompiledRoute[]) : [...routes];
  const shared = new Map<string, CompiledRoute[]>();
  for (const route of list) if (route.kind !== 'Route') shared.set(`${route.namespace}/${route.name}`, []);
  if (shared.size > 0) {
    for (const route of list) shared.get(`${route.namespace}/${route.name}`)?.push(route);
  }
  for (const route of list) {
    const label = `${route.namespace}/${route.name}`;
    const group = shared.size > 0 ? shared.get(label) : undefined;
    if (group === undefined) yield [label, route];
    else if (group[0] === route) yield [label, group]; // the label's first appearance
  }
}

/**
 * One series per route label and endpoint (an endpoint listed twice for a label: the last one
 * wins), yielded label by label so a scrape never holds every series at once.
 */
function* endpointUpValues(routes: Iterable<CompiledRoute>, registry: EndpointRegistry, now: number): Generator<GaugeValue<'route' | 'endpoint'>> {
  for (const [label, group] of byLabel(routes)) {
    // An endpoint listed twice keeps its first place and its last value. A label's endpoints are
    // usually few: a linear search finds it without a Map per label (an index only past 32).
    const names: string[] = [];
    const values: number[] = [];
    let index: Map<string, number> | null = null;
    for (const route of Array.isArray(group) ? group : [group]) {
      for (const service of route.services) {
        for (const ep of service.endpoints) {
          const state = registry.get(ep.id);
          const name = state?.label ?? `${ep.address}:${ep.port}`;
          const value = state === undefined || state.available(now) ? 1 : 0;
          const at = index !== null ? index.get(name) ?? -1 : names.indexOf(name);
          if (at >= 0) {
            values[at] = value;
            continue;
          }
          names.push(name);
          values.push(value);
          if (index !== null) index.set(name, names.length - 1);
          else if (names.length > 32) index = new Map(names.map((n, i) => [n, i]));
        }
      }
    }
    for (let i = 0; i < names.length; i++) yield { labels: { route: label, endpoint: names[i]! }, value: values[i]! };
  }
}

/** Endpoints with weight that can take requests, summed over the compiled routes of a label. */
function* availableValues(routes: Iterable<CompiledRoute>, registry: EndpointRegistry, now: number): Generator<GaugeValue<'route'>> {
  for (const [label, group] of byLabel(routes)) {
    let value = 0;
    for (const route of Array.isArray(group) ? group : [group]) {
      for (const service of route.services) {
        for (const ep of service.endpoints) {
          const state = registry.get(ep.id);
          if ((state === undefined || state.available(now)) && ep.weight > 0) value++;
        }
      }
    }
    yield { labels: { route: label }, value };
  }
}

/** notAfter of the first certificate in a PEM text, in seconds since epoch; null if unreadable. */
function notAfter(pem: string): number | null {
  try {
    return Math.floor(new X509Certificate(pem).validToDate.getTime() / 1000);
  } catch {
    return null;
  }
}
