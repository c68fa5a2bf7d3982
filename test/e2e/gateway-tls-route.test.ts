// TLSRoute end to end in file mode against real router processes and real TLS clients: on a
// Gateway's own address (--gateway-addresses), a TLS listener in mode Passthrough pipes the
// client's stream to the backend untouched (the client verifies the backend's certificate and
// the backend sees the SNI), a TLS listener in mode Terminate ends TLS with the listener's
// certificate and pipes the plain stream to a TCP backend, a server name no TLSRoute serves is
// refused (closed, no handshake), weights split streams, and the Gateway and TLSRoute status
// say so; both modes on one port of a Gateway (TLSRouteModeMixed), each server name to its
// listener's mode. Then without an address pool, on the
// router's shared HTTPS port beside an OpenShift edge Route. Only 127.x addresses are used.
import test from 'ava';
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { serviceYaml } from '../support/backends.ts';
import { eventually, request } from '../support/http-client.ts';
import { freePort } from '../support/ports.ts';
import { createCa, issueCertificate, type TestCertificate } from '../support/certs.ts';

const GW = 'gateway.networking.k8s.io/v1';
// Loopback addresses this file alone uses (by process id, so parallel runs differ).
const NET = `127.${150 + (process.pid % 50)}.${process.pid % 250}`;
const POOL = `${NET}.1-${NET}.4`;

let ca: TestCertificate;
let listenerCert: TestCertificate;
let backendCert: TestCertificate;
let router: RouterProcess;
let shared: RouterProcess;
let passPort: number;
let termPort: number;
let mixedPort: number;
const servers: net.Server[] = [];

/** A TLS backend: greets each stream with its name and the SNI it saw, then echoes. */
async function tlsBackend(name: string, cert: TestCertificate): Promise<number> {
  const server = tls.createServer({ cert: cert.cert, key: cert.key }, (socket) => {
    socket.on('error', () => {});
    socket.write(`${name} tls sni=${socket.servername || '-'}\n`);
    socket.pipe(socket);
  });
  return listen(server);
}

/** A plain TCP backend: greets each stream with its name, then echoes. */
async function tcpBackend(name: string): Promise<number> {
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    socket.write(`${name} plain\n`);
    socket.pipe(socket);
  });
  return listen(server);
}

async function listen(server: net.Server): Promise<number> {
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

interface Stream { subject: string; greeting: string; echo: string }

/** A TLS client: the certificate it was served (verified against the test CA) and what the backend said. */
async function stream(address: string, port: number, servername: string): Promise<Stream> {
  const socket = tls.connect({ host: address, port, servername, ca: ca.cert });
  try {
    await once(socket, 'secureConnect');
    const subject = String(socket.getPeerCertificate().subject.CN);
    const lines = readLines(socket);
    const greeting = await lines.next();
    socket.write('ping\n');
    const echo = await lines.next();
    return { subject, greeting, echo };
  } finally {
    socket.destroy();
  }
}

function readLines(socket: tls.TLSSocket): { next(): Promise<string> } {
  let buffered = '';
  const waiting: Array<(line: string) => void> = [];
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) !== -1 && waiting.length > 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      waiting.shift()!(line);
    }
  });
  return {
    next: () => new Promise((resolve, reject) => {
      const nl = buffered.indexOf('\n');
      if (nl !== -1) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        resolve(line);
        return;
      }
      waiting.push(resolve);
      socket.once('close', () => reject(new Error('closed before a line')));
    }),
  };
}

/** The handshake for `servername` fails: the router closes the connection (no certificate, no stream). */
async function refused(address: string, port: number, servername: string): Promise<string> {
  const socket = tls.connect({ host: address, port, servername, ca: ca.cert });
  socket.on('secureConnect', () => socket.destroy(new Error('handshake completed')));
  const [err] = await once(socket, 'error').catch((e: Error) => [e]);
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}

function tlsRoute(name: string, hostnames: string[], parent: Record<string, unknown>, backendRefs: unknown[]): string {
  return JSON.stringify({ apiVersion: GW, kind: 'TLSRoute', metadata: { name, namespace: 'infra', generation: 2 }, spec: { parentRefs: [parent], hostnames, rules: [{ backendRefs }] } });
}

