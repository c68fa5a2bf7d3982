// WebSocket over HTTP/2 (RFC 8441 extended CONNECT) through a real router process, over h2 (TLS,
// an edge route with its own certificate) and h2c (prior knowledge on the HTTP port): the
// router advertises SETTINGS_ENABLE_CONNECT_PROTOCOL, a `:protocol websocket` stream becomes an
// HTTP/1.1 Upgrade to the backend (a real `ws` server) and a tunnel; the backend's refusals are
// relayed; policies hold; a plain CONNECT is still 405; streams reset before their 200 are
// rapid-reset glitches, open tunnels closed by the client are not; a session with a tunnel is
// not closed for being idle, and gets the tunnel grace at drain; the proxy workers serve it too.
import test from 'ava';
import http from 'node:http';
import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { WebSocketServer } from 'ws';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { serviceYaml, routeYaml } from '../support/backends.ts';
import { eventually, metricsText, metricValue } from '../support/http-client.ts';
import { createCa, issueCertificate, type TestCertificate } from '../support/certs.ts';
import { clientFrame, FrameReader, Opcode } from '../support/ws-frames.ts';

const CONNECTION_GLITCHES = 5;

let router: RouterProcess;
let ca: TestCertificate;
let backend: http.Server;
let backendPort: number;
const upgrades: http.IncomingMessage[] = [];
/** Upgraded backend sockets (destroyed at the end). */
const held = new Set<Duplex>();

test.before(async () => {
  // Plain requests are answered once their body is read.
  backend = http.createServer((req, res) => { req.resume(); req.once('end', () => res.end('plain')); });
  const wss = new WebSocketServer({ noServer: true, handleProtocols: (offered) => (offered.has('chat.v1') ? 'chat.v1' : false) });
  backend.on('upgrade', (req, socket, head) => {
    upgrades.push(req);
    held.add(socket);
    socket.once('close', () => held.delete(socket));
    socket.on('error', () => {});
    const path = req.url ?? '/';
    if (path.startsWith('/deny')) {
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 6\r\nConnection: close\r\n\r\ndenied');
    } else if (path.startsWith('/no-switch')) {
      socket.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok');
    } else if (path.startsWith('/bad-accept')) {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n');
    } else if (path.startsWith('/hold')) {
      // never answered
    } else {
      wss.handleUpgrade(req, socket, head, (ws) => {
        ws.on('message', (data, isBinary) => ws.send(isBinary ? data : `ws:${data.toString()}`));
      });
    }
  });
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  backendPort = (backend.address() as import('node:net').AddressInfo).port;
  ca = await createCa('websocket h2 CA');
  const cert = await issueCertificate(ca, ['ws.test']);
  const tlsSpec = `  tls: ${JSON.stringify({ termination: 'edge', certificate: cert.cert, key: cert.key, insecureEdgeTerminationPolicy: 'Allow' })}`;
  const file = writeTempFile([
    serviceYaml('ws', [backendPort]),
    routeYaml('ws', 'ws.test', 'ws', { spec: tlsSpec }),
    routeYaml('private', 'ws.test', 'ws', { path: '/private', spec: tlsSpec, annotations: { 'haproxy.router.openshift.io/ip_allowlist': '10.0.0.0/8' } }),
  ].join('\n---\n'));
  router = await startRouter({ args: ['--file', file, '--client-timeout', '2s', '--http2-connection-glitches', String(CONNECTION_GLITCHES)] });
});

test.after.always(async () => {
  for (const s of held) s.destroy();
  await router?.stop();
  backend?.closeAllConnections();
  await new Promise((resolve) => backend?.close(resolve));
});

type Way = 'h2' | 'h2c';

async function connect(t: import('ava').ExecutionContext, way: Way): Promise<http2.ClientHttp2Session> {
  const session = way === 'h2'
    ? http2.connect(`https://127.0.0.1:${router.https}`, { ca: ca.cert, servername: 'ws.test' })
    : http2.connect(`http://127.0.0.1:${router.http}`);
  session.on('error', () => {});
  t.teardown(() => session.destroy());
  // Extended CONNECT may be sent only once the server's SETTINGS allowed it (RFC 8441 §3).
  await new Promise<void>((resolve) => session.once('remoteSettings', () => resolve()));
  return session;
}

