// Narrow types of the Kubernetes objects switchyard reads. Objects are kept exactly as the
// API server (or a YAML file) gives them — plain JSON — and these interfaces name only the
// fields we use. Validation of the fields lives next to the code that reads them
// (admission/validation.ts for Routes and Ingresses).

export type Kind =
  | 'Route'
  | 'Ingress'
  | 'IngressClass'
  | 'Service'
  | 'EndpointSlice'
  | 'Namespace'
  | 'Pod'
  | 'Secret'
  | 'ConfigMap'
  | 'Middleware'
  // Gateway API (src/objects/gateway-types.ts)
  | 'GatewayClass'
  | 'Gateway'
  | 'HTTPRoute'
  | 'GRPCRoute'
  | 'TLSRoute'
  | 'TCPRoute'
  | 'UDPRoute'
  | 'ReferenceGrant'
  | 'BackendTLSPolicy'
  | 'ListenerSet';

export const KINDS: readonly Kind[] = [
  'Route', 'Ingress', 'IngressClass', 'Service', 'EndpointSlice', 'Namespace', 'Pod', 'Secret', 'ConfigMap', 'Middleware',
  'GatewayClass', 'Gateway', 'HTTPRoute', 'GRPCRoute', 'TLSRoute', 'TCPRoute', 'UDPRoute', 'ReferenceGrant', 'BackendTLSPolicy', 'ListenerSet',
];

/** apiVersion each kind is read from (what a file document must declare, what the informer lists). */
export const API_VERSION: Readonly<Record<Kind, string>> = {
  Route: 'route.openshift.io/v1',
  Ingress: 'networking.k8s.io/v1',
  IngressClass: 'networking.k8s.io/v1',
  Service: 'v1',
  EndpointSlice: 'discovery.k8s.io/v1',
  Namespace: 'v1',
  Pod: 'v1',
  Secret: 'v1',
  ConfigMap: 'v1',
  Middleware: 'switchyard.io/v1alpha1',
  GatewayClass: 'gateway.networking.k8s.io/v1',
  Gateway: 'gateway.networking.k8s.io/v1',
  HTTPRoute: 'gateway.networking.k8s.io/v1',
  GRPCRoute: 'gateway.networking.k8s.io/v1',
  TLSRoute: 'gateway.networking.k8s.io/v1',
  TCPRoute: 'gateway.networking.k8s.io/v1',
  UDPRoute: 'gateway.networking.k8s.io/v1',
  ReferenceGrant: 'gateway.networking.k8s.io/v1beta1',
  BackendTLSPolicy: 'gateway.networking.k8s.io/v1',
  ListenerSet: 'gateway.networking.k8s.io/v1',
};

/** Other apiVersions a kind is accepted in (the same schema served under another version). */
export const ALSO_ACCEPTED_API_VERSIONS: Readonly<Partial<Record<Kind, readonly string[]>>> = {
  ReferenceGrant: ['gateway.networking.k8s.io/v1'],
};

/** Kinds that have no namespace. */
export const CLUSTER_SCOPED: ReadonlySet<Kind> = new Set<Kind>(['Namespace', 'IngressClass', 'GatewayClass']);

export type { KubeObject, ObjectMeta } from './kube-object.ts';
import type { KubeObject, ObjectMeta } from './kube-object.ts';

import type { BackendTLSPolicy, Gateway, GatewayClass, GRPCRoute, HTTPRoute, ListenerSet, ReferenceGrant, TCPRoute, TLSRoute, UDPRoute } from './gateway-types.ts';
import { joined } from '../flat-string.ts';

// ---- route.openshift.io/v1 Route ----------------------------------------------------------

export interface RouteTargetReference { kind?: string; name: string; weight?: number }

export interface RouteTLSConfig {
  termination: 'edge' | 'passthrough' | 'reencrypt';
  certificate?: string;
  key?: string;
  caCertificate?: string;
  destinationCACertificate?: string;
  insecureEdgeTerminationPolicy?: 'None' | 'Allow' | 'Redirect' | '';
  externalCertificate?: { name: string };
}

export interface RouteIngressCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

export interface RouteIngress {
  host?: string;
  routerName?: string;
  routerCanonicalHostname?: string;
  wildcardPolicy?: string;
  conditions?: RouteIngressCondition[];
}

export interface Route extends KubeObject {
  kind: 'Route';
  spec: {
    host?: string;
    subdomain?: string;
    path?: string;
    to: RouteTargetReference;
    alternateBackends?: RouteTargetReference[];
    port?: { targetPort: string | number };
    tls?: RouteTLSConfig | null;
    wildcardPolicy?: 'None' | 'Subdomain';
    httpHeaders?: unknown;
  };
  status?: { ingress?: RouteIngress[] };
}

// ---- networking.k8s.io/v1 Ingress / IngressClass ------------------------------------------

