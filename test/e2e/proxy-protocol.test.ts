// PROXY protocol on both listeners (--use-proxy-protocol): v1 and v2 give the real client
// address to X-Forwarded-For and allowlists, TLS (terminated and passthrough) works behind it,
// untrusted peers and malformed headers are refused and counted.
import test from 'ava';
import net from 'node:net';
import tls from 'node:tls';
import https from 'node:https';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { startBackend, serviceYaml, routeYaml } from '../support/backends.ts';
import { metricsText, metricValue, request } from '../support/http-client.ts';
import { selfSignedCertificate } from '../support/certs.ts';
import { encodeProxyHeader, type ProxyAddress } from '../../src/proxy/proxy-protocol.ts';

const CLIENT = { address: '203.0.113.7', port: 51234 };
const OTHER = { address: '198.51.100.9', port: 40000 };
const CLIENT6 = { address: '2001:db8::7', port: 40001 };
const ROUTER = { address: '192.0.2.1', port: 80 };
const ROUTER6 = { address: '2001:db8::1', port: 80 };

/** Everything the router sends back on one connection that starts with `first` and then `then`. */
function exchange(port: number, first: Buffer, then: string | Buffer = ''): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(Buffer.concat([first, Buffer.from(then)])));
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => {});
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
  });
}

const get = (host: string) => `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;

function forwardedFor(response: string): string {
  const split = response.indexOf('\r\n\r\n');
  let body = response.slice(split + 4);
  if (/\r\ntransfer-encoding: chunked\r\n/i.test(response.slice(0, split + 2))) {
    let text = '';
    for (let rest = body; ;) {
      const eol = rest.indexOf('\r\n');
      const size = parseInt(rest.slice(0, eol), 16);
      if (!(size > 0)) break;
      text += rest.slice(eol + 2, eol + 2 + size);
      rest = rest.slice(eol + 4 + size);
    }
    body = text;
  }
  return (JSON.parse(body) as { headers: Record<string, string> }).headers['x-forwarded-for']!;
}

/** HTTPS through the PROXY header: the header on the TCP socket, then TLS on top. */
function tlsThroughProxy(port: number, header: Buffer, servername: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const raw = net.connect(port, '127.0.0.1', () => {
      raw.write(header);
      const req = https.request({ createConnection: () => tls.connect({ socket: raw, servername, rejectUnauthorized: false }), headers: { host: servername }, path: '/' }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => { body += d; }).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
    raw.on('error', reject);
  });
}

let router: RouterProcess;
let passthroughPort = 0;
const cleanup: Array<() => Promise<unknown> | void> = [];

test.before(async () => {
  const echo = await startBackend('echo');
  const cert = await selfSignedCertificate(['pt.test']);
  const passthrough = https.createServer({ cert: cert.cert, key: cert.key }, (_req, res) => res.end('passthrough backend'));
  await new Promise<void>((r) => passthrough.listen(0, '127.0.0.1', r));
  passthroughPort = (passthrough.address() as AddressInfo).port;
  cleanup.push(() => echo.close(), () => { passthrough.closeAllConnections(); passthrough.close(); });
  const file = writeTempFile([
    serviceYaml('echo', [echo.port]),
    serviceYaml('pt', [passthroughPort]),
    routeYaml('plain', 'pp.test', 'echo'),
    routeYaml('edge', 'pp-tls.test', 'echo', { spec: '  tls: { termination: edge }' }),
    routeYaml('pt', 'pt.test', 'pt', { spec: '  tls: { termination: passthrough }' }),
    routeYaml('allow', 'allow.test', 'echo', { annotations: { 'haproxy.router.openshift.io/ip_allowlist': '203.0.113.0/24' } }),
  ].join('\n---\n'));
  router = await startRouter({ args: ['--file', file, '--use-proxy-protocol', '--proxy-protocol-trusted', '127.0.0.1/32,::1'] });
});

test.after.always(async () => {
  await router?.stop();
  for (const c of cleanup) await c();
});

for (const [version, client, dst] of [[1, CLIENT, ROUTER], [2, CLIENT, ROUTER], [1, CLIENT6, ROUTER6], [2, CLIENT6, ROUTER6]] as Array<[1 | 2, ProxyAddress, ProxyAddress]>) {
  test(`HTTP behind PROXY v${version} (${client.address}): X-Forwarded-For is the client`, async (t) => {
    const response = await exchange(router.http, encodeProxyHeader(version, client, dst), get('pp.test'));
    t.regex(response, /^HTTP\/1\.1 200/);
    t.is(forwardedFor(response), client.address);
  });
}

test('the header and the request may arrive in separate segments', async (t) => {
  const response = await new Promise<string>((resolve) => {
    const header = encodeProxyHeader(2, CLIENT, ROUTER);
    const socket = net.connect(router.http, '127.0.0.1', () => {
      socket.write(header.subarray(0, 5));
      setImmediate(() => { socket.write(header.subarray(5)); setImmediate(() => socket.write(get('pp.test'))); });
    });
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
  });
  t.is(forwardedFor(response), CLIENT.address);
});

test('allowlists see the real client address', async (t) => {
  t.regex(await exchange(router.http, encodeProxyHeader(1, CLIENT, ROUTER), get('allow.test')), /^HTTP\/1\.1 200/);
  t.regex(await exchange(router.http, encodeProxyHeader(1, OTHER, ROUTER), get('allow.test')), /^HTTP\/1\.1 403/);
});

test('h2c behind PROXY v2: the preface after the header is served as HTTP/2 with the client address', async (t) => {
  const header = encodeProxyHeader(2, CLIENT, ROUTER);
  const session = http2.connect(`http://127.0.0.1:${router.http}`, {
    createConnection: () => {
      const socket = net.connect(router.http, '127.0.0.1');
      socket.write(header);
      return socket;
    },
  });
  session.on('error', () => {});
  t.teardown(() => session.close());
  const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const stream = session.request({ ':path': '/', ':authority': 'pp.test' });
    let status = 0;
    let body = '';
    stream.on('response', (h) => { status = Number(h[':status']); });
    stream.setEncoding('utf8').on('data', (d: string) => { body += d; });
    stream.on('end', () => resolve({ status, body }));
    stream.on('error', reject);
  });
  t.is(status, 200);
  t.is((JSON.parse(body) as { headers: Record<string, string> }).headers['x-forwarded-for'], CLIENT.address);
});

