// TCPRoute end to end in file mode against real router processes, real TCP clients and backends
// on 127.x addresses: a Gateway's TCP listener (on its own address, --gateway-addresses) pipes
// each connection to a backend of its TCPRoute — bytes both ways with backpressure, a client's
// half-close passed on while the backend's answer still comes back — weights split connections
// (weight 0 gets none), a backend that refuses and a backendRef that resolves to nothing reset the
// connection, the older of two TCPRoutes on one listener takes every connection, a cross-namespace
// backend needs a ReferenceGrant, and the Gateway and TCPRoute status say all of it. Then a route
// removed (new connections reset) and its Gateway removed (connections refused), and worker
// processes serving TCP listeners.
import test from 'ava';
import net from 'node:net';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { serviceYaml } from '../support/backends.ts';
import { eventually, request } from '../support/http-client.ts';
import { freePort } from '../support/ports.ts';

const GW = 'gateway.networking.k8s.io/v1';
// Loopback addresses this file alone uses (by process id, so parallel runs differ).
const NET = `127.${100 + (process.pid % 50)}.${(process.pid + 7) % 250}`;
const POOL = `${NET}.1-${NET}.4`;

const servers: net.Server[] = [];
let router: RouterProcess;
const ports: Record<string, number> = {};

/**
 * A TCP backend: greets each connection with its name, echoes what it reads and, once the
 * client has half-closed, says how many bytes it read and closes.
 */
async function tcpBackend(name: string): Promise<number> {
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => {});
    let bytes = 0;
    socket.write(`${name}\n`);
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      socket.write(chunk);
    });
    socket.on('end', () => socket.end(`${name} read ${bytes} bytes\n`));
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  server.close();
  await once(server, 'close');
  return port;
}

interface Conversation { data: string; error: string | null }

/** Connect, send `payload` and half-close; everything received until the connection closes, and how it closed. */
function converse(address: string, port: number, payload: string | Buffer = ''): Promise<Conversation> {
  const socket = net.connect({ host: address, port, allowHalfOpen: true });
  const chunks: Buffer[] = [];
  let error: string | null = null;
  socket.on('connect', () => socket.end(payload));
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', (err: NodeJS.ErrnoException) => { error = err.code ?? err.message; });
  return new Promise((resolve) => socket.on('close', () => resolve({ data: Buffer.concat(chunks).toString('latin1'), error })));
}

/** The first line a connection gets (the backend's name), then closed by the client. */
async function greeting(address: string, port: number): Promise<string> {
  const socket = net.connect({ host: address, port });
  try {
    let got = '';
    socket.setEncoding('utf8');
    for await (const chunk of socket) {
      got += chunk as string;
      if (got.includes('\n')) return got.slice(0, got.indexOf('\n'));
    }
    throw new Error(`closed before a line (got ${JSON.stringify(got)})`);
  } finally {
    socket.destroy();
  }
}

function tcpRoute(name: string, parent: Record<string, unknown>, backendRefs: unknown[], created: string): string {
  return JSON.stringify({
    apiVersion: GW, kind: 'TCPRoute', metadata: { name, namespace: 'infra', generation: 1, creationTimestamp: created },
    spec: { parentRefs: [parent], rules: [{ backendRefs }] },
  });
}

const tcp = (name: string, port: number, extra: Record<string, unknown> = {}) => ({ name, protocol: 'TCP', port, allowedRoutes: { kinds: [{ kind: 'TCPRoute' }] }, ...extra });