export interface IngressServiceBackend { name: string; port: { name?: string; number?: number } }
export interface IngressBackend { service?: IngressServiceBackend; resource?: unknown }
export interface HTTPIngressPath {
  path?: string;
  pathType: 'Exact' | 'Prefix' | 'ImplementationSpecific';
  backend: IngressBackend;
}
export interface IngressRule { host?: string; http?: { paths: HTTPIngressPath[] } }
export interface IngressTLS { hosts?: string[]; secretName?: string }

export interface Ingress extends KubeObject {
  kind: 'Ingress';
  spec: {
    ingressClassName?: string;
    defaultBackend?: IngressBackend;
    rules?: IngressRule[];
    tls?: IngressTLS[];
  };
  status?: { loadBalancer?: { ingress?: Array<{ ip?: string; hostname?: string }> } };
}

export interface IngressClass extends KubeObject {
  kind: 'IngressClass';
  spec: { controller?: string };
}

// ---- v1 Service, discovery.k8s.io/v1 EndpointSlice, Namespace, Pod, Secret ---------------

export interface ServicePort {
  name?: string;
  port: number;
  targetPort?: string | number;
  protocol?: string;
  appProtocol?: string;
}

export interface Service extends KubeObject {
  kind: 'Service';
  spec: {
    type?: string;
    ports?: ServicePort[];
    selector?: Record<string, string>;
    clusterIP?: string;
    externalName?: string;
  };
}

export interface EndpointConditions { ready?: boolean | null; serving?: boolean | null; terminating?: boolean | null }
export interface SliceEndpoint {
  addresses: string[];
  conditions?: EndpointConditions;
  hostname?: string;
  nodeName?: string;
  targetRef?: { kind?: string; name?: string; namespace?: string; uid?: string };
}
export interface EndpointPort { name?: string; port?: number; protocol?: string; appProtocol?: string }

export interface EndpointSlice extends KubeObject {
  kind: 'EndpointSlice';
  addressType: 'IPv4' | 'IPv6' | 'FQDN';
  endpoints?: SliceEndpoint[] | null;
  ports?: EndpointPort[] | null;
}

export interface Namespace extends KubeObject { kind: 'Namespace' }

export interface Pod extends KubeObject {
  kind: 'Pod';
  spec?: { hostNetwork?: boolean; nodeName?: string };
  status?: { podIP?: string; phase?: string };
}

export interface Secret extends KubeObject {
  kind: 'Secret';
  type?: string;
  /** base64-encoded values, as the API serves them */
  data?: Record<string, string>;
  /** write-only convenience form allowed in files */
  stringData?: Record<string, string>;
}

/** A ConfigMap: read only when a Gateway or a BackendTLSPolicy names it (its `ca.crt`), one by name. */
export interface ConfigMap extends KubeObject {
  kind: 'ConfigMap';
  data?: Record<string, string>;
}

/** switchyard.io/v1alpha1 Middleware: a configured instance of a loaded plugin, attached to
 * Routes/Ingresses of its namespace by the switchyard.io/middlewares annotation. */
export interface Middleware extends KubeObject {
  kind: 'Middleware';
  spec: {
    /** Name of a plugin the operator loaded (--plugin). */
    plugin: string;
    /** Settings, validated against the plugin's schema at admission. */
    config?: unknown;
  };
}

export interface KindMap {
  Route: Route;
  Ingress: Ingress;
  IngressClass: IngressClass;
  Service: Service;
  EndpointSlice: EndpointSlice;
  Namespace: Namespace;
  Pod: Pod;
  Secret: Secret;
  ConfigMap: ConfigMap;
  Middleware: Middleware;
  GatewayClass: GatewayClass;
  Gateway: Gateway;
  HTTPRoute: HTTPRoute;
  GRPCRoute: GRPCRoute;
  TLSRoute: TLSRoute;
  TCPRoute: TCPRoute;
  UDPRoute: UDPRoute;
  ReferenceGrant: ReferenceGrant;
  BackendTLSPolicy: BackendTLSPolicy;
  ListenerSet: ListenerSet;
}

/** `namespace/name` for namespaced kinds, `name` for cluster-scoped ones. */
export function objectKey(kind: Kind, meta: ObjectMeta): string {
  // Flat (joined), not a rope: keys are kept (the store's, the file source's) for as long as the object exists.
  return CLUSTER_SCOPED.has(kind) ? meta.name : joined([meta.namespace ?? 'default', meta.name], '/');
}

/** Milliseconds since the epoch, or undefined when the object carries no creationTimestamp. */
export function creationMillis(meta: ObjectMeta): number | undefined {
  const ts = meta.creationTimestamp;
  if (ts === undefined || ts === null) return undefined;
  const ms = ts instanceof Date ? ts.getTime() : Date.parse(ts);
  return Number.isNaN(ms) ? undefined : ms;
}
