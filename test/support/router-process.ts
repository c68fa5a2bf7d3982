// Start the real router (`dist/cli.js`, built by `npm test`'s pretest) as a child process on
// 127.0.0.1 with ephemeral ports, wait for its "listening" log line, and stop it afterwards.

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { followLogs, type LoggedProcess } from './logged-process.ts';

export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

export interface RouterProcess extends LoggedProcess {
  http: number;
  https: number;
  admin: number;
  /** Base URL of the HTTP port. */
  url: string;
  adminUrl: string;
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
  child.once('close', () => running.delete(child));
  const proc: RouterProcess = { ...followLogs(child, 'router'), http: 0, https: 0, admin: 0, url: '', adminUrl: '' };
  if (options.waitForListening !== false) {
    // Generous: under a loaded machine start-up can take many seconds; it is a bound, not a target
    // (--workers 2 with plugins: 63 s at load 36, each worker process loading the router).
    // A router that never got ready is killed here — the caller has no handle to stop it with.
    const line = await proc.waitForLog((l) => l.msg === 'listening', options.timeoutMs ?? 180_000).catch((err: Error) => {
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
