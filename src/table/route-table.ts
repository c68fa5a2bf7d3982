// The proxy's view of the table: host entries with a runtime item T per compiled route
// (balancer, pools, metric children — whatever the proxy builds), updated in place by deltas.
// Only host entries named in a delta are rebuilt; an item's builder gets the previous item of
// the same route key so state (connections, counters) can carry across a swap; items that
// leave the table are disposed.

import { MATCH_ALL, matchesConditions, matchesPath, normalizeHost, parentDomain, pathEnd, pathMatcher, type MatchRequest } from './match.ts';
import { selectListener } from './listener-selection.ts';
import { CompiledRequestPatterns } from './request-patterns.ts';
import { HOSTLESS_HOST_KEY, type CompiledRoute, type GatewayEntryPoint, type HostEntry, type RequestConditions, type TableDelta } from './types.ts';

/**
 * One-element kind and pattern lists shared by the slots of single-route hosts (most hosts):
 * two arrays per host (~110 bytes) otherwise. Never written after they are made. The patterns are
 * bounded: past the limit a slot keeps its own list, which only costs sharing.
 */
const ONE_KINDS: number[][] = [];
const ONE_PATTERNS = new Map<string, string[]>();
const ONE_PATTERNS_LIMIT = 4096;

function oneKind(kind: number): number[] {
  return (ONE_KINDS[kind] ??= [kind]);
}

function onePattern(pattern: string): string[] {
  const known = ONE_PATTERNS.get(pattern);
  if (known !== undefined) return known;
  const list = [pattern];
  if (ONE_PATTERNS.size < ONE_PATTERNS_LIMIT) ONE_PATTERNS.set(pattern, list);
  return list;
}

class HostSlot<T> {
  readonly key: string;
  readonly routes: readonly CompiledRoute[];
  readonly items: T[];
  /** Path matcher kind by route: a plain small-integer array (a Uint8Array costs ~200 bytes per slot with its buffer). */
  readonly kinds: number[];
  readonly patterns: string[];
  /** HostEntry.ownerNamespace, or null. */
  readonly ownerNamespace: string | null;
  /** HTTPRoute/GRPCRoute request conditions by route; null when no route of the slot has any (Routes, Ingresses). */
  readonly conditions: Array<RequestConditions | null> | null;
  /** Their regular-expression conditions, compiled; null when no route of the slot has any. */
  readonly matchers: Array<CompiledRequestPatterns | null> | null;
  /**
   * Wildcard slots: routes whose `*.domain` also matches deeper names (Gateway API hostnames
   * are suffix matches; OpenShift and Ingress wildcards match one label). null when none.
   */
  readonly deep: Uint8Array | null;
  /** Holds an HTTPRoute with an HTTPS listener's certificate (only the hostless slot uses it, see lookupHost). */
  readonly listenerCertificate: boolean;
  /** Holds a TLSRoute (a stream chosen by SNI, see findStream). */
  readonly streams: boolean;

  constructor(key: string, routes: readonly CompiledRoute[], items: T[], ownerNamespace: string | null = null) {
    this.key = key;
    this.ownerNamespace = ownerNamespace;
    this.routes = routes;
    this.items = items;
    const kinds = new Array<number>(routes.length);
    const patterns = new Array<string>(routes.length);
    let conditions: Array<RequestConditions | null> | null = null;
    let matchers: Array<CompiledRequestPatterns | null> | null = null;
    let deep: Uint8Array | null = null;
    for (let i = 0; i < routes.length; i++) {
      const route = routes[i]!;
      const m = pathMatcher(route);
      kinds[i] = m.kind;
      patterns[i] = m.pattern;
      if (route.gateway !== undefined) {
        conditions ??= new Array<RequestConditions | null>(routes.length).fill(null);
        conditions[i] = route.gateway.conditions;
        if (route.wildcard) (deep ??= new Uint8Array(routes.length))[i] = 1;
        const patterns = route.gateway.conditions.patterns;
        if (patterns !== null && patterns !== undefined) {
          (matchers ??= new Array<CompiledRequestPatterns | null>(routes.length).fill(null))[i] = new CompiledRequestPatterns(patterns);
        }
      }
    }
    // Most hosts have one route: its one-element lists are shared by every such host with the same path.
    this.kinds = routes.length === 1 ? oneKind(kinds[0]!) : kinds;
    this.patterns = routes.length === 1 ? onePattern(patterns[0]!) : patterns;
    this.conditions = conditions;
    this.matchers = matchers;
    this.deep = deep;
    // A TLSRoute's (Terminate) certificate is for its streams, never for HTTP on other names.
    this.listenerCertificate = routes.some((r) => r.gateway !== undefined && r.gateway.stream === undefined && r.tls !== null && r.tls.certificate !== null);
    this.streams = routes.some((r) => r.gateway?.stream !== undefined);
  }

