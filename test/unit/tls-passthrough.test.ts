import test from 'ava';
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { HttpsListener } from '../../src/proxy/tls/https-listener.ts';
import { RouterProxy } from '../../src/proxy/router-proxy.ts';
import type { EndpointState } from '../../src/health/endpoint-state.ts';
import type { CompiledRoute, CompiledTls } from '../../src/table/types.ts';
import { Metrics } from '../../src/metrics.ts';
import { silentLogger } from '../../src/log.ts';
import { PASSTHROUGH, edge } from '../support/fake-tls-lookup.ts';
import { createCa, issueCertificate, type TestCertificate } from '../support/certs.ts';

let ca: TestCertificate;
let backendCert: TestCertificate;
let defaultCert: TestCertificate;

test.before(async () => {
  ca = await createCa();
  [backendCert, defaultCert] = await Promise.all([issueCertificate(ca, ['pass.test']), issueCertificate(ca, ['default.test'])]);
});

const handler = {
  handleRequest(): void { throw new Error('passthrough traffic must not reach handleRequest'); },
  handleUpgrade(): void { throw new Error('passthrough traffic must not reach handleUpgrade'); },
  handleStream(): void { throw new Error('passthrough traffic must not reach handleStream'); },
};

/** A TLS backend that answers each line with `echo:<line>` and says which SNI it was asked for. */
async function tlsBackend(): Promise<{ server: tls.Server; port: number; sockets: Set<tls.TLSSocket> }> {
  const sockets = new Set<tls.TLSSocket>();
  const server = tls.createServer({ cert: backendCert.cert, key: backendCert.key }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => socket.write(`echo:${chunk.toString()}|sni:${socket.servername}`));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as net.AddressInfo).port, sockets };
}

/** The routes a test serves, through the real route table and proxy: host → TLS settings and the one endpoint's port. */
class Routes {
  readonly list: CompiledRoute[] = [];
  set(host: string, tlsConfig: CompiledTls, endpointPort = 1, tunnelTimeoutMs = 5000): string {
    const id = `${host}-ep`;
    this.list.push({
      key: `Route/test/${host}`, kind: 'Route', namespace: 'test', name: host, host, wildcard: false, path: '', match: 'route',
      services: [{ name: `test/${host}`, weight: 1, endpoints: [{ id, address: '127.0.0.1', port: endpointPort, weight: 1, acceptsNew: true }] }],
      tls: tlsConfig, annotations: {}, middlewares: [],
      policy: { balance: 'source', connectTimeoutMs: 2000, serverTimeoutMs: 5000, tunnelTimeoutMs, healthCheck: null, traceSampling: 'default' },
      plugins: [],
    });
    return id;
  }
}

async function start(routes: Routes) {
  const metrics = new Metrics({ defaultMetrics: false });
  const proxy = new RouterProxy({ connectTimeout: 2000, accessLog: false, clientFinTimeout: 1000 }, silentLogger, metrics);
  proxy.apply({ version: 1, upsert: routes.list.map((route) => ({ key: route.host, routes: [route] })), remove: [] });
  const listener = await HttpsListener.create({
    passthrough: proxy,
    config: {
      defaultCertificate: '', sslMinVersion: 'TLSv1.2', ciphers: 'intermediate', disableHttp2: false, http2ConnectionGlitches: 100, http2ClientGlitches: 500,
      headerTimeout: 5000, clientTimeout: 5000, maxHeaderSize: 16384, maxConnections: 0,
    },
    lookup: proxy.table, handler, metrics, logger: silentLogger, defaultCertificate: { cert: defaultCert.cert, key: defaultCert.key },
  });
  const { port } = await listener.listen(0, '127.0.0.1');
  const tunnels = async (): Promise<number> => (await metrics.tunnelsActive.get()).values.find((v) => v.labels.kind === 'passthrough')?.value ?? 0;
  const endpoint = (id: string): EndpointState => proxy.registry.get(id)!;
  const close = async (): Promise<void> => { await listener.close(); await proxy.close(); };
  return { listener: { close }, port, tunnels, endpoint, proxy, metrics };
}

