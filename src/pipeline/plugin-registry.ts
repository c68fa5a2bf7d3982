// The plugins the operator loaded (--plugin), by name, each with its compiled config
// validator. Admission validates a Middleware's spec.config here (unknown plugin or invalid
// config → the route is rejected with reason InvalidMiddleware); the proxy creates instances.
// Tenants can only name what is in here: a Middleware never loads code.

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Compile } from 'typebox/compile';
import Value from 'typebox/value';
import { isPlugin } from './define-plugin.ts';
import { resolveSwitchyardToThisRouter } from './plugin-resolution.ts';
import type { Plugin } from './types.ts';

type Validator = ReturnType<typeof Compile>;

interface Loaded { plugin: Plugin; validator: Validator | null }

export type ConfigResult = { ok: true; value: unknown } | { ok: false; message: string };

export class PluginLoadError extends Error {}

export class PluginRegistry {
  readonly #plugins = new Map<string, Loaded>();
  /** Names of the built-in plugins a Middleware may name (compress); the rest were loaded. */
  readonly #builtins = new Set<string>();

  /** `builtins`: the router's own plugins Middlewares may name (plugins/middleware-builtins.ts). */
  constructor(plugins: Iterable<Plugin> = [], builtins: Iterable<Plugin> = []) {
    for (const p of builtins) {
      this.add(p);
      this.#builtins.add(p.name);
    }
    for (const p of plugins) this.add(p);
  }

  add(plugin: Plugin): void {
    if (!isPlugin(plugin)) throw new PluginLoadError('not a plugin (build the default export with definePlugin)');
    if (this.#plugins.has(plugin.name)) {
      throw new PluginLoadError(`a plugin named "${plugin.name}" is already loaded${this.#builtins.has(plugin.name) ? ' (a built-in plugin: choose another name)' : ''}`);
    }
    this.#plugins.set(plugin.name, { plugin, validator: plugin.config ? Compile(plugin.config) : null });
  }

  get(name: string): Plugin | undefined {
    return this.#plugins.get(name)?.plugin;
  }

  has(name: string): boolean {
    return this.#plugins.has(name);
  }

  /** One of the router's own plugins (a Middleware naming it gets the services the built-ins get). */
  isBuiltin(name: string): boolean {
    return this.#builtins.has(name);
  }

  names(): string[] {
    return [...this.#plugins.keys()];
  }

  /** The loaded plugins (not the built-ins). */
  plugins(): Plugin[] {
    return [...this.#plugins.values()].filter((l) => !this.#builtins.has(l.plugin.name)).map((l) => l.plugin);
  }

  /** Validate a Middleware's spec.config for `name`; defaults applied on success. */
  validate(name: string, config: unknown): ConfigResult {
    const loaded = this.#plugins.get(name);
    if (loaded === undefined) {
      const known = this.names();
      return { ok: false, message: `spec.plugin: no plugin "${name}" is loaded (loaded: ${known.length > 0 ? known.join(', ') : 'none'})` };
    }
    const input = config === undefined || config === null ? {} : config;
    if (loaded.validator === null) return { ok: true, value: input };
    const value = Value.Default(loaded.plugin.config!, structuredClone(input));
    if (loaded.validator.Check(value)) return { ok: true, value };
    const first = [...loaded.validator.Errors(value)].sort((a, b) => b.instancePath.length - a.instancePath.length)[0];
    const at = `spec.config${fieldPath(first?.instancePath ?? '')}`;
    return { ok: false, message: `${at}: ${first?.message ?? 'invalid'}` };
  }
}

/** JSON pointer `/a/0/b` → `.a[0].b` */
function fieldPath(pointer: string): string {
  if (pointer === '') return '';
  return pointer.split('/').slice(1).map((p) => {
    const key = p.replace(/~1/g, '/').replace(/~0/g, '~');
    return /^\d+$/.test(key) ? `[${key}]` : `.${key}`;
  }).join('');
}

/**
 * Load plugin modules (`--plugin`): a path (relative to the working directory) or a package
 * name. Each module's default export must be a plugin; its `import … from 'switchyard'`
 * resolves to this router (plugin-resolution.ts). Throws PluginLoadError with one line.
 */
export async function loadPlugins(specs: readonly string[], cwd = process.cwd()): Promise<Plugin[]> {
  return (await loadPluginRegistry(specs, cwd)).plugins();
}

/** loadPlugins, as the registry the router uses (names checked unique). */
export async function loadPluginRegistry(specs: readonly string[], cwd = process.cwd(), builtins: readonly Plugin[] = []): Promise<PluginRegistry> {
  const registry = new PluginRegistry([], builtins);
  if (specs.length > 0) resolveSwitchyardToThisRouter();
  for (const spec of specs) {
    let mod: { default?: unknown };
    const url = resolveSpec(spec, cwd);
    try {
      mod = await import(url) as { default?: unknown };
    } catch (err) {
      const message = (err as Error).message.split('\n')[0];
      throw new PluginLoadError(`plugin ${spec}: cannot load: ${message}${esmHint(url, message)}`);
    }
    if (!isPlugin(mod.default)) throw new PluginLoadError(`plugin ${spec}: the default export is not a plugin (build it with definePlugin)`);
    try {
      registry.add(mod.default);
    } catch (err) {
      throw new PluginLoadError(`plugin ${spec}: ${(err as Error).message}`);
    }
  }
  return registry;
}

/**
 * Why an ES module was read as CommonJS, when it was: `npm init` writes `"type": "commonjs"`, and
 * a plugin author who ran it beside their `.ts` plugin (to install switchyard's types) gets
 * Node's bare "Cannot use import statement outside a module" — name the file that decided.
 */
function esmHint(url: string, message: string): string {
  if (!/Cannot use import statement outside a module|Unexpected token 'export'/.test(message) || !url.startsWith('file:')) return '';
  const file = fileURLToPath(url);
  if (/\.(mts|mjs)$/.test(file)) return '';
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg)) {
      let type = 'commonjs';
      try { type = (JSON.parse(readFileSync(pkg, 'utf8')) as { type?: string }).type ?? 'commonjs'; } catch { /* unreadable: Node read it as CommonJS */ }
      return ` (${pkg} has "type": "${type}", so Node reads ${path.basename(file)} as CommonJS: set "type": "module" there, or name the file .${file.endsWith('.ts') ? 'mts' : 'mjs'})`;
    }
    if (path.dirname(dir) === dir) return '';
  }
}

function resolveSpec(spec: string, cwd: string): string {
  if (spec.startsWith('.') || path.isAbsolute(spec)) return pathToFileURL(path.resolve(cwd, spec)).href;
  try {
    return pathToFileURL(createRequire(path.join(cwd, 'package.json')).resolve(spec)).href;
  } catch {
    return spec; // let import() resolve it (and report it when it cannot)
  }
}