interface Opened { stream: http2.ClientHttp2Stream; status: number; headers: http2.IncomingHttpHeaders; body: () => Promise<string> }

function extendedConnect(session: http2.ClientHttp2Session, path: string, way: Way, extra: http2.OutgoingHttpHeaders = {}): Promise<Opened> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': way === 'h2' ? 'https' : 'http', ':path': path, ':authority': 'ws.test',
      'sec-websocket-version': '13', ...extra,
    });
    stream.on('error', () => {});
    stream.once('response', (headers) => {
      const status = Number(headers[':status']);
      const body = () => new Promise<string>((done) => {
        let text = '';
        stream.setEncoding('utf8');
        stream.on('data', (c: string) => { text += c; });
        stream.once('close', () => done(text));
      });
      resolve({ stream, status, headers, body });
    });
    stream.once('close', () => reject(new Error(`stream closed without a response (rst ${stream.rstCode})`)));
  });
}

async function echo(stream: http2.ClientHttp2Stream, reader: FrameReader, text: string): Promise<string> {
  stream.write(clientFrame(Opcode.TEXT, text));
  const frame = await reader.next();
  return frame.payload.toString();
}

for (const way of ['h2', 'h2c'] as const) {
  test.serial(`${way}: the router allows extended CONNECT; a WebSocket opens as an HTTP/1.1 Upgrade to the backend and echoes`, async (t) => {
    const session = await connect(t, way);
    t.true(session.remoteSettings.enableConnectProtocol);
    const before = upgrades.length;
    const opened = await extendedConnect(session, '/chat?room=1', way, { 'sec-websocket-protocol': 'chat.v1, chat.v0', origin: 'https://ws.test' });
    t.is(opened.status, 200);
    t.is(opened.headers['sec-websocket-protocol'], 'chat.v1');
    t.is(opened.headers['sec-websocket-accept'], undefined, 'the handshake of the backend stays between router and backend');
    const reader = new FrameReader(opened.stream);
    t.is(await echo(opened.stream, reader, 'hello'), 'ws:hello');
    t.is(await echo(opened.stream, reader, 'x'.repeat(70_000)), `ws:${'x'.repeat(70_000)}`);
    // What reached the backend: the GET Upgrade an HTTP/1.1 client would send, with the forwarded headers.
    const req = upgrades[before]!;
    t.is(req.method, 'GET');
    t.is(req.url, '/chat?room=1');
    t.is(req.headers.upgrade, 'websocket');
    t.is(req.headers.host, 'ws.test');
    t.is(req.headers['sec-websocket-version'], '13');
    t.regex(String(req.headers['sec-websocket-key']), /^[A-Za-z0-9+/]{22}==$/);
    t.is(req.headers['x-forwarded-for'], '127.0.0.1');
    t.is(req.headers['x-forwarded-proto'], way === 'h2' ? 'https' : 'http');
    t.is(req.headers.origin, 'https://ws.test');
    t.is(metricValue(await metricsText(router.admin), 'switchyard_tunnels_active', { kind: 'websocket' }), 1);
    // A clean close: close frame both ways, then the stream ends; the tunnel is gone.
    opened.stream.write(clientFrame(Opcode.CLOSE, Buffer.from([0x03, 0xe8])));
    t.is((await reader.next()).opcode, Opcode.CLOSE);
    opened.stream.end();
    await new Promise<void>((resolve) => opened.stream.once('close', () => resolve()));
    await eventually(async () => metricValue(await metricsText(router.admin), 'switchyard_tunnels_active', { kind: 'websocket' }) === 0, 5000);
    // The session goes on: a plain request, and a plain CONNECT is still refused.
    const plain = await extendedConnectless(session, { ':method': 'CONNECT', ':authority': `127.0.0.1:${backendPort}` });
    t.is(plain, 405);
  });

  test.serial(`${way}: the backend's refusal is relayed; a 2xx that did not switch, or a wrong Sec-WebSocket-Accept, is a 502`, async (t) => {
    const session = await connect(t, way);
    const denied = await extendedConnect(session, '/deny', way);
    t.is(denied.status, 403);
    t.is(await denied.body(), 'denied');
    for (const path of ['/no-switch', '/bad-accept']) {
      const refused = await extendedConnect(session, path, way);
      t.is(refused.status, 502, path);
      t.is(refused.headers['x-switchyard-error'], 'SY_UPSTREAM_PROTOCOL', path);
    }
  });

  test.serial(`${way}: the route's policies hold (ip_allowlist 403, the backend never asked); an unknown host is 404`, async (t) => {
    const session = await connect(t, way);
    const before = upgrades.length;
    const denied = await extendedConnect(session, '/private/chat', way);
    t.is(denied.status, 403);
    t.is(upgrades.length, before);
    const other = await new Promise<number>((resolve) => {
      const s = session.request({ ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': way === 'h2' ? 'https' : 'http', ':path': '/', ':authority': 'nowhere.test', 'sec-websocket-version': '13' });
      s.on('error', () => {});
      s.once('response', (h) => resolve(Number(h[':status'])));
    });
    // Over h2 the connection is bound to ws.test's certificate: another host is misdirected (421).
    t.is(other, way === 'h2' ? 421 : 404);
  });
}

function extendedConnectless(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders): Promise<number> {
  return new Promise((resolve) => {
    const s = session.request(headers, { endStream: true });
    s.on('error', () => {});
    s.once('response', (h) => { resolve(Number(h[':status'])); s.resume(); });
  });
}

test.serial('rapid reset: open tunnels closed by the client cost no glitch; extended CONNECTs reset before their 200 do, until GOAWAY ENHANCE_YOUR_CALM', async (t) => {
  const glitches = async () => metricValue(await metricsText(router.admin), 'switchyard_http2_glitches_total') ?? 0;
  const session = await connect(t, 'h2c');
  const start = await glitches();
  // Twice the connection's budget of tunnels, each reset by the client once open.
  for (let i = 0; i < 2 * CONNECTION_GLITCHES; i++) {
    const opened = await extendedConnect(session, `/chat/${i}`, 'h2c');
    t.is(opened.status, 200);
    const closed = new Promise<void>((resolve) => opened.stream.once('close', () => resolve()));
    opened.stream.close(http2.constants.NGHTTP2_CANCEL);
    await closed;
  }
  t.false(session.closed || session.destroyed);
  t.is(await glitches(), start);
  // Streams the client resets while the backend has not answered: glitches, then GOAWAY.
  const calmed = new Promise<number>((resolve) => session.once('goaway', (code: number) => resolve(code)));
  for (let i = 0; i < 4 * CONNECTION_GLITCHES && !session.closed && !session.destroyed; i++) {
    const s = session.request({ ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'http', ':path': `/hold/${i}`, ':authority': 'ws.test', 'sec-websocket-version': '13' });
    s.on('error', () => {});
    s.close(http2.constants.NGHTTP2_CANCEL);
    await new Promise<void>((resolve) => s.once('close', () => resolve()));
  }
  t.is(await calmed, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
  t.true(await glitches() >= start + CONNECTION_GLITCHES);
});

test.serial('a session carrying a WebSocket is not closed for being idle (--client-timeout); one without is', async (t) => {
  const tunnelled = await connect(t, 'h2c');
  const opened = await extendedConnect(tunnelled, '/chat/idle', 'h2c');
  const reader = new FrameReader(opened.stream);
  t.is(await echo(opened.stream, reader, 'before'), 'ws:before');
  // Idle from now on; a second session idle from later on must be closed first by the 2 s client timeout.
  const plain = await connect(t, 'h2c');
  t.is(await extendedConnectless(plain, { ':method': 'GET', ':path': '/', ':authority': 'ws.test' }), 200);
  await new Promise<void>((resolve) => plain.once('close', () => resolve()));
  t.false(tunnelled.closed || tunnelled.destroyed, 'the session with the tunnel is still open');
  t.is(await echo(opened.stream, reader, 'after'), 'ws:after');
});

test.serial('HTTP/1.1 over TLS on the same server keeps its idle rules: a stalled request body still gets its 408', async (t) => {
  // The HTTPS server serves HTTP/1.1 too (allowHTTP1); its idle-session rule must leave HTTP/1.1 sockets to Node's own.
  const socket = tls.connect({ host: '127.0.0.1', port: router.https, servername: 'ws.test', ca: ca.cert, ALPNProtocols: ['http/1.1'] });
  t.teardown(() => socket.destroy());
  await once(socket, 'secureConnect');
  let reply = '';
  socket.setEncoding('latin1').on('data', (chunk: string) => { reply += chunk; });
  socket.on('error', () => {});
  socket.write('POST /upload HTTP/1.1\r\nHost: ws.test\r\nContent-Length: 10\r\n\r\nab');
  await once(socket, 'close');
  t.regex(reply, /^HTTP\/1\.1 408 /);
});

test.serial('drain: a session carrying a WebSocket gets the tunnel grace, not the request deadline', async (t) => {
  const file = writeTempFile([serviceYaml('ws', [backendPort]), routeYaml('ws', 'ws.test', 'ws')].join('\n---\n'));
  const draining = await startRouter({ args: ['--file', file, '--drain-timeout', '1s', '--tunnel-drain-timeout', '60s'] });
  t.teardown(() => draining.stop());
  const session = http2.connect(`http://127.0.0.1:${draining.http}`);
  session.on('error', () => {});
  t.teardown(() => session.destroy());
  await new Promise<void>((resolve) => session.once('remoteSettings', () => resolve()));
  const opened = await new Promise<http2.ClientHttp2Stream>((resolve) => {
    const s = session.request({ ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'http', ':path': '/chat/drain', ':authority': 'ws.test', 'sec-websocket-version': '13' });
    s.on('error', () => {});
    s.once('response', () => resolve(s));
  });
  const reader = new FrameReader(opened);
  t.is(await echo(opened, reader, 'before'), 'ws:before');
  // A request that will not finish, on a connection of its own: cut at the 1 s request deadline.
  const held = net.connect(draining.http, '127.0.0.1');
  held.on('error', () => {});
  held.write('POST /slow HTTP/1.1\r\nHost: ws.test\r\nContent-Length: 10\r\n\r\nab');
  await once(held, 'connect');
  const cut = once(held, 'close');
  draining.child.kill('SIGTERM');
  await draining.waitForLog((l) => l.msg === 'draining');
  await cut;
  // Past the request deadline, the tunnel still carries messages (a session cut with the requests would close).
  const closed = once(session, 'close').then(() => 'the session was closed');
  t.is(await Promise.race([echo(opened, reader, 'after'), closed]), 'ws:after');
  t.is(draining.child.exitCode, null);
  opened.write(clientFrame(Opcode.CLOSE, Buffer.from([0x03, 0xe8])));
  opened.end();
  t.is((await draining.exited).code, 0);
});

test.serial('--workers 2: WebSocket over HTTP/2 in the proxy workers too', async (t) => {
  const file = writeTempFile([serviceYaml('ws', [backendPort]), routeYaml('ws', 'ws.test', 'ws')].join('\n---\n'));
  const workers = await startRouter({ args: ['--file', file, '--workers', '2'] });
  t.teardown(() => workers.stop());
  for (let i = 0; i < 4; i++) {
    const session = http2.connect(`http://127.0.0.1:${workers.http}`);
    session.on('error', () => {});
    t.teardown(() => session.destroy());
    await new Promise<void>((resolve) => session.once('remoteSettings', () => resolve()));
    t.true(session.remoteSettings.enableConnectProtocol);
    const opened = await extendedConnect(session, `/chat/w${i}`, 'h2c');
    t.is(opened.status, 200);
    t.is(await echo(opened.stream, new FrameReader(opened.stream), `w${i}`), `ws:w${i}`);
    session.destroy();
  }
});
