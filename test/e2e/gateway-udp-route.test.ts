// UDPRoute end to end in file mode against real router processes, real UDP clients and echo
// backends on 127.x addresses: a Gateway's UDP listener (on its own address, --gateway-addresses)
// relays each client's datagrams (a session per client address and port) to a backend of the
// oldest UDPRoute attached and the answers back from the listener's address and port; weights
// split sessions exactly (weight 0 gets none); a backend that went away (port unreachable) ends
// its session and the client's next datagram goes to another; a backendRef that resolves to
// nothing, or to another namespace without a ReferenceGrant, gets no traffic; the Gateway and
// UDPRoute status say all of it. Then, in a router of its own with a short idle timeout and a cap
// of two sessions: a flood of a third client is dropped and counted, sessions expire when idle
// (waited for by their metric, not by a sleep) and make room; and a route removed stops traffic.
// Last, worker threads serving a UDP listener.
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { serviceYaml } from '../support/backends.ts';
import { eventually, request } from '../support/http-client.ts';
import { freePort } from '../support/ports.ts';
import { ask, exchange, freeUdpPort, UdpSockets, type UdpBackend } from '../support/udp.ts';

const GW = 'gateway.networking.k8s.io/v1';
// Loopback addresses this file alone uses (by process id, so parallel runs differ; not the TCPRoute file's).
const NET = `127.${150 + (process.pid % 50)}.${(process.pid + 11) % 250}`;
const POOL = `${NET}.1-${NET}.4`;

const sockets = new UdpSockets();
let router: RouterProcess;
const ports: Record<string, number> = {};

function udpRoute(name: string, parent: Record<string, unknown>, backendRefs: unknown[], created: string): string {
  return JSON.stringify({
    apiVersion: GW, kind: 'UDPRoute', metadata: { name, namespace: 'infra', generation: 1, creationTimestamp: created },
    spec: { parentRefs: [parent], rules: [{ backendRefs }] },
  });
}

const udp = (name: string, port: number, extra: Record<string, unknown> = {}) => ({ name, protocol: 'UDP', port, allowedRoutes: { kinds: [{ kind: 'UDPRoute' }] }, ...extra });
const GATEWAY_CLASS = JSON.stringify({ apiVersion: GW, kind: 'GatewayClass', metadata: { name: 'switchyard', generation: 1 }, spec: { controllerName: 'switchyard.io/gateway-controller' } });

function documents(p: Record<string, number>): string[] {
  return [
    'apiVersion: v1\nkind: Namespace\nmetadata: { name: infra }',
    'apiVersion: v1\nkind: Namespace\nmetadata: { name: web }',
    GATEWAY_CLASS,
    JSON.stringify({
      apiVersion: GW, kind: 'Gateway', metadata: { name: 'udp', namespace: 'infra', generation: 1, creationTimestamp: '2024-01-01T00:00:00Z' },
      spec: {
        gatewayClassName: 'switchyard', listeners: [
          udp('echo', p.echo!), udp('split', p.split!), udp('gone', p.gone!), udp('missing', p.missing!), udp('shared', p.shared!),
          udp('xns', p.xns!), udp('granted', p.granted!),
          { name: 'tls', protocol: 'TLS', port: p.tls!, tls: { mode: 'Passthrough' } },
          // A TCP listener on the UDP listener's port: another socket, no conflict.
          { name: 'echo-tcp', protocol: 'TCP', port: p.echo!, allowedRoutes: { kinds: [{ kind: 'TCPRoute' }] } },
        ],
      },
    }),
    udpRoute('echo', { name: 'udp', sectionName: 'echo' }, [{ name: 'a', port: 80 }], '2024-01-02T00:00:00Z'),
    udpRoute('split', { name: 'udp', port: p.split! }, [{ name: 'a', port: 80, weight: 7 }, { name: 'b', port: 80, weight: 3 }, { name: 'c', port: 80, weight: 0 }], '2024-01-02T00:00:00Z'),
    udpRoute('gone', { name: 'udp', sectionName: 'gone' }, [{ name: 'g', port: 80 }], '2024-01-02T00:00:00Z'),
    udpRoute('missing', { name: 'udp', sectionName: 'missing' }, [{ name: 'nonexistent', port: 80 }], '2024-01-02T00:00:00Z'),
    // Two routes on one listener: the older serves it, both are Accepted.
    udpRoute('newer', { name: 'udp', sectionName: 'shared' }, [{ name: 'b', port: 80 }], '2024-03-01T00:00:00Z'),
    udpRoute('older', { name: 'udp', sectionName: 'shared' }, [{ name: 'a', port: 80 }], '2024-02-01T00:00:00Z'),
    // The grant names Service remote only: private stays out of reach.
    udpRoute('xns', { name: 'udp', sectionName: 'xns' }, [{ name: 'private', namespace: 'web', port: 80 }], '2024-01-02T00:00:00Z'),
    udpRoute('granted', { name: 'udp', sectionName: 'granted' }, [{ name: 'remote', namespace: 'web', port: 80 }], '2024-01-02T00:00:00Z'),
    JSON.stringify({
      apiVersion: 'gateway.networking.k8s.io/v1beta1', kind: 'ReferenceGrant', metadata: { name: 'from-infra', namespace: 'web' },
      spec: { from: [{ group: 'gateway.networking.k8s.io', kind: 'UDPRoute', namespace: 'infra' }], to: [{ group: '', kind: 'Service', name: 'remote' }] },
    }),
    // A UDPRoute through a TLS listener: NotAllowedByListeners.
    udpRoute('wrong', { name: 'udp', sectionName: 'tls' }, [{ name: 'a', port: 80 }], '2024-01-02T00:00:00Z'),
  ];
}

