// A command run to its end without blocking the test process: the tests of a file run
// concurrently in one process, and spawnSync froze all of them for as long as the command took
// (seconds on a loaded machine) — their timers then fired late, before the socket or pipe data
// that had long arrived was read (false "timed out" failures in the other tests), and their
// clients could not send a TLS ClientHello before the router's header timeout cut them.

import { spawn } from 'node:child_process';

export interface CommandResult {
  /** Exit code; null when killed by a signal or not started. */
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Set when the command could not be started (e.g. ENOENT), as spawnSync's `error`. */
  error?: Error;
}

export interface CommandOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Written to stdin, which is then closed. */
  input?: string;
  /** SIGKILL after this long (a bound that turns a hang into a failure). Default 120 s. */
  timeoutMs?: number;
}

export function runCommand(file: string, args: readonly string[], options: CommandOptions = {}): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let error: Error | undefined;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
    child.stdin.on('error', () => {}); // a command that exits without reading its input
    child.stdin.end(options.input ?? '');
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.once('error', (err) => { error = err; });
    // 'close' comes after the output is drained (and also after a failed start).
    child.once('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr, ...(error ? { error } : {}) });
    });
  });
}
