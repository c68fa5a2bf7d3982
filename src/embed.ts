// The embeddable router: `createRouter({ config, sources, plugins })` builds the same Router the
// command line runs (`switchyard run` is built on it), with objects from the given sources.

import { configFromOptions, type RouterConfig } from './config.ts';
import { createLogger, type Logger } from './log.ts';
import { Metrics } from './metrics.ts';
import { PluginRegistry } from './pipeline/plugin-registry.ts';
import { MIDDLEWARE_BUILTINS } from './plugins/middleware-builtins.ts';
import type { Plugin } from './pipeline/types.ts';
import { Router } from './router.ts';
import type { Source } from './sources/source.ts';

export interface CreateRouterOptions {
  /**
   * Settings by RouterConfig key (the README's options table: `httpPort`, `drainTimeout`, …),
   * durations in milliseconds and lists as arrays; unset ones take their defaults. An unknown key
   * or a value of the wrong type throws a ConfigError naming it, as the command line refuses it.
   */
  config?: Partial<RouterConfig>;
  /** Where objects come from. Default: config.file, else the cluster (kubeconfig). */
  sources?: Source[];
  /** Plugins Middlewares may name: the plugin objects the program imported (or loadPlugins(specs) loaded). */
  plugins?: readonly Plugin[];
  logger?: Logger;
  metrics?: Metrics;
}

/**
 * A router, not started: `await router.start()` binds its ports (0 = any free port) and
 * resolves with them; `router.inspect()` shows the table; `await router.stop()` drains.
 * Embedded, it runs in one process (`workers` defaults to 0).
 */
export function createRouter(options: CreateRouterOptions = {}): Router {
  const config: RouterConfig = configFromOptions(options.config as Readonly<Record<string, unknown>> | undefined, { workers: 0 });
  const logger = options.logger ?? createLogger(config.logLevel);
  const plugins = new PluginRegistry(options.plugins ?? [], MIDDLEWARE_BUILTINS);
  return new Router(config, logger, options.metrics ?? new Metrics(), { plugins, sources: options.sources });
}
