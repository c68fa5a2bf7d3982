// The relay's metrics (prom-client, as the router's), served on its admin port at /metrics.

import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

export class RelayMetrics {
  readonly registry = new Registry();
  /** Open watches of clients on the relay, by resource. */
  readonly watchers: Gauge<'resource'>;
  /** Event lines written to watchers (one event to 20 watchers counts 20). */
  readonly eventsRelayed: Counter<'resource'>;
  /** Lists and watches answered from the cache. */
  readonly cacheReads: Counter<'verb' | 'resource'>;
  /** Collections the relay lists and watches at the API server. */
  readonly upstreamWatches: Gauge;
  /** Token and access reviews: answered from the relay's short-lived cache (hit) or asked of the API server (miss). */
  readonly authCache: Counter<'review' | 'result'>;
  /** Cached reads refused: 401 (no or invalid token), 403 (RBAC). */
  readonly refused: Counter<'code'>;
  /** Cached reads of a collection not held, proxied instead of opening it: the user's cap (`user`) or the relay's (`total`) reached. */
  readonly collectionsDeclined: Counter<'cap'>;
  /** Requests passed to the API server as they came (with the client's own credentials), by answer code. */
  readonly proxied: Counter<'code'>;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.watchers = new Gauge({ name: 'switchyard_relay_watchers', help: 'Open watches of clients on the relay', labelNames: ['resource'], registers });
    this.eventsRelayed = new Counter({ name: 'switchyard_relay_events_relayed_total', help: 'Watch events written to clients', labelNames: ['resource'], registers });
    this.cacheReads = new Counter({ name: 'switchyard_relay_cache_reads_total', help: 'Lists and watches answered from the relay cache', labelNames: ['verb', 'resource'], registers });
    this.upstreamWatches = new Gauge({ name: 'switchyard_relay_upstream_collections', help: 'Collections the relay lists and watches at the API server', registers });
    this.authCache = new Counter({ name: 'switchyard_relay_auth_cache_total', help: 'Token and access reviews by cache result', labelNames: ['review', 'result'], registers });
    this.refused = new Counter({ name: 'switchyard_relay_refused_total', help: 'Cached reads refused (401, 403)', labelNames: ['code'], registers });
    this.collectionsDeclined = new Counter({ name: 'switchyard_relay_collections_declined_total', help: 'Reads of a new collection proxied instead of cached: a cap on collections per user or in all reached', labelNames: ['cap'], registers });
    this.proxied = new Counter({ name: 'switchyard_relay_proxied_requests_total', help: 'Requests passed on to the API server', labelNames: ['code'], registers });
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }
}
