// The reconciler: store changes → admission → compiled host entries → TableDelta. Incremental:
// a batch re-evaluates only the Routes/Ingresses it touches (directly, or through their
// Namespace or an IngressClass), re-runs host ownership only on the hosts they claim (the
// whole domain group when a wildcard is involved), and recompiles only the hosts whose
// admitted candidates or dependencies (Service, EndpointSlice, Pod, Secret — indexed when a
// host is compiled) changed. Cost grows with the change, not with the number of routes.

import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { secretsReadByAdmission } from '../admission/extended-validation.ts';
import { claimsOf, admitHostOwnership } from '../admission/host-ownership.ts';
import { parseLabelSelector } from '../admission/label-selector.ts';
import { domainGroupOfHostKey, hostKeyOf, type AdmissionContext, type RouteCandidate, type Verdict } from '../admission/types.ts';
import type { RouterConfig } from '../config.ts';
import { middlewareFailure, type PluginCatalog } from '../admission/middlewares.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Ingress, Route } from '../objects/types.ts';
import { sliceServiceKey, type ObjectStore, type StoreChange } from '../store.ts';
import { compileHostEntry, compileRoute } from './compile.ts';
import { newDeps } from './compile-endpoints.ts';
import { HostDependencyIndex } from './host-dependencies.ts';
import { SkippedEndpointsGauge } from './skipped-endpoints.ts';
import { admissionResultOf, evaluateGatewayRouteOwner, evaluateOwner, hostKeysOf, type OwnerState } from './owner-state.ts';
import { evaluateGateways, type GatewayEvaluation } from '../gateway/evaluate.ts';
import { AddressPool } from '../gateway/address-pool.ts';
import { GatewayAddresses } from '../gateway/gateway-addresses.ts';
import { gatewayStatusSet, type GatewayStatusSet, type OwnershipOutcome } from '../gateway/status.ts';
import type { RouteCandidate as GatewayRouteCandidate } from '../admission/types.ts';
import type { GatewayRoute } from '../objects/gateway-types.ts';
import { HOSTLESS_HOST_KEY, isGatewayRouteKind, type AdmissionResult, type CompiledRoute, type GatewayEntryPoint, type HostEntry, type RouteKind, type TableDelta } from '../table/types.ts';
import { parentDomain } from '../table/match.ts';
import { routeFingerprint, sameEntry, sameResult } from './fingerprint.ts';
import * as keyIndex from '../key-index.ts';

/** The owner kinds by name, to hand out one string for each. */
const ROUTE_KINDS: ReadonlyMap<string, RouteKind> = new Map((['Route', 'Ingress', 'HTTPRoute', 'GRPCRoute', 'TLSRoute', 'TCPRoute', 'UDPRoute'] as const).map((k) => [k, k]));

/** Pseudo host key under which the Ingress default backend's dependencies are indexed. */
const DEFAULT_BACKEND = '';

export interface UnselectedRoute { kind: 'Route' | 'Ingress'; namespace: string; name: string }

export interface ReconcilerOptions { config: RouterConfig; logger: Logger; metrics?: Metrics; plugins?: PluginCatalog }

function addTo<K, V>(index: Map<K, Set<V>>, key: K, value: V): void {
  let set = index.get(key);
  if (!set) index.set(key, (set = new Set()));
  set.add(value);
}

function removeFrom<K, V>(index: Map<K, Set<V>>, key: K, value: V): void {
  const set = index.get(key);
  if (!set) return;
  set.delete(value);
  if (set.size === 0) index.delete(key);
}

/** A host's admitted candidates: the one, or (from two on) a Map by candidate key. */
type HostCandidates = RouteCandidate | Map<string, RouteCandidate>;

function sameCandidates(a: HostCandidates | undefined, b: HostCandidates | undefined): boolean {
  if (a === b) return true;
  if (!(a instanceof Map) || !(b instanceof Map)) return false; // one of them a single candidate (or none), not the same
  if (a.size !== b.size) return false;
  for (const [key, c] of a) if (b.get(key) !== c) return false;
  return true;
}

