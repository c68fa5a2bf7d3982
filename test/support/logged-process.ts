// A child process that logs JSON lines on stdout (the router, the kube relay, autoport): every line kept
// (parsed when it is JSON), stderr kept for error messages, a wait for a line matching a
// predicate, its exit, and a stop (SIGTERM, then SIGKILL after a grace time).

import type { ChildProcess } from 'node:child_process';

export type LogLine = Record<string, unknown>;
export type Exit = { code: number | null; signal: NodeJS.Signals | null };

export interface LoggedProcess {
  child: ChildProcess;
  /** Every log line so far (parsed JSON when possible). */
  logs: LogLine[];
  stderr: () => string;
  /** Resolves with the exit code (or null + signal). */
  exited: Promise<Exit>;
  /** Wait for a log line matching a predicate. */
  waitForLog(pred: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** SIGTERM and wait for exit (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<Exit>;
}

/** Follow `child` (spawned with stdout and stderr piped); `name` says whose exit an error reports. */
export function followLogs(child: ChildProcess, name: string): LoggedProcess {
  const logs: LogLine[] = [];
  let stderr = '';
  let buffer = '';
  const waiters: Array<{ pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) !== -1) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      let parsed: LogLine;
      try { parsed = JSON.parse(line) as LogLine; } catch { parsed = { raw: line }; }
      logs.push(parsed);
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (waiters[i]!.pred(parsed)) { waiters[i]!.resolve(parsed); waiters.splice(i, 1); }
      }
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
  // 'close', not 'exit': it comes after stdout/stderr are drained, so the last lines are in.
  const exited = new Promise<Exit>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  const output = () => `last lines: ${JSON.stringify(logs.slice(-5))}; stderr: ${stderr.slice(-2000)}`;
  // The bound only turns a line that never comes into an error with stderr; it is generous
  // because the suite must pass beside CPU hogs, where a starved process logs seconds late.
  const waitForLog = (pred: (l: LogLine) => boolean, timeoutMs = 30_000) => {
    const found = logs.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise<LogLine>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for a log line; ${output()}`)), timeoutMs);
      timer.unref();
      waiters.push({ pred, resolve: (l) => { clearTimeout(timer); resolve(l); } });
      void exited.then(({ code }) => { clearTimeout(timer); reject(new Error(`${name} exited (${code}) before the log line; ${output()}`)); });
    });
  };
  return {
    child, logs, exited, waitForLog,
    stderr: () => stderr,
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
}
