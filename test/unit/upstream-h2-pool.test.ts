// The HTTP/2 upstream pool (src/proxy/upstream-h2-pool.ts) against real node:http2 servers on
// 127.0.0.1: a session takes streams only once the backend's SETTINGS arrived, requests that come
// meanwhile wait and are spread at the backend's limit, and a waiting request is failed, aborted
// or placed (close()) as an in-flight one.
import test from 'ava';
import http2 from 'node:http2';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { errors, type Dispatcher } from 'undici';
import { Http2UpstreamPool } from '../../src/proxy/upstream-h2-pool.ts';
import { UpstreamStreamResetError } from '../../src/proxy/upstream-failure.ts';
import { freePort } from '../support/ports.ts';

interface Answer { status: number; body: string; error: Error | null }

interface Sent { answer: Promise<Answer>; controller(): Dispatcher.DispatchController }

/** One request through the dispatch protocol, as the forwarder sends it. */
function send(pool: Http2UpstreamPool, path: string): Sent {
  let controller: Dispatcher.DispatchController | null = null;
  const answer = new Promise<Answer>((resolve) => {
    let status = 0;
    let body = '';
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(c) { controller = c; },
      onResponseStart(_c, statusCode) { status = statusCode; },
      onResponseData(_c, chunk: Buffer) { body += chunk.toString(); },
      onResponseEnd() { resolve({ status, body, error: null }); },
      onResponseError(_c, error) { resolve({ status, body, error }); },
    };
    pool.dispatch({ origin: 'http://x', path, method: 'GET', headers: {} }, handler);
  });
  return { answer, controller: () => controller! };
}

/** An h2c backend that answers nothing until `hold` requests are in at once; counts its connections and their streams. */
async function backend(maxConcurrentStreams: number, hold: number) {
  const server = http2.createServer({ settings: { maxConcurrentStreams } });
  const state = { sessions: 0, maxPerSession: 0, server, port: 0 };
  const open = new Map<http2.Http2Session, number>();
  const held: Array<() => void> = [];
  server.on('session', () => { state.sessions++; });
  server.on('stream', (stream, headers) => {
    const session = stream.session!;
    const n = (open.get(session) ?? 0) + 1;
    open.set(session, n);
    state.maxPerSession = Math.max(state.maxPerSession, n);
    stream.on('close', () => open.set(session, open.get(session)! - 1));
    stream.on('error', () => {});
    held.push(() => { if (!stream.destroyed) { stream.respond({ ':status': 200 }); stream.end(String(headers[':path'])); } });
    if (held.length >= hold) for (const answer of held.splice(0)) answer();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as AddressInfo).port;
  return state;
}

/** A TCP server that accepts and never speaks (no SETTINGS). */
async function silent(): Promise<{ port: number; close(): void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => { sockets.add(socket); socket.on('error', () => {}); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, close: () => { for (const s of sockets) s.destroy(); server.close(); } };
}

test('a burst dispatched before the first SETTINGS is spread at the backend\'s limit: 7 held at once at 2 per connection, 4 connections', async (t) => {
  const b = await backend(2, 7);
  const pool = new Http2UpstreamPool({ authority: `127.0.0.1:${b.port}`, connectTimeoutMs: 5000 });
  t.teardown(() => { void pool.destroy(); b.server.close(); });
  const sent = Array.from({ length: 7 }, (_, i) => send(pool, `/${i}`));
  t.true(pool.waiting, 'no session has its SETTINGS yet: the requests wait');
  const answers = await Promise.all(sent.map((s) => s.answer));
  t.deepEqual(answers.map((a) => [a.status, a.error]), Array.from({ length: 7 }, () => [200, null]));
  t.is(b.maxPerSession, 2);
  t.is(b.sessions, 4);
  t.is(pool.sessions, 4);
  t.false(pool.waiting);
});

test('a request aborted while it waits leaves the pool; the handler hears the abort', async (t) => {
  const s = await silent();
  const pool = new Http2UpstreamPool({ authority: `127.0.0.1:${s.port}`, connectTimeoutMs: 0 });
  t.teardown(() => { void pool.destroy(); s.close(); });
  const sent = send(pool, '/');
  t.true(pool.waiting);
  const reason = new errors.RequestAbortedError();
  sent.controller().abort(reason);
  t.is((await sent.answer).error, reason);
  t.false(pool.waiting);
});

test('the connect timeout covers the SETTINGS: a backend that never sends them fails the waiting requests with a connect timeout', async (t) => {
  const s = await silent();
  const pool = new Http2UpstreamPool({ authority: `127.0.0.1:${s.port}`, connectTimeoutMs: 200 });
  t.teardown(() => { void pool.destroy(); s.close(); });
  const answers = await Promise.all([send(pool, '/a'), send(pool, '/b')].map((x) => x.answer));
  for (const a of answers) t.true(a.error instanceof errors.ConnectTimeoutError, String(a.error));
  t.false(pool.waiting);
});

test('a refused connection fails every request waiting for it with the socket\'s error', async (t) => {
  const pool = new Http2UpstreamPool({ authority: `127.0.0.1:${await freePort()}`, connectTimeoutMs: 5000 });
  t.teardown(() => void pool.destroy());
  const answers = await Promise.all([send(pool, '/a'), send(pool, '/b'), send(pool, '/c')].map((x) => x.answer));
  for (const a of answers) t.is((a.error as { code?: string } | null)?.code, 'ECONNREFUSED');
  t.false(pool.waiting);
});

test('a backend that allows no streams (SETTINGS_MAX_CONCURRENT_STREAMS 0): the requests are refused, over one connection', async (t) => {
  const b = await backend(0, 1);
  const pool = new Http2UpstreamPool({ authority: `127.0.0.1:${b.port}`, connectTimeoutMs: 5000 });
  t.teardown(() => { void pool.destroy(); b.server.close(); });
  const answers = await Promise.all([send(pool, '/a'), send(pool, '/b'), send(pool, '/c')].map((x) => x.answer));
  for (const a of answers) t.true(a.error instanceof UpstreamStreamResetError && a.error.http2Code === http2.constants.NGHTTP2_REFUSED_STREAM, String(a.error));
  t.is(b.sessions, 1);
});

test('close() with requests waiting: they are placed and answered, then the sessions close; nothing new is taken', async (t) => {
  const b = await backend(1, 2);
  const pool = new Http2UpstreamPool({ authority: `127.0.0.1:${b.port}`, connectTimeoutMs: 5000 });
  t.teardown(() => { void pool.destroy(); b.server.close(); });
  const sent = [send(pool, '/a'), send(pool, '/b')];
  t.true(pool.waiting);
  const closed = pool.close();
  const late = await send(pool, '/late').answer;
  t.true(late.error instanceof errors.ClientClosedError);
  const answers = await Promise.all(sent.map((s) => s.answer));
  t.deepEqual(answers.map((a) => [a.status, a.body, a.error]), [[200, '/a', null], [200, '/b', null]]);
  await closed;
  t.is(pool.sessions, 0);
  t.is(b.sessions, 2);
});