export class Reconciler extends EventEmitter {
  #store: ObjectStore;
  #config: RouterConfig;
  #logger: Logger;
  #metrics: Metrics | undefined;
  #context: AdmissionContext;
  #unsubscribe: (() => void) | null = null;
  #version = 0;

  #owners = new Map<string, OwnerState>();
  #namespaceOwners = new Map<string, Set<string>>();
  /** Owners whose admission read a Secret (Route externalCertificate), by Secret key. */
  #secretOwners = new Map<string, Set<string>>();
  /** Owners with a surviving candidate on a host key (nearly every host has one: see key-index.ts). */
  #hostClaimants: keyIndex.KeyIndex = new Map();
  /** Host keys with claimants, by domain group. */
  #groupHostKeys = new Map<string, Set<string>>();
  /** Owners claiming the wildcard of a domain group. */
  #groupWildcards = new Map<string, Set<string>>();
  /** HTTPRoute/GRPCRoute owners claiming the wildcard of a domain: it serves every host below it, at any depth. */
  #deepWildcards = new Map<string, Set<string>>();
  /**
   * Host-ownership rejections by candidate key. An admitted candidate has no entry (readers take
   * a missing verdict as ADMITTED): nearly every candidate is admitted, and a Map entry per
   * route cost ~46 bytes per route at 10k routes.
   */
  #ownership = new Map<string, Verdict>();
  /**
   * The admitted candidates of each host key: the candidate itself when it is the only one (nearly
   * every host), a Map by candidate key from the second on (a Map per host is ~180 bytes).
   */
  #hostCandidates = new Map<string, HostCandidates>();
  #entries = new Map<string, HostEntry>();
  #dependencies = new HostDependencyIndex();
  #skipped: SkippedEndpointsGauge;
  #results = new Map<string, AdmissionResult>();
  #defaultOwners = new Set<string>();
  #default: { route: CompiledRoute; fingerprint: string } | null = null;
  #counts = { admitted: 0, rejected: 0 };
  // ---- Gateway API (src/gateway/): the last evaluation, candidate fingerprints by route owner key, the status set.
  #gateway: GatewayEvaluation | null = null;
  #gatewayCandidates = new Map<string, string>();
  #gatewayStatus: GatewayStatusSet = { classes: [], gateways: [], routes: [], policies: [], listenerSets: [] };
  #gatewayStatusFingerprint = '';
  /** Set by a Gateway evaluation or a reconcile touching HTTPRoute owners: the status set must be rebuilt. */
  #gatewayStatusDirty = false;
  /** Gateways' own addresses (--gateway-addresses), stable across evaluations; null without a pool. */
  readonly #gatewayAddresses: GatewayAddresses | null;
  /** The sockets for Gateways' own addresses, as last sent; dirty until a delta carries them. */
  #entryPoints: GatewayEntryPoint[] = [];
  #entryPointsFingerprint = '[]';
  #entryPointsDirty = false;

