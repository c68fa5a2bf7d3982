import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ActiveHealthMonitor, TICK_MS } from '../../src/health/active-monitor.ts';
import { EndpointState } from '../../src/health/endpoint-state.ts';
import { silentLogger } from '../../src/log.ts';
import type { HealthCheckSpec } from '../../src/table/types.ts';
import { ManualClock } from '../support/manual-clock.ts';
import { eventually } from '../support/http-client.ts';

const HOST = '127.0.0.1';

// The probe timeout is long unless a test is about timeouts: a probe of a server that answers must
// not fail because the test process was starved past it (two CPU hogs beside the suite).
function check(overrides: Partial<HealthCheckSpec> = {}): HealthCheckSpec {
  return { type: 'tcp', intervalMs: 100, timeoutMs: 30_000, rise: 1, fall: 1, ...overrides };
}

function monitor(t: ExecutionContext, maxConcurrent?: number, clock?: ManualClock): ActiveHealthMonitor {
  const m = new ActiveHealthMonitor({ logger: silentLogger, maxConcurrent, clock });
  t.teardown(() => m.stop());
  return m;
}

let nextId = 1;
function endpointAt(port: number): EndpointState {
  return new EndpointState(`ep${nextId++}`, HOST, port);
}

async function listen(t: ExecutionContext, server: net.Server, port = 0): Promise<number> {
  server.listen(port, HOST);
  await once(server, 'listening');
  t.teardown(() => closeServer(server));
  return (server.address() as net.AddressInfo).port;
}

function closeServer(server: net.Server): Promise<void> {
  if ('closeAllConnections' in server) (server as http.Server).closeAllConnections();
  for (const socket of trackedSockets.get(server) ?? []) socket.destroy();
  return new Promise((resolve) => server.close(() => resolve()));
}

const trackedSockets = new WeakMap<net.Server, Set<net.Socket>>();

/** A raw TCP server that reads (and discards) what it gets, and tracks its sockets so it can really go away. */
function trackedTcpServer(onSocket: (socket: net.Socket) => void = (s) => s.destroy()) {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.resume();
    onSocket(socket);
  });
  trackedSockets.set(server, sockets);
  return { server, sockets, close: () => closeServer(server) };
}

/**
 * Collects `n` events of `name` for `endpoint` through one listener kept until the last: the
 * monitor settles every probe due in a tick together, so events for several endpoints come
 * synchronously one after another, and a waiter that re-subscribed with once() per event would
 * miss the ones emitted before its continuation ran.
 */
function collect(m: ActiveHealthMonitor, name: 'change' | 'check', endpoint: EndpointState, n: number, ms: number): Promise<boolean[]> {
  return new Promise((resolve, reject) => {
    const seen: boolean[] = [];
    const timer = setTimeout(() => {
      m.off(name, listener);
      reject(new Error(`${seen.length} of ${n} '${name}' events for ${endpoint.name} within ${ms} ms`));
    }, ms);
    const listener = (subject: EndpointState, verdict: boolean) => {
      if (subject !== endpoint || seen.push(verdict) < n) return;
      clearTimeout(timer);
      m.off(name, listener);
      resolve(seen);
    };
    m.on(name, listener);
  });
}

// The bounds below only turn a hang into a failure that says what it waited for.

/** Resolves on the next 'change' for `endpoint`; rejects after `ms`. */
async function nextChange(m: ActiveHealthMonitor, endpoint: EndpointState, ms = 30_000): Promise<boolean> {
  return (await collect(m, 'change', endpoint, 1, ms))[0]!;
}

/** Resolves after `n` finished probes of `endpoint`, with their verdicts. */
function probes(m: ActiveHealthMonitor, endpoint: EndpointState, n: number, ms = 30_000): Promise<boolean[]> {
  return collect(m, 'check', endpoint, n, ms);
}


test('tcp: down when the server goes away, up when it comes back on the same port', async (t) => {
  const first = trackedTcpServer();
  const port = await listen(t, first.server);
  const m = monitor(t);
  const endpoint = endpointAt(port);
  m.sync([{ endpoint, check: check() }]);
  t.deepEqual(await probes(m, endpoint, 2), [true, true]);
  t.true(endpoint.activeUp);
  await first.close();
  t.false(await nextChange(m, endpoint));
  t.false(endpoint.activeUp);
  const second = trackedTcpServer();
  await listen(t, second.server, port);
  t.true(await nextChange(m, endpoint));
  t.true(endpoint.activeUp);
});