test('TLS behind PROXY v2: an edge route gets the client address', async (t) => {
  const reply = await tlsThroughProxy(router.https, encodeProxyHeader(2, CLIENT, ROUTER), 'pp-tls.test');
  t.is(reply.status, 200);
  t.is((JSON.parse(reply.body) as { headers: Record<string, string> }).headers['x-forwarded-for'], CLIENT.address);
});

test('TLS passthrough behind PROXY v1: the header is consumed, the backend gets the TLS bytes only', async (t) => {
  const reply = await tlsThroughProxy(router.https, encodeProxyHeader(1, CLIENT, ROUTER), 'pt.test');
  t.is(reply.status, 200);
  t.is(reply.body, 'passthrough backend');
});

test('malformed headers and missing headers from a trusted peer are refused and counted', async (t) => {
  const before = metricValue(await metricsText(router.admin), 'switchyard_proxy_protocol_total', { result: 'invalid' }) ?? 0;
  t.is(await exchange(router.http, Buffer.from('PROXY TCP4 1.2.3.400 5.6.7.8 1 2\r\n'), get('pp.test')), '');
  t.is(await exchange(router.http, Buffer.from(get('pp.test'))), '', 'no header: refused, not served with the balancer\'s address');
  t.is(await exchange(router.https, Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5])), '');
  const after = metricValue(await metricsText(router.admin), 'switchyard_proxy_protocol_total', { result: 'invalid' }) ?? 0;
  t.is(after - before, 3);
  // And the router still serves.
  t.regex(await exchange(router.http, encodeProxyHeader(2, CLIENT, ROUTER), get('pp.test')), /^HTTP\/1\.1 200/);
});

test('a trusted peer that sends nothing is cut at --header-timeout and counted', async (t) => {
  const file = writeTempFile([serviceYaml('x', [1]), routeYaml('x', 'x.test', 'x')].join('\n---\n'));
  const quick = await startRouter({ args: ['--file', file, '--use-proxy-protocol', '--proxy-protocol-trusted', '127.0.0.0/8', '--header-timeout', '300ms'] });
  t.teardown(() => quick.stop());
  t.is(await exchange(quick.http, Buffer.alloc(0)), '');
  t.is(await exchange(quick.https, Buffer.from('PROXY TCP4 1.2.3.4')), '', 'an unfinished header too');
  t.is(metricValue(await metricsText(quick.admin), 'switchyard_proxy_protocol_total', { result: 'timeout' }), 2);
});

test('--workers 2: every worker reads the header on both ports', async (t) => {
  const echo = await startBackend('echo-w');
  t.teardown(() => echo.close());
  const file = writeTempFile([serviceYaml('e', [echo.port]), routeYaml('e', 'w.test', 'e'), routeYaml('et', 'wt.test', 'e', { spec: '  tls: { termination: edge }' })].join('\n---\n'));
  const workers = await startRouter({ args: ['--file', file, '--workers', '2', '--use-proxy-protocol', '--proxy-protocol-trusted', '127.0.0.1'] });
  t.teardown(() => workers.stop());
  // New connections spread over both workers.
  for (let i = 0; i < 6; i++) {
    t.is(forwardedFor(await exchange(workers.http, encodeProxyHeader(i % 2 ? 1 : 2, CLIENT, ROUTER), get('w.test'))), CLIENT.address);
    const reply = await tlsThroughProxy(workers.https, encodeProxyHeader(2, OTHER, ROUTER), 'wt.test');
    t.is((JSON.parse(reply.body) as { headers: Record<string, string> }).headers['x-forwarded-for'], OTHER.address);
  }
});

test('peers outside --proxy-protocol-trusted are refused on both ports, with or without a header', async (t) => {
  const file = writeTempFile([serviceYaml('x', [1]), routeYaml('x', 'x.test', 'x')].join('\n---\n'));
  const strict = await startRouter({ args: ['--file', file, '--use-proxy-protocol', '--proxy-protocol-trusted', '10.0.0.0/8'] });
  t.teardown(() => strict.stop());
  t.is(await exchange(strict.http, encodeProxyHeader(1, CLIENT, ROUTER), get('x.test')), '');
  t.is(await exchange(strict.http, Buffer.from(get('x.test'))), '');
  t.is(await exchange(strict.https, encodeProxyHeader(2, CLIENT, ROUTER)), '');
  t.is(metricValue(await metricsText(strict.admin), 'switchyard_proxy_protocol_total', { result: 'untrusted' }), 3);
  // The admin port is not behind the balancer: no PROXY header there.
  t.is((await request(strict.admin, { path: '/healthz' })).status, 200);
});

test('--use-proxy-protocol without --proxy-protocol-trusted, or with a bad CIDR, exits 2', async (t) => {
  for (const args of [['--use-proxy-protocol'], ['--use-proxy-protocol', '--proxy-protocol-trusted', '10.0.0.0/33']]) {
    const r = await startRouter({ args, waitForListening: false });
    t.is((await r.exited).code, 2);
    t.regex(r.stderr(), /--proxy-protocol-trusted/);
  }
});
