// HTTP/2 to backends (h2c, chosen by appProtocol): the pool multiplexes requests on few
// connections, never above the backend's SETTINGS_MAX_CONCURRENT_STREAMS, reuses a connection
// across requests, and carries plain HTTP semantics (bodies both ways, response trailers to
// HTTP/1.1 and HTTP/2 clients); a backend that is not there is a 502.
import test from 'ava';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import net from 'node:net';
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
/** Answers the backend holds back (?hold=N). */
const held: Array<() => void> = [];
/** Connections that lowered their limit to 1 (/lower), and the most streams one carried since. */
const lowered = new WeakSet<http2.Http2Session>();
let maxInFlightLowered = 0;

test.before(async () => {
  // Advertises at most 2 concurrent streams per connection.
  backend = http2.createServer({ settings: { maxConcurrentStreams: 2 } });
  backend.on('session', () => { sessions++; });
  backend.on('stream', (stream, headers) => {
    const session = stream.session!;
    const n = (perSession.get(session) ?? 0) + 1;
    perSession.set(session, n);
    maxInFlightPerSession = Math.max(maxInFlightPerSession, n);
    if (lowered.has(session)) maxInFlightLowered = Math.max(maxInFlightLowered, n);
    inFlight++;
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const path = String(headers[':path']);
      const respond = () => {
        if (stream.destroyed) return;
        const trailers = path.startsWith('/trailers');
        stream.respond({ ':status': 200, 'content-type': 'text/plain', 'x-path': path }, { waitForTrailers: trailers });
        if (trailers) stream.once('wantTrailers', () => stream.sendTrailers({ 'x-checksum': 'abc123' }));
        stream.end(`h2 backend got ${headers[':method']} ${path} ${Buffer.concat(chunks).toString()}`);
      };
      // ?hold=N: no answer until N such requests are in at once, so they are concurrent however
      // slowly the router sends them. A router that queued them on one connection past the
      // backend's limit would never get there: its requests end with the route timeout's 504.
      const hold = Number(new URL(path, 'http://x').searchParams.get('hold') ?? 0);
      // /lower: this connection now allows 1 stream; the answer once the router acknowledged it.
      if (path === '/lower') {
        lowered.add(session);
        session.settings({ maxConcurrentStreams: 1 }, respond);
        return;
      }
      if (hold === 0) return respond();
      held.push(respond);
      if (held.length >= hold) for (const r of held.splice(0)) r();
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
    // The timeout only bounds a failure (a router that queues held requests): success is an event.
    routeYaml('h2', 'h2.test', 'h2', { annotations: { 'haproxy.router.openshift.io/timeout': '10s' } }),
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
  // All 6 reach the router in one read of one HTTP/2 client connection, so they are in before
  // the first backend connection's SETTINGS; the backend answers none until all 6 are in. The
  // router must have them on 3 connections at once (2 each, what the backend allows).
  const client = h2Connect(`http://127.0.0.1:${router.http}`);
  t.teardown(() => client.close());
  await once(client, 'remoteSettings');
  const replies = await Promise.all(Array.from({ length: 6 }, (_, i) => h2Request(client, { ':path': `/c${i}?hold=6`, ':authority': 'h2.test' })));
  for (const r of replies) t.is(r.status, 200);
  t.true(maxInFlightPerSession <= 2, `at most 2 streams per connection, saw ${maxInFlightPerSession}`);
  t.is(sessions - before, 3, '6 requests held at once, at 2 per connection: 3 connections');
  // 6 more held at once, from 6 HTTP/1.1 clients this time (they reach the router apart): the
  // 3 connections carry them, no new one.
  const again = await Promise.all(Array.from({ length: 6 }, (_, i) => request(router.http, { host: 'h2.test', path: `/d${i}?hold=6` })));
  for (const r of again) t.is(r.status, 200);
  t.true(maxInFlightPerSession <= 2, `at most 2 streams per connection, saw ${maxInFlightPerSession}`);
  // Sequential requests: no new connection.
  for (let i = 0; i < 5; i++) t.is((await request(router.http, { host: 'h2.test', path: `/seq${i}` })).status, 200);
  t.is(sessions - before, 3, 'connections are reused across requests');
});

test.serial('a backend connection that lowers its limit (a later SETTINGS) gets no more streams than the new one', async (t) => {
  t.is((await request(router.http, { host: 'h2.test', path: '/lower' })).status, 200);
  // The 3 connections now carry 1 + 2 + 2: 6 requests held at once need a 4th. A pool that kept
  // the old limit would put 2 on the lowered one, where Node holds the second (or the backend
  // refuses it): the 6 would never all be in.
  const before = sessions;
  const replies = await Promise.all(Array.from({ length: 6 }, (_, i) => request(router.http, { host: 'h2.test', path: `/l${i}?hold=6` })));
  for (const r of replies) t.is(r.status, 200);
  t.true(maxInFlightLowered <= 1, `at most 1 stream on the lowered connection, saw ${maxInFlightLowered}`);
  t.true(maxInFlightPerSession <= 2, `at most 2 streams per connection, saw ${maxInFlightPerSession}`);
  t.is(sessions - before, 1, 'one more connection for the 6th');
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

test('an HTTP/2 backend that accepts the connection but never sends its SETTINGS: 502 SY_UPSTREAM_CONNECT once the connect timeout ends the handshake', async (t) => {
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((socket) => { sockets.add(socket); socket.on('error', () => {}); });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => { for (const s of sockets) s.destroy(); silent.close(); });
  const file = writeTempFile([
    serviceYaml('silent', [(silent.address() as AddressInfo).port], { appProtocol: 'kubernetes.io/h2c' }),
    // The route timeout only bounds a failure (a router that waited for an answer on that connection).
    routeYaml('silent', 'silent.test', 'silent', { annotations: { 'haproxy.router.openshift.io/timeout': '20s' } }),
  ].join('\n---\n'));
  const other = await startRouter({ args: ['--file', file, '--connect-timeout', '500ms'] });
  t.teardown(() => other.stop());
  const replies = await Promise.all([1, 2, 3].map(() => request(other.http, { host: 'silent.test' })));
  for (const reply of replies) {
    t.is(reply.status, 502);
    t.is(reply.headers['x-switchyard-error'], 'SY_UPSTREAM_CONNECT');
  }
  t.is(sockets.size, 1, 'the 3 requests waited for the one connection');
});
