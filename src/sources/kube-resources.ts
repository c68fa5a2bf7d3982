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
  Middleware: 'middlewares',
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
  // Middlewares matter only with plugins loaded; without them the CRD need not be installed.
  if (config.plugins.length > 0) list.push(resource('Middleware', config));
  return list;
}
