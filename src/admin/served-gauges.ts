// Gauges the primary refreshes right before a scrape from what it serves: endpoint availability
// per route (switchyard_endpoint_up, switchyard_route_endpoints_available), certificate expiry
// (route certificates and the default one) and readiness. Certificates are parsed once per PEM
// text, not per scrape.

import { X509Certificate } from 'node:crypto';
import type { Metrics } from '../metrics.ts';
import type { CompiledRoute } from '../table/types.ts';
import type { EndpointRegistry } from '../health/endpoint-registry.ts';

export class ServedGauges {
  readonly #metrics: Metrics;
  /** notAfter (s since epoch) by PEM text; entries of certificates no longer served are dropped. */
  #expiry = new Map<string, number | null>();
  #defaultCertificate: string | null = null;
  /**
   * The values last written, by series (`route\nendpoint` / route): a scrape writes only what
   * changed and removes what left, instead of resetting and rebuilding every series (300,000
   * endpoint series at 100k routes took over a second per scrape).
   */
  #endpointUp = new Map<string, number>();
  #available = new Map<string, number>();

  constructor(metrics: Metrics) {
    this.#metrics = metrics;
  }

  /** The default certificate's PEM chain (its first certificate is the leaf). */
  setDefaultCertificate(pem: string): void {
    this.#defaultCertificate = pem;
  }

  refresh(routes: Iterable<CompiledRoute>, registry: EndpointRegistry, ready: boolean): void {
    const { endpointUp, routeEndpointsAvailable, certificateExpiry } = this.#metrics;
    certificateExpiry.reset();
    this.#metrics.ready.set(ready ? 1 : 0);
    const now = Date.now();
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
    const availableByRoute = new Map<string, number>();
    const upNow = new Map<string, number>();
    for (const route of routes) {
      const label = `${route.namespace}/${route.name}`;
      let available = availableByRoute.get(label) ?? 0;
      for (const service of route.services) {
        for (const ep of service.endpoints) {
          const state = registry.get(ep.id);
          const up = state === undefined || state.available(now);
          const name = state?.name ?? `${ep.address}:${ep.port}`;
          const key = `${label}\n${name}`;
          const value = up ? 1 : 0;
          // Compared with what the gauge holds now (an endpoint may be listed twice: last one wins).
          const holds = upNow.has(key) ? upNow.get(key) : this.#endpointUp.get(key);
          if (holds !== value) endpointUp.labels(label, name).set(value);
          upNow.set(key, value);
          if (up && ep.weight > 0) available++;
        }
      }
      availableByRoute.set(label, available);
      if (route.tls?.certificate) {
        const value = expiry(route.tls.certificate.cert);
        if (value !== null) certificateExpiry.labels('route', label).set(value);
      }
    }
    for (const key of this.#endpointUp.keys()) {
      if (upNow.has(key)) continue;
      const cut = key.indexOf('\n'); // route labels (namespace/name) have no newline
      endpointUp.remove(key.slice(0, cut), key.slice(cut + 1));
    }
    this.#endpointUp = upNow;
    for (const [label, available] of availableByRoute) {
      if (this.#available.get(label) !== available) routeEndpointsAvailable.labels(label).set(available);
    }
    for (const label of this.#available.keys()) if (!availableByRoute.has(label)) routeEndpointsAvailable.remove(label);
    this.#available = availableByRoute;
    this.#expiry = seen;
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
