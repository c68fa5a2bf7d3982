// ListenerSets end to end in file mode against real router processes: a Gateway of namespace
// infra lets ListenerSets of namespaces labelled team=web add listeners (spec.allowedListeners);
// a ListenerSet of team-a adds a listener its routes reach by naming the ListenerSet, on the
// Gateway's own address (and, in a second router without an address pool, on the shared HTTP
// port); a ListenerSet of an unlabelled namespace is refused (NotAllowed) and its routes are not
// served; a ListenerSet listener with the hostname of one of the Gateway's is Conflicted and the
// Gateway's own listener keeps serving it. Only 127.x addresses are used.
import test from 'ava';
import https from 'node:https';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { startBackend, serviceYaml, type Backend } from '../support/backends.ts';
import { eventually, request } from '../support/http-client.ts';
import { freePort } from '../support/ports.ts';
import { createCa, issueCertificate, type TestCertificate } from '../support/certs.ts';

const GW = 'gateway.networking.k8s.io/v1';
// A /29 of loopback addresses this file alone uses (by process id, so parallel runs differ).
const NET = `127.${150 + (process.pid % 50)}.${process.pid % 250}`;

let pooled: RouterProcess;
let shared: RouterProcess;
let port: number;
let tlsPort: number;
let ca: TestCertificate;
const backends: Record<string, Backend> = {};

const httpListener = (name: string, hostname: string, from = 'Same') => ({ name, protocol: 'HTTP', port, hostname, allowedRoutes: { namespaces: { from } } });

function documents(cert: TestCertificate): string[] {
  const route = (name: string, namespace: string, parentRefs: unknown[], service: string) => JSON.stringify({
    apiVersion: GW, kind: 'HTTPRoute', metadata: { name, namespace, generation: 1 },
    spec: { parentRefs, rules: [{ backendRefs: [{ name: service, port: 80 }] }] },
  });
  const listenerSet = (name: string, namespace: string, created: string, listeners: unknown[]) => JSON.stringify({
    apiVersion: GW, kind: 'ListenerSet', metadata: { name, namespace, creationTimestamp: created, generation: 3 },
    spec: { parentRef: { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'edge', namespace: 'infra' }, listeners },
  });
  return [
    'apiVersion: v1\nkind: Namespace\nmetadata: { name: infra }',
    'apiVersion: v1\nkind: Namespace\nmetadata: { name: team-a, labels: { team: web } }',
    'apiVersion: v1\nkind: Namespace\nmetadata: { name: team-b }',
    serviceYaml('gw', [backends.gw!.port], { namespace: 'infra' }),
    serviceYaml('shop', [backends.shop!.port], { namespace: 'team-a' }),
    serviceYaml('blocked', [backends.blocked!.port], { namespace: 'team-b' }),
    JSON.stringify({
      apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 'shop-cert', namespace: 'team-a' },
      stringData: { 'tls.crt': cert.cert, 'tls.key': cert.key },
    }),
    JSON.stringify({ apiVersion: GW, kind: 'GatewayClass', metadata: { name: 'switchyard', generation: 1 }, spec: { controllerName: 'switchyard.io/gateway-controller' } }),
    JSON.stringify({
      apiVersion: GW, kind: 'Gateway', metadata: { name: 'edge', namespace: 'infra', creationTimestamp: '2024-01-01T00:00:00Z', generation: 1 },
      spec: {
        gatewayClassName: 'switchyard', listeners: [httpListener('http', 'gw.ls.test')],
        allowedListeners: { namespaces: { from: 'Selector', selector: { matchLabels: { team: 'web' } } } },
      },
    }),
    // `web` and `secure` (its certificate a Secret of the ListenerSet's namespace) are served; `dup`
    // asks for the Gateway's own port, protocol and hostname.
    listenerSet('shop', 'team-a', '2024-01-02T00:00:00Z', [
      httpListener('web', 'shop.ls.test'), httpListener('dup', 'gw.ls.test'),
      { name: 'secure', protocol: 'HTTPS', port: tlsPort, hostname: 'secure.ls.test', tls: { mode: 'Terminate', certificateRefs: [{ name: 'shop-cert' }] } },
    ]),
    listenerSet('blocked', 'team-b', '2024-01-03T00:00:00Z', [httpListener('web', 'blocked.ls.test')]),
    route('gw', 'infra', [{ name: 'edge' }], 'gw'),
    route('shop', 'team-a', [{ group: 'gateway.networking.k8s.io', kind: 'ListenerSet', name: 'shop' }], 'shop'),
    route('blocked', 'team-b', [{ group: 'gateway.networking.k8s.io', kind: 'ListenerSet', name: 'blocked' }], 'blocked'),
  ];
}

async function statusSet(router: RouterProcess): Promise<any> {
  return (await request(router.admin, { path: '/debug/routes' })).json().gatewayAPI;
}

const listenerSetStatus = async (router: RouterProcess, name: string) => (await statusSet(router)).listenerSets.find((l: any) => l.name === name);
const conditions = (list: any[]) => list.map((c: any) => [c.type, c.status, c.reason]);
const backendOf = (reply: { status: number; json(): any }) => (reply.status === 200 ? reply.json().backend : reply.status);

test.before(async () => {
  for (const name of ['gw', 'shop', 'blocked']) backends[name] = await startBackend(name);
  port = await freePort();
  tlsPort = await freePort();
  ca = await createCa('listenerset CA');
  const file = writeTempFile(documents(await issueCertificate(ca, ['secure.ls.test'])).join('\n---\n'));
  pooled = await startRouter({ args: ['--file', file, '--gateway-addresses', `${NET}.1-${NET}.2`] });
  // Without an address pool the Gateway's listeners (and its ListenerSets') share --http-port.
  shared = await startRouter({ args: ['--file', file, '--http-port', String(port)] });
});

