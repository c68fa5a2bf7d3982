// The resources the fake API server serves, and how an API path maps onto them.

export interface ResourceSpec {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
  /** PUT on the object keeps the stored status; status changes go through `/status`. */
  statusSubresource: boolean;
}

export const RESOURCES: readonly ResourceSpec[] = [
  { group: 'route.openshift.io', version: 'v1', plural: 'routes', kind: 'Route', namespaced: true, statusSubresource: true },
  { group: 'networking.k8s.io', version: 'v1', plural: 'ingresses', kind: 'Ingress', namespaced: true, statusSubresource: true },
  { group: 'networking.k8s.io', version: 'v1', plural: 'ingressclasses', kind: 'IngressClass', namespaced: false, statusSubresource: false },
  { group: '', version: 'v1', plural: 'services', kind: 'Service', namespaced: true, statusSubresource: true },
  { group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', kind: 'EndpointSlice', namespaced: true, statusSubresource: false },
  { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false, statusSubresource: true },
  { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true, statusSubresource: true },
  { group: '', version: 'v1', plural: 'secrets', kind: 'Secret', namespaced: true, statusSubresource: false },
  { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', kind: 'Lease', namespaced: true, statusSubresource: false },
  { group: 'switchyard.io', version: 'v1alpha1', plural: 'middlewares', kind: 'Middleware', namespaced: true, statusSubresource: false },
  // Gateway API: served (and listed by discovery) only by a FakeApiServer started with gatewayAPI: true.
  { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'gatewayclasses', kind: 'GatewayClass', namespaced: false, statusSubresource: true },
  { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'gateways', kind: 'Gateway', namespaced: true, statusSubresource: true },
  { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'httproutes', kind: 'HTTPRoute', namespaced: true, statusSubresource: true },
  { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'grpcroutes', kind: 'GRPCRoute', namespaced: true, statusSubresource: true },
  { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'tlsroutes', kind: 'TLSRoute', namespaced: true, statusSubresource: true },
  { group: 'gateway.networking.k8s.io', version: 'v1beta1', plural: 'referencegrants', kind: 'ReferenceGrant', namespaced: true, statusSubresource: false },
];

export const BY_KIND = new Map(RESOURCES.map((r) => [r.kind, r]));

export function apiVersionOf(resource: ResourceSpec): string {
  return resource.group ? `${resource.group}/${resource.version}` : resource.version;
}

export interface ParsedPath {
  resource: ResourceSpec;
  /** undefined: all namespaces (or a cluster-scoped kind) */
  namespace?: string;
  name?: string;
  subresource?: string;
}

/** `/api/v1/...` or `/apis/<group>/<version>/...`; undefined when no resource matches. */
export function parseApiPath(pathname: string): ParsedPath | undefined {
  const segments = pathname.split('/').filter((s) => s.length > 0).map(decodeURIComponent);
  let group: string;
  let version: string;
  let rest: string[];
  if (segments[0] === 'api' && segments.length >= 2) {
    group = '';
    version = segments[1]!;
    rest = segments.slice(2);
  } else if (segments[0] === 'apis' && segments.length >= 3) {
    group = segments[1]!;
    version = segments[2]!;
    rest = segments.slice(3);
  } else {
    return undefined;
  }
  const find = (plural: string | undefined) =>
    RESOURCES.find((r) => r.group === group && r.version === version && r.plural === plural);
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    const resource = find(rest[2]);
    if (resource?.namespaced) {
      if (rest.length > 5) return undefined;
      return { resource, namespace: rest[1], name: rest[3], subresource: rest[4] };
    }
  }
  const resource = find(rest[0]);
  if (!resource || rest.length > 3) return undefined;
  return { resource, name: rest[1], subresource: rest[2] };
}
