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
//   requestBody     each chunk of the request body on its way up (a chunk in, a chunk or nothing out)
//   response        status and headers sent to the client (a Promise makes the head wait)
//   responseBody    each chunk of the response body on its way down
//   failure         forwarding failed (connect, reset, timeout, invalid response): answer it,
//                   or ask for another attempt on another endpoint (ctx.retry())
//   log             after the exchange (timings, endpoint, outcome); a Promise is not awaited,
//                   its rejection is counted and logged like a throw

import type { TSchema } from 'typebox';
import type { PluginContext } from './context.ts';
import type { EndpointCandidate, RouteInfo } from './views.ts';

export type { EndpointCandidate, EndpointInfo, FailureInfo, FailureReason, RouteInfo } from './views.ts';

/** A phase may return synchronously (no Promise is created) or a Promise. */
export type PhaseResult = void | Promise<void>;

/**
 * What a body phase returns for a chunk: a Buffer to pass on (the same chunk, or another),
 * `null` to pass nothing on now, or nothing (`undefined`) to pass the chunk on unchanged.
 */
export type BodyChunk = Buffer | null | undefined | void;
export type BodyResult = BodyChunk | Promise<BodyChunk>;

export interface Phases<L = unknown> {
  connection?(ctx: PluginContext<L>): PhaseResult;
  request?(ctx: PluginContext<L>): PhaseResult;
  /** Return a candidate to choose it, or null/undefined to leave the choice to the next plugin (finally the route's balancer). */
  selectEndpoint?(ctx: PluginContext<L>, candidates: readonly EndpointCandidate[]): EndpointCandidate | null | undefined | Promise<EndpointCandidate | null | undefined>;
  upstreamRequest?(ctx: PluginContext<L>): PhaseResult;
  /** Each chunk of the request body, then once more with an empty chunk and `end` true. */
  requestBody?(ctx: PluginContext<L>, chunk: Buffer, end: boolean): BodyResult;
  /** Read ctx.status, change ctx.responseHeaders before they are written (a Promise: the head waits for it, bounded by the route's timeout). */
  response?(ctx: PluginContext<L>): PhaseResult;
  /** Each chunk of the response body, then once more with an empty chunk and `end` true. */
  responseBody?(ctx: PluginContext<L>, chunk: Buffer, end: boolean): BodyResult;
  /** Forwarding failed (ctx.failure): answer with ctx.respond, ask for another attempt with ctx.retry(), or do nothing (the router answers). */
  failure?(ctx: PluginContext<L>): PhaseResult;
  /** After the exchange: ctx.status, ctx.outcome, ctx.durationMs, ctx.endpoint. A Promise is not awaited; a rejection is counted and logged. */
  log?(ctx: PluginContext<L>): PhaseResult;
}

export type PhaseName = keyof Phases;
export const PHASE_NAMES = [
  'connection', 'request', 'selectEndpoint', 'upstreamRequest', 'requestBody', 'response', 'responseBody', 'failure', 'log',
] as const satisfies readonly PhaseName[];

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

export interface Plugin<Config = unknown, Local = unknown> {
  readonly name: string;
  /** JSON Schema (TypeBox) of the config; absent = the plugin takes no config ({}). */
  readonly config?: TSchema;
  /** Makes this plugin's per-exchange state (ctx.local) on its first use in an exchange. */
  readonly local?: () => Local;
  create(config: Config, services: PluginServices): Phases<Local>;
}