let gone: { alive: UdpBackend; closed: number };

test.before(async () => {
  const [a, b, c, remote, secret, alive] = await Promise.all(['a', 'b', 'c', 'remote', 'private', 'alive'].map((name) => sockets.backend(name)));
  gone = { alive: alive!, closed: await freeUdpPort() };
  for (const name of ['echo', 'split', 'gone', 'missing', 'shared', 'xns', 'granted', 'tls']) ports[name] = await freePort();
  const services = [
    serviceYaml('a', [a!.port], { namespace: 'infra' }), serviceYaml('b', [b!.port], { namespace: 'infra' }), serviceYaml('c', [c!.port], { namespace: 'infra' }),
    // One endpoint whose process is gone, one alive.
    serviceYaml('g', [gone.closed, alive!.port], { namespace: 'infra' }),
    serviceYaml('remote', [remote!.port], { namespace: 'web' }), serviceYaml('private', [secret!.port], { namespace: 'web' }),
  ];
  router = await startRouter({ args: ['--file', writeTempFile([...services, ...documents(ports)].join('\n---\n')), '--gateway-addresses', POOL] });
});

test.after.always(async () => {
  await router?.stop();
  sockets.close();
});

async function debugRoutes(r = router): Promise<any> {
  return (await request(r.admin, { path: '/debug/routes' })).json();
}

async function metric(r: RouterProcess, name: string, label: string): Promise<number> {
  const body = (await request(r.admin, { path: '/metrics' })).body;
  const m = new RegExp(`^${name}\\{[^}]*="${label}"\\} (\\d+)`, 'm').exec(body);
  return m === null ? 0 : Number(m[1]);
}

/** The Gateway's own address once its UDP listener on `port` is bound (its log line). */
async function gatewayAddress(r: RouterProcess, name: string, port: number): Promise<string> {
  const address = (await eventually(async () => (await debugRoutes(r)).gatewayAPI.gateways.find((g: any) => g.name === name)?.addresses?.[0]?.value as string | undefined, 10_000))!;
  await r.waitForLog((l) => l.msg === 'listening for a Gateway' && l.protocol === 'UDP' && l.port === port && l.address === address);
  return address;
}

test('a datagram goes to the backend and its answer comes back from the listener\'s address and port; one client is one session', async (t) => {
  const address = await gatewayAddress(router, 'udp', ports.echo!);
  const client = await sockets.client();
  t.deepEqual(await exchange(client, address, ports.echo!, 'ping'), { text: 'a:ping', from: `${address}:${ports.echo}` });
  t.deepEqual(await exchange(client, address, ports.echo!, 'pong'), { text: 'a:pong', from: `${address}:${ports.echo}` });
  // 64 KiB less the headers: the largest datagram, relayed whole.
  const big = 'x'.repeat(65_000);
  t.is(await ask(client, address, ports.echo!, big), `a:${big}`);
  t.true(await metric(router, 'switchyard_udp_sessions_total', 'opened') >= 1);
  t.true(await metric(router, 'switchyard_udp_datagrams_total', 'to_client') >= 3);
});

test('weights split sessions between backends exactly (smooth weighted round robin); a backend of weight 0 gets none', async (t) => {
  const address = await gatewayAddress(router, 'udp', ports.split!);
  const counts: Record<string, number> = { a: 0, b: 0, c: 0 };
  // Each client keeps its port to the end: a port the OS handed out again would be the same session.
  for (let i = 0; i < 100; i++) {
    const client = await sockets.client();
    counts[(await ask(client, address, ports.split!, 'w')).split(':')[0]!]!++;
  }
  t.deepEqual(counts, { a: 70, b: 30, c: 0 });
});

