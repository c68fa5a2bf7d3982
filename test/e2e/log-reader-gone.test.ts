// Logging never keeps the router alive nor stops it: a router whose stdout (or stderr) reader
// has gone away (the pipe closed: writes fail with EPIPE) still serves, and still exits 0 on
// SIGTERM after its drain; a reader that stops reading does not stall requests or the shutdown.
import test from 'ava';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { routeYaml, serviceYaml, startBackend } from '../support/backends.ts';
import { request } from '../support/http-client.ts';

// A bound, not a target: a router that does not exit by then is SIGKILLed and the test fails.
const EXIT_BOUND_MS = 30_000;

/** SIGTERM, then the exit status ('exit', not 'close': a pipe nobody reads never closes). */
function terminate(router: RouterProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const { child } = router;
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), EXIT_BOUND_MS);
    child.once('exit', (code, signal) => { clearTimeout(timer); resolve({ code, signal }); });
    child.kill('SIGTERM');
  });
}

async function routerWithRoute(t: { teardown(fn: () => unknown): void }, args: string[] = []): Promise<RouterProcess> {
  const backend = await startBackend('logs');
  t.teardown(() => backend.close());
  const file = writeTempFile([serviceYaml('logs', [backend.port]), routeYaml('logs', 'logs.test', 'logs')].join('\n---\n'));
  // debug: every request and the whole shutdown sequence write log lines to the closed pipe.
  const router = await startRouter({ args: ['--file', file, ...args], env: { ROUTER_LOG_LEVEL: 'debug' } });
  t.teardown(() => router.stop(1_000));
  return router;
}

for (const [workers, closed] of [['0', ['stdout']], ['0', ['stdout', 'stderr']], ['2', ['stdout']]] as const) {
  test(`--workers ${workers}: with its ${closed.join(' and ')} reader gone, the router serves and exits 0 on SIGTERM`, async (t) => {
    const router = await routerWithRoute(t, ['--workers', workers]);
    for (const name of closed) router.child[name]!.destroy();
    // Still serving, with log lines failing to be written.
    for (let i = 0; i < 20; i++) t.is((await request(router.http, { host: 'logs.test', headers: { connection: 'close' } })).status, 200);
    t.deepEqual(await terminate(router), { code: 0, signal: null }, `stderr: ${router.stderr()}`);
  });
}

test('a reader that stopped reading: requests are still answered, and SIGTERM still ends the process', async (t) => {
  const router = await routerWithRoute(t, ['--access-log']);
  // Stop reading: the pipe fills (the kernel holds a few hundred KB), then the router's writes wait.
  router.child.stdout!.pause();
  router.child.stdout!.removeAllListeners('data');
  // Each answered request logs a line (access log + debug): far more than the pipe holds.
  const body = 'x'.repeat(200);
  for (let i = 0; i < 3_000; i++) {
    const reply = await request(router.http, { host: 'logs.test', path: `/${i}?${body}`, headers: { connection: 'close' } });
    if (reply.status !== 200) t.fail(`request ${i}: ${reply.status}`);
  }
  t.pass('3,000 requests answered with the log pipe full');
  t.deepEqual(await terminate(router), { code: 0, signal: null }, `stderr: ${router.stderr()}`);
  router.child.stdout!.resume(); // let the pipe close
});
