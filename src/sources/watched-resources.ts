// What the router asks the Kubernetes API for: which kinds it lists and watches, and with which
// namespace, label selector and field selector (the paths are src/kube/resources.ts).
//
// Least privilege in what is read, not only in what RBAC grants: Pods and Secrets are read only
// for the Routes and Ingresses that need them (objectReferences). Pods (autoport ports) are
// watched only while some route carries switchyard.io/target-port-annotation; Secrets only one by
// one, each a referenced name (`fieldSelector=metadata.name=...`), never a namespace's or the
// cluster's whole list.

import type { RouterConfig } from '../config.ts';
import type { InitialRead } from '../kube/informer.ts';
import { PROTOBUF_KINDS } from '../kube/protobuf-objects.ts';
import { collectionResource, groupVersionPath, namedResource, pluralOf, type WatchedResource } from '../kube/resources.ts';
import type { Ingress, Kind, KubeObject, Route } from '../objects/types.ts';
import { ANNOTATIONS } from '../route-annotations.ts';
import type { Gateway } from '../objects/gateway-types.ts';

/** Label every Pod the autoport companion manages carries; the only Pods the router reads. */
export const AUTOPORT_POD_LABEL = 'switchyard.io/autoport';

function resource(kind: Kind, config: RouterConfig, selectors: { labelSelector?: string; fieldSelector?: string } = {}): WatchedResource {
  return collectionResource(kind, config.namespace || undefined, selectors);
}

/**
 * The informers a router with this configuration always runs (see referencedResources for the
 * rest). `served`: the optional resources discovery found (src/sources/crd-discovery.ts).
 */
export function watchedResources(config: RouterConfig, served: ReadonlySet<string> = new Set()): WatchedResource[] {
  const list = [
    // Route sharding as OpenShift does it: the API server filters by ROUTE_LABELS.
    resource('Route', config, { labelSelector: config.routeLabels }),
    resource('Ingress', config, { labelSelector: config.routeLabels }),
    resource('IngressClass', config),
    resource('Service', config),
    resource('EndpointSlice', config),
  ];
  if (config.namespaceLabels) list.push(resource('Namespace', config, { labelSelector: config.namespaceLabels }));
  // Middlewares are read wherever their CRD is installed: built-in plugins (compress) can be named
  // without --plugin. With --plugin the CRD is required (the router does not become ready without it).
  if (config.plugins.length > 0 || served.has(`${groupVersionPath('Middleware')}/${pluralOf('Middleware')}`)) list.push(resource('Middleware', config));
  return list;
}

/**
 * The kinds `--watch-list=auto` reads by pages even as protobuf: those whose watch-list costs
 * kube-apiserver v1.36 more than pages of LIST_PAGE_SIZE from its watch cache. 10k Services:
 * 0.16–0.21 CPU-s by watch-list against 0.08–0.09 by pages of 5,000 (net medians of two runs of
 * bench/apiserver-cost.ts COST_PARTS=strategies); EndpointSlices 0.10–0.11 either way, so they
 * stay on watch-list (as do the small kinds: Ingresses, IngressClasses, Namespaces).
 */
const PAGED_PROTOBUF_KINDS: ReadonlySet<Kind> = new Set(['Service']);

/**
 * How an informer of `kind` reads its initial state (--watch-list). `list` (the default): one
 * unpaged list at resourceVersion=0, as client-go's reflector lists, served whole from
 * kube-apiserver's watch cache with no etcd request at all (a consistent read asks etcd for its
 * revision first; continue pages of a paged list are read from etcd once a compaction has passed
 * the kind's last change); the cache's objects are encoded as list items, with neither the
 * per-event deep copy of a watch-list nor the re-scan of each object's JSON to embed it in a
 * watch event (10k Routes: 0.97 against 1.26 CPU-s by watch-list, 10k Services as protobuf 0.10
 * against 0.21, net medians, bench/apiserver-cost.ts COST_PARTS=strategies; README Fleet). The
 * informer reads the JSON item by item as it arrives (kube/json-list-decoder.ts). `auto`: watch-list for the
 * kinds read as protobuf (but PAGED_PROTOBUF_KINDS), paged lists for those read as JSON.
 * kube-apiserver v1.36 spends about 1.5 times the CPU on a JSON watch-list as on the same objects
 * by list (10k Routes: 0.78–0.81 against 0.47–0.58 CPU-s, net medians; it encodes each object,
 * then scans the JSON again to embed it in its watch event, and deep-copies each initial event),
 * while for protobuf the two are close (bench/apiserver-cost.ts COST_PARTS=strategies,
 * DESIGN.md). The first page comes from the watch cache (a consistent read at the current
 * resourceVersion); the continue pages from the cache's snapshot at that resourceVersion while it
 * holds one, else from etcd: kube-apiserver 1.34+ (ListFromCacheSnapshot) drops a kind's snapshots
 * older than each compaction, and takes new ones only when the kind changes, so once a compaction
 * has passed a kind's last change every continue page of it is read from etcd and decoded (README,
 * Fleet: restarts and storms of 20 routers cost it up to twice as much). Hence not the default.
 * After a list, the watch goes on from the list's resourceVersion.
 */
