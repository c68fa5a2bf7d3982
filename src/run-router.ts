// Run a router until SIGTERM/SIGINT, then drain and exit 0 (shared by `run` and `demo`).

import type { RouterConfig } from './config.ts';
import { createLogger } from './log.ts';
import { Router } from './router.ts';
import cluster from 'node:cluster';
import { runWorker } from './cluster/worker.ts';

/** Start a router and keep it running until SIGTERM/SIGINT; resolves with the exit code. */
export async function runRouter(config: RouterConfig): Promise<number> {
  const logger = createLogger(config.logLevel);
  if (cluster.isWorker) {
    await runWorker(config, logger);
    return new Promise<number>(() => {}); // runs until the primary says drain
  }
  let router: Router;
  try {
    router = new Router(config, logger);
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
      () => { logger.flush(); process.exit(0); },
      (err: Error) => { logger.error({ err: err.message }, 'error while stopping'); process.exit(1); },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    await router.start();
  } catch (err) {
    logger.fatal({ err: (err as Error).message }, 'startup failed');
    logger.flush();
    process.stderr.write(`switchyard: ${(err as Error).message}\n`);
    await router.stop(true).catch(() => {});
    return 1;
  }
  return new Promise<number>(() => {}); // runs until a signal
}