function documents(p: Record<string, number>): string[] {
  return [
    'apiVersion: v1\nkind: Namespace\nmetadata: { name: infra }',
    'apiVersion: v1\nkind: Namespace\nmetadata: { name: web }',
    JSON.stringify({ apiVersion: GW, kind: 'GatewayClass', metadata: { name: 'switchyard', generation: 1 }, spec: { controllerName: 'switchyard.io/gateway-controller' } }),
    JSON.stringify({
      apiVersion: GW, kind: 'Gateway', metadata: { name: 'tcp', namespace: 'infra', generation: 1, creationTimestamp: '2024-01-01T00:00:00Z' },
      spec: {
        gatewayClassName: 'switchyard', listeners: [
          tcp('echo', p.echo!), tcp('split', p.split!), tcp('down', p.down!), tcp('missing', p.missing!), tcp('shared', p.shared!),
          tcp('xns', p.xns!), tcp('granted', p.granted!),
          { name: 'http', protocol: 'HTTP', port: p.http!, allowedRoutes: { kinds: [{ kind: 'HTTPRoute' }] } },
          tcp('named', p.named!, { hostname: 'x.tcp.test' }),
        ],
      },
    }),
    tcpRoute('echo', { name: 'tcp', sectionName: 'echo' }, [{ name: 'a', port: 80 }], '2024-01-02T00:00:00Z'),
    tcpRoute('split', { name: 'tcp', port: p.split! }, [{ name: 'a', port: 80, weight: 3 }, { name: 'b', port: 80, weight: 1 }, { name: 'c', port: 80, weight: 0 }], '2024-01-02T00:00:00Z'),
    tcpRoute('down', { name: 'tcp', sectionName: 'down' }, [{ name: 'closed', port: 80 }], '2024-01-02T00:00:00Z'),
    tcpRoute('missing', { name: 'tcp', sectionName: 'missing' }, [{ name: 'nonexistent', port: 80 }], '2024-01-02T00:00:00Z'),
    // Two routes on one listener: the older serves it, both are Accepted.
    tcpRoute('newer', { name: 'tcp', sectionName: 'shared' }, [{ name: 'b', port: 80 }], '2024-03-01T00:00:00Z'),
    tcpRoute('older', { name: 'tcp', sectionName: 'shared' }, [{ name: 'a', port: 80 }], '2024-02-01T00:00:00Z'),
    // The grant names Service remote only: private stays out of reach.
    tcpRoute('xns', { name: 'tcp', sectionName: 'xns' }, [{ name: 'private', namespace: 'web', port: 80 }], '2024-01-02T00:00:00Z'),
    tcpRoute('granted', { name: 'tcp', sectionName: 'granted' }, [{ name: 'remote', namespace: 'web', port: 80 }], '2024-01-02T00:00:00Z'),
    JSON.stringify({
      apiVersion: 'gateway.networking.k8s.io/v1beta1', kind: 'ReferenceGrant', metadata: { name: 'from-infra', namespace: 'web' },
      spec: { from: [{ group: 'gateway.networking.k8s.io', kind: 'TCPRoute', namespace: 'infra' }], to: [{ group: '', kind: 'Service', name: 'remote' }] },
    }),
    // A TCPRoute through an HTTP listener: NotAllowedByListeners.
    tcpRoute('wrong', { name: 'tcp', sectionName: 'http' }, [{ name: 'a', port: 80 }], '2024-01-02T00:00:00Z'),
  ];
}

test.before(async () => {
  const [a, b, c, remote, secret] = [await tcpBackend('a'), await tcpBackend('b'), await tcpBackend('c'), await tcpBackend('remote'), await tcpBackend('private')];
  for (const name of ['echo', 'split', 'down', 'missing', 'shared', 'xns', 'granted', 'http', 'named']) ports[name] = await freePort();
  const services = [
    serviceYaml('a', [a], { namespace: 'infra' }), serviceYaml('b', [b], { namespace: 'infra' }), serviceYaml('c', [c], { namespace: 'infra' }),
    serviceYaml('closed', [await closedPort()], { namespace: 'infra' }), serviceYaml('remote', [remote], { namespace: 'web' }), serviceYaml('private', [secret], { namespace: 'web' }),
  ];
  router = await startRouter({ args: ['--file', writeTempFile([...services, ...documents(ports)].join('\n---\n')), '--gateway-addresses', POOL] });
});

test.after.always(async () => {
  await router?.stop();
  for (const s of servers) s.close();
});

async function debugRoutes(r = router): Promise<any> {
  return (await request(r.admin, { path: '/debug/routes' })).json();
}

/** The Gateway's own address, once its listeners are served. */
async function gatewayAddress(r = router, name = 'tcp'): Promise<string> {
  return (await eventually(async () => (await debugRoutes(r)).gatewayAPI.gateways.find((g: any) => g.name === name)?.addresses?.[0]?.value as string | undefined, 10_000))!;
}

test('bytes flow both ways with backpressure; the client\'s half-close reaches the backend, whose answer still comes back', async (t) => {
  const address = await gatewayAddress();
  const small = await eventually(async () => {
    const reply = await converse(address, ports.echo!, 'ping\n');
    return reply.error === null ? reply : undefined;
  }, 10_000);
  t.is(small!.data, 'a\nping\na read 5 bytes\n');
  // 8 MiB: more than the socket buffers hold, so both pipes pause and resume on the way.
  const big = Buffer.alloc(8 * 1024 * 1024, 'x');
  const reply = await converse(address, ports.echo!, big);
  t.is(reply.error, null);
  t.is(reply.data.length, 2 + big.length + `a read ${big.length} bytes\n`.length);
  t.true(reply.data.startsWith('a\nxxxx'));
  t.true(reply.data.endsWith(`xxxxa read ${big.length} bytes\n`));
});

