// A router started by a test must not outlive the test process: when ava's own timeout kills a
// test worker, the worker's exit handler (which kills its routers) never runs. Here a stand-in
// worker starts a router through test/support/router-process.ts, prints the router's pid, and is
// killed with SIGKILL; the router must then stop by itself (test/support/exit-with-parent.ts).

import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { eventually } from '../support/http-client.ts';

const ROUTER_PROCESS = fileURLToPath(new URL('../support/router-process.ts', import.meta.url));

/** Running (a zombie counts as stopped: its new parent may be slow to reap it). */
function alive(pid: number): boolean {
  try { return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8')); } catch { return false; }
}

test('a router whose test process was SIGKILLed stops by itself', async (t) => {
  const worker = spawn(process.execPath, ['--input-type=module', '-e', `
    const { startRouter } = await import(${JSON.stringify(ROUTER_PROCESS)});
    const router = await startRouter({ args: ['--file', '/dev/null'] });
    console.log(String(router.child.pid));
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = await Promise.race([
    once(worker.stdout!.setEncoding('utf8'), 'data') as Promise<[string]>,
    once(worker, 'exit').then(([code]) => { throw new Error(`stand-in worker exited ${code} before starting a router`); }),
  ]);
  const pid = Number(String(line).trim());
  t.true(pid > 0 && alive(pid), `router pid ${line}`);
  t.teardown(() => { if (alive(pid)) process.kill(pid, 'SIGKILL'); });
  worker.kill('SIGKILL');
  await once(worker, 'exit');
  t.true(await eventually(() => !alive(pid), 30_000, 50), 'the orphaned router is still running');
});
