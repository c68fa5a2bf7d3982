// Where each kind the router reads or writes lives in the Kubernetes API: group/version paths,
// plural resource names, object and collection paths. What an informer lists and watches is a
// WatchedResource; which ones a router runs is decided in sources/watched-resources.ts.

import { API_VERSION, CLUSTER_SCOPED, type Kind } from '../objects/types.ts';

const PLURAL: Readonly<Record<Kind, string>> = {
  Route: 'routes',
  Ingress: 'ingresses',
  IngressClass: 'ingressclasses',
  Service: 'services',
  EndpointSlice: 'endpointslices',
  Namespace: 'namespaces',
  Pod: 'pods',
  Secret: 'secrets',
  ConfigMap: 'configmaps',
  Middleware: 'middlewares',
  GatewayClass: 'gatewayclasses',
  Gateway: 'gateways',
  HTTPRoute: 'httproutes',
  GRPCRoute: 'grpcroutes',
  TLSRoute: 'tlsroutes',
  TCPRoute: 'tcproutes',
  UDPRoute: 'udproutes',
  ReferenceGrant: 'referencegrants',
  BackendTLSPolicy: 'backendtlspolicies',
  ListenerSet: 'listenersets',
};

/** One list + watch: a collection, optionally narrowed by namespace, selectors or one name. */
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
  /** One object only (a Secret read by name): a re-list proves only this key gone. */
  name?: string;
}

/** `/api/v1` or `/apis/<group>/<version>` for a kind. */
export function groupVersionPath(kind: Kind): string {
  const apiVersion = API_VERSION[kind];
  return apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
}

/** Plural resource name of a kind (discovery lists resources by it). */
export function pluralOf(kind: Kind): string {
  return PLURAL[kind];
}

/** Collection path of a kind: in one namespace, or across all (and for cluster-scoped kinds). */
export function collectionPath(kind: Kind, namespace?: string): string {
  return namespace && !CLUSTER_SCOPED.has(kind)
    ? `${groupVersionPath(kind)}/namespaces/${encodeURIComponent(namespace)}/${PLURAL[kind]}`
    : `${groupVersionPath(kind)}/${PLURAL[kind]}`;
}

/** Path of a namespaced object (or subresource). */
export function objectPath(kind: Kind, namespace: string, name: string, subresource?: string): string {
  const base = `${collectionPath(kind, namespace)}/${encodeURIComponent(name)}`;
  return subresource ? `${base}/${subresource}` : base;
}

/** Path of a cluster-scoped object (or subresource), e.g. a GatewayClass's status. */
export function clusterObjectPath(kind: Kind, name: string, subresource?: string): string {
  const base = `${groupVersionPath(kind)}/${PLURAL[kind]}/${encodeURIComponent(name)}`;
  return subresource ? `${base}/${subresource}` : base;
}

/** The informer of a whole collection (narrowed by namespace and selectors). */
export function collectionResource(kind: Kind, namespace: string | undefined, selectors: { labelSelector?: string; fieldSelector?: string } = {}): WatchedResource {
  const scoped = namespace && !CLUSTER_SCOPED.has(kind) ? namespace : undefined;
  return {
    kind, resource: PLURAL[kind], path: collectionPath(kind, scoped), namespace: scoped,
    labelSelector: selectors.labelSelector || undefined,
    fieldSelector: selectors.fieldSelector || undefined,
  };
}

/**
 * The informer of one named object: a list and watch narrowed by `fieldSelector=metadata.name=`,
 * which RBAC authorizes as a request for that resourceName. `extraFields` narrows further.
 */
export function namedResource(kind: Kind, namespace: string, name: string, extraFields = ''): WatchedResource {
  return {
    kind, resource: PLURAL[kind], path: collectionPath(kind, namespace), namespace, name,
    fieldSelector: `metadata.name=${name}${extraFields ? `,${extraFields}` : ''}`,
  };
}
