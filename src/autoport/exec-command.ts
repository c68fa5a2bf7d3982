// Hands the process over to the application.
//
// Preferred: `process.execve` (Node >= 23.11), which replaces this process, so the application
// keeps our pid, receives the kubelet's signals directly and its exit code is the container's.
// Fallback (no execve, or --no-exec): a child with inherited stdio; SIGTERM, SIGINT and SIGHUP are
// forwarded and the child's exit code (or 128 + signal number) is returned.

import { spawn } from 'node:child_process';
import { accessSync, statSync, constants as fsConstants } from 'node:fs';
import { constants as osConstants } from 'node:os';
import path from 'node:path';
import { AutoportError, EXIT_COMMAND_NOT_FOUND } from './autoport-errors.ts';

const FORWARDED_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;

function isExecutableFile(file: string): boolean {
  try {
    if (!statSync(file).isFile()) return false;
    accessSync(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** execve(2) takes a path: resolve a bare name on PATH like a shell; a name with a slash is used as is. */
export function resolveCommand(command: string, pathVar: string | undefined, cwd: string = process.cwd()): string {
  if (command.includes('/')) {
    const file = path.resolve(cwd, command);
    if (!isExecutableFile(file)) throw new AutoportError(`${command}: not an executable file`, EXIT_COMMAND_NOT_FOUND);
    return file;
  }
  for (const dir of (pathVar ?? '').split(path.delimiter)) {
    const file = path.resolve(cwd, dir === '' ? '.' : dir, command);
    if (isExecutableFile(file)) return file;
  }
  throw new AutoportError(`${command}: command not found on PATH`, EXIT_COMMAND_NOT_FOUND);
}

export function canExecve(): boolean {
  return typeof process.execve === 'function';
}

/** Replaces the process; returns only by throwing. `argv0` becomes the program's argv[0]. */
export function replaceProcess(file: string, argv0: string, args: readonly string[], env: NodeJS.ProcessEnv): never {
  const cleanEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) cleanEnv[k] = v;
  try {
    process.execve!(file, [argv0, ...args], cleanEnv);
  } catch (err) {
    throw new AutoportError(`exec ${file}: ${(err as Error).message}`);
  }
  // execve returns only on failure, and then it throws.
  throw new AutoportError(`exec ${file}: returned`);
}

/** Runs the command as a child, forwarding signals; resolves with the exit code to use. */
export function runChild(file: string, argv0: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { argv0, env, stdio: 'inherit' });
    const forward = (signal: NodeJS.Signals): void => { child.kill(signal); };
    for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
    const cleanUp = (): void => { for (const signal of FORWARDED_SIGNALS) process.off(signal, forward); };
    child.once('error', (err) => {
      cleanUp();
      reject(new AutoportError(`spawn ${file}: ${err.message}`));
    });
    child.once('exit', (code, signal) => {
      cleanUp();
      if (signal !== null) resolve(128 + (osConstants.signals[signal] ?? 0));
      else resolve(code ?? 1);
    });
  });
}
