// Start the real router (`dist/cli.js`, built by `npm test`'s pretest) as a child process on
// 127.0.0.1 with ephemeral ports, wait for its "listening" log line, and stop it afterwards.

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

export interface RouterProcess {
  child: ChildProcess;
  http: number;
  https: number;
  admin: number;
  /** Every log line so far (parsed JSON when possible). */
  logs: Array<Record<string, unknown>>;
  stderr: () => string;
  /** Base URL of the HTTP port. */
  url: string;
  adminUrl: string;
  /** Resolves with the exit code (or null + signal). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM and wait for exit (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Wait for a log line matching a predicate. */
  waitForLog(pred: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
}

export interface StartOptions {
  /** Extra CLI args (after `run`). `--bind`, ports and `--workers 0` are added unless given. */
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** Resolve once the process prints `listening` (default) or only once it spawned. */
  waitForListening?: boolean;
  timeoutMs?: number;
  /** Another build's cli.js (benchmarks compare builds); default dist/cli.js. */
  cli?: string;
  /** A command the router runs under, e.g. ['prlimit', '--nofile=256', '--'] (SIGTERM reaches it through exec). */
  prefix?: string[];
  /** Working directory of the router (relative --file/--plugin paths resolve from it). */
  cwd?: string;
}

const EXIT_WITH_PARENT = fileURLToPath(new URL('./exit-with-parent.ts', import.meta.url));
const running = new Set<ChildProcess>();
process.on('exit', () => { for (const child of running) child.kill('SIGKILL'); });

export async function startRouter(options: StartOptions = {}): Promise<RouterProcess> {
  const args = options.args ?? [];
  const defaults: string[] = [];
  const has = (flag: string) => args.some((a) => a === flag || a.startsWith(`${flag}=`));
  if (!has('--bind')) defaults.push('--bind', '127.0.0.1');
  if (!has('--http-port')) defaults.push('--http-port', '0');
  if (!has('--https-port')) defaults.push('--https-port', '0');
  if (!has('--admin-port')) defaults.push('--admin-port', '0');
  if (!has('--workers')) defaults.push('--workers', '0');
  const command = [...(options.prefix ?? []), process.execPath, '--import', EXIT_WITH_PARENT, options.cli ?? CLI, 'run', ...defaults, ...args];
  const child = spawn(command[0]!, command.slice(1), {
    env: { ...process.env, ROUTER_LOG_LEVEL: process.env.ROUTER_LOG_LEVEL ?? 'debug', ...options.env },
    // stdin: a pipe this process alone holds open, so the router sees it close if we die (exit-with-parent.ts).
    stdio: ['pipe', 'pipe', 'pipe'],
    cwd: options.cwd,
  });
  running.add(child);
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  let buffer = '';
  const waiters: Array<{ pred: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }> = [];
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) !== -1) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      let parsed: Record<string, unknown>;
      try { parsed = JSON.parse(line) as Record<string, unknown>; } catch { parsed = { raw: line }; }
      logs.push(parsed);
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (waiters[i]!.pred(parsed)) { waiters[i]!.resolve(parsed); waiters.splice(i, 1); }
      }
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    // 'close', not 'exit': it comes after stdout/stderr are drained, so the last lines are in.
    child.once('close', (code, signal) => { running.delete(child); resolve({ code, signal }); });
  });
  // The bound only turns a line that never comes into an error with stderr; it is generous
  // because the suite must pass beside CPU hogs, where a starved router logs seconds late.
  const waitForLog = (pred: (l: Record<string, unknown>) => boolean, timeoutMs = 30_000) => {
    const found = logs.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for a log line; stderr: ${stderr.slice(-2000)}`)), timeoutMs);
      timer.unref();
      waiters.push({ pred, resolve: (l) => { clearTimeout(timer); resolve(l); } });
      void exited.then(({ code }) => { clearTimeout(timer); reject(new Error(`router exited (${code}) before the log line; stderr: ${stderr.slice(-2000)}`)); });
    });
  };
  const proc: RouterProcess = {
    child, http: 0, https: 0, admin: 0, logs, url: '', adminUrl: '',
    stderr: () => stderr,
    exited,
    waitForLog,
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
  if (options.waitForListening !== false) {
    // Generous: under a loaded machine start-up can take many seconds; it is a bound, not a target
    // (--workers 2 with plugins: 63 s at load 36, each worker process loading the router).
    // A router that never got ready is killed here — the caller has no handle to stop it with.
    const line = await waitForLog((l) => l.msg === 'listening', options.timeoutMs ?? 180_000).catch((err: Error) => {
      child.kill('SIGKILL');
      throw err;
    });
    proc.http = line.http as number;
    proc.https = line.https as number;
    proc.admin = line.admin as number;
    proc.url = `http://127.0.0.1:${proc.http}`;
    proc.adminUrl = `http://127.0.0.1:${proc.admin}`;
  }
  return proc;
}

/** Write YAML text to a fresh temporary file and return its path. */
export function writeTempFile(content: string, name = 'routes.yaml'): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-test-'));
  const file = path.join(dir, name);
  writeFileSync(file, content);
  return file;
}
