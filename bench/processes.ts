// Child processes for the benchmarks: started, watched for their first matching JSON line,
// and killed when the benchmark exits however it exits.

import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';

export const children: ChildProcess[] = [];
// A child already sent a signal (the benchmark's own SIGTERM at the end) is left to it: an nginx
// master killed right after its SIGTERM leaves its worker behind, holding the port.
process.on('exit', () => { for (const c of children) if (!c.killed && c.exitCode === null) c.kill('SIGKILL'); });

/** Start a process and resolve with the first JSON line on its stdout that `match`es. */
export function startJsonLine(cmd: string, args: string[], match: (l: Record<string, unknown>) => boolean, options: { cwd?: string } = {}): Promise<{ child: ChildProcess; line: Record<string, unknown> }> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], cwd: options.cwd });
  children.push(child);
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      for (const line of buf.split('\n').slice(0, -1)) {
        try { const j = JSON.parse(line) as Record<string, unknown>; if (match(j)) resolve({ child, line: j }); } catch { /* not JSON */ }
      }
      buf = buf.slice(buf.lastIndexOf('\n') + 1);
    });
    child.once('exit', (code) => reject(new Error(`${cmd} exited ${code}`)));
  });
}

/** Resolve once something accepts connections on 127.0.0.1:port (`attempts` × 50 ms: 5 s at most by default). */
export async function waitForPort(port: number, attempts = 100): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listening on ${port}`);
}
