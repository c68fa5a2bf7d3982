// Middleware configs on the way to worker processes. In the primary every route naming a
// Middleware shares one compiled config object; serialised as is, a delta would carry it once per
// route (a 670 KB config on 300 routes: 200 MB per table change, per worker). Packed, the routes
// carry the config's version and the delta each config once; unpacked, the routes of one
// Middleware share one config object again.

import type { CompiledMiddleware, CompiledRoute, HostEntry, TableDelta } from './types.ts';

/** A copy of `delta` to send: configs moved to `middlewareConfigs` (the delta itself is left alone). */
export function packMiddlewareConfigs(delta: TableDelta): TableDelta {
  const configs: Record<string, unknown> = {};
  let any = false;
  const packRoute = (route: CompiledRoute): CompiledRoute => {
    if (route.middlewares.length === 0) return route;
    any = true;
    return {
      ...route,
      middlewares: route.middlewares.map((m) => {
        configs[m.version] ??= m.config;
        return { name: m.name, plugin: m.plugin, version: m.version, config: undefined };
      }),
    };
  };
  const packEntry = (entry: HostEntry): HostEntry => (entry.routes.some((r) => r.middlewares.length > 0) ? { ...entry, routes: entry.routes.map(packRoute) } : entry);
  const upsert = delta.upsert.map(packEntry);
  const defaultBackend = delta.defaultBackend ? packRoute(delta.defaultBackend) : delta.defaultBackend;
  if (!any) return delta;
  return { ...delta, upsert, ...(delta.defaultBackend !== undefined ? { defaultBackend } : {}), middlewareConfigs: configs };
}

/** A received delta made whole again, in place: each route's middlewares get their config back (one object per version). */
export function unpackMiddlewareConfigs(delta: TableDelta): TableDelta {
  const configs = delta.middlewareConfigs;
  if (configs === undefined) return delta;
  delete delta.middlewareConfigs;
  const unpack = (route: CompiledRoute): void => {
    for (let i = 0; i < route.middlewares.length; i++) {
      const m = route.middlewares[i]!;
      route.middlewares[i] = { name: m.name, plugin: m.plugin, version: m.version, config: configs[m.version] } satisfies CompiledMiddleware;
    }
  };
  for (const entry of delta.upsert) for (const route of entry.routes) unpack(route);
  if (delta.defaultBackend) unpack(delta.defaultBackend);
  return delta;
}