test('weights split connections between backends exactly (round robin); a backend of weight 0 gets none', async (t) => {
  const address = await gatewayAddress();
  await eventually(() => greeting(address, ports.split!).catch(() => undefined), 10_000);
  const counts: Record<string, number> = { a: 0, b: 0, c: 0 };
  for (let i = 0; i < 100; i++) counts[await greeting(address, ports.split!)]!++;
  t.is(counts.c, 0);
  t.is(counts.a! + counts.b!, 100);
  // 3:1, by smooth weighted round robin: exact over every run of 4, however long the streams stay open.
  t.true(counts.a! >= 74 && counts.a! <= 76, `a got ${counts.a} of 100`);
});

test('a backend that refuses connections, or a backendRef that resolves to nothing: the client connection is reset', async (t) => {
  const address = await gatewayAddress();
  await eventually(() => greeting(address, ports.echo!).catch(() => undefined), 10_000);
  t.deepEqual(await converse(address, ports.down!), { data: '', error: 'ECONNRESET' });
  t.deepEqual(await converse(address, ports.missing!), { data: '', error: 'ECONNRESET' });
  const metrics = (await request(router.admin, { path: '/metrics' })).body;
  t.regex(metrics, /switchyard_passthrough_connections_total\{route="[^"]*down[^"]*",outcome="error"\} [1-9]/);
  t.regex(metrics, /switchyard_tcp_connections_total\{result="routed"\} [1-9]/);
});

test('two TCPRoutes on one listener: the older takes every connection', async (t) => {
  const address = await gatewayAddress();
  await eventually(() => greeting(address, ports.shared!).catch(() => undefined), 10_000);
  for (let i = 0; i < 10; i++) t.is(await greeting(address, ports.shared!), 'a');
});

test('a backend in another namespace is reached only with a ReferenceGrant', async (t) => {
  const address = await gatewayAddress();
  const granted = await eventually(() => greeting(address, ports.granted!).catch(() => undefined), 10_000);
  t.is(granted, 'remote');
  t.deepEqual(await converse(address, ports.xns!), { data: '', error: 'ECONNRESET' });
});

test('status: TCP listeners list TCPRoute and count their routes; route conditions carry the spec\'s reasons', async (t) => {
  await gatewayAddress();
  const doc = await debugRoutes();
  const gateway = doc.gatewayAPI.gateways.find((g: any) => g.name === 'tcp');
  const listener = (name: string) => gateway.listeners.find((l: any) => l.name === name);
  const condition = (conditions: any[], type: string) => conditions.find((c: any) => c.type === type);
  t.deepEqual(listener('echo').supportedKinds, [{ group: 'gateway.networking.k8s.io', kind: 'TCPRoute' }]);
  t.is(listener('echo').attachedRoutes, 1);
  t.is(listener('shared').attachedRoutes, 2);
  t.like(condition(listener('echo').conditions, 'Programmed'), { status: 'True' });
  t.is(listener('http').attachedRoutes, 0);
  // A hostname on a TCP listener (the CRD refuses it; a file need not).
  t.like(condition(listener('named').conditions, 'Accepted'), { status: 'False', reason: 'UnsupportedValue' });
  t.like(condition(gateway.conditions, 'Accepted'), { status: 'True', reason: 'ListenersNotValid' });
  const route = (name: string) => doc.gatewayAPI.routes.find((r: any) => r.kind === 'TCPRoute' && r.name === name);
  const parent = (name: string) => route(name).parents[0].conditions.map((c: any) => [c.type, c.status, c.reason]);
  for (const name of ['echo', 'split', 'down', 'older', 'newer', 'granted']) t.deepEqual(parent(name), [['Accepted', 'True', 'Accepted'], ['ResolvedRefs', 'True', 'ResolvedRefs']], name);
  t.deepEqual(parent('missing'), [['Accepted', 'True', 'Accepted'], ['ResolvedRefs', 'False', 'BackendNotFound']]);
  t.deepEqual(parent('xns'), [['Accepted', 'True', 'Accepted'], ['ResolvedRefs', 'False', 'RefNotPermitted']]);
  t.deepEqual(parent('wrong')[0], ['Accepted', 'False', 'NotAllowedByListeners']);
  t.like(route('echo').parents[0].parentRef, { group: 'gateway.networking.k8s.io', kind: 'Gateway', namespace: 'infra', name: 'tcp', sectionName: 'echo' });
});

