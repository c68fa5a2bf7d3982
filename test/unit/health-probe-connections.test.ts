// How health checks use connections, seen from real servers on 127.0.0.1: a TCP check closes
// with RST (no FIN, no TIME_WAIT on the router), HTTP checks reuse one kept-alive connection and
// fall back to a fresh one when the server closed it, and a timed-out check ends once. The
// schedule runs on a manual clock: every check here starts when the test advances it.
import test, { type ExecutionContext } from 'ava';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { ActiveHealthMonitor, TICK_MS } from '../../src/health/active-monitor.ts';
import { EndpointState } from '../../src/health/endpoint-state.ts';
import { silentLogger } from '../../src/log.ts';
import type { HealthCheckSpec } from '../../src/table/types.ts';
import { ManualClock } from '../support/manual-clock.ts';

const HOST = '127.0.0.1';
const INTERVAL = 1000;

function check(overrides: Partial<HealthCheckSpec> = {}): HealthCheckSpec {
  return { type: 'http', path: '/health', intervalMs: INTERVAL, timeoutMs: 500, rise: 1, fall: 1, ...overrides };
}

function setup(t: ExecutionContext, options: { maxConcurrent?: number } = {}): { clock: ManualClock; monitor: ActiveHealthMonitor } {
  const clock = new ManualClock();
  const monitor = new ActiveHealthMonitor({ logger: silentLogger, clock, ...options });
  t.teardown(() => monitor.stop());
  return { clock, monitor };
}

async function listen(t: ExecutionContext, server: net.Server): Promise<number> {
  server.listen(0, HOST);
  await once(server, 'listening');
  t.teardown(() => {
    if (server instanceof http.Server) server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as net.AddressInfo).port;
}

let nextId = 1;
function endpointAt(port: number): EndpointState {
  return new EndpointState(`conn-ep${nextId++}`, HOST, port);
}

/** The next finished check of `endpoint`: [healthy, reason]. */
async function nextCheck(monitor: ActiveHealthMonitor, endpoint: EndpointState): Promise<[boolean, string]> {
  const signal = AbortSignal.timeout(4000);
  for (;;) {
    const [checked, healthy, , reason] = await once(monitor, 'check', { signal }) as [EndpointState, boolean, number, string];
    if (checked === endpoint) return [healthy, reason];
  }
}

/** Start the check due now (or one interval on) and wait for its verdict. */
function runCheck(clock: ManualClock, monitor: ActiveHealthMonitor, endpoint: EndpointState, advance: number): Promise<[boolean, string]> {
  const verdict = nextCheck(monitor, endpoint);
  clock.advance(advance);
  return verdict;
}

test('a TCP check that connected closes with RST: the server sees a reset, never a FIN', async (t) => {
  const seen: Array<{ ended: boolean; error: string | undefined }> = [];
  const closed: Array<Promise<unknown>> = [];
  const server = net.createServer((socket) => {
    const record: { ended: boolean; error: string | undefined } = { ended: false, error: undefined };
    seen.push(record);
    socket.on('end', () => (record.ended = true));
    socket.on('error', (err: NodeJS.ErrnoException) => (record.error = err.code));
    socket.resume();
    closed.push(new Promise((resolve) => socket.once('close', resolve)));
  });
  const port = await listen(t, server);
  const { clock, monitor } = setup(t);
  const endpoint = endpointAt(port);
  monitor.sync([{ endpoint, check: check({ type: 'tcp' }) }]);
  t.deepEqual(await runCheck(clock, monitor, endpoint, 0), [true, 'connected']);
  t.deepEqual(await runCheck(clock, monitor, endpoint, INTERVAL), [true, 'connected']);
  while (closed.length < 2) await once(server, 'connection');
  await Promise.all(closed);
  t.deepEqual(seen, [{ ended: false, error: 'ECONNRESET' }, { ended: false, error: 'ECONNRESET' }]);
});

test('consecutive HTTP checks arrive on one kept-alive connection', async (t) => {
  const requests: net.Socket[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req.socket);
    res.end('ok');
  });
  server.keepAliveTimeout = 60_000;
  let connections = 0;
  server.on('connection', () => connections++);
  const port = await listen(t, server);
  const { clock, monitor } = setup(t);
  const endpoint = endpointAt(port);
  monitor.sync([{ endpoint, check: check() }]);
  t.deepEqual(await runCheck(clock, monitor, endpoint, 0), [true, 'HTTP 200']);
  t.deepEqual(await runCheck(clock, monitor, endpoint, INTERVAL), [true, 'HTTP 200']);
  t.deepEqual(await runCheck(clock, monitor, endpoint, INTERVAL), [true, 'HTTP 200']);
  t.is(requests.length, 3);
  t.is(connections, 1);
  t.true(requests[1] === requests[0] && requests[2] === requests[0], 'every check on the first connection');
});