function documents(ports: { pass: number; term: number }): string[] {
  return [
    'apiVersion: v1\nkind: Namespace\nmetadata: { name: infra }',
    JSON.stringify({ apiVersion: GW, kind: 'GatewayClass', metadata: { name: 'switchyard', generation: 1 }, spec: { controllerName: 'switchyard.io/gateway-controller' } }),
    JSON.stringify({
      apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 'listener-cert', namespace: 'infra' },
      stringData: { 'tls.crt': listenerCert.cert, 'tls.key': listenerCert.key },
    }),
    // Two Gateways: Passthrough and Terminate listeners may not share a port within one.
    JSON.stringify({
      apiVersion: GW, kind: 'Gateway', metadata: { name: 'streams', namespace: 'infra', generation: 1, creationTimestamp: '2024-01-01T00:00:00Z' },
      spec: {
        gatewayClassName: 'switchyard', listeners: [
          { name: 'pass', protocol: 'TLS', port: ports.pass, hostname: '*.tls.test', tls: { mode: 'Passthrough' }, allowedRoutes: { kinds: [{ kind: 'TLSRoute' }] } },
        ],
      },
    }),
    JSON.stringify({
      apiVersion: GW, kind: 'Gateway', metadata: { name: 'terminating', namespace: 'infra', generation: 1, creationTimestamp: '2024-01-02T00:00:00Z' },
      spec: {
        gatewayClassName: 'switchyard', listeners: [
          { name: 'term', protocol: 'TLS', port: ports.term, hostname: 'term.tls.test', tls: { mode: 'Terminate', certificateRefs: [{ name: 'listener-cert' }] } },
        ],
      },
    }),
    tlsRoute('pass', ['pass.tls.test'], { name: 'streams', sectionName: 'pass' }, [{ name: 'tls-a', port: 80 }]),
    tlsRoute('split', ['split.tls.test'], { name: 'streams', sectionName: 'pass' }, [{ name: 'tls-a', port: 80, weight: 1 }, { name: 'tls-b', port: 80, weight: 1 }]),
    tlsRoute('term', ['term.tls.test'], { name: 'terminating' }, [{ name: 'plain', port: 80 }]),
  ];
}

test.before(async () => {
  ca = await createCa('TLSRoute CA');
  listenerCert = await issueCertificate(ca, ['term.tls.test', 'mterm.tls.test']);
  backendCert = await issueCertificate(ca, ['pass.tls.test', 'split.tls.test', 'mpass.tls.test']);
  const a = await tlsBackend('tls-a', backendCert);
  const b = await tlsBackend('tls-b', backendCert);
  const plain = await tcpBackend('plain');
  const services = [serviceYaml('tls-a', [a], { namespace: 'infra' }), serviceYaml('tls-b', [b], { namespace: 'infra' }), serviceYaml('plain', [plain], { namespace: 'infra' })];
  passPort = await freePort();
  termPort = await freePort();
  mixedPort = await freePort();
  // TLSRouteModeMixed: a Passthrough and a Terminate listener on one port of one Gateway.
  const mixed = [
    JSON.stringify({
      apiVersion: GW, kind: 'Gateway', metadata: { name: 'mixed', namespace: 'infra', generation: 1, creationTimestamp: '2024-01-03T00:00:00Z' },
      spec: {
        gatewayClassName: 'switchyard', listeners: [
          { name: 'mpass', protocol: 'TLS', port: mixedPort, hostname: 'mpass.tls.test', tls: { mode: 'Passthrough' } },
          { name: 'mterm', protocol: 'TLS', port: mixedPort, hostname: 'mterm.tls.test', tls: { mode: 'Terminate', certificateRefs: [{ name: 'listener-cert' }] } },
        ],
      },
    }),
    tlsRoute('mpass', ['mpass.tls.test'], { name: 'mixed' }, [{ name: 'tls-a', port: 80 }]),
    tlsRoute('mterm', ['mterm.tls.test'], { name: 'mixed' }, [{ name: 'plain', port: 80 }]),
  ];
  router = await startRouter({ args: ['--file', writeTempFile([...services, ...documents({ pass: passPort, term: termPort }), ...mixed].join('\n---\n')), '--gateway-addresses', POOL] });
});

test.after.always(async () => {
  await router?.stop();
  await shared?.stop();
  for (const s of servers) s.close();
});

async function gatewayAddress(name = 'streams'): Promise<string> {
  return (await eventually(async () => {
    const doc: any = (await request(router.admin, { path: '/debug/routes' })).json();
    return doc.gatewayAPI.gateways.find((g: any) => g.name === name)?.addresses?.[0]?.value as string | undefined;
  }, 10_000))!;
}

test('Passthrough: the backend\'s certificate reaches the client, the backend sees the SNI, bytes flow both ways', async (t) => {
  const address = await gatewayAddress();
  const reply = await eventually(() => stream(address, passPort, 'pass.tls.test').catch(() => undefined), 10_000);
  t.is(reply!.subject, 'pass.tls.test');
  t.is(reply!.greeting, 'tls-a tls sni=pass.tls.test');
  t.is(reply!.echo, 'ping');
});

