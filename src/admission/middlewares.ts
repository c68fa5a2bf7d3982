// Admission step: the Middlewares a route runs. Router-wide ones (--middlewares, namespace/name)
// come first, then those the route names in its switchyard.io/middlewares annotation (same
// namespace, in order). Each must exist, name a plugin the operator loaded, and carry a config
// its schema accepts. The resolved list (validated config, defaults applied) is attached to the
// candidate for compilation. Each Middleware is compiled once per generation and shared by the
// routes that name it; a config over MIDDLEWARE_CONFIG_MAX_BYTES is refused with its size.
//
// A chain that cannot be resolved fails closed: the candidate is not rejected — it keeps
// claiming its host and path, so requests for them never fall through to another route of the
// host that lacks the policy — but it carries `middlewareError` (the Middleware and the field)
// and answers 500 SY_MIDDLEWARE_INVALID until fixed; its status reports InvalidMiddleware
// (controller/owner-state.ts). As the Gateway API asks of a filter that cannot be applied.

import { createHash } from 'node:crypto';
import type { Middleware } from '../objects/types.ts';
import type { CompiledMiddleware } from '../table/types.ts';
import { ADMITTED, Reasons, reject, type AdmissionContext, type RouteCandidate, type Verdict } from './types.ts';

export { MIDDLEWARES_ANNOTATION } from '../route-candidate.ts';
import { MIDDLEWARES_ANNOTATION } from '../route-candidate.ts';

export type { PluginCatalog } from './types.ts';
import type { PluginCatalog } from './types.ts';

const NAME = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;
const NONE: CompiledMiddleware[] = [];

/** Names in the annotation, in order ('' and blanks dropped). */
export function middlewareNames(annotations: Readonly<Record<string, string>> | undefined): string[] {
  const raw = annotations?.[MIDDLEWARES_ANNOTATION];
  if (raw === undefined) return [];
  return raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

export function admitMiddlewares(c: RouteCandidate, context: AdmissionContext): Verdict {
  const names = middlewareNames(c.annotations);
  if (c.middlewareError !== undefined) c.middlewareError = undefined; // a re-admitted candidate (HTTPRoutes keep theirs)
  for (const name of names) {
    if (!NAME.test(name)) return failClosed(c, `annotation ${MIDDLEWARES_ANNOTATION}: "${name}" is not a Middleware name`);
  }
  const resolved = resolveMiddlewareChain(c.namespace, names, context);
  if (!resolved.admitted) return failClosed(c, resolved.message);
  // Nothing to run: the property is left absent (compile reads that as none) rather than added
  // to every Route, where a property added after an object is made costs a properties array.
  if (resolved.middlewares.length > 0 || c.middlewares !== undefined) c.middlewares = resolved.middlewares;
  return ADMITTED;
}

/** Admitted with no Middleware to run and the reason it has none: it answers 500 until fixed. */
function failClosed(c: RouteCandidate, message: string): Verdict {
  c.middlewares = NONE;
  c.middlewareError = message;
  return ADMITTED;
}

/** What an admitted candidate's status says when its Middlewares fail closed (null: they do not). */
export function middlewareFailure(c: RouteCandidate): (Verdict & { admitted: false }) | null {
  if (c.middlewareError === undefined) return null;
  return reject(Reasons.invalidMiddleware, `${c.middlewareError} (the route keeps its host and path and answers 500 SY_MIDDLEWARE_INVALID until this is fixed)`);
}

/**
 * The Middlewares a route in `namespace` runs when it names `names` (same namespace, in order),
 * router-wide ones first, each resolved and its config validated. Any route kind attaches a
 * chain through this (the annotation here; a Gateway API ExtensionRef the same way).
 */
export function resolveMiddlewareChain(namespace: string, names: readonly string[], context: AdmissionContext):
  { admitted: true; middlewares: CompiledMiddleware[] } | (Verdict & { admitted: false }) {
  const global = context.config.middlewares ?? [];
  if (names.length === 0 && global.length === 0) return { admitted: true, middlewares: NONE };
  const out: CompiledMiddleware[] = [];
  const seen = new Set<string>();
  for (const ref of global) {
    const failure = resolve(ref, 'router-wide middleware', context, out, seen);
    if (failure !== null) return failure;
  }
  for (const name of names) {
    if (seen.has(`${namespace}/${name}`)) return reject(Reasons.invalidMiddleware, `middleware "${name}" is listed twice (or is also router-wide)`);
    const failure = resolve(`${namespace}/${name}`, 'middleware', context, out, seen);
    if (failure !== null) return failure;
  }
  return { admitted: true, middlewares: out };
}

/** Largest spec.config, as JSON bytes: a plugin config is settings, not data (Kubernetes objects go to 1.5 MB). */
export const MIDDLEWARE_CONFIG_MAX_BYTES = 256 * 1024;

/** A Middleware object compiled once (per object: the store holds a new one for each generation). */
type Compiled = { ok: true; middleware: CompiledMiddleware } | { ok: false; message: string };

/**
 * Compiled Middlewares by catalog, then by object. Every route naming a Middleware shares its
 * compiled form: validation, defaults and the freeze run once per generation, not per route or
 * per re-admission (300 routes on a 670 KB config blocked the event loop 7.5 s).
 */
const compiledByCatalog = new WeakMap<object, WeakMap<Middleware, Compiled>>();
const NO_CATALOG = {};

function compile(object: Middleware, plugins: PluginCatalog | undefined): Compiled {
  let cache = compiledByCatalog.get(plugins ?? NO_CATALOG);
  if (cache === undefined) compiledByCatalog.set(plugins ?? NO_CATALOG, (cache = new WeakMap()));
  let compiled = cache.get(object);
  if (compiled === undefined) {
    compiled = compileOnce(object, plugins);
    cache.set(object, compiled);
  }
  return compiled;
}

function compileOnce(object: Middleware, plugins: PluginCatalog | undefined): Compiled {
  const key = `${object.metadata.namespace ?? 'default'}/${object.metadata.name}`;
  if (plugins === undefined) return { ok: false, message: `spec.plugin: no plugin "${object.spec.plugin}" is loaded (loaded: none)` };
  const json = JSON.stringify(object.spec.config ?? null);
  const bytes = Buffer.byteLength(json);
  if (bytes > MIDDLEWARE_CONFIG_MAX_BYTES) {
    return { ok: false, message: `spec.config is ${bytes} bytes of JSON, more than the ${MIDDLEWARE_CONFIG_MAX_BYTES} a Middleware config may have` };
  }
  const result = plugins.validate(object.spec.plugin, object.spec.config);
  if (!result.ok) return { ok: false, message: result.message };
  // Shared by every route and every instance of the plugin: nobody may change it.
  const config = deepFreeze(result.value);
  const version = createHash('sha256').update(object.spec.plugin).update('\0').update(json).digest('base64url').slice(0, 22);
  return { ok: true, middleware: Object.freeze({ name: key, plugin: object.spec.plugin, config, version }) };
}

function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  return Object.freeze(value);
}

function resolve(key: string, what: string, context: AdmissionContext, out: CompiledMiddleware[], seen: Set<string>): (Verdict & { admitted: false }) | null {
  const object = context.store.get('Middleware', key) as Middleware | undefined;
  if (object === undefined) return reject(Reasons.invalidMiddleware, `${what} "${key}" not found`);
  const compiled = compile(object, context.plugins);
  if (!compiled.ok) return reject(Reasons.invalidMiddleware, `${what} "${key}": ${compiled.message}`);
  seen.add(key);
  out.push(compiled.middleware);
  return null;
}
