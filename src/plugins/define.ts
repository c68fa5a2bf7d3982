// Built-in plugins are plugins like any other; this names the shape they share: a name and a
// factory from the compiled route's settings (plain table data, validated at admission) to
// phases. `builtinLinks` (builtins.ts) decides which apply to a route and in which order.

import type { Phases, PluginServices } from '../pipeline/types.ts';

export interface BuiltinPlugin<Config> {
  readonly name: string;
  create(config: Config, services: PluginServices): Phases;
}

export function builtin<Config>(name: string, create: (config: Config, services: PluginServices) => Phases): BuiltinPlugin<Config> {
  return Object.freeze({ name, create });
}