test('Terminate: the listener\'s certificate reaches the client, the backend gets the plain stream', async (t) => {
  const address = await gatewayAddress('terminating');
  const reply = await eventually(() => stream(address, termPort, 'term.tls.test').catch(() => undefined), 10_000);
  t.is(reply!.subject, 'term.tls.test');
  t.is(reply!.greeting, 'plain plain');
  t.is(reply!.echo, 'ping');
});

test('a server name no TLSRoute serves is refused, on either listener; so is a ClientHello without one', async (t) => {
  const address = await gatewayAddress();
  await eventually(() => stream(address, passPort, 'pass.tls.test').catch(() => undefined), 10_000);
  t.is(await refused(address, passPort, 'unknown.tls.test'), 'ECONNRESET');
  t.is(await refused(address, passPort, 'elsewhere.test'), 'ECONNRESET');
  const terminating = await gatewayAddress('terminating');
  await eventually(() => stream(terminating, termPort, 'term.tls.test').catch(() => undefined), 10_000);
  t.is(await refused(terminating, termPort, 'other.tls.test'), 'ECONNRESET');
  t.is(await refused(terminating, termPort, ''), 'ECONNRESET');
  // Each Gateway's listeners on its own address only.
  t.is(await refused(terminating, passPort, 'pass.tls.test'), 'ECONNREFUSED');
  // Plain HTTP to a TLS listener is closed without an answer; both refusals are counted.
  const plain = net.connect({ host: address, port: passPort });
  plain.on('error', () => {});
  plain.end('GET / HTTP/1.1\r\nHost: pass.tls.test\r\n\r\n');
  const answer = await new Promise<string>((resolve) => {
    let got = '';
    plain.on('data', (d) => { got += d; });
    plain.on('close', () => resolve(got));
  });
  t.is(answer, '');
  const metrics = (await request(router.admin, { path: '/metrics' })).body;
  t.regex(metrics, /switchyard_tls_handshakes_total\{result="no_route"\} [1-9]/);
  t.regex(metrics, /switchyard_tls_handshakes_total\{result="not_tls"\} [1-9]/);
  // The shared HTTPS port does not serve a Gateway's own streams: its default certificate answers.
  const socket = tls.connect({ host: '127.0.0.1', port: router.https, servername: 'pass.tls.test', rejectUnauthorized: false });
  await once(socket, 'secureConnect');
  t.not(String(socket.getPeerCertificate().subject.CN), 'pass.tls.test');
  socket.destroy();
});

test('both modes on one port (TLSRouteModeMixed): the server name selects the listener, and so passthrough or termination', async (t) => {
  const address = await gatewayAddress('mixed');
  const pass = await eventually(() => stream(address, mixedPort, 'mpass.tls.test').catch(() => undefined), 10_000);
  // The backend's certificate (its CN is its first name) and the SNI reach the backend untouched.
  t.like(pass, { subject: 'pass.tls.test', greeting: 'tls-a tls sni=mpass.tls.test', echo: 'ping' });
  const term = await eventually(() => stream(address, mixedPort, 'mterm.tls.test').catch(() => undefined), 10_000);
  // The listener's certificate; the backend gets the plain stream.
  t.like(term, { subject: 'term.tls.test', greeting: 'plain plain', echo: 'ping' });
  t.is(await refused(address, mixedPort, 'other.tls.test'), 'ECONNRESET');
  const doc: any = (await request(router.admin, { path: '/debug/routes' })).json();
  const listeners = doc.gatewayAPI.gateways.find((g: any) => g.name === 'mixed').listeners;
  t.deepEqual(listeners.map((l: any) => [l.name, l.conditions.find((c: any) => c.type === 'Accepted').status, l.attachedRoutes]), [['mpass', 'True', 1], ['mterm', 'True', 1]]);
});

test('weights split streams between backends', async (t) => {
  const address = await gatewayAddress();
  const seen = new Set<string>();
  for (let i = 0; i < 40 && seen.size < 2; i++) {
    const reply = await eventually(() => stream(address, passPort, 'split.tls.test').catch(() => undefined), 10_000);
    seen.add(reply!.greeting.split(' ')[0]!);
  }
  t.deepEqual([...seen].sort(), ['tls-a', 'tls-b']);
});

