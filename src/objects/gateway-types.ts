// Narrow types of the Gateway API objects switchyard reads (gateway.networking.k8s.io, Standard
// channel, as released in sigs.k8s.io/gateway-api v1.6.3): GatewayClass, Gateway, HTTPRoute,
// GRPCRoute, TLSRoute, TCPRoute, UDPRoute and ListenerSet (v1) and ReferenceGrant (v1beta1; v1 is accepted too). Only the fields the router uses are named.

import type { KubeObject } from './kube-object.ts';

export const GATEWAY_GROUP = 'gateway.networking.k8s.io';
/** The upstream release whose Standard-channel CRDs switchyard is written and tested against. */
export const GATEWAY_API_VERSION = 'v1.6.3';
/** spec.controllerName of the GatewayClasses this router implements. */
export const GATEWAY_CONTROLLER_NAME = 'switchyard.io/gateway-controller';

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime: string;
}

export interface ParentReference {
  group?: string;
  kind?: string;
  namespace?: string;
  name: string;
  sectionName?: string;
  port?: number;
}

export interface SecretObjectReference { group?: string; kind?: string; name: string; namespace?: string }

export interface GatewayClass extends KubeObject {
  kind: 'GatewayClass';
  spec: { controllerName: string; description?: string; parametersRef?: unknown };
  status?: { conditions?: Condition[] };
}

export interface LabelSelectorSpec {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
}

export interface Listener {
  name: string;
  hostname?: string;
  port: number;
  protocol: string;
  tls?: { mode?: 'Terminate' | 'Passthrough'; certificateRefs?: SecretObjectReference[] };
  allowedRoutes?: {
    namespaces?: { from?: 'All' | 'Same' | 'Selector'; selector?: LabelSelectorSpec };
    kinds?: Array<{ group?: string; kind: string }>;
  };
}

/** spec.tls.frontend...validation: client certificates checked against CA bundles (ConfigMaps with `ca.crt`). */
export interface FrontendTLSValidation {
  caCertificateRefs?: Array<{ group?: string; kind?: string; name: string; namespace?: string }>;
  mode?: string;
}

/** spec.tls.frontend: client-certificate validation of HTTPS listeners, by default and per port. */
export interface FrontendTLSConfig {
  default?: { validation?: FrontendTLSValidation };
  perPort?: Array<{ port: number; tls?: { validation?: FrontendTLSValidation } }>;
}

export interface Gateway extends KubeObject {
  kind: 'Gateway';
  spec: {
    gatewayClassName: string; listeners: Listener[]; addresses?: Array<{ type?: string; value?: string }>;
    /** frontend: client-certificate validation; backend: the client certificate presented to TLS backends (backend-client-certificate.ts). */
    tls?: { frontend?: FrontendTLSConfig; backend?: { clientCertificateRef?: SecretObjectReference } };
    /** Which ListenerSets may add listeners to it (default: none). */
    allowedListeners?: { namespaces?: { from?: 'All' | 'Same' | 'Selector' | 'None'; selector?: LabelSelectorSpec } };
  };
  /** Only the addresses are read (a restarted router gives a Gateway back the address it had). */
  status?: { addresses?: Array<{ type?: string; value: string }> };
}

export interface HTTPPathMatch { type?: 'Exact' | 'PathPrefix' | 'RegularExpression'; value?: string }
export interface HTTPHeaderMatch { type?: 'Exact' | 'RegularExpression'; name: string; value: string }
export interface HTTPRouteMatch {
  path?: HTTPPathMatch;
  headers?: HTTPHeaderMatch[];
  queryParams?: HTTPHeaderMatch[];
  method?: string;
}

export interface HTTPHeader { name: string; value: string }
export interface HTTPHeaderFilter { set?: HTTPHeader[]; add?: HTTPHeader[]; remove?: string[] }
export interface HTTPPathModifier { type: 'ReplaceFullPath' | 'ReplacePrefixMatch'; replaceFullPath?: string; replacePrefixMatch?: string }

export interface HTTPRouteFilter {
  type: string;
  requestHeaderModifier?: HTTPHeaderFilter;
  responseHeaderModifier?: HTTPHeaderFilter;
  requestRedirect?: { scheme?: string; hostname?: string; path?: HTTPPathModifier; port?: number; statusCode?: number };
  urlRewrite?: { hostname?: string; path?: HTTPPathModifier };
  requestMirror?: HTTPRequestMirrorFilter;
  extensionRef?: { group: string; kind: string; name: string };
  cors?: HTTPCORSFilter;
}