test('new endpoints start up before any probe has run (optimistic)', (t) => {
  const m = monitor(t);
  const endpoint = endpointAt(1);
  m.sync([{ endpoint, check: check({ intervalMs: 60_000 }) }]);
  t.true(endpoint.activeUp);
  t.is(m.size, 1);
});

test('http: sends GET <path> with Host, keep-alive and the health-check User-Agent', async (t) => {
  const seen: http.IncomingHttpHeaders[] = [];
  const urls: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req.headers);
    urls.push(`${req.method} ${req.url} HTTP/${req.httpVersion}`);
    res.end('ok');
  });
  const port = await listen(t, server);
  const m = monitor(t);
  const endpoint = endpointAt(port);
  m.sync([{ endpoint, check: check({ type: 'http', path: '/favicon.ico' }) }]);
  t.deepEqual(await probes(m, endpoint, 1), [true]);
  t.is(urls[0], 'GET /favicon.ico HTTP/1.1');
  t.is(seen[0].host, `${HOST}:${port}`);
  t.is(seen[0].connection, 'keep-alive');
  t.is(seen[0]['user-agent'], 'switchyard-health-check');
});

test('http: the status must match expect (default 2xx; classes and codes)', async (t) => {
  let status = 200;
  const server = http.createServer((_req, res) => {
    res.statusCode = status;
    res.end();
  });
  const port = await listen(t, server);
  const cases: Array<[number, string[] | undefined, boolean]> = [
    [200, undefined, true], [204, undefined, true], [301, undefined, false], [503, undefined, false],
    [301, ['2xx', '3xx'], true], [404, ['2xx', '3xx'], false], [404, ['404'], true], [200, ['204'], false],
  ];
  for (const [code, expect, healthy] of cases) {
    status = code;
    const m = monitor(t);
    const endpoint = endpointAt(port);
    m.sync([{ endpoint, check: check({ type: 'http', expect }) }]);
    t.deepEqual(await probes(m, endpoint, 1), [healthy], `${code} with expect ${expect}`);
    t.is(endpoint.activeUp, healthy);
    m.stop();
  }
});

test('rise and fall: down after `fall` failures in a row, up after `rise` successes in a row', async (t) => {
  let healthy = true;
  const server = http.createServer((_req, res) => {
    res.statusCode = healthy ? 200 : 500;
    res.end();
  });
  const port = await listen(t, server);
  const m = monitor(t);
  const endpoint = endpointAt(port);
  const events: string[] = [];
  m.on('check', (e, ok) => { if (e === endpoint) events.push(ok ? 'pass' : 'fail'); });
  m.on('change', (e, up) => { if (e === endpoint) events.push(up ? 'UP' : 'DOWN'); });
  m.sync([{ endpoint, check: check({ type: 'http', rise: 2, fall: 3 }) }]);
  await probes(m, endpoint, 1);
  healthy = false;
  t.false(await nextChange(m, endpoint));
  const down = events.lastIndexOf('DOWN');
  t.deepEqual(events.slice(down - 4, down + 1), ['pass', 'fail', 'fail', 'fail', 'DOWN']);
  healthy = true;
  t.true(await nextChange(m, endpoint));
  t.deepEqual(events.slice(down + 1), ['pass', 'pass', 'UP']);
});

test('a failure between successes restarts the rise count', async (t) => {
  const verdicts = [false, true, false, true, true, true];
  let i = 0;
  const server = http.createServer((_req, res) => {
    res.statusCode = (verdicts[i++] ?? true) ? 200 : 500;
    res.end();
  });
  const port = await listen(t, server);
  const m = monitor(t);
  const endpoint = endpointAt(port);
  const events: string[] = [];
  m.on('check', (e, ok) => { if (e === endpoint) events.push(ok ? 'pass' : 'fail'); });
  m.on('change', (e, up) => { if (e === endpoint) events.push(up ? 'UP' : 'DOWN'); });
  m.sync([{ endpoint, check: check({ type: 'http', rise: 2, fall: 1 }) }]);
  t.true(await nextChange(m, endpoint).then(() => nextChange(m, endpoint)));
  t.deepEqual(events, ['fail', 'DOWN', 'pass', 'fail', 'pass', 'pass', 'UP']);
});