test('a failing status keeps the connection too (the response was read in full)', async (t) => {
  const sockets = new Set<net.Socket>();
  let status = 503;
  const server = http.createServer((req, res) => {
    sockets.add(req.socket);
    res.statusCode = status;
    res.end('not yet');
  });
  server.keepAliveTimeout = 60_000;
  const port = await listen(t, server);
  const { clock, monitor } = setup(t);
  const endpoint = endpointAt(port);
  monitor.sync([{ endpoint, check: check() }]);
  t.deepEqual(await runCheck(clock, monitor, endpoint, 0), [false, 'HTTP 503, expected 2xx']);
  status = 200;
  t.deepEqual(await runCheck(clock, monitor, endpoint, INTERVAL), [true, 'HTTP 200']);
  t.is(sockets.size, 1);
});

test('the server closes the kept connection between checks: the next check is healthy on a fresh connection', async (t) => {
  const sockets: net.Socket[] = [];
  const server = http.createServer((req, res) => {
    sockets.push(req.socket);
    res.end('ok');
  });
  server.keepAliveTimeout = 60_000;
  const port = await listen(t, server);
  const { clock, monitor } = setup(t);
  const endpoint = endpointAt(port);
  monitor.sync([{ endpoint, check: check() }]);
  t.deepEqual(await runCheck(clock, monitor, endpoint, 0), [true, 'HTTP 200']);
  // The server ends the idle connection; 'close' on its side means the router's side has
  // seen the FIN and closed too.
  const first = sockets[0]!;
  first.end();
  await once(first, 'close');
  t.deepEqual(await runCheck(clock, monitor, endpoint, INTERVAL), [true, 'HTTP 200']);
  t.is(sockets.length, 2);
  t.not(sockets[1], first);
});

test('a kept connection that fails as the check is sent (closed by the server meanwhile): one retry on a fresh connection, one healthy verdict', async (t) => {
  // The second request on any connection is dropped without an answer, as by a server that
  // closed the idle connection just as the check went out.
  const perSocket = new Map<net.Socket, number>();
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests++;
    const n = (perSocket.get(req.socket) ?? 0) + 1;
    perSocket.set(req.socket, n);
    if (n === 2) req.socket.destroy();
    else res.end('ok');
  });
  server.keepAliveTimeout = 60_000;
  const port = await listen(t, server);
  const { clock, monitor } = setup(t);
  const endpoint = endpointAt(port);
  const verdicts: boolean[] = [];
  monitor.on('check', (e, healthy) => { if (e === endpoint) verdicts.push(healthy); });
  monitor.sync([{ endpoint, check: check() }]);
  t.deepEqual(await runCheck(clock, monitor, endpoint, 0), [true, 'HTTP 200']);
  t.deepEqual(await runCheck(clock, monitor, endpoint, INTERVAL), [true, 'HTTP 200']);
  t.is(requests, 3, 'the check, the dropped one, the retry');
  t.is(perSocket.size, 2, 'the retry went on a fresh connection');
  t.deepEqual(verdicts, [true, true], 'one verdict per check');
});

test('a fresh connection that fails is not retried: the check fails', async (t) => {
  let requests = 0;
  const server = http.createServer((req) => {
    requests++;
    req.socket.destroy();
  });
  const port = await listen(t, server);
  const { clock, monitor } = setup(t);
  const endpoint = endpointAt(port);
  monitor.sync([{ endpoint, check: check() }]);
  t.deepEqual(await runCheck(clock, monitor, endpoint, 0), [false, 'ECONNRESET']);
  t.is(requests, 1);
});

