// definePlugin: the typed helper a plugin module's default export is built with. The config
// type is inferred from the TypeBox schema, so `create` gets a typed, validated config.

import type { Static, TSchema } from 'typebox';
import type { Phases, Plugin, PluginServices } from './types.ts';

export interface PluginDefinition<S extends TSchema> {
  /** Unique among the loaded plugins; what a Middleware's spec.plugin names. */
  name: string;
  /** TypeBox schema of spec.config (validated at admission, defaults applied). */
  config: S;
  create(config: Static<S>, services: PluginServices): Phases;
}

const NAME = /^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/;

export function definePlugin<S extends TSchema>(definition: PluginDefinition<S>): Plugin<Static<S>> {
  if (typeof definition?.name !== 'string' || !NAME.test(definition.name)) {
    throw new TypeError(`definePlugin: name must be a lower-case DNS label-like name (a-z, 0-9, '-', '.'), got ${JSON.stringify(definition?.name)}`);
  }
  if (typeof definition.create !== 'function') throw new TypeError(`definePlugin(${definition.name}): create must be a function`);
  if (typeof definition.config !== 'object' || definition.config === null) throw new TypeError(`definePlugin(${definition.name}): config must be a schema (e.g. Type.Object({...}))`);
  return Object.freeze({ name: definition.name, config: definition.config, create: definition.create as Plugin<Static<S>>['create'] });
}

/** True when `value` has the shape of a plugin (what a module's default export must be). */
export function isPlugin(value: unknown): value is Plugin {
  if (typeof value !== 'object' || value === null) return false;
  const p = value as Partial<Plugin>;
  return typeof p.name === 'string' && NAME.test(p.name) && typeof p.create === 'function' &&
    (p.config === undefined || (typeof p.config === 'object' && p.config !== null));
}