export interface HTTPCORSFilter {
  allowOrigins?: string[];
  allowCredentials?: boolean;
  allowMethods?: string[];
  allowHeaders?: string[];
  exposeHeaders?: string[];
  maxAge?: number;
}

/** RequestMirror: a copy of each request (or `percent` / `fraction` of them) to `backendRef`. */
export interface HTTPRequestMirrorFilter {
  backendRef: { group?: string; kind?: string; name: string; namespace?: string; port?: number };
  percent?: number;
  fraction?: { numerator: number; denominator?: number };
}

export interface HTTPBackendRef {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
  port?: number;
  weight?: number;
  filters?: HTTPRouteFilter[];
}

export interface HTTPRouteRule {
  name?: string;
  matches?: HTTPRouteMatch[];
  filters?: HTTPRouteFilter[];
  backendRefs?: HTTPBackendRef[];
  timeouts?: { request?: string; backendRequest?: string };
}

export interface HTTPRoute extends KubeObject {
  kind: 'HTTPRoute';
  spec: { parentRefs?: ParentReference[]; hostnames?: string[]; rules?: HTTPRouteRule[] };
  status?: unknown;
}

export interface GRPCMethodMatch { type?: 'Exact' | 'RegularExpression'; service?: string; method?: string }
export interface GRPCRouteMatch { method?: GRPCMethodMatch; headers?: HTTPHeaderMatch[] }

export interface GRPCRouteRule {
  name?: string;
  matches?: GRPCRouteMatch[];
  /** RequestHeaderModifier, ResponseHeaderModifier, RequestMirror, ExtensionRef (the HTTPRoute shapes). */
  filters?: HTTPRouteFilter[];
  backendRefs?: HTTPBackendRef[];
}

export interface GRPCRoute extends KubeObject {
  kind: 'GRPCRoute';
  spec: { parentRefs?: ParentReference[]; hostnames?: string[]; rules?: GRPCRouteRule[] };
  status?: unknown;
}

export interface TLSRouteRule {
  name?: string;
  /** Services (TLSRoute takes no filters on them); at most one rule in v1. */
  backendRefs?: HTTPBackendRef[];
}

/** A TCP stream chosen by the SNI of its ClientHello, through a TLS listener (Passthrough or Terminate). */
export interface TLSRoute extends KubeObject {
  kind: 'TLSRoute';
  spec: { parentRefs?: ParentReference[]; hostnames?: string[]; rules?: TLSRouteRule[] };
  status?: unknown;
}

/** A TCP stream, whatever it carries, through a TCP listener: one per listener (the oldest route attached). */
export interface TCPRoute extends KubeObject {
  kind: 'TCPRoute';
  /** One rule in v1; its backendRefs are Services (no filters). */
  spec: { parentRefs?: ParentReference[]; rules?: TLSRouteRule[] };
  status?: unknown;
}

/** UDP datagrams through a UDP listener: one route per listener (the oldest attached), sessions by client address. */
export interface UDPRoute extends KubeObject {
  kind: 'UDPRoute';
  /** One rule in v1; its backendRefs are Services (no filters). */
  spec: { parentRefs?: ParentReference[]; rules?: TLSRouteRule[] };
  status?: unknown;
}

/**
 * Listeners added to a Gateway (spec.parentRef) from another object, possibly of another
 * namespace, when the Gateway's spec.allowedListeners lets it (src/gateway/listener-sets.ts).
 */
export interface ListenerSet extends KubeObject {
  kind: 'ListenerSet';
  spec: { parentRef: { group?: string; kind?: string; name: string; namespace?: string }; listeners: Listener[] };
  status?: unknown;
}

/** The route kinds of the Gateway API this router serves. */
export type GatewayRoute = HTTPRoute | GRPCRoute | TLSRoute | TCPRoute | UDPRoute;
export type GatewayRouteKind = GatewayRoute['kind'];

export interface ReferenceGrant extends KubeObject {
  kind: 'ReferenceGrant';
  spec: {
    from: Array<{ group: string; kind: string; namespace: string }>;
    to: Array<{ group: string; kind: string; name?: string }>;
  };
}

/** TLS from the router to a Service's endpoints (gateway.networking.k8s.io/v1, GEP-1897). */
export interface BackendTLSPolicy extends KubeObject {
  kind: 'BackendTLSPolicy';
  spec: {
    targetRefs: Array<{ group: string; kind: string; name: string; sectionName?: string }>;
    validation: {
      caCertificateRefs?: Array<{ group: string; kind: string; name: string }>;
      wellKnownCACertificates?: string;
      hostname: string;
      subjectAltNames?: Array<{ type: string; hostname?: string; uri?: string }>;
    };
    options?: Record<string, string>;
  };
  status?: unknown;
}
