// The public plugin interface: a plugin is a named factory whose `create(config, services)`
// returns the phases it implements (all optional). Built-in policies and user plugins implement
// the same interface. Phases are resolved into per-route arrays when the route's runtime is
// built (see chain.ts), so a phase no plugin implements costs one null check per request.
//
// Order of the phases of one exchange (Pingora's ProxyHttp, fastify's hooks):
//   connection      every way in, TLS passthrough included: allow or reject by client address
//   request         HTTP and Upgrade: may answer (ctx.respond), rewrite ctx.path / headers, reject
//   selectEndpoint  pick one of the route's candidates (first non-null answer wins)
//   upstreamRequest headers (and path) sent to the endpoint
//   response        status and headers sent to the client (a Promise makes the head wait)
//   log             after the exchange (timings, endpoint, outcome); a Promise is not awaited,
//                   its rejection is counted and logged like a throw

import type { TSchema } from 'typebox';
import type { Member } from '../balance/types.ts';
import type { RouteKind } from '../table/types.ts';
import type { PluginContext } from './context.ts';

/** A phase may return synchronously (no Promise is created) or a Promise. */
export type PhaseResult = void | Promise<void>;

/** An endpoint the route may send to: the shared endpoint state and this route's weight for it. */
export type EndpointCandidate = Member;

export interface Phases {
  connection?(ctx: PluginContext): PhaseResult;
  request?(ctx: PluginContext): PhaseResult;
  /** Return a candidate to choose it, or null/undefined to leave the choice to the next plugin (finally the route's balancer). */
  selectEndpoint?(ctx: PluginContext, candidates: readonly EndpointCandidate[]): EndpointCandidate | null | undefined | Promise<EndpointCandidate | null | undefined>;
  upstreamRequest?(ctx: PluginContext): PhaseResult;
  /** Read ctx.status, change ctx.responseHeaders before they are written (a Promise: the head waits for it, bounded by the route's timeout). */
  response?(ctx: PluginContext): PhaseResult;
  /** After the exchange: ctx.status, ctx.outcome, ctx.durationMs, ctx.endpoint. A Promise is not awaited; a rejection is counted and logged. */
  log?(ctx: PluginContext): PhaseResult;
}

export type PhaseName = keyof Phases;
export const PHASE_NAMES = ['connection', 'request', 'selectEndpoint', 'upstreamRequest', 'response', 'log'] as const satisfies readonly PhaseName[];

export interface PluginLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** What a plugin instance gets besides its config. */
export interface PluginServices {
  /** The route this instance serves. */
  readonly route: RouteInfo;
  /** Name of the instance (`namespace/name` of the Middleware, or the built-in's name). */
  readonly instanceName: string;
  readonly logger: PluginLogger;
  /**
   * State kept across rebuilds of the route's runtime (endpoint changes rebuild it): returns
   * what the previous runtime of this route stored under `key`, else `make()`. Use a key that
   * changes with the settings the state depends on.
   */
  retain<T>(key: string, make: () => T): T;
}

export interface RouteInfo {
  /** `Route/ns/name` or `Ingress/ns/name/<rule>/<path>` */
  readonly key: string;
  readonly kind: RouteKind;
  readonly namespace: string;
  readonly name: string;
  readonly host: string;
  readonly path: string;
  readonly annotations: Readonly<Record<string, string>>;
}

export interface Plugin<Config = unknown> {
  readonly name: string;
  /** JSON Schema (TypeBox) of the config; absent = the plugin takes no config ({}). */
  readonly config?: TSchema;
  create(config: Config, services: PluginServices): Phases;
}

/** A plugin instance in a route's chain. */
export interface ChainLink {
  /** Plugin name (metrics/log label for built-ins) or Middleware `namespace/name`. */
  readonly name: string;
  readonly phases: Phases;
  /** Index into the per-request plugin state slots. */
  readonly slot: number;
}