test('route removed: new connections are reset; Gateway removed: refused', async (t) => {
  const a = await tcpBackend('solo');
  const port = await freePort();
  const gateway = JSON.stringify({
    apiVersion: GW, kind: 'Gateway', metadata: { name: 'solo', namespace: 'infra', generation: 1 },
    spec: { gatewayClassName: 'switchyard', listeners: [tcp('solo', port)] },
  });
  const base = [
    'apiVersion: v1\nkind: Namespace\nmetadata: { name: infra }', serviceYaml('solo', [a], { namespace: 'infra' }),
    JSON.stringify({ apiVersion: GW, kind: 'GatewayClass', metadata: { name: 'switchyard', generation: 1 }, spec: { controllerName: 'switchyard.io/gateway-controller' } }),
  ];
  const route = tcpRoute('solo', { name: 'solo' }, [{ name: 'solo', port: 80 }], '2024-01-02T00:00:00Z');
  const file = writeTempFile([...base, gateway, route].join('\n---\n'));
  const own = await startRouter({ args: ['--file', file, '--gateway-addresses', `${NET}.5-${NET}.6`] });
  t.teardown(() => own.stop());
  const address = await gatewayAddress(own, 'solo');
  t.is(await eventually(() => greeting(address, port).catch(() => undefined), 10_000), 'solo');
  // An open stream is not cut by the change that follows.
  const open = net.connect({ host: address, port, allowHalfOpen: true });
  const openData: Buffer[] = [];
  open.on('data', (chunk: Buffer) => openData.push(chunk));
  await once(open, 'data');

  writeFileSync(file, [...base, gateway].join('\n---\n'));
  const reset = await eventually(async () => {
    const reply = await converse(address, port, 'ping\n');
    return reply.error === 'ECONNRESET' ? reply : undefined;
  }, 10_000);
  t.deepEqual(reset, { data: '', error: 'ECONNRESET' });
  const metrics = (await request(own.admin, { path: '/metrics' })).body;
  t.regex(metrics, /switchyard_tcp_connections_total\{result="no_route"\} [1-9]/);
  t.is((await debugRoutes(own)).gatewayAPI.gateways.find((g: any) => g.name === 'solo').listeners[0].attachedRoutes, 0);

  open.end('still here\n');
  await once(open, 'close');
  t.is(Buffer.concat(openData).toString(), 'solo\nstill here\nsolo read 11 bytes\n');

  writeFileSync(file, base.join('\n---\n'));
  const refused = await eventually(async () => {
    const reply = await converse(address, port);
    return reply.error === 'ECONNREFUSED' ? reply : undefined;
  }, 10_000);
  t.is(refused!.error, 'ECONNREFUSED');
});

test('with worker processes every worker serves TCP listeners (TCPRoutes reach them over IPC)', async (t) => {
  const w = await tcpBackend('worker');
  const port = await freePort();
  const workers = await startRouter({
    args: ['--workers', '2', '--gateway-addresses', `${NET}.7-${NET}.8`, '--file', writeTempFile([
      'apiVersion: v1\nkind: Namespace\nmetadata: { name: infra }', serviceYaml('w', [w], { namespace: 'infra' }),
      JSON.stringify({ apiVersion: GW, kind: 'GatewayClass', metadata: { name: 'switchyard', generation: 1 }, spec: { controllerName: 'switchyard.io/gateway-controller' } }),
      JSON.stringify({ apiVersion: GW, kind: 'Gateway', metadata: { name: 'w', namespace: 'infra', generation: 1 }, spec: { gatewayClassName: 'switchyard', listeners: [tcp('w', port)] } }),
      tcpRoute('w', { name: 'w' }, [{ name: 'w', port: 80 }], '2024-01-02T00:00:00Z'),
    ].join('\n---\n'))],
  });
  t.teardown(() => workers.stop());
  const address = await gatewayAddress(workers, 'w');
  await eventually(() => greeting(address, port).catch(() => undefined), 10_000);
  // Then without retries: a worker binds a Gateway's socket only with the table that serves it.
  for (let i = 0; i < 8; i++) t.is((await converse(address, port, 'hi\n')).data, 'worker\nhi\nworker read 3 bytes\n');
});
