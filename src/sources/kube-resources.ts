// Where each kind the router reads lives in the Kubernetes API, and what the router asks for:
// which namespace, label selector and field selector each informer lists and watches with.

import type { RouterConfig } from '../config.ts';
import { API_VERSION, CLUSTER_SCOPED, type Kind } from '../objects/types.ts';

/** Label every Pod the autoport companion manages carries; the only Pods the router reads. */
export const AUTOPORT_POD_LABEL = 'switchyard.io/autoport';

const PLURAL: Readonly<Record<Kind, string>> = {
  Route: 'routes',
  Ingress: 'ingresses',
  IngressClass: 'ingressclasses',
  Service: 'services',
  EndpointSlice: 'endpointslices',
  Namespace: 'namespaces',
  Pod: 'pods',
  Secret: 'secrets',
  GatewayClass: 'gatewayclasses',
  Gateway: 'gateways',
  HTTPRoute: 'httproutes',
  ReferenceGrant: 'referencegrants',
};

export interface WatchedResource {
  kind: Kind;
  /** metric label: the plural resource name */
  resource: string;
  /** collection path: `/apis/<group>/<version>[/namespaces/<ns>]/<plural>` */
  path: string;
  /** undefined: all namespaces or a cluster-scoped kind */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

/** `/api/v1` or `/apis/<group>/<version>` for a kind. */
export function groupVersionPath(kind: Kind): string {
  const apiVersion = API_VERSION[kind];
  return apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
}

/** Path of a namespaced object (or subresource) — used by the status writer. */
export function objectPath(kind: Kind, namespace: string, name: string, subresource?: string): string {
  const base = `${groupVersionPath(kind)}/namespaces/${encodeURIComponent(namespace)}/${PLURAL[kind]}/${encodeURIComponent(name)}`;
  return subresource ? `${base}/${subresource}` : base;
}

function resource(kind: Kind, config: RouterConfig, selectors: { labelSelector?: string; fieldSelector?: string } = {}): WatchedResource {
  const namespace = !CLUSTER_SCOPED.has(kind) && config.namespace ? config.namespace : undefined;
  const path = namespace
    ? `${groupVersionPath(kind)}/namespaces/${encodeURIComponent(namespace)}/${PLURAL[kind]}`
    : `${groupVersionPath(kind)}/${PLURAL[kind]}`;
  return {
    kind, resource: PLURAL[kind], path, namespace,
    labelSelector: selectors.labelSelector || undefined,
    fieldSelector: selectors.fieldSelector || undefined,
  };
}

/** The informers a router with this configuration runs. */
export function watchedResources(config: RouterConfig): WatchedResource[] {
  const list = [
    // Route sharding as OpenShift does it: the API server filters by ROUTE_LABELS.
    resource('Route', config, { labelSelector: config.routeLabels }),
    resource('Ingress', config, { labelSelector: config.routeLabels }),
    resource('IngressClass', config),
    resource('Service', config),
    resource('EndpointSlice', config),
    // Secrets carry no label we could select on; TLS Secrets are all the router reads.
    resource('Secret', config, { fieldSelector: 'type=kubernetes.io/tls' }),
    resource('Pod', config, { labelSelector: AUTOPORT_POD_LABEL }),
  ];
  if (config.namespaceLabels) list.push(resource('Namespace', config, { labelSelector: config.namespaceLabels }));
  return list;
}

// ---- Gateway API -----------------------------------------------------------------------------

/** The Gateway API kinds, read only when their CRDs are installed (see gatewayDiscovery). */
export const GATEWAY_KINDS: readonly Kind[] = ['GatewayClass', 'Gateway', 'HTTPRoute', 'ReferenceGrant'];

/** Plural resource name of a kind (discovery lists resources by it). */
export function pluralOf(kind: Kind): string {
  return PLURAL[kind];
}

/** Path of a cluster-scoped object (or subresource), e.g. a GatewayClass's status. */
export function clusterObjectPath(kind: Kind, name: string, subresource?: string): string {
  const base = `${groupVersionPath(kind)}/${PLURAL[kind]}/${encodeURIComponent(name)}`;
  return subresource ? `${base}/${subresource}` : base;
}

/** Informers for the Gateway API kinds whose resources discovery found (`present`: plural names by group/version path). */
export function gatewayResources(config: RouterConfig, present: ReadonlySet<string>): WatchedResource[] {
  const list = GATEWAY_KINDS
    .filter((kind) => present.has(`${groupVersionPath(kind)}/${PLURAL[kind]}`))
    .map((kind) => resource(kind, config));
  // allowedRoutes.namespaces.from: Selector reads Namespace labels (watched anyway with --namespace-labels).
  if (list.some((r) => r.kind === 'Gateway') && !config.namespaceLabels) list.push(resource('Namespace', config));
  return list;
}
