// --workers 2: limits and passive health hold across the worker threads (issue 19 item 10). Every
// request below comes on a new connection, so the kernel spreads them over both threads' listeners
// (SO_REUSEPORT); each test checks from the access log that both threads served some, and runs
// its scenario again on a fresh router when one thread happened to take every connection. With a
// state per worker, a limit of N let up to N per worker through and an endpoint had to fail
// `threshold` times in each worker before it was ejected.
import test, { type ExecutionContext } from 'ava';
import type http from 'node:http';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { startBackend, serviceYaml, routeYaml } from '../support/backends.ts';
import { request, eventually, metricsText, metricValue } from '../support/http-client.ts';
import { freePort } from '../support/ports.ts';

const ON = 'haproxy.router.openshift.io/rate-limit-connections';
const WORKERS = ['--workers', '2', '--access-log'];
// The TCP checks of routes with two endpoints would take a dead one down before the requests do.
const NO_CHECKS = ['--backend-check-interval', '1h'];

/**
 * How many worker threads served `host`, once its `lines` access lines are in (they are written
 * asynchronously, after the response).
 */
async function threadsServing(router: RouterProcess, host: string, lines: number): Promise<number> {
  const access = () => router.logs.filter((l) => l.access === true && l.host === host);
  await eventually(() => access().length >= lines || undefined, 30_000);
  return new Set(access().map((l) => l.worker)).size;
}

/**
 * Runs `round` — a fresh router and backend, the scenario and its assertions; it returns the
 * router, the host and how many access lines its requests make — until both worker threads
 * served some of its connections. The kernel spreads new connections over the threads'
 * listeners by a hash of their addresses, so a round of 10–30 connections lands wholly on one
 * thread once in some 500 to 500 million rounds; such a round passes but proves nothing about
 * sharing, and is run again (at most four times in all).
 */
async function overBothThreads(t: ExecutionContext, round: () => Promise<{ router: RouterProcess; host: string; lines: number }>): Promise<void> {
  for (let i = 1; ; i++) {
    const { router, host, lines } = await round();
    const threads = await threadsServing(router, host, lines);
    await router.stop();
    if (threads === 2) return;
    if (i === 4) {
      t.fail(`in ${i} rounds one worker thread served every connection`);
      return;
    }
    t.log(`round ${i}: one worker thread served every connection; once more`);
  }
}

/** A backend that holds every /hold request until the test releases it. */
async function holdingBackend(name: string) {
  const held: http.ServerResponse[] = [];
  const backend = await startBackend(name, {
    handler: (req, res) => {
      if (!req.url?.startsWith('/hold')) return false;
      held.push(res);
      return true;
    },
  });
  return { backend, held, release: () => { for (const res of held.splice(0)) res.end('released'); } };
}

test.serial('concurrent-tcp 10: 10 requests in flight from one address, not 10 per worker; slots come back', async (t) => {
  await overBothThreads(t, async () => {
    const { backend, held, release } = await holdingBackend('c');
    t.teardown(async () => { release(); await backend.close(); });
    const file = writeTempFile([serviceYaml('c', [backend.port]), routeYaml('conc', 'conc.test', 'c', { annotations: { [ON]: 'true', [`${ON}.concurrent-tcp`]: '10' } })].join('\n---\n'));
    const router = await startRouter({ args: ['--file', file, ...WORKERS] });
    t.teardown(() => router.stop());

    const pending = Array.from({ length: 20 }, (_, i) => request(router.http, { host: 'conc.test', path: `/hold/${i}`, timeoutMs: 60_000 }));
    // Ten are held by the backend; the other ten are refused at once.
    await eventually(async () => {
      const text = await metricsText(router.admin);
      return metricValue(text, 'switchyard_http_requests_total', { route: 'default/conc', code_class: '4xx' }) === 10 || undefined;
    }, 30_000);
    await eventually(() => held.length === 10 || undefined, 30_000);
    t.is(backend.requests.length, 10);
    release();
    const statuses = (await Promise.all(pending)).map((r) => r.status).sort();
    t.deepEqual(statuses, [...Array<number>(10).fill(200), ...Array<number>(10).fill(429)]);
    // Every slot was given back: ten more fit.
    const again = Array.from({ length: 10 }, () => request(router.http, { host: 'conc.test', path: '/hold/again', timeoutMs: 60_000 }));
    await eventually(() => held.length === 10 || undefined, 30_000);
    release();
    t.deepEqual((await Promise.all(again)).map((r) => r.status), Array<number>(10).fill(200));
    return { router, host: 'conc.test', lines: 30 };
  });
});

