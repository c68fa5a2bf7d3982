// The module a proxy worker thread runs (see proxy-workers.ts): its logger, its plugins (loaded
// again here: plugin modules are per thread), then the proxy. The proxy's modules are loaded
// once the compile cache is on (as in cli.ts): the thread reads their compiled code from disk.

import { enableCompileCache } from 'node:module';
import { parentPort, threadId, workerData } from 'node:worker_threads';
import type { RouterConfig } from '../config.ts';
import type { SharedBuffers } from '../shared-memory/shared-state.ts';

export interface ProxyWorkerData {
  config: RouterConfig;
  shared: SharedBuffers;
}

// A rejection nothing handled interrupted nothing half-way: report it and keep serving (as the
// main thread does, cli.ts). An uncaught exception ends this thread; the main thread starts another.
process.on('unhandledRejection', (reason) => {
  process.stderr.write(`switchyard: worker ${threadId}: unhandled rejection: ${(reason as Error)?.stack ?? String(reason)}\n`);
});

enableCompileCache();
const [{ createLogger }, { loadPluginRegistry }, { MIDDLEWARE_BUILTINS }, { runProxyWorker }, { SharedState }] = await Promise.all([
  import('../log.ts'), import('../pipeline/plugin-registry.ts'), import('../plugins/middleware-builtins.ts'), import('./proxy-worker.ts'),
  import('../shared-memory/shared-state.ts'),
]);
const { config, shared } = workerData as ProxyWorkerData;
const logger = createLogger(config.logLevel, undefined, { worker: threadId });
const plugins = await loadPluginRegistry(config.plugins, process.cwd(), MIDDLEWARE_BUILTINS);
await runProxyWorker(parentPort!, config, logger, plugins, SharedState.attach(shared));
