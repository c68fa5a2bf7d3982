// An endpoint's HTTP/1.1 connections (src/proxy/endpoint-pool.ts): one client per request in
// flight, idle ones reused, none spare, and a connection that closes while idle leaves nothing.
import test from 'ava';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Dispatcher } from 'undici';
import { EndpointPool } from '../../src/proxy/endpoint-pool.ts';

interface Answer { status: number; body: string; error: Error | null }

/** One request through the dispatch protocol, as the forwarder sends it. */
function send(pool: EndpointPool, path: string, headers: string[] = []): Promise<Answer> {
  return new Promise((resolve) => {
    let status = 0;
    let body = '';
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart() {},
      onResponseStart(_c, statusCode) { status = statusCode; },
      onResponseData(_c, chunk: Buffer) { body += chunk.toString(); },
      onResponseEnd() { resolve({ status, body, error: null }); },
      onResponseError(_c, error) { resolve({ status, body, error }); },
    };
    pool.dispatch({ origin: 'http://x', path, method: 'GET', headers }, handler);
  });
}

async function server(handler: http.RequestListener): Promise<{ port: number; sockets: Set<net.Socket>; server: http.Server }> {
  const s = http.createServer(handler);
  s.keepAliveTimeout = 60_000;
  const sockets = new Set<net.Socket>();
  s.on('connection', (socket) => { sockets.add(socket); socket.on('close', () => sockets.delete(socket)); });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return { port: (s.address() as AddressInfo).port, sockets, server: s };
}

/** Wait (on the event loop, not a clock) until `condition` holds. */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
}

test('requests one after another share one connection and one client: no spare client', async (t) => {
  const { port, sockets, server: s } = await server((req, res) => res.end(req.url));
  const pool = new EndpointPool(`http://127.0.0.1:${port}`, { connectTimeoutMs: 1000 });
  t.teardown(() => { void pool.destroy(); s.close(); });
  for (const path of ['/a', '/b', '/c']) {
    const answer = await send(pool, path);
    t.deepEqual([answer.status, answer.body, answer.error], [200, path, null]);
    t.is(pool.size, 1);
    await until(() => pool.idle === 1); // undici reuses a connection one turn of the loop after its response
  }
  t.is(sockets.size, 1);
  t.is(pool.connected, 1);
});

test('concurrent requests get a connection each; the idle ones are reused afterwards', async (t) => {
  const held: http.ServerResponse[] = [];
  const { port, sockets, server: s } = await server((req, res) => {
    if (req.url === '/hold') {
      held.push(res);
      if (held.length === 3) for (const r of held) r.end('held');
    } else res.end('quick');
  });
  const pool = new EndpointPool(`http://127.0.0.1:${port}`, { connectTimeoutMs: 1000 });
  t.teardown(() => { void pool.destroy(); s.close(); });
  const answers = await Promise.all([send(pool, '/hold'), send(pool, '/hold'), send(pool, '/hold')]);
  t.deepEqual(answers.map((a) => a.body), ['held', 'held', 'held']);
  t.is(pool.size, 3);
  t.is(sockets.size, 3);
  await until(() => pool.idle === 3);
  const again = await Promise.all([send(pool, '/q'), send(pool, '/q')]);
  t.deepEqual(again.map((a) => a.body), ['quick', 'quick']);
  t.is(pool.size, 3);
  t.is(sockets.size, 3); // no new connection
});

test('a connection the backend closes while idle leaves no client behind; the next request connects again', async (t) => {
  const { port, sockets, server: s } = await server((_req, res) => res.end('ok'));
  const pool = new EndpointPool(`http://127.0.0.1:${port}`, { connectTimeoutMs: 1000 });
  t.teardown(() => { void pool.destroy(); s.close(); });
  t.is((await send(pool, '/')).body, 'ok');
  t.is(pool.size, 1);
  for (const socket of sockets) socket.destroy();
  await until(() => pool.size === 0);
  t.is(pool.connected, 0);
  t.is((await send(pool, '/')).body, 'ok');
  t.is(pool.size, 1);
});

test('a refused connection fails its request and keeps no client', async (t) => {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve)); // nothing listens there now
  const pool = new EndpointPool(`http://127.0.0.1:${port}`, { connectTimeoutMs: 1000 });
  t.teardown(() => pool.destroy());
  for (let i = 0; i < 3; i++) {
    const answer = await send(pool, '/');
    t.is((answer.error as NodeJS.ErrnoException | null)?.code, 'ECONNREFUSED');
    await until(() => pool.size === 0);
  }
});

test('a request undici refuses (invalid header) fails at once and leaves the client usable', async (t) => {
  const { port, server: s } = await server((_req, res) => res.end('ok'));
  const pool = new EndpointPool(`http://127.0.0.1:${port}`, { connectTimeoutMs: 1000 });
  t.teardown(() => { void pool.destroy(); s.close(); });
  t.is((await send(pool, '/')).body, 'ok');
  await until(() => pool.idle === 1);
  const refused = await send(pool, '/', ['x-bad', 'a\r\nb']);
  t.truthy(refused.error);
  t.is(pool.size, 1);
  t.is(pool.idle, 1);
  t.is((await send(pool, '/')).body, 'ok');
  t.is(pool.size, 1);
});

test('close() lets the request in flight finish, then refuses new ones', async (t) => {
  let release: (() => void) | null = null;
  const { port, server: s } = await server((_req, res) => { release = () => res.end('late'); });
  const pool = new EndpointPool(`http://127.0.0.1:${port}`, { connectTimeoutMs: 1000 });
  t.teardown(() => s.close());
  const inFlight = send(pool, '/');
  await until(() => release !== null);
  const closed = pool.close();
  release!();
  t.is((await inFlight).body, 'late');
  await closed;
  t.is((await send(pool, '/')).error?.name, 'ClientClosedError');
});

test('the next request takes the connection freed last (the idle ones wait on a stack)', async (t) => {
  const held = new Map<string, http.ServerResponse>();
  const { port, server: s } = await server((req, res) => {
    const port = String(req.socket.remotePort);
    if (req.url === '/hold') held.set(port, res);
    else res.end(port);
  });
  const pool = new EndpointPool(`http://127.0.0.1:${port}`, { connectTimeoutMs: 1000 });
  t.teardown(() => { void pool.destroy(); s.close(); });
  const first = send(pool, '/hold');
  const second = send(pool, '/hold');
  await until(() => held.size === 2);
  const [a, b] = [...held.keys()];
  // a's connection is freed first, b's last: b's is on top.
  held.get(a!)!.end(a);
  t.is((await first).body, a);
  await until(() => pool.idle === 1);
  held.get(b!)!.end(b);
  t.is((await second).body, b);
  await until(() => pool.idle === 2);
  t.is((await send(pool, '/which')).body, b);
  await until(() => pool.idle === 2);
  t.is((await send(pool, '/which')).body, b);
  t.is(pool.size, 2);
});
