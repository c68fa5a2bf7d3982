#!/usr/bin/env node
// switchyard command line: `run` (default), `demo`, `autoport`, `kube-relay`. Options come from one table
// (src/config.ts); a bad option exits 2 with one line naming it.

import { readFileSync } from 'node:fs';
import { enableCompileCache } from 'node:module';
import { ConfigError, helpText, parseConfig, type RouterConfig } from './config.ts';

// The router, the demo and autoport are loaded only by the command that runs them: the router's
// modules cost about half a CPU-second to load, which --help, --version and a bad option (exit 2)
// need not pay (a wrapper script or a probe gets its answer at once, even on a busy node).

const SUBCOMMANDS = new Set(['run', 'demo', 'autoport', 'kube-relay', 'help', 'version']);

async function main(argv: string[]): Promise<number> {
  // V8's compiled code of the modules loaded from here on is kept on disk (NODE_COMPILE_CACHE, else
  // the temporary directory; nothing if it cannot be written): the next start, and every proxy
  // worker thread, which loads the proxy's modules again, compile ~40 % less.
  enableCompileCache();
  let command = 'run';
  if (argv.length > 0 && SUBCOMMANDS.has(argv[0]!)) command = argv.shift()!;
  // `autoport` has its own options, and the command it wraps may take --help/--version itself.
  if (command === 'autoport') return (await import('./autoport/run-autoport.ts')).runAutoport(argv, process.env);
  // The relay has its own options (src/relay/options.ts) and help.
  if (command === 'kube-relay') return (await import('./relay/run-relay.ts')).runRelay(argv, process.env);
  if (command === 'help' || argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${helpText()}\n`);
    return 0;
  }
  if (command === 'version' || argv.includes('--version')) {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    process.stdout.write(`switchyard ${pkg.version}\n`);
    return 0;
  }
  if (command === 'demo') return (await import('./demo/demo.ts')).runDemo(argv, process.env);
  let config: RouterConfig;
  try {
    config = parseConfig(argv, process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`switchyard: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  return (await import('./run-router.ts')).runRouter(config);
}

// A log reader that went away (a closed pipe: EPIPE) must not take the router down: such a write
// error arrives as an 'error' event on the stream, which unhandled would be an uncaught exception.
// The log itself (src/log.ts) stops writing on its first error.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});

/** EX_SOFTWARE (sysexits.h): an internal error. */
const EXIT_INTERNAL_ERROR = 70;

// A promise rejection nobody handled did not interrupt anything half-way (unlike a throw), and
// libraries (the Kubernetes client on a dropped connection) can leak one: report it with its
// stack and keep serving, rather than restart the edge for it.
process.on('unhandledRejection', (reason) => {
  process.stderr.write(`switchyard: unhandled rejection: ${(reason as Error)?.stack ?? String(reason)}\n`);
});

process.on('uncaughtException', (err, origin) => {
  // What a request or a change can throw is caught where it happens (proxy/request-entry.ts,
  // store.ts: that request fails, the table is rebuilt). Anything reaching here left state we
  // cannot trust, so it is not swallowed: the stack goes to stderr and the process exits
  // non-zero, and the kubelet restarts the router. (In a proxy worker thread an uncaught
  // exception ends that thread only: the main thread starts another, see workers/proxy-workers.ts.)
  process.stderr.write(`switchyard: fatal uncaught exception (${origin}): ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(EXIT_INTERNAL_ERROR);
});

main(process.argv.slice(2)).then(
  (code) => { if (code !== undefined) process.exitCode = code; if (code !== 0) process.exit(code); },
  (err: Error) => { process.stderr.write(`switchyard: ${err.stack ?? err.message}\n`); process.exit(1); },
);