export function initialRead(kind: Kind, config: Pick<RouterConfig, 'watchList' | 'kubeProtobuf'>): InitialRead {
  if (config.watchList === 'list') return 'list';
  if (config.watchList === 'true') return 'watch-list';
  if (config.watchList === 'false') return 'pages';
  return config.kubeProtobuf && PROTOBUF_KINDS.has(kind) && !PAGED_PROTOBUF_KINDS.has(kind) ? 'watch-list' : 'pages';
}

/** What one Route, Ingress or Gateway needs read besides the always-watched kinds. */
export interface ObjectReferences {
  /** `namespace/name` of each Secret it takes a certificate from */
  secrets: string[];
  /** It reads endpoint ports from Pod annotations (autoport). */
  pods: boolean;
}

export function objectReferences(object: KubeObject): ObjectReferences {
  const namespace = object.metadata.namespace ?? 'default';
  const secrets: string[] = [];
  if (object.kind === 'Route') {
    const name = (object as Route).spec?.tls?.externalCertificate?.name;
    if (name) secrets.push(`${namespace}/${name}`);
  } else if (object.kind === 'Ingress') {
    for (const tls of (object as Ingress).spec?.tls ?? []) if (tls.secretName) secrets.push(`${namespace}/${tls.secretName}`);
  } else if (object.kind === 'Gateway') {
    // Listener certificates (core Secrets only; a cross-namespace one is read here and admitted
    // only with a ReferenceGrant, see src/gateway/).
    for (const listener of (object as Gateway).spec?.listeners ?? []) {
      for (const ref of listener.tls?.certificateRefs ?? []) {
        if ((ref.group ?? '') === '' && (ref.kind ?? 'Secret') === 'Secret') secrets.push(`${ref.namespace ?? namespace}/${ref.name}`);
      }
    }
  }
  const pods = Boolean(object.metadata.annotations?.[ANNOTATIONS.targetPortAnnotation]);
  return { secrets, pods };
}

/** The Pod informer: only pods the autoport companion labelled, and only while a route needs them. */
export function podResource(config: RouterConfig): WatchedResource {
  return resource('Pod', config, { labelSelector: AUTOPORT_POD_LABEL });
}

/**
 * The informer of one referenced Secret (`namespace/name`): a list and watch narrowed to that
 * name, which RBAC authorizes as a request for that resourceName, and to TLS Secrets, the only
 * type the router uses.
 */
export function secretResource(secretKey: string): WatchedResource {
  const slash = secretKey.indexOf('/');
  const namespace = secretKey.slice(0, slash);
  const name = secretKey.slice(slash + 1);
  return namedResource('Secret', namespace, name, 'type=kubernetes.io/tls');
}

// ---- Gateway API -----------------------------------------------------------------------------

/** The Gateway API kinds, read only when their CRDs are installed (see optionalResourceDiscovery). */
export const GATEWAY_KINDS: readonly Kind[] = ['GatewayClass', 'Gateway', 'HTTPRoute', 'GRPCRoute', 'TLSRoute', 'ReferenceGrant'];

/** Informers for the Gateway API kinds whose resources discovery found (`present`: plural names by group/version path). */
export function gatewayResources(config: RouterConfig, present: ReadonlySet<string>): WatchedResource[] {
  const list = GATEWAY_KINDS
    .filter((kind) => present.has(`${groupVersionPath(kind)}/${pluralOf(kind)}`))
    .map((kind) => resource(kind, config));
  // allowedRoutes.namespaces.from: Selector reads Namespace labels (watched anyway with --namespace-labels).
  if (list.some((r) => r.kind === 'Gateway') && !config.namespaceLabels) list.push(resource('Namespace', config));
  return list;
}
