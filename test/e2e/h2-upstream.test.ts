// HTTP/2 to backends (h2c, chosen by appProtocol): the pool multiplexes requests on few
// connections, never above the backend's SETTINGS_MAX_CONCURRENT_STREAMS, reuses a connection
// across requests, and carries plain HTTP semantics (bodies both ways, response trailers to
// HTTP/1.1 and HTTP/2 clients); a backend that is not there is a 502.
import test from 'ava';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { routeYaml, serviceYaml } from '../support/backends.ts';
import { request } from '../support/http-client.ts';
import { h2Connect, h2Request } from '../support/h2-client.ts';
import { freePort } from '../support/ports.ts';

let router: RouterProcess;
let backend: http2.Http2Server;
let sessions = 0;
let inFlight = 0;
let maxInFlightPerSession = 0;
const perSession = new WeakMap<http2.Http2Session, number>();

test.before(async () => {
  // Advertises at most 2 concurrent streams per connection.
  backend = http2.createServer({ settings: { maxConcurrentStreams: 2 } });
  backend.on('session', () => { sessions++; });
  backend.on('stream', (stream, headers) => {
    const session = stream.session!;
    const n = (perSession.get(session) ?? 0) + 1;
    perSession.set(session, n);
    maxInFlightPerSession = Math.max(maxInFlightPerSession, n);
    inFlight++;
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const path = String(headers[':path']);
      const delay = Number(new URL(path, 'http://x').searchParams.get('delay') ?? 0);
      setTimeout(() => {
        if (stream.destroyed) return;
        const trailers = path.startsWith('/trailers');
        stream.respond({ ':status': 200, 'content-type': 'text/plain', 'x-path': path }, { waitForTrailers: trailers });
        if (trailers) stream.once('wantTrailers', () => stream.sendTrailers({ 'x-checksum': 'abc123' }));
        stream.end(`h2 backend got ${headers[':method']} ${path} ${Buffer.concat(chunks).toString()}`);
      }, delay);
    });
    stream.on('close', () => { inFlight--; perSession.set(session, (perSession.get(session) ?? 1) - 1); });
    stream.on('error', () => {});
  });
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  const port = (backend.address() as AddressInfo).port;
  const nothing = await freePort();
  const file = writeTempFile([
    serviceYaml('h2', [port], { appProtocol: 'kubernetes.io/h2c' }),
    serviceYaml('gone', [nothing], { appProtocol: 'kubernetes.io/h2c' }),
    routeYaml('h2', 'h2.test', 'h2'),
    routeYaml('gone', 'gone.test', 'gone'),
  ].join('\n---\n'));
  router = await startRouter({ args: ['--file', file] });
});

test.after.always(async () => {
  await router?.stop();
  backend?.close();
});

test.serial('6 concurrent requests over 3 connections: never more streams on one than the backend allows; later requests reuse them', async (t) => {
  const before = sessions;
  const replies = await Promise.all(Array.from({ length: 6 }, (_, i) => request(router.http, { host: 'h2.test', path: `/c${i}?delay=300` })));
  for (const r of replies) t.is(r.status, 200);
  t.true(maxInFlightPerSession <= 2, `at most 2 streams per connection, saw ${maxInFlightPerSession}`);
  const opened = sessions - before;
  t.true(opened >= 3 && opened <= 4, `6 concurrent requests at 2 per connection: ${opened} connections`);
  // Sequential requests: no new connection.
  const after = sessions;
  for (let i = 0; i < 5; i++) t.is((await request(router.http, { host: 'h2.test', path: `/seq${i}` })).status, 200);
  t.is(sessions, after, 'connections are reused across requests');
});

test('bodies both ways; response trailers to an HTTP/1.1 client (chunked) and to an HTTP/2 client', async (t) => {
  const post = await request(router.http, { host: 'h2.test', method: 'POST', path: '/upload', body: 'payload' });
  t.is(post.body, 'h2 backend got POST /upload payload');
  t.is(post.headers['x-path'], '/upload');
  const h1Trailers = await new Promise<http.IncomingHttpHeaders>((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: router.http, path: '/trailers', headers: { host: 'h2.test', te: 'trailers' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.trailers));
    });
    req.on('error', reject);
  });
  t.is(h1Trailers['x-checksum'], 'abc123');
  const session = h2Connect(`http://127.0.0.1:${router.http}`);
  t.teardown(() => session.close());
  const h2 = await h2Request(session, { ':path': '/trailers', ':authority': 'h2.test', te: 'trailers' });
  t.is(h2.trailers['x-checksum'], 'abc123');
  t.is(h2.text(), 'h2 backend got GET /trailers ');
});

test('an HTTP/2 backend that is not listening: 502 SY_UPSTREAM_CONNECT', async (t) => {
  const reply = await request(router.http, { host: 'gone.test' });
  t.is(reply.status, 502);
  t.is(reply.headers['x-switchyard-error'], 'SY_UPSTREAM_CONNECT');
});