/** Resolves on 'close' (unlike events.once, an 'error' before it does not reject). */
function closed(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

function readOnce(socket: tls.TLSSocket): Promise<string> {
  return new Promise((resolve) => socket.once('data', (c: Buffer) => resolve(c.toString())));
}

test('passthrough: the client talks TLS to the backend, which it verifies; the router never decrypts', async (t) => {
  const backend = await tlsBackend();
  const lookup = new Routes();
  const id = lookup.set('pass.test', PASSTHROUGH, backend.port);
  const { listener, port, tunnels, endpoint: endpointOf } = await start(lookup);
  const endpoint = endpointOf(id);
  try {
    const client = tls.connect({ host: '127.0.0.1', port, servername: 'pass.test', ca: ca.cert });
    await once(client, 'secureConnect');
    t.true(client.authorized, 'the backend certificate verifies against the CA');
    t.is(client.getPeerCertificate().subject.CN, 'pass.test');
    client.write('hello');
    t.is(await readOnce(client), 'echo:hello|sni:pass.test');
    t.is(await tunnels(), 1);
    t.is(endpoint.active, 1);
    client.end();
    await closed(client);
    // both sides close: the backend sees its connection go, the gauge drops
    for (let i = 0; i < 100 && (backend.sockets.size > 0 || (await tunnels()) !== 0); i++) await new Promise((r) => setTimeout(r, 10));
    t.is(backend.sockets.size, 0);
    t.is(await tunnels(), 0);
    t.is(endpoint.active, 0);
  } finally {
    await listener.close();
    backend.server.close();
  }
});

test('passthrough: the backend going away closes the client', async (t) => {
  const backend = await tlsBackend();
  const lookup = new Routes();
  lookup.set('pass.test', PASSTHROUGH, backend.port);
  const { listener, port, tunnels } = await start(lookup);
  try {
    const client = tls.connect({ host: '127.0.0.1', port, servername: 'pass.test', ca: ca.cert });
    client.on('error', () => {});
    await once(client, 'secureConnect');
    client.write('x');
    await readOnce(client);
    for (const s of backend.sockets) s.destroy();
    await closed(client);
    for (let i = 0; i < 100 && (await tunnels()) !== 0; i++) await new Promise((r) => setTimeout(r, 10));
    t.is(await tunnels(), 0);
  } finally {
    await listener.close();
    backend.server.close();
  }
});

test('passthrough: connect failure closes the client; idle tunnels time out', async (t) => {
  // a port with nothing listening
  const probe = net.createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const deadPort = (probe.address() as net.AddressInfo).port;
  await new Promise((r) => probe.close(r));
  const backend = await tlsBackend();
  const lookup = new Routes();
  lookup.set('dead.test', PASSTHROUGH, deadPort);
  lookup.set('pass.test', PASSTHROUGH, backend.port, 200);
  lookup.set('edge.test', edge(null));
  const { listener, port, tunnels } = await start(lookup);
  try {
    const dead = tls.connect({ host: '127.0.0.1', port, servername: 'dead.test', ca: ca.cert });
    let connected = false;
    dead.on('secureConnect', () => (connected = true));
    dead.on('error', () => {});
    await closed(dead);
    t.false(connected);

    const idle = tls.connect({ host: '127.0.0.1', port, servername: 'pass.test', ca: ca.cert });
    idle.on('error', () => {});
    await once(idle, 'secureConnect');
    await closed(idle); // nothing sent: the 200 ms tunnel timeout closes it
    for (let i = 0; i < 100 && (await tunnels()) !== 0; i++) await new Promise((r) => setTimeout(r, 10));
    t.is(await tunnels(), 0);

    // the listener still terminates other hosts
    const other = tls.connect({ host: '127.0.0.1', port, servername: 'edge.test', ca: ca.cert, rejectUnauthorized: false });
    await once(other, 'secureConnect');
    t.is(other.getPeerCertificate().subject.CN, 'default.test');
    other.destroy();
  } finally {
    await listener.close();
    backend.server.close();
  }
});

test('passthrough: a half-closed tunnel (client sent its FIN, the backend keeps its half open) closes after the FIN timeout', async (t) => {
  // A backend that never closes its own half.
  const sockets = new Set<tls.TLSSocket>();
  const server = tls.createServer({ cert: backendCert.cert, key: backendCert.key, allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => socket.write(`echo:${chunk.toString()}`));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const lookup = new Routes();
  // An hour of tunnel timeout: only the FIN timeout can close it within the test.
  lookup.set('pass.test', PASSTHROUGH, (server.address() as net.AddressInfo).port, 3_600_000);
  const { listener, port, tunnels } = await start(lookup);
  try {
    const client = tls.connect({ host: '127.0.0.1', port, servername: 'pass.test', ca: ca.cert, allowHalfOpen: true } as tls.ConnectionOptions);
    client.on('error', () => {});
    await once(client, 'secureConnect');
    client.write('hi');
    t.is(await readOnce(client), 'echo:hi');
    client.end(); // our half only
    await closed(client); // the router closes the tunnel at the FIN timeout (1 s), not the tunnel timeout
    for (let i = 0; i < 100 && (await tunnels()) !== 0; i++) await new Promise((r) => setTimeout(r, 10));
    t.is(await tunnels(), 0);
  } finally {
    await listener.close();
    server.close();
    for (const s of sockets) s.destroy();
  }
});

test('passthrough: connect failures are reported to passive health (the only endpoint is never ejected); a connect is a success', async (t) => {
  const probe = net.createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const deadPort = (probe.address() as net.AddressInfo).port;
  await new Promise((r) => probe.close(r));
  const backend = await tlsBackend();
  const lookup = new Routes();
  const deadId = lookup.set('dead.test', PASSTHROUGH, deadPort);
  const liveId = lookup.set('pass.test', PASSTHROUGH, backend.port);
  const { listener, port, endpoint, metrics } = await start(lookup);
  try {
    for (let i = 0; i < 3; i++) {
      const client = tls.connect({ host: '127.0.0.1', port, servername: 'dead.test', ca: ca.cert });
      client.on('error', () => {});
      await closed(client);
    }
    t.is(endpoint(deadId).consecutiveFailures, 3);
    t.is(endpoint(deadId).ejectedUntil, 0, 'the last available endpoint of its route is never ejected (panic threshold)');
    const live = endpoint(liveId);
    live.consecutiveFailures = 2;
    const client = tls.connect({ host: '127.0.0.1', port, servername: 'pass.test', ca: ca.cert });
    await once(client, 'secureConnect');
    client.destroy();
    t.is(live.consecutiveFailures, 0, 'a connect is a success');
    const outcomes = (await metrics.passthroughConnections.get()).values.map((v) => `${v.labels.route} ${v.labels.outcome} ${v.value}`);
    t.true(outcomes.includes('test/dead.test error 3'), outcomes.join('; '));
  } finally {
    await listener.close();
    backend.server.close();
  }
});