  /**
   * Index of the first route matching `target[0, end)` (and its conditions), or -1. `deepOnly`:
   * suffix-wildcard routes only. `listener`: the request arrived on a Gateway's own address and
   * belongs to this listener: only HTTPRoutes attached to it qualify.
   */
  find(target: string, end: number, req?: MatchRequest, secure = false, deepOnly = false, listener: string | null = null): number {
    const kinds = this.kinds;
    const conditions = this.conditions;
    if (conditions === null) {
      if (listener !== null) return -1;
      // Routes and Ingresses only: the path is the whole decision (the common case, kept minimal).
      for (let i = 0; i < kinds.length; i++) {
        const kind = kinds[i]!;
        if (kind === MATCH_ALL || matchesPath(kind, this.patterns[i]!, target, end)) return i;
      }
      return -1;
    }
    for (let i = 0; i < kinds.length; i++) {
      if (deepOnly && this.deep![i] === 0) continue;
      const kind = kinds[i]!;
      if (kind !== MATCH_ALL && !matchesPath(kind, this.patterns[i]!, target, end)) continue;
      const c = conditions[i]!;
      if (c === null ? listener !== null : !matchesConditions(c, req, secure, target, end, listener)) continue;
      if (this.matchers !== null && this.matchers[i] !== null && !this.matchers[i]!.matches(req, target, end)) continue;
      return i;
    }
    return -1;
  }

  /**
   * Index of the first TLSRoute whose streams come in where this one did: through `listener`
   * (a Gateway's own address), or through the shared HTTPS port (null); -1 when none.
   */
  findStream(listener: string | null, deepOnly = false): number {
    if (this.conditions === null) return -1;
    const routes = this.routes;
    for (let i = 0; i < routes.length; i++) {
      if (deepOnly && this.deep![i] === 0) continue;
      const stream = routes[i]!.gateway?.stream;
      if (stream === undefined) continue;
      if (listener === null ? stream.shared : stream.listeners.includes(listener)) return i;
    }
    return -1;
  }

  /** As find(), among the routes of one namespace only. */
  findOwned(target: string, end: number, namespace: string, req?: MatchRequest, secure = false): number {
    const kinds = this.kinds;
    const conditions = this.conditions;
    for (let i = 0; i < kinds.length; i++) {
      if (this.routes[i]!.namespace !== namespace) continue;
      const kind = kinds[i]!;
      if (kind !== MATCH_ALL && !matchesPath(kind, this.patterns[i]!, target, end)) continue;
      // An HTTPRoute's (GRPCRoute's) method, header, query, listener and pattern conditions hold here too.
      const c = conditions === null ? null : conditions[i]!;
      if (c !== null && !matchesConditions(c, req, secure, target, end)) continue;
      if (this.matchers !== null && this.matchers[i] !== null && !this.matchers[i]!.matches(req, target, end)) continue;
      return i;
    }
    return -1;
  }
}

export interface HostLookup<T> {
  key: string;
  items: readonly T[];
}

export class RouteTable<T> {
  #build: (route: CompiledRoute, previous: T | undefined) => T;
  #dispose: (item: T) => void;
  #exact = new Map<string, HostSlot<T>>();
  /** Wildcard entries by served parent domain: `*.foo.com` under `foo.com`. */
  #wildcard = new Map<string, HostSlot<T>>();
  /**
   * Ingress rules without host (entry key HOSTLESS_HOST_KEY): a dedicated slot rather than a
   * map key, so a request's Host can never select it by name and the lookup is one null check.
   */
  #hostless: HostSlot<T> | null = null;
  #byRouteKey = new Map<string, T>();
  /** Wildcard slots holding suffix-wildcard (HTTPRoute) routes; the deeper lookup runs only when > 0. */
  #deepSlots = 0;
  /** Slots holding TLSRoutes: a table without any answers matchStream with one check (every TLS handshake asks). */
  #streamSlots = 0;
  #defaultRoute: CompiledRoute | null = null;
  #defaultItem: T | null = null;
  version = 0;

  constructor(build: (route: CompiledRoute, previous: T | undefined) => T, dispose: (item: T) => void) {
    this.#build = build;
    this.#dispose = dispose;
  }

  #slots(key: string): [Map<string, HostSlot<T>>, string] {
    return key.startsWith('*.') ? [this.#wildcard, key.slice(2)] : [this.#exact, key];
  }

