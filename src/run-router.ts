// Run a router until SIGTERM/SIGINT, then drain and exit 0 (shared by `run` and `demo`).

import type { RouterConfig } from './config.ts';
import { createLogger, flushLog } from './log.ts';
import type { Router } from './router.ts';
import { createRouter } from './embed.ts';
import { loadPluginRegistry, PluginLoadError, type PluginRegistry } from './pipeline/plugin-registry.ts';
import { MIDDLEWARE_BUILTINS } from './plugins/middleware-builtins.ts';
import { releaseStartupMemory } from './release-startup-memory.ts';
import { startMallocTrimming } from './malloc-trim.ts';

/** Start a router and keep it running until SIGTERM/SIGINT; resolves with the exit code. */
export async function runRouter(config: RouterConfig): Promise<number> {
  const logger = createLogger(config.logLevel);
  // Plugins load here (admission validates Middleware configs) and again in every worker thread.
  let plugins: PluginRegistry;
  try {
    plugins = await loadPluginRegistry(config.plugins, process.cwd(), MIDDLEWARE_BUILTINS);
  } catch (err) {
    if (!(err instanceof PluginLoadError)) throw err;
    process.stderr.write(`switchyard: ${err.message}\n`);
    return 2;
  }
  let router: Router;
  try {
    router = createRouter({ config, logger, plugins: plugins.plugins() });
  } catch (err) {
    // Startup configuration the option table cannot check (a bad label selector, an unreadable CA).
    process.stderr.write(`switchyard: ${(err as Error).message}\n`);
    return 2;
  }
  let stopping: Promise<void> | null = null;
  const stop = (signal: string) => {
    if (stopping) return;
    logger.info({ signal }, 'shutting down');
    stopping = router.stop().then(
      async () => { await flushLog(logger); process.exit(0); },
      async (err: Error) => { logger.error({ err: err.message }, 'error while stopping'); await flushLog(logger); process.exit(1); },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    // The initial load is done (table built): let V8 give back what it grew for it, before the
    // router says it is ready (at 100k routes this collection takes seconds).
    await router.start({ beforeServing: () => releaseStartupMemory(logger) });
    // From then on, what bursts free (every route's first connections, a resync) goes back to
    // the kernel within one interval rather than staying in malloc's arenas.
    startMallocTrimming();
  } catch (err) {
    logger.fatal({ err: (err as Error).message }, 'startup failed');
    await flushLog(logger);
    process.stderr.write(`switchyard: ${(err as Error).message}\n`);
    await router.stop(true).catch(() => {});
    return 1;
  }
  return new Promise<number>(() => {}); // runs until a signal
}

