// Gateways with addresses of their own (--gateway-addresses), end to end in file mode against a
// real router process: each Gateway gets its own loopback address from the pool (status
// addresses), its listeners are bound there on their own ports, two Gateways on one port route
// the same host differently, a request is matched only against the routes of the most specific
// listener of its Gateway (listener isolation, no fall-through), Routes and the shared ports stay
// apart from Gateway addresses, static addresses (spec.addresses) are honoured or refused with
// the specification's reasons, an HTTPS listener serves its own certificate by SNI, and the
// GatewayClass lists the supported features. Only 127.x addresses are used.
import test from 'ava';
import https from 'node:https';
import http2 from 'node:http2';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { startBackend, serviceYaml, routeYaml, type Backend } from '../support/backends.ts';
import { eventually, request } from '../support/http-client.ts';
import { freePort } from '../support/ports.ts';
import { createCa, issueCertificate, type TestCertificate } from '../support/certs.ts';

const GW = 'gateway.networking.k8s.io/v1';
// A /29 of loopback addresses this file alone uses (by process id, so parallel runs differ).
const NET = `127.${200 + (process.pid % 50)}.${process.pid % 250}`;
const POOL = `${NET}.1-${NET}.6`;
const OUTSIDE = `${NET}.9`;

let router: RouterProcess;
let port: number;
let tlsPort: number;
let ca: TestCertificate;
const backends: Record<string, Backend> = {};

function gateway(name: string, created: string, listeners: unknown[], addresses?: unknown[]): string {
  return JSON.stringify({
    apiVersion: GW, kind: 'Gateway', metadata: { name, namespace: 'infra', creationTimestamp: created, generation: 1 },
    spec: { gatewayClassName: 'switchyard', listeners, ...(addresses ? { addresses } : {}) },
  });
}

function route(name: string, parentRefs: unknown[], service: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    apiVersion: GW, kind: 'HTTPRoute', metadata: { name, namespace: 'infra', generation: 1 },
    spec: { parentRefs, rules: [{ backendRefs: [{ name: service, port: 80 }] }], ...extra },
  });
}

const http = (name: string, hostname?: string) => ({ name, protocol: 'HTTP', port, ...(hostname ? { hostname } : {}), allowedRoutes: { namespaces: { from: 'Same' } } });

async function gatewayStatus(name: string): Promise<any> {
  const doc: any = (await request(router.admin, { path: '/debug/routes' })).json();
  return doc.gatewayAPI.gateways.find((g: any) => g.name === name);
}

async function addressOf(name: string): Promise<string> {
  const status = await eventually(async () => (await gatewayStatus(name))?.addresses?.[0]?.value as string | undefined, 10_000);
  return status!;
}

const backendOf = (reply: { status: number; json(): any }) => (reply.status === 200 ? reply.json().backend : reply.status);