test('two routes sharing an endpoint and check share one probe loop', async (t) => {
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    socket.destroy();
  });
  const port = await listen(t, server);
  const clock = new ManualClock();
  const m = monitor(t, undefined, clock);
  const endpoint = endpointAt(port);
  const shared = check({ intervalMs: 60_000 });
  // the same check written twice (two compiled routes), plus the same endpoint with another check
  m.sync([{ endpoint, check: shared }, { endpoint, check: { ...shared } }]);
  t.is(m.size, 1);
  t.is(clock.pending, 1, 'one first-probe timer');
  const checked = probes(m, endpoint, 1);
  clock.advance(250); // every first probe is due within 250 ms
  await checked;
  t.is(clock.pending, 1, 'one loop re-armed: nothing else will probe');
  t.is(connections, 1);
  m.sync([{ endpoint, check: shared }, { endpoint, check: { ...shared } }]);
  t.is(m.size, 1, 'a repeated sync keeps the loop');
  m.sync([{ endpoint, check: shared }, { endpoint, check: { ...shared, timeoutMs: 400 } }]);
  t.is(m.size, 2, 'a different check is another loop');
});

test('removing a target stops its probes and releases a down verdict', async (t) => {
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    socket.destroy();
  });
  const port = await listen(t, server);
  const clock = new ManualClock();
  const m = monitor(t, undefined, clock);
  const up = endpointAt(port);
  const down = endpointAt(1); // nothing listens on port 1
  m.sync([{ endpoint: up, check: check() }, { endpoint: down, check: check() }]);
  // fall 1: the first probe (due within 250 ms, refused) takes `down` down.
  const wentDown = nextChange(m, down);
  clock.advance(250);
  t.false(await wentDown);
  const changed = nextChange(m, down);
  m.sync([{ endpoint: up, check: check() }]);
  t.true(await changed);
  t.true(down.activeUp, 'no longer checked: no longer held down');
  m.sync([]);
  t.is(m.size, 0);
  t.is(clock.pending, 0, 'no probe timer left armed');
  const before = connections;
  clock.advance(60_000);
  t.is(connections, before);
});

test('forget() stops probing an endpoint at once', async (t) => {
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    socket.destroy();
  });
  const port = await listen(t, server);
  const clock = new ManualClock();
  const m = monitor(t, undefined, clock);
  const endpoint = endpointAt(port);
  m.sync([{ endpoint, check: check() }]);
  const checked = probes(m, endpoint, 1);
  clock.advance(250);
  await checked;
  m.forget(endpoint);
  t.is(m.size, 0);
  t.is(clock.pending, 0, 'no probe timer left armed');
  const before = connections;
  clock.advance(60_000);
  t.is(connections, before);
});

test('a server that accepts and never answers is marked down by timeout', async (t) => {
  const silent = trackedTcpServer(() => {}); // reads, never answers
  const port = await listen(t, silent.server);
  const m = monitor(t);
  const tcpWise = endpointAt(port);
  const httpWise = endpointAt(port);
  m.sync([
    { endpoint: tcpWise, check: check() }, // its connect is not raced against a short timeout
    { endpoint: httpWise, check: check({ type: 'http', timeoutMs: 200 }) },
  ]);
  t.false(await nextChange(m, httpWise));
  t.true(tcpWise.activeUp, 'a TCP check only needs the connect');
  // every timed-out probe's socket is destroyed
  m.stop();
  await eventually(() => silent.sockets.size === 0, 5000);
  t.is(silent.sockets.size, 0);
});

