// Upgrade socket mechanics (issue 10): an Upgrade GET with bytes after its headers, answered
// with a non-101, releases the client socket and its tunnel slot at once (it used to stay
// paused until the tunnel timeout); a half-closed tunnel is closed after --client-fin-timeout.
import test from 'ava';
import net from 'node:net';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { serviceYaml, routeYaml } from '../support/backends.ts';
import { eventually, metricsText, metricValue } from '../support/http-client.ts';
import { startRawBackend, type RawBackend } from '../support/raw-backend.ts';
import { freePort } from '../support/ports.ts';

let router: RouterProcess;
let refuser: RawBackend;
let switcher: RawBackend;
let deadPort: number;

test.before(async () => {
  refuser = await startRawBackend(() => 'HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope');
  // Switches, then never sends anything nor closes its half (allowHalfOpen).
  switcher = await startRawBackend(() => 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo\r\nConnection: Upgrade\r\n\r\n', { allowHalfOpen: true });
  deadPort = await freePort();
  const file = writeTempFile([
    serviceYaml('pair', [deadPort, switcher.port]),
    routeYaml('pair', 'pair.test', 'pair', { annotations: {
      'haproxy.router.openshift.io/balance': 'roundrobin', 'haproxy.router.openshift.io/disable_cookies': 'true',
      'router.openshift.io/haproxy.health.check.interval': '1h', // passive health only
    } }),
    serviceYaml('refuser', [refuser.port]),
    serviceYaml('switcher', [switcher.port]),
    routeYaml('refuser', 'refuser.test', 'refuser'),
    routeYaml('switcher', 'switcher.test', 'switcher'),
  ].join('\n---\n'));
  router = await startRouter({ args: ['--file', file, '--client-fin-timeout', '200ms'] });
});

test.after.always(async () => {
  await router?.stop();
  await refuser?.close();
  await switcher?.close();
});

async function tunnels(): Promise<number> {
  return metricValue(await metricsText(router.admin), 'switchyard_tunnels_active', { kind: 'upgrade' }) ?? 0;
}

/** A client that never closes its own half: only the router can end the connection. */
function halfOpenClient(data: string): { socket: net.Socket; received: () => string; ended: Promise<void> } {
  const socket = net.connect({ port: router.http, host: '127.0.0.1', allowHalfOpen: true });
  let text = '';
  socket.on('data', (c: Buffer) => { text += c.toString('latin1'); });
  socket.on('error', () => {});
  const ended = new Promise<void>((resolve) => socket.once('end', () => resolve()));
  socket.write(data);
  return { socket, received: () => text, ended };
}

test.serial('a refused Upgrade with trailing bytes: the response arrives and the socket and tunnel slot are released', async (t) => {
  const client = halfOpenClient('GET / HTTP/1.1\r\nHost: refuser.test\r\nUpgrade: foo\r\nConnection: Upgrade\r\n\r\nTRAILING BYTES');
  t.teardown(() => client.socket.destroy());
  await client.ended;
  t.regex(client.received(), /^HTTP\/1\.1 404 Not Found\r\n[^]*\r\n\r\nnope$/);
  await eventually(async () => (await tunnels()) === 0, 5000);
  t.is(await tunnels(), 0);
});

test.serial('a half-closed tunnel is closed after the client-fin timeout', async (t) => {
  const client = halfOpenClient('GET / HTTP/1.1\r\nHost: switcher.test\r\nUpgrade: foo\r\nConnection: Upgrade\r\n\r\n');
  t.teardown(() => client.socket.destroy());
  await eventually(() => client.received().startsWith('HTTP/1.1 101'), 5000);
  t.is(await tunnels(), 1);
  client.socket.end(); // our half only; the backend never closes its own
  await client.ended;
  await eventually(async () => (await tunnels()) === 0, 5000);
  t.is(await tunnels(), 0);
});

test.serial('connect failures of Upgrade requests are retried on another endpoint and count for passive ejection, as requests\' do', async (t) => {
  const ejected = router.waitForLog((l) => l.msg === 'endpoint ejected after consecutive failures' && l.endpoint === `127.0.0.1:${deadPort}`);
  const statuses: string[] = [];
  for (let i = 0; i < 6; i++) {
    const client = halfOpenClient('GET / HTTP/1.1\r\nHost: pair.test\r\nUpgrade: foo\r\nConnection: Upgrade\r\n\r\n');
    await eventually(() => /^HTTP\/1\.1 \d{3}/.test(client.received()), 5000);
    statuses.push(client.received().slice(9, 12));
    client.socket.destroy();
  }
  // Each connect failure is tried again on the other endpoint (the route's retry policy), as a request's is.
  t.deepEqual(statuses, ['101', '101', '101', '101', '101', '101']);
  const connectFailures = metricValue(await metricsText(router.admin), 'switchyard_upstream_errors_total', { route: 'default/pair', reason: 'connect' }) ?? 0;
  t.true(connectFailures >= 1, 'the dead endpoint was tried');
  await ejected;
  // Ejected: every upgrade now reaches the live endpoint.
  for (let i = 0; i < 3; i++) {
    const client = halfOpenClient('GET / HTTP/1.1\r\nHost: pair.test\r\nUpgrade: foo\r\nConnection: Upgrade\r\n\r\n');
    await eventually(() => /^HTTP\/1\.1 \d{3}/.test(client.received()), 5000);
    t.regex(client.received(), /^HTTP\/1\.1 101 /);
    client.socket.destroy();
  }
});
