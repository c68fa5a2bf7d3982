// The native upstream HTTP/1.1 client (src/proxy/http1-connection*.ts, native-attempt.ts) against
// real servers on 127.0.0.1: keep-alive reuse from an idle stack, a connection the backend
// closes while idle is dropped (the next request does not fail on it), `Connection: close` and a
// short `Keep-Alive: timeout=` hint are honoured, a response to HEAD carries no body, request
// bodies are framed by their length or chunked, trailers arrive.
import test from 'ava';
import http from 'node:http';
import net from 'node:net';
import { PassThrough } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { Http1ConnectionPool } from '../../src/proxy/http1-connection-pool.ts';
import { NativeAttempt, type NativeRequest } from '../../src/proxy/native-attempt.ts';
import { HTTPParser } from '../../src/proxy/native-http-parser.ts';
import type { UpstreamAttempt, UpstreamHeaders } from '../../src/proxy/upstream-attempt.ts';
import type { Member } from '../../src/balance/types.ts';

interface Answer { status: number; headers: UpstreamHeaders; body: string; trailers: UpstreamHeaders | null; error: unknown }

/** One request through a NativeAttempt, with an exchange that records what it hears. */
function send(pool: Http1ConnectionPool, method: string, path: string, body: Buffer | PassThrough | null = null, headers: string[] = ['host', 'x.test']): Promise<Answer> {
  return new Promise((resolve) => {
    const answer: Answer = { status: 0, headers: {}, body: '', trailers: null, error: null };
    const exchange = {
      runtime: { attemptTimeoutMs: 10_000, route: { policy: { serverTimeoutMs: 10_000, connectTimeoutMs: 5_000 } } },
      method,
      path,
      upstreamHeaders: headers,
      upgradeProtocol: null,
      upstreamBody: () => body,
      upstreamHead(_a: UpstreamAttempt, status: number, h: UpstreamHeaders) {
        if (status >= 200) { answer.status = status; answer.headers = h; }
      },
      upstreamData(_a: UpstreamAttempt, chunk: Buffer) { answer.body += chunk.toString('latin1'); },
      upstreamEnd(_a: UpstreamAttempt, trailers: UpstreamHeaders | null) { answer.trailers = trailers; resolve(answer); },
      upstreamOpen() { throw new Error('no tunnels here'); },
      attemptFailed(_a: UpstreamAttempt, error: unknown) { answer.error = error; resolve(answer); },
    } as unknown as NativeRequest;
    new NativeAttempt(exchange, {} as Member, 1, pool).start();
  });
}

async function server(handler: http.RequestListener): Promise<{ port: number; sockets: Set<net.Socket>; closed: () => number; server: http.Server }> {
  const s = http.createServer(handler);
  s.keepAliveTimeout = 60_000;
  const sockets = new Set<net.Socket>();
  let closed = 0;
  s.on('connection', (socket) => { sockets.add(socket); socket.on('close', () => { sockets.delete(socket); closed++; }); });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return { port: (s.address() as AddressInfo).port, sockets, closed: () => closed, server: s };
}

/** Wait (on the event loop, not a clock) until `condition` holds. */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
}

function poolFor(port: number): Http1ConnectionPool {
  return new Http1ConnectionPool('127.0.0.1', port, 5_000, HTTPParser!);
}

test.before((t) => {
  t.truthy(HTTPParser, "Node's HTTP parser is available on the pinned runtime");
});

test('sequential requests reuse one connection from the idle stack', async (t) => {
  const s = await server((_req, res) => res.end('hi'));
  const pool = poolFor(s.port);
  for (let i = 0; i < 5; i++) t.like(await send(pool, 'GET', `/${i}`), { status: 200, body: 'hi', error: null });
  t.is(s.sockets.size, 1);
  t.is(pool.size, 1);
  t.is(pool.idle, 1);
  await pool.destroy();
  s.server.close();
});

test('a connection the backend closes while idle is dropped; the next request gets a new one', async (t) => {
  const s = await server((_req, res) => res.end('hi'));
  const pool = poolFor(s.port);
  t.is((await send(pool, 'GET', '/')).status, 200);
  for (const socket of s.sockets) socket.destroy();
  await until(() => pool.size === 0);
  t.like(await send(pool, 'GET', '/again'), { status: 200, error: null });
  await pool.destroy();
  s.server.close();
});

