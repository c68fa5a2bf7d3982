// WebSocket tunnels through http-proxy's ws(): echo, forwarded headers, clean close both ways.
import test from 'ava';
import WebSocket from 'ws';
import net from 'node:net';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { startBackend, serviceYaml, routeYaml, type Backend } from '../support/backends.ts';
import { eventually, metricsText, metricValue } from '../support/http-client.ts';

let router: RouterProcess;
let backend: Backend;

test.before(async () => {
  backend = await startBackend('ws', { websocket: true });
  const file = writeTempFile([serviceYaml('ws', [backend.port]), routeYaml('ws', 'ws.test', 'ws')].join('\n---\n'));
  router = await startRouter({ args: ['--file', file] });
});
test.after.always(async () => { await router?.stop(); await backend?.close(); });

function open(): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${router.http}/chat?room=1`, { headers: { host: 'ws.test' } });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

test.serial('echo through the proxy, with X-Forwarded-For on the upgrade request', async (t) => {
  const ws = await open();
  const reply = new Promise<string>((resolve) => ws.once('message', (d) => resolve(d.toString())));
  ws.send('hello');
  t.is(await reply, 'ws:hello');
  const upgrade = backend.requests.find((r) => r.url === '/chat?room=1');
  t.is(upgrade?.headers['x-forwarded-for'], '127.0.0.1');
  t.is(upgrade?.headers['x-forwarded-proto'], 'http');
  const text = await metricsText(router.admin);
  t.is(metricValue(text, 'switchyard_tunnels_active', { kind: 'websocket' }), 1);
  ws.close();
  await eventually(async () => metricValue(await metricsText(router.admin), 'switchyard_tunnels_active', { kind: 'websocket' }) === 0, 3000);
});

test.serial('the client side closes when the backend goes away', async (t) => {
  const ws = await open();
  const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
  // Drop the backend's tunnel sockets (the server keeps listening for other tests).
  backend.dropUpgraded();
  await closed;
  t.pass();
});

test.serial('other Upgrade protocols are tunnelled too', async (t) => {
  const socket = net.connect(router.http, '127.0.0.1');
  t.teardown(() => socket.destroy());
  socket.write('GET /raw HTTP/1.1\r\nHost: ws.test\r\nConnection: Upgrade\r\nUpgrade: echo/1\r\n\r\n');
  let received = '';
  socket.setEncoding('latin1').on('data', (chunk: string) => {
    received += chunk;
    if (received.includes('\r\n\r\n') && !received.includes('ws:ping')) socket.write('ping');
  });
  await eventually(() => received.includes('ws:ping'), 3000);
  t.regex(received, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
  t.regex(received, /upgrade: echo\/1/i);
  t.is(metricValue(await metricsText(router.admin), 'switchyard_tunnels_active', { kind: 'upgrade' }), 1);
  socket.destroy();
  await eventually(async () => metricValue(await metricsText(router.admin), 'switchyard_tunnels_active', { kind: 'upgrade' }) === 0, 3000);
});

test.serial('a backend that never answers the upgrade: 504 after the route timeout, not a hang', async (t) => {
  const silent = net.createServer((socket) => { socket.on('data', () => {}); });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => { silent.close(); });
  const port = (silent.address() as net.AddressInfo).port;
  const file = writeTempFile([serviceYaml('silent', [port]), routeYaml('silent', 'silent.test', 'silent', { annotations: { 'haproxy.router.openshift.io/timeout': '300ms' } })].join('\n---\n'));
  const other = await startRouter({ args: ['--file', file, '--connect-timeout', '200ms'] });
  t.teardown(() => other.stop());
  // A 504 is the route timeout answering (the tunnel timeout is an hour and would answer nothing).
  const err = await new Promise<Error>((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${other.http}/`, { headers: { host: 'silent.test' } });
    ws.once('error', resolve);
  });
  t.regex(err.message, /504/);
});

test.serial('an upgrade for an unknown host gets 404 and the socket closes', async (t) => {
  const err = await new Promise<Error>((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${router.http}/`, { headers: { host: 'nope.test' } });
    ws.once('error', resolve);
  });
  t.regex(err.message, /404/);
});
