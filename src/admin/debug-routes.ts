// The /debug/routes document: the compiled table (hosts, paths, backends, endpoints with their
// live health) and every admission result. Certificates' keys never appear: TLS is summarised.

import type { Reconciler } from '../controller/reconciler.ts';
import type { RouterProxy } from '../proxy/router-proxy.ts';
import { endpointPod, type CompiledRoute } from '../table/types.ts';

/** The /debug/routes document (and `router.inspect()`). */
export type RoutesView = ReturnType<typeof debugRoutes>;

export function debugRoutes(reconciler: Reconciler, proxy: RouterProxy) {
  const snapshot = reconciler.snapshot();
  const now = Date.now();
  const describe = (route: CompiledRoute) => ({
    key: route.key,
    kind: route.kind,
    namespace: route.namespace,
    name: route.name,
    host: route.wildcard ? `*.${route.host}` : route.host,
    path: route.path,
    match: route.match,
    policy: route.policy,
    // The built-in policies and their configs, in chain order (the route's own settings: no secrets).
    plugins: route.plugins,
    tls: route.tls === null ? null : {
      termination: route.tls.termination,
      insecureEdgeTerminationPolicy: route.tls.insecurePolicy,
      certificate: route.tls.certificate === null ? 'default' : 'route',
      destinationCA: route.tls.destinationCA === null ? 'default' : 'route',
      serverName: route.tls.serverName,
    },
    backends: route.services.map((service) => ({
      service: service.name,
      weight: service.weight,
      endpoints: service.endpoints.map((ep) => {
        const state = proxy.registry.get(ep.id);
        return {
          id: ep.id,
          address: ep.address,
          port: ep.port,
          weight: ep.weight,
          acceptsNew: ep.acceptsNew,
          pod: endpointPod(service, ep),
          healthy: state ? state.activeUp : true,
          ejected: state ? state.ejectedUntil > now : false,
          active: state ? state.active : 0,
        };
      }),
    })),
    // Which Middleware, of which plugin (configs are the tenant's: not repeated here).
    middlewares: route.middlewares.map((m) => ({ name: m.name, plugin: m.plugin, version: m.version })),
    notes: route.notes ?? [],
    ...(route.middlewareError !== undefined ? { middlewareError: route.middlewareError } : {}),
    ...(route.gateway !== undefined ? { gateway: route.gateway } : {}),
  });
  return {
    version: snapshot.version,
    hosts: snapshot.upsert.map((entry) => ({ host: entry.key, routes: entry.routes.map(describe) })),
    defaultBackend: snapshot.defaultBackend ? describe(snapshot.defaultBackend) : null,
    admission: reconciler.admissionResults(),
    // Gateway API status (GatewayClasses, Gateways, HTTPRoutes) as the router would write it.
    gatewayAPI: reconciler.gatewayStatus(),
  };
}