test('garbage, resets and half-sent headers are failures, never crashes', async (t) => {
  const behaviours: Record<string, (socket: net.Socket) => void> = {
    garbage: (s) => s.end('\x00\x01 not http at all\r\n\r\n'),
    reset: (s) => s.resetAndDestroy(),
    midHeaders: (s) => { s.write('HTTP/1.1 200 OK\r\nContent-Le'); setTimeout(() => s.destroy(), 20); },
    closeNow: (s) => s.end(),
    badStatus: (s) => s.end('HTTP/1.1 2000 OK\r\n\r\n'),
  };
  const m = monitor(t);
  const endpoints: EndpointState[] = [];
  for (const behaviour of Object.values(behaviours)) {
    const server = trackedTcpServer(behaviour);
    endpoints.push(endpointAt(await listen(t, server.server)));
  }
  m.sync(endpoints.map((endpoint) => ({ endpoint, check: check({ type: 'http', timeoutMs: 1000 }) })));
  for (const [i, endpoint] of endpoints.entries()) {
    t.deepEqual(await probes(m, endpoint, 2), [false, false], Object.keys(behaviours)[i]);
    t.false(endpoint.activeUp);
  }
});

test('a path http.request refuses is a failed check with a reason, not a crash', async (t) => {
  const server = http.createServer((_req, res) => res.end());
  const port = await listen(t, server);
  const m = monitor(t);
  const endpoint = endpointAt(port);
  m.sync([{ endpoint, check: check({ type: 'http', path: '/bad path\n' }) }]);
  t.deepEqual(await probes(m, endpoint, 2), [false, false]);
  t.false(endpoint.activeUp);
});

test('probes beyond maxConcurrent wait in a queue', async (t) => {
  // A server that never answers: each probe holds its connection until its timeout. A queued
  // probe connects only after an earlier one has reported ('check'), so probes accepted minus
  // probes reported, read as each connection arrives, is how many run at once — counted on
  // events, not on the clock (the server's own 'close' can trail the next connect).
  let accepted = 0;
  let reported = 0;
  let maxRunning = 0;
  const silent = trackedTcpServer(() => {
    accepted++;
    maxRunning = Math.max(maxRunning, accepted - reported);
  });
  const port = await listen(t, silent.server);
  const m = monitor(t, 2);
  m.on('check', () => reported++);
  const endpoints = Array.from({ length: 6 }, () => endpointAt(port));
  m.sync(endpoints.map((endpoint) => ({ endpoint, check: check({ type: 'http', timeoutMs: 400, intervalMs: 60_000 }) })));
  await Promise.all(endpoints.map((e) => nextChange(m, e, 10_000)));
  t.is(accepted, 6, 'every endpoint was probed');
  t.is(maxRunning, 2, 'never more than maxConcurrent probes at once, and the limit was reached');
  t.true(endpoints.every((e) => !e.activeUp));
});

test('coming back up clears a passive ejection; a pass started after an ejection ends it early', async (t) => {
  let healthy = false;
  const server = http.createServer((_req, res) => {
    res.statusCode = healthy ? 200 : 503;
    res.end();
  });
  const port = await listen(t, server);
  const m = monitor(t);
  const endpoint = endpointAt(port);
  m.sync([{ endpoint, check: check({ type: 'http' }) }]);
  t.false(await nextChange(m, endpoint));
  endpoint.ejectedAt = Date.now();
  endpoint.ejectedUntil = Date.now() + 60_000;
  endpoint.consecutiveFailures = 2;
  healthy = true;
  t.true(await nextChange(m, endpoint));
  t.is(endpoint.ejectedUntil, 0);
  t.is(endpoint.consecutiveFailures, 0);
  t.true(endpoint.available(Date.now()));
  // up by the active check, then passively ejected: the next pass ends the ejection
  endpoint.ejectedAt = Date.now();
  endpoint.ejectedUntil = Date.now() + 60_000;
  t.false(endpoint.available(Date.now()));
  await probes(m, endpoint, 2);
  t.true(endpoint.available(Date.now()));
});

test('two checks on one endpoint: down while either fails', async (t) => {
  let status = 200;
  const server = http.createServer((req, res) => {
    res.statusCode = req.url === '/ready' ? status : 200;
    res.end();
  });
  const port = await listen(t, server);
  const m = monitor(t);
  const endpoint = endpointAt(port);
  m.sync([
    { endpoint, check: check({ type: 'http', path: '/ready' }) },
    { endpoint, check: check({ type: 'http', path: '/live' }) },
  ]);
  t.is(m.size, 2);
  status = 500;
  t.false(await nextChange(m, endpoint));
  await probes(m, endpoint, 4); // the /live check keeps passing; the endpoint stays down
  t.false(endpoint.activeUp);
  status = 200;
  t.true(await nextChange(m, endpoint));
});

