// definePlugin: the typed helper a plugin module's default export is built with. The config
// type is inferred from the TypeBox schema, so `create` gets a typed, validated config; the
// per-exchange state type from the `local` factory, so `ctx.local` is typed in every phase.

import type { Static, TSchema } from 'typebox';
import type { Phases, Plugin, PluginServices } from './types.ts';

export interface PluginDefinition<S extends TSchema, L = unknown> {
  /** Unique among the loaded plugins; what a Middleware's spec.plugin names. */
  name: string;
  /** TypeBox schema of spec.config (validated at admission, defaults applied). */
  config: S;
  /**
   * Makes this plugin's state for one exchange (`ctx.local`), on its first use in that exchange.
   * Without it, `ctx.local` is `unknown` and starts undefined.
   */
  local?: () => L;
  create(config: Static<S>, services: PluginServices): Phases<L>;
}

const NAME = /^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/;

export function definePlugin<S extends TSchema, L = unknown>(definition: PluginDefinition<S, L>): Plugin<Static<S>, L> {
  if (typeof definition?.name !== 'string' || !NAME.test(definition.name)) {
    throw new TypeError(`definePlugin: name must be a lower-case DNS label-like name (a-z, 0-9, '-', '.'), got ${JSON.stringify(definition?.name)}`);
  }
  if (typeof definition.create !== 'function') throw new TypeError(`definePlugin(${definition.name}): create must be a function`);
  if (typeof definition.config !== 'object' || definition.config === null) throw new TypeError(`definePlugin(${definition.name}): config must be a schema (e.g. Type.Object({...}))`);
  if (definition.local !== undefined && typeof definition.local !== 'function') throw new TypeError(`definePlugin(${definition.name}): local must be a function making the per-exchange state`);
  return Object.freeze({
    name: definition.name,
    config: definition.config,
    ...(definition.local !== undefined ? { local: definition.local } : {}),
    create: definition.create as Plugin<Static<S>, L>['create'],
  });
}

/** True when `value` has the shape of a plugin (what a module's default export must be). */
export function isPlugin(value: unknown): value is Plugin {
  if (typeof value !== 'object' || value === null) return false;
  const p = value as Partial<Plugin>;
  return typeof p.name === 'string' && NAME.test(p.name) && typeof p.create === 'function' &&
    (p.config === undefined || (typeof p.config === 'object' && p.config !== null)) &&
    (p.local === undefined || typeof p.local === 'function');
}