test('status: listeners list TLSRoute with their attached routes; the routes are Accepted with resolved refs', async (t) => {
  await gatewayAddress();
  const doc: any = (await request(router.admin, { path: '/debug/routes' })).json();
  const listeners = (name: string) => doc.gatewayAPI.gateways.find((g: any) => g.name === name).listeners
    .map((l: any) => [l.name, l.supportedKinds.map((k: any) => k.kind), l.attachedRoutes]);
  t.deepEqual(listeners('streams'), [['pass', ['TLSRoute'], 2]]);
  t.deepEqual(listeners('terminating'), [['term', ['TLSRoute'], 1]]);
  for (const name of ['pass', 'split', 'term']) {
    const route = doc.gatewayAPI.routes.find((r: any) => r.kind === 'TLSRoute' && r.name === name);
    t.deepEqual(route.parents[0].conditions.map((c: any) => [c.type, c.status]), [['Accepted', 'True'], ['ResolvedRefs', 'True']], name);
  }
});

test('without an address pool: TLS listeners share the HTTPS port with Routes, streams and requests chosen by SNI', async (t) => {
  const edgeCert = await issueCertificate(ca, ['edge.tls.test']);
  const plain = await tcpBackend('plain-shared');
  const echo = await tlsBackend('tls-shared', backendCert);
  const httpsPort = await freePort();
  // One port for both Gateways: their listeners are told apart by hostname.
  const docs = documents({ pass: httpsPort, term: httpsPort });
  shared = await startRouter({
    args: ['--https-port', String(httpsPort), '--file', writeTempFile([
      serviceYaml('tls-a', [echo], { namespace: 'infra' }), serviceYaml('tls-b', [echo], { namespace: 'infra' }), serviceYaml('plain', [plain], { namespace: 'infra' }),
      ...docs,
      JSON.stringify({
        apiVersion: 'route.openshift.io/v1', kind: 'Route', metadata: { name: 'edge', namespace: 'infra' },
        spec: { host: 'edge.tls.test', to: { kind: 'Service', name: 'plain' }, tls: { termination: 'edge', certificate: edgeCert.cert, key: edgeCert.key } },
      }),
    ].join('\n---\n'))],
  });
  const pass = await eventually(() => stream('127.0.0.1', shared.https, 'pass.tls.test').catch(() => undefined), 10_000);
  t.like(pass, { subject: 'pass.tls.test', greeting: 'tls-shared tls sni=pass.tls.test', echo: 'ping' });
  const term = await eventually(() => stream('127.0.0.1', shared.https, 'term.tls.test').catch(() => undefined), 10_000);
  t.like(term, { subject: 'term.tls.test', greeting: 'plain-shared plain', echo: 'ping' });
  // The edge Route on the same port still terminates for HTTP, with its own certificate.
  const socket = tls.connect({ host: '127.0.0.1', port: shared.https, servername: 'edge.tls.test', ca: ca.cert });
  await once(socket, 'secureConnect');
  t.is(String(socket.getPeerCertificate().subject.CN), 'edge.tls.test');
  socket.destroy();
});

test('with worker processes every worker serves the streams (TLSRoutes reach them over IPC)', async (t) => {
  const a = await tlsBackend('tls-worker', backendCert);
  const plain = await tcpBackend('plain-worker');
  const ports = { pass: await freePort(), term: await freePort() };
  const workers = await startRouter({
    args: ['--workers', '2', '--gateway-addresses', `${NET}.5-${NET}.6`, '--file', writeTempFile([
      serviceYaml('tls-a', [a], { namespace: 'infra' }), serviceYaml('tls-b', [a], { namespace: 'infra' }), serviceYaml('plain', [plain], { namespace: 'infra' }),
      ...documents(ports),
    ].join('\n---\n'))],
  });
  try {
    const address = (name: string) => eventually(async () => {
      const doc: any = (await request(workers.admin, { path: '/debug/routes' })).json();
      return doc.gatewayAPI.gateways.find((g: any) => g.name === name)?.addresses?.[0]?.value as string | undefined;
    }, 10_000);
    const streams = (await address('streams'))!;
    const terminating = (await address('terminating'))!;
    await eventually(() => stream(streams, ports.pass, 'pass.tls.test').catch(() => undefined), 10_000);
    await eventually(() => stream(terminating, ports.term, 'term.tls.test').catch(() => undefined), 10_000);
    // Then without retries: a worker binds a Gateway's socket only with the table that serves it,
    // and the kernel spreads these connections over the workers' sockets.
    for (let i = 0; i < 8; i++) {
      t.like(await stream(streams, ports.pass, 'pass.tls.test'), { subject: 'pass.tls.test', greeting: 'tls-worker tls sni=pass.tls.test', echo: 'ping' });
      t.like(await stream(terminating, ports.term, 'term.tls.test'), { subject: 'term.tls.test', greeting: 'plain-worker plain', echo: 'ping' });
    }
  } finally {
    await workers.stop();
  }
});