test('stop() clears every timer: a process using the monitor exits on its own', async (t) => {
  const monitorUrl = pathToFileURL(fileURLToPath(new URL('../../src/health/active-monitor.ts', import.meta.url))).href;
  const endpointUrl = pathToFileURL(fileURLToPath(new URL('../../src/health/endpoint-state.ts', import.meta.url))).href;
  const logUrl = pathToFileURL(fileURLToPath(new URL('../../src/log.ts', import.meta.url))).href;
  const script = `
    import net from 'node:net';
    import { once } from 'node:events';
    import { ActiveHealthMonitor } from ${JSON.stringify(monitorUrl)};
    import { EndpointState } from ${JSON.stringify(endpointUrl)};
    import { silentLogger } from ${JSON.stringify(logUrl)};
    let requests = 0;
    // Reads, never answers: HTTP probes stay in flight and hold the process until destroyed.
    // (the TCP check closes with RST: the server's socket sees ECONNRESET)
    const server = net.createServer((s) => { s.on('error', () => {}); s.once('data', () => requests++); s.resume(); });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address();
    const monitor = new ActiveHealthMonitor({ logger: silentLogger });
    const targets = [];
    for (let i = 0; i < 5; i++) targets.push({ endpoint: new EndpointState('e' + i, '127.0.0.1', port), check: { type: 'http', intervalMs: 100, timeoutMs: 10000, rise: 1, fall: 1 } });
    targets.push({ endpoint: new EndpointState('tcp', '127.0.0.1', port), check: { type: 'tcp', intervalMs: 100, timeoutMs: 1000, rise: 1, fall: 1 } });
    let checks = 0;
    monitor.on('check', () => checks++);
    monitor.sync(targets);
    // Stop once all five HTTP probes are in flight (their requests arrived) and the TCP check
    // has completed (its next loop is armed): in-flight sockets and armed timers both.
    while (requests < 5 || checks < 1) await new Promise((r) => setTimeout(r, 10));
    monitor.stop();
    server.close();
    console.log('stopped');
    process.on('exit', () => console.log('exited after ' + checks + ' checks, ' + requests + ' requests in flight'));
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let killer: NodeJS.Timeout | undefined;
  child.stdout.on('data', (d) => {
    output += d;
    // Once the monitor is stopped, the process has nothing left to do: exit is at once. (Bounded
    // from that line, not from the spawn: loading the modules takes long on a loaded machine.)
    if (killer === undefined && output.includes('stopped')) killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  });
  child.stderr.on('data', (d) => (output += d));
  const [code, signal] = await once(child, 'close') as [number | null, string | null]; // after the output is read
  clearTimeout(killer);
  t.is(signal, null, `the process did not exit by itself: ${output}`);
  t.is(code, 0, output);
  t.regex(output, /exited after [1-9]\d* checks, 5 requests in flight/);
});

test('maxConcurrent is validated', (t) => {
  t.throws(() => new ActiveHealthMonitor({ logger: silentLogger, maxConcurrent: 0 }), { message: /maxConcurrent/ });
});

test('watch/unwatch: reference-counted per endpoint and check; the last unwatch stops the loop', async (t) => {
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    socket.destroy();
  });
  const port = await listen(t, server);
  const m = monitor(t);
  const endpoint = endpointAt(port);
  const shared = check({ intervalMs: 60_000 });
  m.watch({ endpoint, check: shared });
  m.watch({ endpoint, check: { ...shared } }); // a second route, same check
  t.is(m.size, 1);
  await probes(m, endpoint, 1);
  t.is(connections, 1);
  m.unwatch({ endpoint, check: shared });
  t.is(m.size, 1, 'one route still uses it');
  m.watch({ endpoint, check: { ...shared, timeoutMs: 400 } });
  t.is(m.size, 2, 'a different check is another loop');
  m.unwatch({ endpoint, check: { ...shared } });
  m.unwatch({ endpoint, check: { ...shared, timeoutMs: 400 } });
  t.is(m.size, 0);
  // A state recreated under the same id (released, then acquired again) replaces the loop.
  const again = new EndpointState(endpoint.id, endpoint.address, endpoint.port);
  m.watch({ endpoint, check: shared });
  m.watch({ endpoint: again, check: shared });
  t.is(m.size, 1);
  // The replaced loop's users are the new one's: the old state's user leaving does not stop it.
  m.unwatch({ endpoint, check: shared });
  t.is(m.size, 1);
  await probes(m, again, 1);
  m.unwatch({ endpoint: again, check: shared });
  t.is(m.size, 0);
});

test('endpoints checked alike share the check; one check leaving an endpoint leaves the others probing', async (t) => {
  const server = net.createServer((socket) => socket.destroy());
  const port = await listen(t, server);
  const m = monitor(t);
  const a = endpointAt(port);
  const b = endpointAt(port);
  const tcp = check({ intervalMs: 60_000 });
  const http = check({ type: 'http', path: '/healthz', intervalMs: 60_000, expect: ['2xx'] });
  for (const endpoint of [a, b]) m.watch({ endpoint, check: tcp });
  m.watch({ endpoint: a, check: http });
  t.is(m.size, 3);
  m.unwatch({ endpoint: a, check: tcp });
  t.is(m.size, 2);
  // b is still checked over TCP; a keeps its HTTP check (the server resets it: a failure, a verdict all the same)
  const [onB, onA] = await Promise.all([probes(m, b, 1), probes(m, a, 1)]);
  t.deepEqual([onB, onA], [[true], [false]]);
  m.unwatch({ endpoint: b, check: tcp });
  m.watch({ endpoint: b, check: tcp }); // the check made again after its last loop left
  t.true(await probes(m, b, 1).then(([healthy]) => healthy === true));
  m.unwatch({ endpoint: b, check: tcp });
  m.unwatch({ endpoint: a, check: http });
  t.is(m.size, 0);
});

test('the last finished probe of an endpoint is kept on its loop (the dashboard reads it), and goes with the loop', async (t) => {
  const server = net.createServer((socket) => socket.destroy());
  const port = await listen(t, server);
  const clock = new ManualClock();
  const m = monitor(t, undefined, clock);
  const up = endpointAt(port);
  const down = endpointAt(1); // nothing listens on port 1
  m.sync([{ endpoint: up, check: check({ intervalMs: 60_000 }) }, { endpoint: down, check: check({ intervalMs: 60_000 }) }]);
  t.is(m.lastProbe(up.id), undefined, 'nothing before the first probe');
  const checked = Promise.all([probes(m, up, 1), probes(m, down, 1)]);
  clock.advance(250);
  await checked;
  t.deepEqual(m.lastProbe(up.id), { healthy: true, at: m.lastProbe(up.id)!.at, reason: 'connected' });
  t.true(m.lastProbe(up.id)!.at <= clock.now());
  t.like(m.lastProbe(down.id), { healthy: false, reason: 'ECONNREFUSED' });
  m.sync([{ endpoint: up, check: check({ intervalMs: 60_000 }) }]);
  t.is(m.lastProbe(down.id), undefined, 'no longer checked: no result');
});

test('a loop keeps its phase and its last probe start to the millisecond, whatever the clock reads (times are kept as small integers)', async (t) => {
  const server = net.createServer((socket) => socket.destroy());
  const port = await listen(t, server);
  const day = 86_400_000;
  // Before the module's epoch, about now, and 600 days on (past the range ticks stay small integers in).
  for (const start of [1_700_000_000_007, Date.now() + 3, Date.now() + 600 * day + 11]) {
    const clock = new ManualClock(start);
    const m = monitor(t, undefined, clock);
    const endpoint = endpointAt(port);
    m.sync([{ endpoint, check: check({ intervalMs: 1_010 }) }]); // not a whole number of ticks: the phase is kept in ms
    const first = Math.ceil(start / TICK_MS) * TICK_MS;
    for (let i = 0; i < 4; i++) {
      const startsAt = Math.ceil((first + i * 1_010) / TICK_MS) * TICK_MS;
      const probed = probes(m, endpoint, 1);
      clock.advance(startsAt - clock.now());
      t.deepEqual(await probed, [true]);
      t.is(m.lastProbe(endpoint.id)!.at, startsAt, `probe ${i} from ${start}`);
    }
    m.stop();
  }
});