test.after.always(async () => {
  await pooled?.stop();
  await shared?.stop();
  for (const b of Object.values(backends)) await b.close();
});

test('a ListenerSet listener is served on its Gateway\'s address to the routes naming the ListenerSet', async (t) => {
  const address = await eventually(async () => (await statusSet(pooled)).gateways.find((g: any) => g.name === 'edge')?.addresses?.[0]?.value as string | undefined, 10_000);
  const get = (host: string) => request(port, { address, host }).then(backendOf);
  t.is(await eventually(async () => (await get('shop.ls.test')) === 'shop' || undefined, 10_000), true);
  // The Gateway's route (parentRef: the Gateway) reaches its own listener only, and the ListenerSet's route only its listener.
  t.is(await get('gw.ls.test'), 'gw');
  const set = await listenerSetStatus(pooled, 'shop');
  t.is(set.namespace, 'team-a');
  t.is(set.generation, 3);
  t.deepEqual(conditions(set.conditions), [['Accepted', 'True', 'ListenersNotValid'], ['Programmed', 'True', 'Programmed']]);
  const web = set.listeners.find((l: any) => l.name === 'web');
  t.is(web.attachedRoutes, 1);
  t.is(set.listeners.find((l: any) => l.name === 'secure').attachedRoutes, 1);
  t.deepEqual(web.supportedKinds.map((k: any) => k.kind), ['HTTPRoute', 'GRPCRoute']);
  t.deepEqual(conditions(web.conditions), [['Accepted', 'True', 'Accepted'], ['Programmed', 'True', 'Programmed'], ['ResolvedRefs', 'True', 'ResolvedRefs'], ['Conflicted', 'False', 'NoConflicts']]);
  const status = await statusSet(pooled);
  t.is(status.gateways.find((g: any) => g.name === 'edge').attachedListenerSets, 1, 'shop is attached, blocked is not');
  const shop = status.routes.find((r: any) => r.name === 'shop');
  t.deepEqual(shop.parents.map((p: any) => [p.parentRef.kind, p.parentRef.namespace, p.parentRef.name, p.conditions[0].status]), [['ListenerSet', 'team-a', 'shop', 'True']]);
});

test('a ListenerSet of a namespace the Gateway does not allow is refused, NotAllowed, and its routes are not served', async (t) => {
  const address = await eventually(async () => (await statusSet(pooled)).gateways.find((g: any) => g.name === 'edge')?.addresses?.[0]?.value as string | undefined, 10_000);
  const blocked = await eventually(() => listenerSetStatus(pooled, 'blocked'), 10_000);
  t.deepEqual(conditions(blocked.conditions), [['Accepted', 'False', 'NotAllowed'], ['Programmed', 'False', 'NotAllowed']]);
  t.deepEqual(blocked.listeners, []);
  const route = (await statusSet(pooled)).routes.find((r: any) => r.name === 'blocked');
  t.like(route.parents[0].conditions[0], { type: 'Accepted', status: 'False', reason: 'NotAllowedByListeners' });
  t.is((await request(port, { address, host: 'blocked.ls.test' })).status, 404);
});

test('a ListenerSet listener conflicting with the Gateway\'s own is Conflicted; the Gateway\'s listener keeps the hostname', async (t) => {
  const set = await eventually(() => listenerSetStatus(pooled, 'shop'), 10_000);
  const dup = set.listeners.find((l: any) => l.name === 'dup');
  t.deepEqual(conditions(dup.conditions), [
    ['Accepted', 'False', 'HostnameConflict'], ['Programmed', 'False', 'HostnameConflict'], ['ResolvedRefs', 'True', 'ResolvedRefs'], ['Conflicted', 'True', 'HostnameConflict'],
  ]);
  t.deepEqual(dup.supportedKinds, []);
  const gateway = (await statusSet(pooled)).gateways.find((g: any) => g.name === 'edge');
  t.deepEqual(gateway.listeners.map((l: any) => l.name), ['http'], 'a Gateway\'s status lists its own listeners only');
  t.deepEqual(conditions(gateway.listeners[0].conditions).find((c) => c[0] === 'Conflicted'), ['Conflicted', 'False', 'NoConflicts']);
  t.deepEqual(conditions(gateway.conditions), [['Accepted', 'True', 'Accepted'], ['Programmed', 'True', 'Programmed']]);
});

test('without an address pool a ListenerSet listener is served on the shared HTTP port', async (t) => {
  t.is(await eventually(async () => backendOf(await request(shared.http, { host: 'shop.ls.test' })) === 'shop' || undefined, 10_000), true);
  t.is(backendOf(await request(shared.http, { host: 'gw.ls.test' })), 'gw');
  t.is((await request(shared.http, { host: 'blocked.ls.test' })).status, 404);
});

test('an HTTPS ListenerSet listener serves its own certificate on the Gateway\'s address', async (t) => {
  const address = await eventually(async () => (await statusSet(pooled)).gateways.find((g: any) => g.name === 'edge')?.addresses?.[0]?.value as string | undefined, 10_000);
  // Verified against the test CA for secure.ls.test: another certificate would fail the handshake.
  const get = () => new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = https.request({ host: address, port: tlsPort, servername: 'secure.ls.test', path: '/', headers: { host: 'secure.ls.test' }, ca: ca.cert, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => { body += c; }).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.once('error', reject);
    req.end();
  });
  const reply = await eventually(() => get(), 10_000);
  t.is(reply.status, 200);
  t.is(JSON.parse(reply.body).backend, 'shop');
});