test.before(async () => {
  for (const name of ['one', 'two', 'exact', 'wild', 'deep', 'any', 'legacy', 'secure']) backends[name] = await startBackend(name);
  port = await freePort();
  tlsPort = await freePort();
  ca = await createCa('gateway addresses CA');
  const cert = await issueCertificate(ca, ['secure.addr.test']);
  const docs = [
    'apiVersion: v1\nkind: Namespace\nmetadata: { name: infra }',
    ...Object.entries(backends).map(([name, b]) => serviceYaml(name, [b.port], { namespace: 'infra' })),
    JSON.stringify({ apiVersion: GW, kind: 'GatewayClass', metadata: { name: 'switchyard', generation: 1 }, spec: { controllerName: 'switchyard.io/gateway-controller' } }),
    JSON.stringify({
      apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 'secure-cert', namespace: 'infra' },
      stringData: { 'tls.crt': cert.cert, 'tls.key': cert.key },
    }),
    // Two Gateways on one port, same host: told apart by address only.
    gateway('one', '2024-01-01T00:00:00Z', [http('http')]),
    gateway('two', '2024-01-02T00:00:00Z', [http('http')]),
    route('one', [{ name: 'one' }], 'one', { hostnames: ['same.addr.test'] }),
    route('two', [{ name: 'two' }], 'two', { hostnames: ['same.addr.test'] }),
    // Listener isolation: four listeners on one port, a route on each.
    gateway('isolated', '2024-01-03T00:00:00Z', [
      http('any'), http('wild', '*.addr.test'), http('deep', '*.deep.addr.test'), http('exact', 'exact.deep.addr.test'),
    ]),
    route('any', [{ name: 'isolated', sectionName: 'any' }], 'any'),
    route('wild', [{ name: 'isolated', sectionName: 'wild' }], 'wild'),
    route('deep', [{ name: 'isolated', sectionName: 'deep' }], 'deep'),
    JSON.stringify({
      apiVersion: GW, kind: 'HTTPRoute', metadata: { name: 'exact', namespace: 'infra', generation: 1 },
      spec: { parentRefs: [{ name: 'isolated', sectionName: 'exact' }], rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/only' } }], backendRefs: [{ name: 'exact', port: 80 }] }] },
    }),
    // Static addresses: one in the pool, one outside it, one of a type the router does not support.
    gateway('static', '2024-01-04T00:00:00Z', [http('http')], [{ type: 'IPAddress', value: `${NET}.6` }]),
    gateway('outside', '2024-01-05T00:00:00Z', [http('http')], [{ type: 'IPAddress', value: OUTSIDE }]),
    gateway('hostname', '2024-01-06T00:00:00Z', [http('http')], [{ type: 'Hostname', value: 'gw.addr.test' }]),
    // HTTPS on its own address and port.
    gateway('secure', '2024-01-07T00:00:00Z', [{
      name: 'https', protocol: 'HTTPS', port: tlsPort, hostname: 'secure.addr.test',
      tls: { mode: 'Terminate', certificateRefs: [{ name: 'secure-cert' }] },
    }]),
    route('secure', [{ name: 'secure' }], 'secure'),
    // An OpenShift Route for the same host as Gateway one's: served on the shared port only.
    routeYaml('legacy', 'legacy.addr.test', 'legacy', { namespace: 'infra' }),
  ];
  const file = writeTempFile(docs.join('\n---\n'));
  router = await startRouter({ args: ['--file', file, '--gateway-addresses', POOL] });
});

test.after.always(async () => {
  await router?.stop();
  for (const b of Object.values(backends)) await b.close();
});

test('each Gateway gets an address of its own; two Gateways on one port route the same host apart', async (t) => {
  const one = await addressOf('one');
  const two = await addressOf('two');
  t.is(one, `${NET}.1`, 'the oldest Gateway gets the pool\'s first address');
  t.is(two, `${NET}.2`);
  t.is(backendOf(await request(port, { address: one, host: 'same.addr.test' })), 'one');
  t.is(backendOf(await request(port, { address: two, host: 'same.addr.test' })), 'two');
  const status = await gatewayStatus('one');
  t.deepEqual(status.conditions.map((c: any) => [c.type, c.status]), [['Accepted', 'True'], ['Programmed', 'True']]);
});

test('a request belongs to the most specific listener matching its host, and only its routes serve it', async (t) => {
  const address = await addressOf('isolated');
  const get = (host: string, path = '/') => request(port, { address, host, path }).then(backendOf);
  t.is(await get('exact.deep.addr.test', '/only/x'), 'exact');
  // The exact listener's route has no `/`: 404, not a fall-through to the wildcard listeners' routes.
  t.is(await get('exact.deep.addr.test', '/'), 404);
  t.is(await get('other.deep.addr.test'), 'deep');
  t.is(await get('a.b.deep.addr.test'), 'deep');
  t.is(await get('www.addr.test'), 'wild');
  t.is(await get('elsewhere.test'), 'any');
});

test('Routes and the shared ports stay apart from Gateway addresses', async (t) => {
  const one = await addressOf('one');
  t.is(backendOf(await request(router.http, { host: 'legacy.addr.test' })), 'legacy');
  t.is((await request(port, { address: one, host: 'legacy.addr.test' })).status, 404, 'a Route is not served on a Gateway address');
  const shared = await request(router.http, { host: "same.addr.test" });
  t.is(shared.status, 404, shared.body + 'an HTTPRoute of a Gateway with its own address is not served on the shared port');
});

test('spec.addresses: an address of the pool is assigned; one outside is not usable; another type is not supported', async (t) => {
  t.is(await addressOf('static'), `${NET}.6`);
  t.is(backendOf(await request(port, { address: `${NET}.6`, host: 'x.test' })), 404);
  const outside = await gatewayStatus('outside');
  t.deepEqual(outside.conditions.map((c: any) => [c.type, c.status, c.reason]), [['Accepted', 'True', 'Accepted'], ['Programmed', 'False', 'AddressNotUsable']]);
  t.deepEqual(outside.addresses, []);
  const hostname = await gatewayStatus('hostname');
  t.deepEqual(hostname.conditions[0], { type: 'Accepted', status: 'False', reason: 'UnsupportedAddress', message: 'address type Hostname is not supported (IPAddress is)' });
});

