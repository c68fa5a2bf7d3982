// The CLI collects the start-up garbage (one full GC, release-startup-memory.ts) before it says
// it is ready: at 100k routes that collection takes seconds, which would otherwise be a stall
// of a router that load balancers already send traffic to.

import test from 'ava';
import { startRouter, writeTempFile } from '../support/router-process.ts';
import { routeYaml, serviceYaml } from '../support/backends.ts';

test('the start-up collection happens before "listening"', async (t) => {
  const file = writeTempFile([serviceYaml('web', [8080]), routeYaml('web', 'web.example.com', 'web')].join('\n---\n'));
  const router = await startRouter({ args: ['--file', file], env: { ROUTER_LOG_LEVEL: 'info' } });
  t.teardown(() => router.stop());
  const messages = router.logs.map((l) => l.msg);
  const released = messages.indexOf('start-up memory released');
  t.true(released >= 0, 'the collection is logged');
  t.true(released < messages.indexOf('listening'));
  // On glibc Linux the build made native/malloc-trim.c's module: what the start-up freed outside
  // V8's heap is given back too (src/malloc-trim.ts).
  const glibc = process.platform === 'linux' && typeof (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime === 'string';
  t.is(typeof router.logs[released]!.mallocTrimmed, glibc ? 'boolean' : 'object');
});