  #slot(key: string): HostSlot<T> | undefined {
    if (key === HOSTLESS_HOST_KEY) return this.#hostless ?? undefined;
    const [map, name] = this.#slots(key);
    return map.get(name);
  }

  #setSlot(key: string, slot: HostSlot<T> | null): void {
    const before = this.#slot(key);
    if (before !== undefined && before.streams) this.#streamSlots--;
    if (slot !== null && slot.streams) this.#streamSlots++;
    if (key === HOSTLESS_HOST_KEY) {
      this.#hostless = slot;
      return;
    }
    const [map, name] = this.#slots(key);
    const previous = map.get(name);
    if (previous !== undefined && previous.deep !== null) this.#deepSlots--;
    if (slot === null) map.delete(name);
    else map.set(name, slot);
    if (slot !== null && slot.deep !== null) this.#deepSlots++;
  }

  /** The nearest suffix-wildcard slot above `parent` (`a.b.foo.com` → `foo.com`, `com`) with a route matching, for the deeper lookup. */
  #deepMatch(parent: string, path: string, end: number, req: MatchRequest | undefined, secure: boolean, listener: string | null): T | null {
    let domain = parentDomain(parent);
    while (domain !== '') {
      const slot = this.#wildcard.get(domain);
      if (slot !== undefined && slot.deep !== null) {
        const i = slot.find(path, end, req, secure, true, listener);
        if (i !== -1) return slot.items[i]!;
      }
      domain = parentDomain(domain);
    }
    return null;
  }

  apply(delta: TableDelta): void {
    const retired: Array<[string, T]> = [];
    const added: Array<[string, T]> = [];
    const retire = (key: string): void => {
      const slot = this.#slot(key);
      if (!slot) return;
      for (let i = 0; i < slot.routes.length; i++) retired.push([slot.routes[i]!.key, slot.items[i]!]);
      this.#setSlot(key, null);
    };
    for (const key of delta.remove) retire(key);
    if (delta.reset === true) {
      const kept = new Set(delta.upsert.map((e) => e.key));
      const all = [...[...this.#exact.values()].map((slot) => slot.key), ...[...this.#wildcard.values()].map((slot) => slot.key), ...(this.#hostless ? [HOSTLESS_HOST_KEY] : [])];
      for (const key of all) if (!kept.has(key)) retire(key);
    }
    for (const entry of delta.upsert) retire(entry.key);
    for (const entry of delta.upsert) this.#install(entry, added);
    if (delta.defaultBackend !== undefined) {
      if (this.#defaultRoute !== null) retired.push([this.#defaultRoute.key, this.#defaultItem!]);
      this.#defaultRoute = delta.defaultBackend;
      this.#defaultItem = null;
      if (delta.defaultBackend !== null) {
        const item = this.#build(delta.defaultBackend, this.#byRouteKey.get(delta.defaultBackend.key));
        this.#defaultItem = item;
        added.push([delta.defaultBackend.key, item]);
      }
    }
    for (const [key, item] of retired) if (this.#byRouteKey.get(key) === item) this.#byRouteKey.delete(key);
    for (const [key, item] of added) this.#byRouteKey.set(key, item);
    // Disposed only once nothing in the table refers to it (a builder may return `previous`).
    for (const [key, item] of retired) if (this.#byRouteKey.get(key) !== item) this.#dispose(item);
    this.version = delta.version;
  }

  #install(entry: HostEntry, added: Array<[string, T]>): void {
    const items = new Array<T>(entry.routes.length); // sized: push leaves room for 17 per slot
    for (let i = 0; i < entry.routes.length; i++) {
      const route = entry.routes[i]!;
      const item = this.#build(route, this.#byRouteKey.get(route.key));
      items[i] = item;
      added.push([route.key, item]);
    }
    this.#setSlot(entry.key, new HostSlot(entry.key, entry.routes, items, entry.ownerNamespace ?? null));
  }

  /**
   * The item serving a request: exact host, else the wildcard of its parent domain (also when
   * the exact host has no matching path), else the Ingress rules without host (by path), else
   * the Ingress default backend, else null. A host owned by a namespace (its exact entry or
   * the wildcard above it, see HostEntry.ownerNamespace) falls through only to rules without
   * host and a default backend of that same namespace: another tenant's catch-all must not
   * receive its requests (and their cookies) on paths it does not route.
   *
   * `entry`: the request arrived on a Gateway's own address and port. It belongs to the most
   * specific listener there matching its host (none: null) and only the HTTPRoutes attached to
   * that listener serve it — no Route, Ingress or default backend.
   */
  match(hostHeader: string, path: string, req?: MatchRequest, secure = false, entry: GatewayEntryPoint | null = null): T | null {
    const host = normalizeHost(hostHeader);
    const end = pathEnd(path);
    let listener: string | null = null;
    if (entry !== null) {
      const selected = selectListener(entry.listeners, host);
      if (selected === null) return null;
      listener = selected.key;
    }
    let owner: string | null = null;
    const exact = this.#exact.get(host);
    if (exact !== undefined) {
      const i = exact.find(path, end, req, secure, false, listener);
      if (i !== -1) return exact.items[i]!;
      owner = exact.ownerNamespace;
    }
    if (this.#wildcard.size > 0) {
      const parent = parentDomain(host);
      const wildcard = this.#wildcard.get(parent);
      if (wildcard !== undefined) {
        const i = wildcard.find(path, end, req, secure, false, listener);
        if (i !== -1) return wildcard.items[i]!;
        owner ??= wildcard.ownerNamespace;
      }
      if (this.#deepSlots > 0) {
        const deep = this.#deepMatch(parent, path, end, req, secure, listener);
        if (deep !== null) return deep;
      }
    }
    const hostless = this.#hostless;
    if (hostless !== null) {
      const i = owner === null || listener !== null ? hostless.find(path, end, req, secure, false, listener) : hostless.findOwned(path, end, owner, req, secure);
      if (i !== -1) return hostless.items[i]!;
    }
    if (listener !== null) return null;
    if (owner !== null && this.#defaultRoute !== null && this.#defaultRoute.namespace !== owner) return null;
    return this.#defaultItem;
  }

  /**
   * The TLSRoute serving a TLS stream whose ClientHello names `serverName` (normalised; '' when
   * it names none), or null. `entry`: it arrived on a Gateway's own address and port, where it
   * belongs to the most specific listener matching the name (as a request does, see match());
   * null: on the shared HTTPS port. The exact host first, then the wildcards above it (the
   * nearest first), then the routes without hostname. Routes, Ingresses and HTTPRoutes never
   * serve a stream: they see requests.
   */
  matchStream(serverName: string, entry: GatewayEntryPoint | null = null): T | null {
    if (this.#streamSlots === 0) return null;
    let listener: string | null = null;
    if (entry !== null) {
      const selected = selectListener(entry.listeners, serverName);
      if (selected === null) return null;
      listener = selected.key;
    }
    if (serverName !== '') {
      const exact = this.#exact.get(serverName);
      if (exact !== undefined) {
        const i = exact.findStream(listener);
        if (i !== -1) return exact.items[i]!;
      }
      const parent = parentDomain(serverName);
      const wildcard = this.#wildcard.get(parent);
      if (wildcard !== undefined) {
        const i = wildcard.findStream(listener);
        if (i !== -1) return wildcard.items[i]!;
      }
      for (let domain = parentDomain(parent); domain !== '' && this.#deepSlots > 0; domain = parentDomain(domain)) {
        const slot = this.#wildcard.get(domain);
        if (slot === undefined || slot.deep === null) continue;
        const i = slot.findStream(listener, true);
        if (i !== -1) return slot.items[i]!;
      }
    }
    const hostless = this.#hostless;
    if (hostless !== null) {
      const i = hostless.findStream(listener);
      if (i !== -1) return hostless.items[i]!;
    }
    return null;
  }

  /**
   * Host-only lookup (TLS SNI decisions): the exact entry, else the parent's wildcard entry.
   * Never the Ingress rules without host: they have no certificate, a name they do not own gets
   * the default one (and a request routed through them is plain HTTP served over it). The
   * exception is an HTTPS Gateway listener without hostname: its HTTPRoutes without hostnames
   * land there with the listener's certificate, which then answers any other name.
   */
  lookupHost(host: string): HostLookup<T> | null {
    const name = normalizeHost(host);
    const slot = this.#exact.get(name) ?? this.#wildcard.get(parentDomain(name)) ?? this.#deepSlot(parentDomain(name))
      ?? (this.#hostless !== null && this.#hostless.listenerCertificate ? this.#hostless : undefined);
    return slot === undefined ? null : { key: slot.key, items: slot.items };
  }

  /** The nearest suffix-wildcard slot above `parent`, for certificate lookups. */
  #deepSlot(parent: string): HostSlot<T> | undefined {
    if (this.#deepSlots === 0) return undefined;
    for (let domain = parentDomain(parent); domain !== ''; domain = parentDomain(domain)) {
      const slot = this.#wildcard.get(domain);
      if (slot !== undefined && slot.deep !== null) return slot;
    }
    return undefined;
  }

  /** The compiled routes of a host entry (for diagnostics). */
  routesOf(hostKey: string): readonly CompiledRoute[] | null {
    return this.#slot(hostKey)?.routes ?? null;
  }

  /** The item currently serving a route key (after a swap: the successor), or undefined. */
  current(routeKey: string): T | undefined {
    return this.#byRouteKey.get(routeKey);
  }

  *items(): IterableIterator<T> {
    yield* this.#byRouteKey.values();
  }
}
