// The Kubernetes source: one resilient informer per kind the router reads (Routes, Ingresses,
// IngressClasses, Services, EndpointSlices, and Namespaces when --namespace-labels is set),
// feeding the store directly; and informers for what served objects reference, started and
// stopped as references come and go: one per referenced TLS Secret and per ConfigMap a Gateway
// takes client-certificate CAs from, and the autoport Pod
// informer while some route reads ports from Pod annotations. See kube/informer.ts for restarts,
// the watchdog and re-list diffing; watched-resources.ts for what each informer selects.

import type { Clock } from '../clock.ts';
import type { RouterConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { ConfigErrorLog } from './config-error-log.ts';
import type { KubeObject } from '../objects/types.ts';
import { validateObject } from '../objects/validate.ts';
import type { ObjectStore, StoreChange } from '../store.ts';
import type { KubeClient } from '../kube/client.ts';
import { KubeInformer, type RefusedObject, type WatchListMode } from '../kube/informer.ts';
import type { WatchedResource } from '../kube/resources.ts';
import {
  configMapResource, gatewayResources, initialRead, objectReferences, podResource, secretResource, watchedResources,
  type ObjectReferences,
} from './watched-resources.ts';
import { optionalResourceDiscovery } from './crd-discovery.ts';

/** Key of the Pod informer in the referenced-informer map (Secret keys are `namespace/name`). */
const PODS = 'pods';
/** Prefix of ConfigMap keys in that map (`ConfigMap/namespace/name`: Gateway and BackendTLSPolicy CA certificates), apart from Secrets of the same name. */
const CONFIG_MAP = 'ConfigMap/';

export interface KubernetesSourceOptions {
  config: RouterConfig;
  store: ObjectStore;
  logger: Logger;
  metrics?: Metrics;
  /** Keeps the details of recent refused objects (the admin dashboard shows them). */
  errors?: ConfigErrorLog;
  /** The router's one client of the API server (src/kube/client.ts). */
  client: KubeClient;
  /** Restart backoff: first delay and cap (defaults 200 ms and 30 s). Tests shorten them. */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** Objects per list page (default LIST_PAGE_SIZE in kube/informer.ts); tests use small pages. */
  listPageSize?: number;
  /** Time for the informers' watchdogs and restart backoff. Default: the system clock. */
  clock?: Clock;
}

export class KubernetesSource {
  #options: KubernetesSourceOptions;
  #informers: KubeInformer[] = [];
  /** Informers of referenced objects, by Secret key or PODS, with the promise of their first list. */
  #referenced = new Map<string, { informer: KubeInformer; synced: Promise<void> }>();
  /** What each Route/Ingress (by `Kind/key`) references, and how many of them reference each thing. */
  #referencesOf = new Map<string, ObjectReferences>();
  #secretUsers = new Map<string, number>();
  /** By `ConfigMap/namespace/name`. */
  #configMapUsers = new Map<string, number>();
  #podUsers = 0;
  /** Shared by every informer: once the server refuses watch-list, all use paged lists. */
  #watchList: WatchListMode;
  #unsubscribe: (() => void) | undefined;
  #started = false;
  #stopped = false;

  constructor(options: KubernetesSourceOptions) {
    this.#options = options;
    this.#watchList = { use: true };
  }

  /** Whether every informer has listed at least once. */
  get synced(): boolean {
    return this.#started && this.#informers.every((i) => i.synced) && [...this.#referenced.values()].every((r) => r.informer.synced);
  }

  /** The resources read right now (the always-watched kinds, then the referenced objects). */
  get watched(): WatchedResource[] {
    return [...this.#informers, ...[...this.#referenced.values()].map((r) => r.informer)].map((i) => i.watched);
  }

  /**
   * Start every informer; resolves once each has listed once (retrying failures meanwhile),
   * including the informers of what the first lists reference.
   */
  async start(): Promise<void> {
    if (this.#started) throw new Error('KubernetesSource already started');
    this.#started = true;
    const { config, store, client, backoffInitialMs } = this.#options;
    const log = this.#log();
    this.#unsubscribe = store.subscribe((changes) => this.#onChanges(changes));
    // Gateway API and Middlewares: only the kinds whose CRDs are installed (an absent CRD must not block readiness).
    const served = await optionalResourceDiscovery(client, log, backoffInitialMs);
    for (const watched of [...watchedResources(config, served), ...gatewayResources(config, served)]) this.#informers.push(this.#informer(watched));
    log.info({ resources: this.#informers.map((i) => i.watched.resource), namespace: config.namespace || undefined }, 'starting informers');
    await Promise.all(this.#informers.map((i) => i.start()));
    store.flush(); // deliver the first lists now: their references start their informers
    await Promise.all([...this.#referenced.values()].map((r) => r.synced));
    log.info({ secrets: this.#secretUsers.size, configMaps: this.#configMapUsers.size, pods: this.#podUsers > 0 }, 'initial sync complete');
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unsubscribe?.();
    const referenced = [...this.#referenced.values()].map((r) => r.informer);
    this.#referenced.clear();
    await Promise.all([...this.#informers, ...referenced].map((i) => i.stop()));
  }

  #log(): Logger {
    return this.#options.logger.child({ source: 'kubernetes' });
  }

  /**
   * `referenced`: a Secret or the Pods some route asks for. RBAC may not grant them (an operator
   * who uses neither may drop those rules): a 403 then must not hold up the first sync of
   * everything else; the route is served without them (default certificate, no autoport port).
   */
  #informer(watched: WatchedResource, referenced = false): KubeInformer {
    const { config, store, metrics, client, backoffInitialMs, backoffMaxMs, listPageSize, clock } = this.#options;
    return new KubeInformer({
      client, watched, store, logger: this.#log(), metrics,
      onRefused: (refused) => this.#refused(refused),
      watchTimeoutMs: config.watchTimeout,
      backoffInitialMs, backoffMaxMs, listPageSize, clock,
      initialRead: initialRead(watched.kind, config),
      watchList: this.#watchList,
      protobuf: config.kubeProtobuf,
      cbor: config.kubeCbor,
      accept: acceptObject,
      syncOnForbidden: referenced,
    });
  }

  /** Count and keep the details of a refused object (the admin dashboard shows recent ones). */
  #refused({ kind, namespace, name, field, error }: RefusedObject): void {
    this.#options.metrics?.configErrors.inc({ source: 'kubernetes' });
    this.#options.errors?.record({ source: 'kubernetes', kind, namespace, name, field, error });
  }

  /** Keep the reference counts of Routes, Ingresses and Gateways, and the referenced informers, in step. */
  #onChanges(changes: readonly StoreChange[]): void {
    if (this.#stopped) return;
    let touched = false;
    for (const change of changes) {
      if (change.kind !== 'Route' && change.kind !== 'Ingress' && change.kind !== 'Gateway' && change.kind !== 'BackendTLSPolicy' && change.kind !== 'ListenerSet') continue;
      const id = `${change.kind}/${change.key}`;
      const before = this.#referencesOf.get(id);
      const found = change.current ? objectReferences(change.current) : undefined;
      const after = found && (found.pods || found.secrets.length > 0 || found.configMaps.length > 0) ? found : undefined;
      if (!before && !after) continue; // the common case: nothing referenced, before or after
      if (before) this.#count(before, -1);
      if (after) {
        this.#count(after, +1);
        this.#referencesOf.set(id, after);
      } else {
        this.#referencesOf.delete(id);
      }
      touched = true;
    }
    if (touched) this.#reconcileReferenced();
  }

  #count(refs: ObjectReferences, delta: 1 | -1): void {
    if (refs.pods) this.#podUsers += delta;
    for (const key of refs.secrets) {
      const users = (this.#secretUsers.get(key) ?? 0) + delta;
      if (users > 0) this.#secretUsers.set(key, users);
      else this.#secretUsers.delete(key);
    }
    for (const configMap of refs.configMaps) {
      const key = CONFIG_MAP + configMap;
      const users = (this.#configMapUsers.get(key) ?? 0) + delta;
      if (users > 0) this.#configMapUsers.set(key, users);
      else this.#configMapUsers.delete(key);
    }
  }

  #reconcileReferenced(): void {
    const wanted = new Set([...this.#secretUsers.keys(), ...this.#configMapUsers.keys()]);
    if (this.#podUsers > 0) wanted.add(PODS);
    for (const [key, { informer }] of this.#referenced) {
      if (wanted.has(key)) continue;
      this.#referenced.delete(key);
      void informer.stop().then(() => this.#forget(key));
    }
    for (const key of wanted) {
      if (this.#referenced.has(key)) continue;
      const watched = key === PODS ? podResource(this.#options.config)
        : key.startsWith(CONFIG_MAP) ? configMapResource(key.slice(CONFIG_MAP.length)) : secretResource(key);
      const informer = this.#informer(watched, true);
      // A failed first list is retried inside the informer; stop() before it lists rejects: ignore.
      const synced = informer.start().catch(() => undefined);
      this.#referenced.set(key, { informer, synced });
    }
  }

  /** Nothing references these objects any more: drop them from the store (and from memory). */
  #forget(key: string): void {
    if (this.#referenced.has(key)) return; // wanted again meanwhile: the new informer owns them
    const { store } = this.#options;
    if (key === PODS) for (const pod of [...store.keys('Pod')]) store.remove('Pod', pod);
    else if (key.startsWith(CONFIG_MAP)) store.remove('ConfigMap', key.slice(CONFIG_MAP.length));
    else store.remove('Secret', key);
  }
}

function acceptObject(object: KubeObject): { object: KubeObject } | { error: string; field?: string } {
  const result = validateObject(object);
  if (result.ok) return { object: result.object };
  return { error: result.error, field: result.field };
}