test('Connection: close and a Keep-Alive hint of 1 s or less: the connection is not reused', async (t) => {
  for (const header of [['connection', 'close'], ['keep-alive', 'timeout=1']] as const) {
    const s = await server((_req, res) => { res.setHeader(header[0], header[1]); res.end('x'); });
    const pool = poolFor(s.port);
    t.is((await send(pool, 'GET', '/')).status, 200);
    await until(() => s.closed() === 1);
    t.is(pool.size, 0, header.join(': '));
    await pool.destroy();
    s.server.close();
  }
});

test('a Keep-Alive hint shorter than the idle timeout: the router closes the idle connection first', async (t) => {
  // timeout=2 → idle for at most 1 s here (the hint minus a margin), below the default 4 s.
  const s = await server((_req, res) => { res.setHeader('keep-alive', 'timeout=2'); res.end('x'); });
  const pool = poolFor(s.port);
  t.is((await send(pool, 'GET', '/')).status, 200);
  t.is(pool.idle, 1);
  await until(() => s.closed() === 1 && pool.size === 0);
  t.pass();
  s.server.close();
});

test('HEAD: the Content-Length announces no body; the connection carries the next request', async (t) => {
  const s = await server((req, res) => { res.setHeader('content-length', '11'); res.end(req.method === 'HEAD' ? undefined : 'hello world'); });
  const pool = poolFor(s.port);
  const head = await send(pool, 'HEAD', '/');
  t.like(head, { status: 200, body: '', error: null });
  t.is(head.headers['content-length'], '11');
  t.like(await send(pool, 'GET', '/'), { status: 200, body: 'hello world' });
  t.is(s.sockets.size, 1);
  await pool.destroy();
  s.server.close();
});

test('request bodies: a buffer with its length, a stream chunked, an empty POST with content-length 0', async (t) => {
  const seen: string[] = [];
  const s = await server((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => { seen.push(`${req.headers['content-length'] ?? '-'} ${req.headers['transfer-encoding'] ?? '-'} ${body}`); res.end('ok'); });
  });
  const pool = poolFor(s.port);
  t.is((await send(pool, 'POST', '/', Buffer.from('abc'))).status, 200);
  const stream = new PassThrough();
  const pending = send(pool, 'POST', '/', stream);
  stream.write('one,');
  setImmediate(() => stream.end('two'));
  t.is((await pending).status, 200);
  t.is((await send(pool, 'POST', '/', null)).status, 200);
  t.deepEqual(seen, ['3 - abc', '- chunked one,two', '0 - ']);
  t.is(s.sockets.size, 1, 'one connection carried them all');
  await pool.destroy();
  s.server.close();
});

test('a stream shorter than its declared Content-Length fails the request and closes the connection', async (t) => {
  const s = await server((req, res) => { req.resume(); req.on('end', () => res.end('ok')); });
  const pool = poolFor(s.port);
  const stream = new PassThrough();
  const pending = send(pool, 'POST', '/', stream, ['host', 'x.test', 'content-length', '10']);
  stream.end('short');
  const answer = await pending;
  t.is((answer.error as { code?: string }).code, 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH');
  await until(() => pool.size === 0);
  s.server.close();
});

test('trailers of a chunked response arrive with its end', async (t) => {
  const s = await server((_req, res) => { res.write('body'); res.addTrailers({ 'x-sum': 'abc' }); res.end(); });
  const pool = poolFor(s.port);
  const answer = await send(pool, 'GET', '/');
  t.is(answer.body, 'body');
  t.deepEqual(answer.trailers, { 'x-sum': 'abc' });
  await pool.destroy();
  s.server.close();
});

test('what undici refuses to send is refused the same way (a router error, not a backend failure)', async (t) => {
  const pool = poolFor(1);
  for (const [path, headers, code] of [
    ['*', ['host', 'x'], 'UND_ERR_INVALID_ARG'],
    ['/', ['host', 'x', 'x-bad', 'a\r\nb'], 'UND_ERR_INVALID_ARG'],
    ['/', ['host', 'x', 'expect', '100-continue'], 'UND_ERR_NOT_SUPPORTED'],
  ] as const) {
    const answer = await send(pool, 'GET', path, null, [...headers]);
    t.is((answer.error as { code?: string }).code, code, `${path} ${headers.join(' ')}`);
  }
  t.is(pool.size, 0, 'no connection was opened');
});