test('a backend that went away: its datagram is refused (port unreachable), the session ends, the client\'s next datagram goes to the other endpoint', async (t) => {
  const address = await gatewayAddress(router, 'udp', ports.gone!);
  const before = await metric(router, 'switchyard_udp_datagrams_total', 'unreachable');
  let refused = 0;
  for (let i = 0; i < 6; i++) {
    const client = await sockets.client();
    // Either the alive endpoint answers, or the router counts the refusal: whichever comes first.
    const answer = ask(client, address, ports.gone!, `try${i}`);
    let answeredFirst = false;
    const outcome = await Promise.race([
      answer.then((text) => { answeredFirst = true; return text; }),
      (async () => {
        while (!answeredFirst) {
          if ((await metric(router, 'switchyard_udp_datagrams_total', 'unreachable')) > before + refused) return 'refused';
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        return 'answered';
      })(),
    ]);
    if (outcome === 'refused') {
      refused++;
      // The same client again: a new session, on the endpoint that answers.
      const retry = await ask(client, address, ports.gone!, `retry${i}`);
      t.is(retry, `alive:retry${i}`);
      t.is(await answer, `alive:retry${i}`);
    } else {
      t.is(outcome, `alive:try${i}`);
    }
  }
  // Round robin over two endpoints: the first of every two sessions went to the closed port, until passive health took it out.
  t.true(refused >= 1, `refused ${refused}`);
  t.true(await metric(router, 'switchyard_udp_sessions_total', 'closed_unreachable') >= refused);
});

test('two UDPRoutes on one listener: the older takes every session; a backendRef to nothing, or across namespaces without a grant, gets nothing', async (t) => {
  const address = await gatewayAddress(router, 'udp', ports.shared!);
  for (let i = 0; i < 6; i++) {
    const client = await sockets.client();
    t.is(await ask(client, address, ports.shared!, 's'), 'a:s');
  }
  const granted = await sockets.client();
  t.is(await ask(granted, address, ports.granted!, 'g'), 'remote:g');
  const before = await metric(router, 'switchyard_udp_datagrams_total', 'invalid_backend');
  const refused = await sockets.client();
  refused.send('x', ports.xns!, address);
  refused.send('y', ports.missing!, address);
  await eventually(async () => (await metric(router, 'switchyard_udp_datagrams_total', 'invalid_backend')) === before + 2 || undefined, 10_000);
  t.pass();
});

test('status: UDP listeners list UDPRoute and count their routes; route conditions carry the spec\'s reasons', async (t) => {
  await gatewayAddress(router, 'udp', ports.echo!);
  const doc = await debugRoutes();
  const gateway = doc.gatewayAPI.gateways.find((g: any) => g.name === 'udp');
  const listener = (name: string) => gateway.listeners.find((l: any) => l.name === name);
  const condition = (conditions: any[], type: string) => conditions.find((c: any) => c.type === type);
  t.deepEqual(listener('echo').supportedKinds, [{ group: 'gateway.networking.k8s.io', kind: 'UDPRoute' }]);
  t.is(listener('echo').attachedRoutes, 1);
  t.is(listener('shared').attachedRoutes, 2);
  t.like(condition(listener('echo').conditions, 'Programmed'), { status: 'True' });
  t.like(condition(listener('echo-tcp').conditions, 'Accepted'), { status: 'True' });
  t.is(listener('tls').attachedRoutes, 0);
  const route = (name: string) => doc.gatewayAPI.routes.find((r: any) => r.kind === 'UDPRoute' && r.name === name);
  const parent = (name: string) => route(name).parents[0].conditions.map((c: any) => [c.type, c.status, c.reason]);
  for (const name of ['echo', 'split', 'gone', 'older', 'newer', 'granted']) t.deepEqual(parent(name), [['Accepted', 'True', 'Accepted'], ['ResolvedRefs', 'True', 'ResolvedRefs']], name);
  t.deepEqual(parent('missing'), [['Accepted', 'True', 'Accepted'], ['ResolvedRefs', 'False', 'BackendNotFound']]);
  t.deepEqual(parent('xns'), [['Accepted', 'True', 'Accepted'], ['ResolvedRefs', 'False', 'RefNotPermitted']]);
  t.deepEqual(parent('wrong')[0], ['Accepted', 'False', 'NotAllowedByListeners']);
  t.like(route('echo').parents[0].parentRef, { group: 'gateway.networking.k8s.io', kind: 'Gateway', namespace: 'infra', name: 'udp', sectionName: 'echo' });
});

test('a cap of two sessions: a third client is dropped and counted until an idle session expires; a route removed stops traffic', async (t) => {
  const backend = await sockets.backend('solo');
  const port = await freePort();
  const gateway = JSON.stringify({
    apiVersion: GW, kind: 'Gateway', metadata: { name: 'solo', namespace: 'infra', generation: 1 },
    spec: { gatewayClassName: 'switchyard', listeners: [udp('solo', port)] },
  });
  const base = ['apiVersion: v1\nkind: Namespace\nmetadata: { name: infra }', serviceYaml('solo', [backend.port], { namespace: 'infra' }), GATEWAY_CLASS, gateway];
  const route = udpRoute('solo', { name: 'solo' }, [{ name: 'solo', port: 80 }], '2024-01-02T00:00:00Z');
  const file = writeTempFile([...base, route].join('\n---\n'));
  const own = await startRouter({ args: ['--file', file, '--gateway-addresses', `${NET}.5-${NET}.6`, '--max-udp-sessions', '2', '--udp-session-timeout', '2s'] });
  t.teardown(() => own.stop());
  const address = await gatewayAddress(own, 'solo', port);
  const [c1, c2, c3] = [await sockets.client(), await sockets.client(), await sockets.client()];
  t.is(await ask(c1, address, port, 'one'), 'solo:one');
  t.is(await ask(c2, address, port, 'two'), 'solo:two');
  // The third client's datagrams are dropped while two sessions are open; the router carries on.
  const answered = ask(c3, address, port, 'three');
  await eventually(async () => (await metric(own, 'switchyard_udp_datagrams_total', 'session_limit')) >= 1 || undefined, 10_000);
  t.is(backend.sources.length, 2);
  // Idle sessions expire (their metric says when: no sleep here), and the third client gets in.
  await eventually(async () => (await metric(own, 'switchyard_udp_sessions_total', 'closed_idle')) === 2 || undefined, 20_000);
  c3.send('three', port, address);
  t.is(await answered, 'solo:three');
  // c1 comes back after its session expired: a new session, a new upstream port.
  t.is(await ask(c1, address, port, 'again'), 'solo:again');
  // c1's two sessions, c2's and c3's: four upstream sockets.
  t.is(new Set(backend.sources).size, 4);

  // The route removed: c1's next datagram finds no route; its session ends.
  writeFileSync(file, base.join('\n---\n'));
  await eventually(async () => (await debugRoutes(own)).gatewayAPI.gateways.find((g: any) => g.name === 'solo').listeners[0].attachedRoutes === 0 || undefined, 10_000);
  const seen = backend.sources.length;
  c1.send('after', port, address);
  await eventually(async () => (await metric(own, 'switchyard_udp_datagrams_total', 'no_route')) >= 1 || undefined, 10_000);
  t.is(backend.sources.length, seen);
});

test('with worker threads every worker serves UDP listeners (UDPRoutes reach them with the table)', async (t) => {
  const w = await sockets.backend('worker');
  const port = await freePort();
  const workers = await startRouter({
    args: ['--workers', '2', '--gateway-addresses', `${NET}.7-${NET}.8`, '--file', writeTempFile([
      'apiVersion: v1\nkind: Namespace\nmetadata: { name: infra }', serviceYaml('w', [w.port], { namespace: 'infra' }), GATEWAY_CLASS,
      JSON.stringify({ apiVersion: GW, kind: 'Gateway', metadata: { name: 'w', namespace: 'infra', generation: 1 }, spec: { gatewayClassName: 'switchyard', listeners: [udp('w', port)] } }),
      udpRoute('w', { name: 'w' }, [{ name: 'w', port: 80 }], '2024-01-02T00:00:00Z'),
    ].join('\n---\n'))],
  });
  t.teardown(() => workers.stop());
  const address = (await eventually(async () => (await debugRoutes(workers)).gatewayAPI.gateways.find((g: any) => g.name === 'w')?.addresses?.[0]?.value as string | undefined, 10_000))!;
  // Every worker has bound its socket (one log line each) before a datagram is sent.
  await eventually(() => workers.logs.filter((l) => l.msg === 'listening for a Gateway' && l.protocol === 'UDP' && l.port === port).length >= 2 || undefined, 30_000);
  for (let i = 0; i < 8; i++) {
    const client = await sockets.client();
    t.is(await ask(client, address, port, `hi${i}`), `worker:hi${i}`);
  }
});
