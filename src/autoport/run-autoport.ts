// `switchyard autoport [options] -- command args…`: pick ports, export them, render templates,
// annotate the pod, release the ports and exec the command. Every step that can fail runs before
// the ports are released, so a failed start leaves nothing listening and says why in one line.

import { pino } from 'pino';
import { createLogger, type Logger } from '../log.ts';
import { AutoportError, EXIT_FAILURE } from './autoport-errors.ts';
import { AUTOPORT_USAGE, parseAutoportOptions, type AutoportOptions } from './autoport-options.ts';
import { canExecve, replaceProcess, resolveCommand, runChild } from './exec-command.ts';
import { pickFreePorts, type HeldPorts } from './port-picker.ts';
import { portVariables } from './port-variables.ts';
import { renderTemplateFile } from './template-render.ts';

function autoportLogger(env: NodeJS.ProcessEnv): Logger {
  // stderr, synchronous: stdout belongs to the application, and an async buffer would be lost
  // when execve replaces the process.
  const level = env.AUTO_PORT_LOG_LEVEL || 'info';
  try {
    return createLogger(level, pino.destination({ fd: 2, sync: true })).child({ component: 'autoport' });
  } catch {
    return createLogger('info', pino.destination({ fd: 2, sync: true })).child({ component: 'autoport' });
  }
}

async function start(options: AutoportOptions, env: NodeJS.ProcessEnv, log: Logger): Promise<number> {
  // Fail fast on what can be checked before taking any port.
  const file = resolveCommand(options.command, env.PATH);
  // The Kubernetes client takes half a second to load: only when the pod is to be annotated.
  const reporter = options.report ? await import('./pod-reporter.ts') : null;
  const client = reporter ? reporter.openReportClient(options, env) : null;

  const held: HeldPorts = await pickFreePorts({ count: options.count, start: options.start, end: options.end, host: options.bindHost });
  try {
    const ports = portVariables(held.ports);
    log.info({ ports: held.ports, range: `${options.start}-${options.end}`, bindHost: options.bindHost }, 'picked ports');
    const childEnv: NodeJS.ProcessEnv = { ...env, ...ports };

    for (const template of options.templates) {
      await renderTemplateFile(template, childEnv);
      log.info({ template: template.input, output: template.output }, 'rendered template');
    }

    if (reporter !== null && client !== null) {
      try {
        await reporter.reportPortsToPod(client, options, held.ports, {
          timeoutMs: options.reportTimeoutMs,
          onRetry: (attempt, error, delayMs) => log.warn({ attempt, delayMs, err: error.message }, 'reporting ports to the pod failed; retrying'),
        });
      } finally {
        await client.close(); // no API connection is left open for the application
      }
      log.info({ pod: `${options.podNamespace}/${options.podName}` }, 'annotated pod with its ports');
    }

    // Release as late as possible: from here until the application binds, another process could
    // take a port (the race documented in docs/autoport.md).
    await held.release();
    if (options.exec && canExecve()) {
      log.info({ command: file }, 'exec');
      return replaceProcess(file, options.command, options.args, childEnv);
    }
    log.info({ command: file }, 'starting command as a child');
    return await runChild(file, options.command, options.args, childEnv);
  } finally {
    await held.release();
  }
}

/**
 * Entry point for `switchyard autoport`. `argv` is everything after `autoport`. On success with
 * execve this never returns (the process becomes the command); otherwise it resolves with the exit
 * code to end with: 0 for --help, 2 for usage errors, 1 for failed starts, 127 for a command that
 * cannot be found, or the child's own code in --no-exec mode.
 */
export async function runAutoport(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  let options: AutoportOptions;
  try {
    options = parseAutoportOptions(argv, env);
  } catch (err) {
    const exitCode = err instanceof AutoportError ? err.exitCode : EXIT_FAILURE;
    process.stderr.write(`switchyard autoport: ${(err as Error).message}\n`);
    return exitCode;
  }
  if (options.help) {
    process.stdout.write(`${AUTOPORT_USAGE}\n`);
    return 0;
  }
  const log = autoportLogger(env);
  try {
    return await start(options, env, log);
  } catch (err) {
    const exitCode = err instanceof AutoportError ? err.exitCode : EXIT_FAILURE;
    log.error({ exitCode }, (err as Error).message);
    return exitCode;
  }
}