test('a check that times out ends with one verdict, and its connection is not reused', async (t) => {
  let answer = true;
  const sockets: net.Socket[] = [];
  const requestArrived: Array<() => void> = [];
  const server = http.createServer((req, res) => {
    sockets.push(req.socket);
    requestArrived.shift()?.();
    if (answer) res.end('ok'); // else: never answers
  });
  server.keepAliveTimeout = 60_000;
  const port = await listen(t, server);
  const { clock, monitor } = setup(t);
  const endpoint = endpointAt(port);
  const verdicts: Array<[boolean, string]> = [];
  monitor.on('check', (e, healthy, _startedAt, reason) => { if (e === endpoint) verdicts.push([healthy, reason]); });
  monitor.sync([{ endpoint, check: check({ timeoutMs: 300 }) }]);
  t.deepEqual(await runCheck(clock, monitor, endpoint, 0), [true, 'HTTP 200']);
  answer = false;
  const arrived = new Promise<void>((resolve) => requestArrived.push(resolve));
  clock.advance(INTERVAL);
  await arrived; // the check is in flight on the kept connection
  const timedOut = nextCheck(monitor, endpoint);
  clock.advance(300);
  t.deepEqual(await timedOut, [false, 'no answer within 300 ms']);
  await once(sockets[1]!, 'close'); // the router closed it: anything it would still report comes before this
  answer = true;
  t.deepEqual(await runCheck(clock, monitor, endpoint, INTERVAL - 300), [true, 'HTTP 200']);
  t.deepEqual(verdicts, [[true, 'HTTP 200'], [false, 'no answer within 300 ms'], [true, 'HTTP 200']]);
  t.is(sockets[0], sockets[1], 'the second check reused the first connection');
  t.not(sockets[2], sockets[1], 'the timed-out connection was not reused');
});

test('removing an HTTP check closes its kept connection', async (t) => {
  const server = http.createServer((_req, res) => res.end('ok'));
  server.keepAliveTimeout = 60_000;
  const sockets: net.Socket[] = [];
  server.on('connection', (socket) => sockets.push(socket));
  const port = await listen(t, server);
  const { clock, monitor } = setup(t);
  const endpoint = endpointAt(port);
  monitor.sync([{ endpoint, check: check() }]);
  t.deepEqual(await runCheck(clock, monitor, endpoint, 0), [true, 'HTTP 200']);
  const closed = once(sockets[0]!, 'close');
  monitor.sync([]);
  await closed;
  t.is(sockets.length, 1);
});

test('loops added at once are spread evenly over the interval, one tick at a time, and keep their phase', async (t) => {
  const refused = net.createServer();
  const port = await listen(t, refused);
  await new Promise<void>((resolve) => refused.close(() => resolve())); // nothing listens there now
  const { clock, monitor } = setup(t, { maxConcurrent: 1000 });
  const count = 100;
  const endpoints = Array.from({ length: count }, () => endpointAt(port));
  const starts: number[] = [];
  monitor.on('check', (_e, _healthy, startedAt) => starts.push(startedAt));
  const start = clock.now();
  monitor.sync(endpoints.map((endpoint) => ({ endpoint, check: check({ type: 'tcp', timeoutMs: 10 * INTERVAL }) })));
  clock.advance(INTERVAL - 1);
  while (starts.length < count) await once(monitor, 'check');
  const perTick = new Map<number, number>();
  for (const at of starts) perTick.set(at, (perTick.get(at) ?? 0) + 1);
  const ticks = INTERVAL / TICK_MS;
  t.is(perTick.size, ticks, 'every tick of the interval has checks');
  t.true([...perTick.values()].every((n) => n === count / ticks), 'the same number in each');
  t.true([...perTick.keys()].every((at) => (at - start) % TICK_MS === 0 && at - start < INTERVAL));
  // The next round: each loop one interval after its previous probe.
  const first = [...starts].sort((a, b) => a - b);
  starts.length = 0;
  clock.advance(INTERVAL);
  while (starts.length < count) await once(monitor, 'check');
  t.deepEqual([...starts].sort((a, b) => a - b), first.map((at) => at + INTERVAL));
});

test('one loop added to a busy schedule is checked within a tick', async (t) => {
  const refused = net.createServer();
  const port = await listen(t, refused);
  await new Promise<void>((resolve) => refused.close(() => resolve()));
  const { clock, monitor } = setup(t, { maxConcurrent: 1000 });
  const tcp = check({ type: 'tcp', timeoutMs: 10 * INTERVAL });
  const targets = Array.from({ length: 100 }, () => ({ endpoint: endpointAt(port), check: tcp }));
  monitor.sync(targets);
  clock.advance(INTERVAL / 2);
  const late = endpointAt(port);
  const startedAt = new Promise<number>((resolve) => {
    monitor.on('check', (e, _healthy, at) => { if (e === late) resolve(at); });
  });
  const added = clock.now();
  monitor.sync([...targets, { endpoint: late, check: tcp }]);
  clock.advance(TICK_MS);
  t.true((await startedAt) - added <= TICK_MS);
});