test('an HTTPS listener on its own address serves its certificate and routes', async (t) => {
  const address = await addressOf('secure');
  // Verified against the test CA for secure.addr.test: the default certificate would fail the request.
  const reply = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = https.request({ host: address, port: tlsPort, servername: 'secure.addr.test', path: '/', headers: { host: 'secure.addr.test' }, ca: ca.cert, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => { body += c; }).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.once('error', reject);
    req.end();
  });
  t.is(reply.status, 200);
  t.is(JSON.parse(reply.body).backend, 'secure');
  // HTTP/2 on the same listener: the stream's request is matched against the same entry point.
  const session = http2.connect(`https://${address}:${tlsPort}`, { servername: 'secure.addr.test', ca: ca.cert });
  try {
    const h2 = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const stream = session.request({ ':path': '/', ':authority': 'secure.addr.test' });
      let status = 0;
      let body = '';
      stream.on('response', (headers) => { status = Number(headers[':status']); });
      stream.setEncoding('utf8').on('data', (c: string) => { body += c; }).on('end', () => resolve({ status, body }));
      stream.once('error', reject);
      stream.end();
    });
    t.is(h2.status, 200);
    t.is(JSON.parse(h2.body).backend, 'secure');
  } finally {
    session.close();
  }
});

test('the GatewayClass lists the features the router supports, sorted, with the address-pool ones', async (t) => {
  const doc: any = (await request(router.admin, { path: '/debug/routes' })).json();
  const features: string[] = doc.gatewayAPI.classes.find((c: any) => c.name === 'switchyard').supportedFeatures;
  t.deepEqual(features, [...features].sort());
  for (const f of ['Gateway', 'HTTPRoute', 'ReferenceGrant', 'GatewayHTTPListenerIsolation', 'GatewayPort8080']) t.true(features.includes(f), f);
});

test('with worker processes every worker binds the Gateway addresses and keeps listeners isolated', async (t) => {
  // A second router over the same objects with its own pool and port (the first one holds these).
  const workerPort = await freePort();
  const net2 = `127.${200 + ((process.pid + 7) % 50)}.${(process.pid + 7) % 250}`;
  const file = writeTempFile([
    'apiVersion: v1\nkind: Namespace\nmetadata: { name: infra }',
    serviceYaml('exact', [backends.exact!.port], { namespace: 'infra' }),
    serviceYaml('any', [backends.any!.port], { namespace: 'infra' }),
    JSON.stringify({ apiVersion: GW, kind: 'GatewayClass', metadata: { name: 'switchyard' }, spec: { controllerName: 'switchyard.io/gateway-controller' } }),
    JSON.stringify({
      apiVersion: GW, kind: 'Gateway', metadata: { name: 'w', namespace: 'infra' },
      spec: { gatewayClassName: 'switchyard', listeners: [{ name: 'any', protocol: 'HTTP', port: workerPort }, { name: 'exact', protocol: 'HTTP', port: workerPort, hostname: 'exact.w.test' }] },
    }),
    route('any', [{ name: 'w', sectionName: 'any' }], 'any'),
    JSON.stringify({
      apiVersion: GW, kind: 'HTTPRoute', metadata: { name: 'exact', namespace: 'infra' },
      spec: { parentRefs: [{ name: 'w', sectionName: 'exact' }], rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/only' } }], backendRefs: [{ name: 'exact', port: 80 }] }] },
    }),
  ].join('\n---\n'));
  const workers = await startRouter({ args: ['--file', file, '--gateway-addresses', `${net2}.1`, '--workers', '2'] });
  try {
    const address = `${net2}.1`;
    // Several connections, so that both workers' sockets are exercised.
    for (let i = 0; i < 6; i++) {
      t.is(backendOf(await eventually(() => request(workerPort, { address, host: 'exact.w.test', path: '/only' }).then((r) => (r.status === 200 ? r : undefined)), 10_000) as any), 'exact');
      t.is((await request(workerPort, { address, host: 'exact.w.test', path: '/' })).status, 404);
      t.is(backendOf(await request(workerPort, { address, host: 'other.w.test' })), 'any');
    }
  } finally {
    await workers.stop();
  }
});