test.serial('rate-http 5: five requests per 10 s from one address over both workers, then 429', async (t) => {
  await overBothThreads(t, async () => {
    const backend = await startBackend('r');
    t.teardown(() => backend.close());
    const file = writeTempFile([serviceYaml('r', [backend.port]), routeYaml('rate', 'rate.test', 'r', { annotations: { [ON]: 'true', [`${ON}.rate-http`]: '5' } })].join('\n---\n'));
    const router = await startRouter({ args: ['--file', file, ...WORKERS] });
    t.teardown(() => router.stop());
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await request(router.http, { host: 'rate.test' })).status);
    t.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429, 429, 429, 429, 429, 429]);
    t.is(backend.requests.length, 5);
    return { router, host: 'rate.test', lines: 12 };
  });
});

test.serial('pod-concurrent-connections 2: two in flight to the endpoint over both workers; the rest wait, then 503', async (t) => {
  await overBothThreads(t, async () => {
    const { backend, held, release } = await holdingBackend('p');
    t.teardown(async () => { release(); await backend.close(); });
    const file = writeTempFile([serviceYaml('p', [backend.port]), routeYaml('pcc', 'pcc.test', 'p', { annotations: { 'haproxy.router.openshift.io/pod-concurrent-connections': '2' } })].join('\n---\n'));
    // The queue time is the connect timeout.
    const router = await startRouter({ args: ['--file', file, ...WORKERS, '--connect-timeout', '1s'] });
    t.teardown(() => router.stop());
    const first = Array.from({ length: 2 }, () => request(router.http, { host: 'pcc.test', path: '/hold/first', timeoutMs: 60_000 }));
    await eventually(() => held.length === 2 || undefined, 30_000);
    // Two slots held (by whichever threads): eight more wait their queue time out, none reaches the backend.
    const more = await Promise.all(Array.from({ length: 8 }, () => request(router.http, { host: 'pcc.test', path: '/hold/more', timeoutMs: 60_000 })));
    t.deepEqual(more.map((r) => r.headers['x-switchyard-error']), Array<string>(8).fill('SY_ENDPOINT_BUSY'));
    t.is(backend.requests.length, 2);
    release();
    t.deepEqual((await Promise.all(first)).map((r) => r.status), [200, 200]);
    return { router, host: 'pcc.test', lines: 10 };
  });
});

test.serial('pod-concurrent-connections: a slot given back in one worker lets a request waiting in another through', async (t) => {
  await overBothThreads(t, async () => {
    const { backend, held } = await holdingBackend('w');
    t.teardown(async () => { for (const res of held.splice(0)) res.end('released'); await backend.close(); });
    const file = writeTempFile([serviceYaml('w', [backend.port]), routeYaml('pcc', 'wake.test', 'w', { annotations: { 'haproxy.router.openshift.io/pod-concurrent-connections': '1' } })].join('\n---\n'));
    const router = await startRouter({ args: ['--file', file, ...WORKERS, '--connect-timeout', '60s'] });
    t.teardown(() => router.stop());
    // Each round: one request holds the slot, the next waits for it (in either thread) and gets
    // it when the first one ends. Eight rounds: both threads wait on the other's slot at some point.
    let holder = request(router.http, { host: 'wake.test', path: '/hold/0', timeoutMs: 90_000 });
    await eventually(() => held.length === 1 || undefined, 30_000);
    for (let i = 1; i <= 8; i++) {
      const waiter = request(router.http, { host: 'wake.test', path: `/hold/${i}`, timeoutMs: 90_000 });
      held.shift()!.end('released');
      t.is((await holder).status, 200);
      await eventually(() => held.length === 1 || undefined, 30_000);
      holder = waiter;
    }
    held.shift()!.end('released');
    t.is((await holder).status, 200);
    t.is(backend.requests.length, 9);
    return { router, host: 'wake.test', lines: 9 };
  });
});

test.serial('passive ejection: three failed connects eject an endpoint in every worker, not three per worker', async (t) => {
  await overBothThreads(t, async () => {
    const good = await startBackend('good');
    t.teardown(() => good.close());
    const dead = await freePort(); // nothing listens: every connect is refused
    const file = writeTempFile([
      serviceYaml('pair', [good.port, dead]),
      routeYaml('pair', 'eject.test', 'pair', { annotations: { 'haproxy.router.openshift.io/balance': 'roundrobin', 'haproxy.router.openshift.io/disable_cookies': 'true' } }),
    ].join('\n---\n'));
    const router = await startRouter({ args: ['--file', file, ...WORKERS, ...NO_CHECKS] });
    t.teardown(() => router.stop());
    // A refused connect is retried on the other endpoint: every request succeeds.
    for (let i = 0; i < 30; i++) t.is((await request(router.http, { host: 'eject.test' })).status, 200);
    const text = await metricsText(router.admin);
    t.is(metricValue(text, 'switchyard_upstream_errors_total', { route: 'default/pair', reason: 'connect' }), 3, 'the third failure ejected it for every worker');
    t.true((metricValue(text, 'switchyard_endpoint_ejected_until_timestamp_seconds', { endpoint: `127.0.0.1:${dead}` }) ?? 0) * 1000 > Date.now());
    return { router, host: 'eject.test', lines: 30 };
  });
});