  /** Throws LabelSelectorError when --route-labels or --namespace-labels is invalid. */
  constructor(store: ObjectStore, options: ReconcilerOptions) {
    super();
    this.#store = store;
    this.#config = options.config;
    this.#logger = options.logger;
    this.#metrics = options.metrics;
    this.#skipped = new SkippedEndpointsGauge(options.metrics);
    const pool = options.config.gatewayAddresses ?? [];
    this.#gatewayAddresses = pool.length > 0 ? new GatewayAddresses(new AddressPool(pool)) : null;
    this.#context = {
      config: options.config,
      store,
      routeSelector: parseLabelSelector(options.config.routeLabels),
      namespaceSelector: parseLabelSelector(options.config.namespaceLabels),
      plugins: options.plugins,
    };
  }

  start(): void {
    if (this.#unsubscribe) return;
    this.#unsubscribe = this.#store.subscribe((changes) => this.#onChanges(changes), () => this.resync());
    const owners = new Set<string>();
    for (const kind of ['Route', 'Ingress'] as const) {
      for (const key of this.#store.keys(kind)) owners.add(`${kind}/${key}`);
    }
    this.#evaluateGateways(owners);
    this.#reconcile(owners, new Set());
  }

  /**
   * Rebuild everything from the store and re-send the whole table (every entry upserted, the
   * ones that no longer exist removed): after a batch was lost half-way (a listener threw), no
   * incremental step can be trusted to know what changed.
   */
  resync(): void {
    const owners = new Set<string>(this.#results.keys());
    for (const kind of ['Route', 'Ingress'] as const) {
      for (const key of this.#store.keys(kind)) owners.add(`${kind}/${key}`);
    }
    for (const state of [...this.#owners.values()]) this.#unindexOwner(state);
    this.#hostCandidates.clear();
    this.#quiet = true;
    try {
      this.#reconcile(owners, new Set([...this.#entries.keys(), DEFAULT_BACKEND]));
    } finally {
      this.#quiet = false;
    }
    // The consumer's table may hold anything: replace it whole.
    const delta: TableDelta = { ...this.snapshot(), version: ++this.#version, reset: true };
    this.#entryPointsDirty = false; // the snapshot carries them
    this.#metrics?.tableUpdates.inc();
    this.emit('delta', delta);
  }

  /** Set while resync() rebuilds: the incremental deltas are folded into its one full delta. */
  #quiet = false;

  stop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = null;
  }

  /** The whole table as one delta (new workers, /debug/routes). */
  snapshot(): TableDelta {
    return {
      version: this.#version,
      upsert: [...this.#entries.values()],
      remove: [],
      defaultBackend: this.#default?.route ?? null,
      entryPoints: this.#entryPoints,
    };
  }

  admissionResults(): AdmissionResult[] {
    return [...this.#results.values()];
  }

  /** Status of the Gateway API objects this router handles (GatewayClasses, Gateways, HTTPRoutes, GRPCRoutes). */
  gatewayStatus(): GatewayStatusSet {
    return this.#gatewayStatus;
  }

  /** Re-evaluate the Gateway API; owners of HTTPRoutes and GRPCRoutes whose candidates changed are added to `owners`. */
  #evaluateGateways(owners: Set<string>): void {
    const evaluation = evaluateGateways(this.#store, this.#config, Date.now(), this.#gatewayAddresses);
    this.#gateway = evaluation;
    const entryPoints = JSON.stringify(evaluation.entryPoints);
    if (entryPoints !== this.#entryPointsFingerprint) {
      this.#entryPointsFingerprint = entryPoints;
      this.#entryPoints = evaluation.entryPoints;
      this.#entryPointsDirty = true;
    }
    this.#gatewayStatusDirty = true;
    const seen = new Set<string>();
    for (const [key, candidates] of evaluation.candidates) {
      seen.add(key);
      const fingerprint = candidateFingerprint(candidates);
      if (this.#gatewayCandidates.get(key) !== fingerprint) {
        this.#gatewayCandidates.set(key, fingerprint);
        owners.add(key);
      }
    }
    for (const key of this.#gatewayCandidates.keys()) {
      if (!seen.has(key)) {
        this.#gatewayCandidates.delete(key);
        owners.add(key);
      }
    }
  }

  /** Fold host-ownership verdicts into the Gateway API status; emit `gateway-status` when it changed. */
  #updateGatewayStatus(): void {
    if (this.#gateway === null || !this.#gatewayStatusDirty) return;
    this.#gatewayStatusDirty = false;
    const ownership = new Map<string, OwnershipOutcome>();
    for (const key of this.#gateway.candidates.keys()) {
      const state = this.#owners.get(key);
      if (!state) continue;
      const outcome: OwnershipOutcome = { rejected: 0, total: state.candidates.length, reason: '', message: '', invalidMiddleware: '' };
      for (const c of state.candidates) {
        const v = state.pre.get(c.key)!.admitted ? this.#ownership.get(c.key) : state.pre.get(c.key);
        if (v && !v.admitted) {
          outcome.rejected++;
          if (outcome.message === '') {
            outcome.reason = v.reason;
            outcome.message = v.message;
          }
        } else if (c.middlewareError !== undefined && outcome.invalidMiddleware === '') {
          outcome.invalidMiddleware = middlewareFailure(c)!.message;
        }
      }
      ownership.set(key, outcome);
    }
    const status = gatewayStatusSet(this.#gateway, ownership);
    const fingerprint = JSON.stringify(status);
    if (fingerprint === this.#gatewayStatusFingerprint) return;
    this.#gatewayStatusFingerprint = fingerprint;
    this.#gatewayStatus = status;
    this.emit('gateway-status', status);
  }

  #onChanges(changes: readonly StoreChange[]): void {
    const owners = new Set<string>();
    const hosts = new Set<string>();
    let gatewayDirty = false;
    const gatewayInUse = this.#store.size('Gateway') > 0 || this.#store.size('HTTPRoute') > 0 || this.#store.size('GRPCRoute') > 0 || this.#store.size('TLSRoute') > 0 || this.#store.size('TCPRoute') > 0 || this.#store.size('UDPRoute') > 0;
    for (const change of changes) {
      switch (change.kind) {
        case 'GatewayClass':
        case 'Gateway':
        case 'HTTPRoute':
        case 'GRPCRoute':
        case 'TLSRoute':
        case 'TCPRoute':
        case 'UDPRoute':
        case 'ReferenceGrant':
        case 'BackendTLSPolicy':
        case 'ListenerSet':
          gatewayDirty = true;
          // Only routes own candidates: a GatewayClass or Gateway judged as an owner would be read as a Route.
          if (isGatewayRouteKind(change.kind as RouteKind)) owners.add(`${change.kind}/${change.key}`);
          break;
      }
      // What the Gateway evaluation reads besides its own kinds (listener Secrets, client-certificate and
      // BackendTLSPolicy CA ConfigMaps, allowed namespaces, backend Services).
      if (gatewayInUse && (change.kind === 'Namespace' || change.kind === 'Secret' || change.kind === 'ConfigMap' || change.kind === 'Service')) gatewayDirty = true;
      switch (change.kind) {
        case 'Route':
        case 'Ingress':
          owners.add(`${change.kind}/${change.key}`);
          break;
        case 'IngressClass':
          // Which Ingresses are ours may have changed for any of them.
          for (const key of this.#store.keys('Ingress')) owners.add(`Ingress/${key}`);
          break;
        case 'Namespace':
          for (const o of this.#namespaceOwners.get(change.key) ?? []) owners.add(o);
          break;
        case 'Middleware': {
          // Re-admit whoever may use it: its namespace's routes, or all of them when router-wide.
          if ((this.#config.middlewares ?? []).includes(change.key)) {
            for (const o of this.#owners.keys()) owners.add(o);
          } else {
            for (const o of this.#namespaceOwners.get(change.key.slice(0, change.key.indexOf('/'))) ?? []) owners.add(o);
          }
          break;
        }
        case 'Secret':
          // Admission checks externalCertificate Secrets: a change can admit or reject a Route.
          for (const o of this.#secretOwners.get(change.key) ?? []) owners.add(o);
          this.#dependencies.collect(change.kind, change.key, hosts);
          break;
        case 'Service':
        case 'Pod':
          this.#dependencies.collect(change.kind, change.key, hosts);
          break;
        case 'EndpointSlice':
          this.#dependencies.collect('Service', change.old && sliceServiceKey(change.old), hosts);
          this.#dependencies.collect('Service', change.current && sliceServiceKey(change.current), hosts);
          break;
      }
    }
    if (gatewayDirty) this.#evaluateGateways(owners);
    if (owners.size > 0 || hosts.size > 0 || this.#entryPointsDirty) this.#reconcile(owners, hosts);
    else if (gatewayDirty) this.#updateGatewayStatus();
  }

  #reconcile(dirtyOwners: Set<string>, dirtyHosts: Set<string>): void {
    const started = performance.now();
    const judgeHosts = new Set<string>();
    const fullGroups = new Set<string>();
    /** Domains whose HTTPRoute wildcard came or went: every group below them is judged again. */
    const deepChanged = new Set<string>();
    const resultOwners = new Set<string>(dirtyOwners);
    let defaultDirty = false;
    for (const ownerKey of dirtyOwners) {
      const previous = this.#owners.get(ownerKey);
      if (previous) {
        this.#unindexOwner(previous);
        for (const h of hostKeysOf(previous)) judgeHosts.add(h);
        for (const g of previous.wildcardGroups) fullGroups.add(g);
        if (isGatewayRouteKind(previous.kind)) for (const g of previous.wildcardGroups) deepChanged.add(g);
        if (previous.defaultCandidate) defaultDirty = true;
      }
      const slash = ownerKey.indexOf('/');
      // The kind's own literal, not a slice of the key: the owner state keeps it (a string per route).
      const kind = ROUTE_KINDS.get(ownerKey.slice(0, slash)) ?? (ownerKey.slice(0, slash) as RouteKind);
      const object = this.#store.get(kind, ownerKey.slice(slash + 1)) as Route | Ingress | GatewayRoute | undefined;
      if (!object) continue;
      const next = isGatewayRouteKind(kind)
        ? evaluateGatewayRouteOwner(object as GatewayRoute, this.#gateway?.candidates.get(ownerKey) ?? [], this.#context)
        : evaluateOwner(kind, object as Route | Ingress, this.#context);
      this.#indexOwner(next);
      for (const h of hostKeysOf(next)) judgeHosts.add(h);
      for (const g of next.wildcardGroups) fullGroups.add(g);
      if (isGatewayRouteKind(next.kind)) for (const g of next.wildcardGroups) deepChanged.add(g);
      if (next.defaultCandidate) defaultDirty = true;
    }
    // Without a wildcard claim in a domain group its hosts are independent: judge only the
    // touched hosts. A wildcard (present, added or removed) involves the whole group; an
    // HTTPRoute wildcard every group below its domain as well (a scope, see #scopeOf).
    for (const d of deepChanged) for (const g of this.#groupsBelow(d)) fullGroups.add(g);
    for (const h of judgeHosts) {
      const g = domainGroupOfHostKey(h);
      if (this.#groupWildcards.has(g) || this.#scopeOf(g) !== g) fullGroups.add(g);
    }
    const scopes = new Set<string>();
    for (const g of fullGroups) scopes.add(this.#scopeOf(g));
    for (const scope of scopes) {
      const hosts = new Set<string>();
      for (const g of this.#deepWildcards.has(scope) ? this.#groupsBelow(scope) : [scope]) for (const h of this.#groupHostKeys.get(g) ?? []) hosts.add(h);
      for (const h of judgeHosts) if (this.#scopeOf(domainGroupOfHostKey(h)) === scope) hosts.add(h);
      this.#judgeHosts(hosts, dirtyHosts, resultOwners);
    }
    for (const h of judgeHosts) {
      if (!fullGroups.has(domainGroupOfHostKey(h))) this.#judgeHosts([h], dirtyHosts, resultOwners);
    }
    const { changed, unselected } = this.#updateResults(resultOwners);
    if (defaultDirty) dirtyHosts.add(DEFAULT_BACKEND);
    const delta = this.#compileHosts(dirtyHosts);
    if (delta && !this.#quiet) {
      this.#metrics?.tableUpdates.inc();
      this.#metrics?.tableUpdateDuration.observe((performance.now() - started) / 1000);
      this.emit('delta', delta);
    }
    if (changed.length > 0 || unselected.length > 0) this.emit('admission', changed, unselected);
    // Host ownership may have changed an HTTPRoute's verdicts (a Route elsewhere in its domain group).
    for (const o of resultOwners) if (o.startsWith('HTTPRoute/') || o.startsWith('GRPCRoute/') || o.startsWith('TLSRoute/') || o.startsWith('TCPRoute/') || o.startsWith('UDPRoute/')) { this.#gatewayStatusDirty = true; break; }
    this.#updateGatewayStatus();
  }

  #indexOwner(state: OwnerState): void {
    this.#owners.set(state.key, state);
    addTo(this.#namespaceOwners, state.namespace, state.key);
    for (const c of state.candidates) for (const k of secretsReadByAdmission(c)) addTo(this.#secretOwners, k, state.key);
    for (const h of hostKeysOf(state)) {
      keyIndex.addTo(this.#hostClaimants, h, state.key);
      addTo(this.#groupHostKeys, domainGroupOfHostKey(h), h);
    }
    for (const g of state.wildcardGroups) addTo(this.#groupWildcards, g, state.key);
    if (isGatewayRouteKind(state.kind)) for (const g of state.wildcardGroups) addTo(this.#deepWildcards, g, state.key);
    if (state.defaultCandidate) this.#defaultOwners.add(state.key);
  }

  /**
   * The host-ownership scope of a domain group: the highest domain at or above it with an
   * HTTPRoute wildcard (which serves every host below it), else the group itself. Claims of one
   * scope are judged together; scopes are disjoint.
   */
  #scopeOf(group: string): string {
    if (this.#deepWildcards.size === 0 || group === HOSTLESS_HOST_KEY) return group;
    let scope = group;
    for (let d = group; d !== ''; d = parentDomain(d)) if (this.#deepWildcards.has(d)) scope = d;
    return scope;
  }

  /** `domain` and every domain group below it that has claims. */
  #groupsBelow(domain: string): string[] {
    const suffix = `.${domain}`;
    const out = [domain];
    for (const g of this.#groupHostKeys.keys()) if (g !== domain && g.endsWith(suffix)) out.push(g);
    return out;
  }

  #unindexOwner(state: OwnerState): void {
    this.#owners.delete(state.key);
    removeFrom(this.#namespaceOwners, state.namespace, state.key);
    for (const c of state.candidates) for (const k of secretsReadByAdmission(c)) removeFrom(this.#secretOwners, k, state.key);
    for (const h of hostKeysOf(state)) {
      keyIndex.removeFrom(this.#hostClaimants, h, state.key);
      if (!this.#hostClaimants.has(h)) removeFrom(this.#groupHostKeys, domainGroupOfHostKey(h), h);
    }
    for (const g of state.wildcardGroups) removeFrom(this.#groupWildcards, g, state.key);
    if (isGatewayRouteKind(state.kind)) for (const g of state.wildcardGroups) removeFrom(this.#deepWildcards, g, state.key);
    this.#defaultOwners.delete(state.key);
    for (const c of state.candidates) this.#ownership.delete(c.key);
  }

  /** Host ownership over every surviving candidate of the given hosts (all in one scope, see #scopeOf). */
  #judgeHosts(hostKeys: Iterable<string>, dirtyHosts: Set<string>, resultOwners: Set<string>): void {
    const candidates: RouteCandidate[] = [];
    const before = new Map<string, HostCandidates | undefined>();
    for (const h of hostKeys) {
      before.set(h, this.#hostCandidates.get(h));
      this.#hostCandidates.delete(h);
      for (const ownerKey of keyIndex.valuesOf(this.#hostClaimants, h)) {
        const state = this.#owners.get(ownerKey)!;
        resultOwners.add(ownerKey);
        for (const c of state.candidates) {
          if (state.pre.get(c.key)!.admitted && hostKeyOf(c) === h) candidates.push(c);
        }
      }
    }
    for (const [claim, verdict] of admitHostOwnership(claimsOf(candidates), this.#store, this.#config)) {
      for (const c of claim.candidates) {
        if (!verdict.admitted) {
          this.#ownership.set(c.key, verdict);
          continue;
        }
        this.#ownership.delete(c.key); // admitted is what an absent entry means

        const held = this.#hostCandidates.get(claim.hostKey);
        if (held === undefined) this.#hostCandidates.set(claim.hostKey, c);
        else if (held instanceof Map) held.set(c.key, c);
        else this.#hostCandidates.set(claim.hostKey, new Map([[held.key, held], [c.key, c]]));
      }
    }
    // Recompile a host only when its admitted candidates changed (re-evaluated owners bring new objects).
    for (const [h, old] of before) {
      if (!sameCandidates(old, this.#hostCandidates.get(h))) dirtyHosts.add(h);
    }
  }

  #updateResults(owners: Set<string>): { changed: AdmissionResult[]; unselected: UnselectedRoute[] } {
    const changed: AdmissionResult[] = [];
    const unselected: UnselectedRoute[] = [];
    for (const ownerKey of owners) {
      const state = this.#owners.get(ownerKey);
      const result = state ? admissionResultOf(state, this.#ownership) : null;
      const previous = this.#results.get(ownerKey);
      if (previous) this.#counts[previous.admitted ? 'admitted' : 'rejected']--;
      if (!result) {
        if (previous) {
          this.#results.delete(ownerKey);
          unselected.push({ kind: previous.kind, namespace: previous.namespace, name: previous.name });
        }
        continue;
      }
      this.#counts[result.admitted ? 'admitted' : 'rejected']++;
      if (previous !== undefined && sameResult(previous, result)) continue;
      this.#results.set(ownerKey, result);
      changed.push(result);
      if (!result.admitted) {
        this.#logger.info({ route: result.key, host: result.host, reason: result.reason, detail: result.message }, 'route rejected');
      }
    }
    this.#metrics?.routes.set({ state: 'admitted' }, this.#counts.admitted);
    this.#metrics?.routes.set({ state: 'rejected' }, this.#counts.rejected);
    return { changed, unselected };
  }

  #compileHosts(dirtyHosts: Set<string>): TableDelta | null {
    const upsert: HostEntry[] = [];
    const remove: string[] = [];
    let defaultBackend: CompiledRoute | null | undefined;
    for (const hostKey of dirtyHosts) {
      if (hostKey === DEFAULT_BACKEND) {
        defaultBackend = this.#compileDefault();
        continue;
      }
      this.#dependencies.set(hostKey, null);
      const candidates = this.#hostCandidates.get(hostKey);
      let entry: HostEntry | null = null;
      let skipped = new Map<string, Map<string, number>>();
      if (candidates !== undefined) {
        try {
          const compiled = compileHostEntry(hostKey, candidates instanceof Map ? candidates.values() : [candidates], this.#store, this.#config);
          entry = compiled.entry;
          skipped = compiled.skipped;
          this.#dependencies.set(hostKey, compiled.deps);
        } catch (err) {
          // Never take the process down for one host; keep serving what it had.
          this.#logger.error({ host: hostKey, err: (err as Error).message }, 'could not compile host');
          continue;
        }
      }
      this.#skipped.set(hostKey, skipped);
      const previous = this.#entries.get(hostKey);
      if (!entry) {
        if (previous) {
          this.#entries.delete(hostKey);
          remove.push(hostKey);
        }
        continue;
      }
      if (previous !== undefined && sameEntry(previous, entry)) continue;
      this.#entries.set(hostKey, entry);
      upsert.push(entry);
    }
    if (upsert.length === 0 && remove.length === 0 && defaultBackend === undefined && !this.#entryPointsDirty) return null;
    const delta: TableDelta = { version: ++this.#version, upsert, remove };
    if (defaultBackend !== undefined) delta.defaultBackend = defaultBackend;
    if (this.#entryPointsDirty && !this.#quiet) {
      delta.entryPoints = this.#entryPoints;
      this.#entryPointsDirty = false;
    }
    return delta;
  }

  /** Recompile the default backend: the oldest selected Ingress with one. undefined = unchanged. */
  #compileDefault(): CompiledRoute | null | undefined {
    let winner: OwnerState | null = null;
    for (const key of this.#defaultOwners) {
      const state = this.#owners.get(key)!;
      if (!winner || this.#store.compareAge('Ingress', state.object, winner.object) < 0) winner = state;
    }
    this.#dependencies.set(DEFAULT_BACKEND, null);
    let route: CompiledRoute | null = null;
    let skipped = new Map<string, Map<string, number>>();
    if (winner) {
      const deps = newDeps();
      try {
        const compiled = compileRoute(winner.defaultCandidate!, this.#store, this.#config, deps);
        route = compiled.route;
        if (compiled.skipped.size > 0) skipped = new Map([[route.key, compiled.skipped]]);
      } catch (err) {
        this.#logger.error({ route: winner.key, err: (err as Error).message }, 'could not compile the default backend');
      }
      this.#dependencies.set(DEFAULT_BACKEND, deps);
    }
    this.#skipped.set(DEFAULT_BACKEND, skipped);
    const fingerprint = route ? routeFingerprint(route) : '';
    if ((this.#default?.fingerprint ?? '') === fingerprint) return undefined;
    this.#default = route ? { route, fingerprint } : null;
    return route;
  }
}

/** What of an HTTPRoute's candidates decides serving (the HTTPRoute object itself is re-read on its own change). */
function candidateFingerprint(candidates: readonly GatewayRouteCandidate[]): string {
  return JSON.stringify(candidates.map((c) => [c.key, c.host, c.path, c.match, c.backends, c.gateway]));
}
