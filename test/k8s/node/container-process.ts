// One container of a pod as a local process: started in the pod's network namespace (or the
// host's, for host-network pods) through `nsenter`, with the environment pod-environment.ts
// computed, stdout and stderr appended to `<pod dir>/<container>.log` in the CRI log format
// (container-logs.ts: a time per line, for `kubectl logs --since-time`). `setpriv --pdeathsig KILL`
// ties it to the node's process: if the node dies, even by SIGKILL, the container dies too.
// stop() is the kubelet's: SIGTERM, then SIGKILL when the grace period is over.

import { spawn, type ChildProcess } from 'node:child_process';
import { ContainerLogWriter } from './container-logs.ts';
import path from 'node:path';

export interface LaunchSpec {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  logFile: string;
  /** Network namespace name (under /run/netns), or undefined for the host's. */
  netns: string | undefined;
}

/** The argv that runs `argv` in `netns` (if any), killed when this process dies. */
export function inPodNamespace(argv: string[], netns: string | undefined): string[] {
  const enter = netns ? ['nsenter', `--net=${path.join('/run/netns', netns)}`, '--'] : [];
  return ['setpriv', '--pdeathsig', 'KILL', '--', ...enter, ...argv];
}

export class ContainerProcess {
  readonly #child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly startedAt = new Date();
  #exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  constructor(spec: LaunchSpec) {
    const argv = inPodNamespace(spec.argv, spec.netns);
    const log = new ContainerLogWriter(spec.logFile);
    this.#child = spawn(argv[0]!, argv.slice(1), { env: spec.env, cwd: spec.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    log.follow(this.#child.stdout!, 'stdout');
    log.follow(this.#child.stderr!, 'stderr');
    live.add(this.#child);
    this.exited = new Promise((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null) => {
        live.delete(this.#child);
        this.#exit ??= { code, signal };
        resolve(this.#exit);
      };
      this.#child.once('exit', done);
      // The pipes close once the output is all read (a grandchild holding them keeps them open).
      this.#child.once('close', () => log.close());
      this.#child.once('error', () => { log.close(); done(128, null); });
    });
  }

  get pid(): number | undefined { return this.#child.pid; }
  get running(): boolean { return this.#exit === undefined; }
  /** Exit code as the kubelet reports it: the code, or 128 + signal number. */
  get exitCode(): number | undefined {
    if (!this.#exit) return undefined;
    if (this.#exit.code !== null) return this.#exit.code;
    const signals: Record<string, number> = { SIGTERM: 15, SIGKILL: 9, SIGINT: 2, SIGHUP: 1 };
    return 128 + (signals[this.#exit.signal ?? ''] ?? 0);
  }

  /** SIGTERM, SIGKILL after `graceMs`; resolves when the process is gone. */
  async stop(graceMs: number): Promise<void> {
    if (!this.running) return;
    this.#child.kill('SIGTERM');
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), Math.max(0, graceMs));
    await this.exited;
    clearTimeout(timer);
  }

  kill(): void { if (this.running) this.#child.kill('SIGKILL'); }
}

const live = new Set<ChildProcess>();
/** SIGKILL every container this process started (the node's exit and signal handlers). */
export function killAllContainers(): void {
  for (const child of live) child.kill('SIGKILL');
}
