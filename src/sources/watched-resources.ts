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
import { CBOR_KINDS } from '../kube/cbor-objects.ts';
import { collectionResource, groupVersionPath, namedResource, pluralOf, type WatchedResource } from '../kube/resources.ts';
import type { Ingress, Kind, KubeObject, Route } from '../objects/types.ts';
import { ANNOTATIONS } from '../route-annotations.ts';
import type { BackendTLSPolicy, Gateway, ListenerSet } from '../objects/gateway-types.ts';

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
 * How an informer of `kind` reads its initial state (--watch-list).
 *
 * `list`: one unpaged list at resourceVersion=0, as client-go's reflector lists, served whole from
 * kube-apiserver's watch cache with no etcd request at all (a consistent read asks etcd for its
 * revision first; the continue pages of a paged list are read from etcd once a compaction has
 * passed the kind's last change), encoded item by item as list items: neither the deep copy of
 * each initial event of a watch-list nor the second scan of each object's JSON to embed it in a
 * watch event. 10k Routes: 0.97 against 1.26 CPU-s by watch-list (0.48 against 1.46 in a quieter
 * run); 10k Services as protobuf 0.10 against 0.21 (0.05 against 0.17); EndpointSlices 0.11 either
 * way (net medians, bench/apiserver-cost.ts COST_PARTS=strategies). But kube-apiserver deep-copies a custom resource's list whole before
 * encoding it (apiextensions' safeConverterWrapper), and holds that copy until the list is sent:
 * 20 routers starting at once with 10k Routes took its peak RSS from ~1.5 GB to 2.7–3.1 GB (README,
 * Fleet), in proportion to the Routes and to the routers starting together. A built-in kind's list
 * from the cache holds only shallow copies of the cached objects.
 *
 * `auto` (the default): so built-in kinds (Services, EndpointSlices, Ingresses, ...) by one list at
 * resourceVersion=0, custom resources (Routes, Middlewares, Gateway API kinds) by watch-list,
 * which copies one object at a time. `true`: every kind by watch-list. `false`: every kind by
 * paged lists (cheapest while the watch cache holds a snapshot for the continue pages, then read
 * from etcd; README, Fleet: restarts and storms of 20 routers cost up to twice as much).
 * After a list, the watch goes on from the list's resourceVersion.
 */
export function initialRead(kind: Kind, config: Pick<RouterConfig, 'watchList'>): InitialRead {
  if (config.watchList === 'list') return 'list';
  if (config.watchList === 'true') return 'watch-list';
  if (config.watchList === 'false') return 'pages';
  return CBOR_KINDS.has(kind) ? 'watch-list' : 'list';
}

/** What one Route, Ingress or Gateway needs read besides the always-watched kinds. */
export interface ObjectReferences {
  /** `namespace/name` of each Secret it takes a certificate from */
  secrets: string[];
  /** `namespace/name` of each ConfigMap it takes a CA certificate from (Gateway spec.tls.frontend, BackendTLSPolicy) */
  configMaps: string[];
  /** It reads endpoint ports from Pod annotations (autoport). */
  pods: boolean;
}

export function objectReferences(object: KubeObject): ObjectReferences {
  const namespace = object.metadata.namespace ?? 'default';
  const secrets: string[] = [];
  const configMaps: string[] = [];
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
    // Client-certificate CAs (core ConfigMaps; a cross-namespace one admitted only with a ReferenceGrant).
    const frontend = (object as Gateway).spec?.tls?.frontend;
    for (const validation of [frontend?.default?.validation, ...(frontend?.perPort ?? []).map((p) => p.tls?.validation)]) {
      for (const ref of validation?.caCertificateRefs ?? []) {
        if ((ref.group ?? '') === '' && ref.kind === 'ConfigMap') configMaps.push(`${ref.namespace ?? namespace}/${ref.name}`);
      }
    }
    // The client certificate it presents to TLS backends.
    const client = (object as Gateway).spec?.tls?.backend?.clientCertificateRef;
    if (client && (client.group ?? '') === '' && (client.kind ?? 'Secret') === 'Secret') secrets.push(`${client.namespace ?? namespace}/${client.name}`);
  } else if (object.kind === 'ListenerSet') {
    // Its listeners' certificates, as a Gateway's (admitted across namespaces only with a ReferenceGrant from ListenerSets).
    for (const listener of (object as ListenerSet).spec?.listeners ?? []) {
      for (const ref of listener.tls?.certificateRefs ?? []) {
        if ((ref.group ?? '') === '' && (ref.kind ?? 'Secret') === 'Secret') secrets.push(`${ref.namespace ?? namespace}/${ref.name}`);
      }
    }
  } else if (object.kind === 'BackendTLSPolicy') {
    // CA certificates: core ConfigMaps of the policy's own namespace (the only kind the spec allows).
    for (const ref of (object as BackendTLSPolicy).spec?.validation?.caCertificateRefs ?? []) {
      if ((ref.group ?? '') === '' && ref.kind === 'ConfigMap') configMaps.push(`${namespace}/${ref.name}`);
    }
  }
  const pods = Boolean(object.metadata.annotations?.[ANNOTATIONS.targetPortAnnotation]);
  return { secrets, configMaps, pods };
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

/** The informer of one ConfigMap a Gateway or a BackendTLSPolicy names (`namespace/name`), by name as Secrets are. */
export function configMapResource(key: string): WatchedResource {
  const slash = key.indexOf('/');
  return namedResource('ConfigMap', key.slice(0, slash), key.slice(slash + 1));
}

// ---- Gateway API -----------------------------------------------------------------------------

/** The Gateway API kinds, read only when their CRDs are installed (see optionalResourceDiscovery). */
export const GATEWAY_KINDS: readonly Kind[] = ['GatewayClass', 'Gateway', 'HTTPRoute', 'GRPCRoute', 'TLSRoute', 'TCPRoute', 'UDPRoute', 'ReferenceGrant', 'BackendTLSPolicy', 'ListenerSet'];

/** Informers for the Gateway API kinds whose resources discovery found (`present`: plural names by group/version path). */
export function gatewayResources(config: RouterConfig, present: ReadonlySet<string>): WatchedResource[] {
  const list = GATEWAY_KINDS
    .filter((kind) => present.has(`${groupVersionPath(kind)}/${pluralOf(kind)}`))
    .map((kind) => resource(kind, config));
  // allowedRoutes.namespaces.from: Selector reads Namespace labels (watched anyway with --namespace-labels).
  if (list.some((r) => r.kind === 'Gateway') && !config.namespaceLabels) list.push(resource('Namespace', config));
  return list;
}
