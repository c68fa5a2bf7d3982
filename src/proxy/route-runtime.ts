// The proxy's live form of a compiled route: built once per table change (never per request)
// from the CompiledRoute data. Holds the balancer, the members (shared EndpointStates with this
// route's weights), the resolved metric children and the per-route header decisions.

import type { Counter, Histogram } from 'prom-client';
import type { CompiledRoute } from '../table/types.ts';
import type { Balancer, Member } from '../balance/types.ts';
import { createBalancer } from '../balance/create-balancer.ts';
import type { EndpointRegistry } from '../health/endpoint-registry.ts';
import type { Metrics } from '../metrics.ts';
import { RouteRateLimit } from '../policies/rate-limit.ts';

const CODE_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

export class RouteRuntime {
  readonly route: CompiledRoute;
  readonly members: readonly Member[];
  readonly balancer: Balancer;
  /** `namespace/name` — the metrics label. */
  readonly label: string;
  /** true when at least one member has weight > 0 (else every request is 503 ZERO_WEIGHT). */
  readonly hasWeight: boolean;
  readonly reencrypt: boolean;
  /** Per-source limits; null when the route has none (one check per request). */
  readonly rateLimit: RouteRateLimit | null;
  /** TLS server name for reencrypt endpoints; undefined otherwise. */
  readonly serverName: string | undefined;
  /** Requests counter children by status class index (status / 100 - 1). */
  readonly requestsByClass: ReadonlyArray<Counter.Internal>;
  readonly duration: Histogram.Internal<'route'>;
  readonly #metrics: Metrics;
  readonly #errorChildren = new Map<string, Counter.Internal>();

  constructor(route: CompiledRoute, registry: EndpointRegistry, metrics: Metrics) {
    this.route = route;
    this.label = `${route.namespace}/${route.name}`;
    this.#metrics = metrics;
    const members: Member[] = [];
    let hasWeight = false;
    for (const service of route.services) {
      for (const ep of service.endpoints) {
        const endpoint = registry.acquire(ep);
        members.push({ endpoint, weight: ep.weight, acceptsNew: ep.acceptsNew });
        if (ep.weight > 0) hasWeight = true;
      }
    }
    this.members = members;
    this.hasWeight = hasWeight;
    this.balancer = createBalancer(route.policy.balance, members);
    this.reencrypt = route.tls?.termination === 'reencrypt';
    this.rateLimit = route.policy.rateLimit === null ? null : new RouteRateLimit(route.policy.rateLimit);
    this.serverName = this.reencrypt ? route.tls!.serverName : undefined;
    this.requestsByClass = CODE_CLASSES.map((c) => metrics.requests.labels(this.label, c));
    this.duration = metrics.requestDuration.labels(this.label);
  }

  countResponse(status: number, seconds: number): void {
    const index = ((status / 100) | 0) - 1;
    const child = this.requestsByClass[index < 0 ? 0 : index > 4 ? 4 : index];
    child!.inc();
    this.duration.observe(seconds);
  }

  /** Errors are rare: the child is resolved on first use and cached on the route. */
  countUpstreamError(reason: string): void {
    let child = this.#errorChildren.get(reason);
    if (!child) this.#errorChildren.set(reason, (child = this.#metrics.upstreamErrors.labels(this.label, reason)));
    child.inc();
  }

  release(registry: EndpointRegistry): void {
    for (const member of this.members) registry.release(member.endpoint);
  }
}
