// GRPCRoute end to end in file mode: a real router process, real @grpc/grpc-js servers and
// clients, a Gateway with an HTTP listener (h2c by prior knowledge) and an HTTPS one (h2 by
// ALPN). Service/method matches (Exact and RE2 patterns), header matches, request and
// response header modifiers (the rule's, and each backendRef's own), weights (100 concurrent
// calls on one connection, 3:1), each
// streaming kind, a backend in another namespace with and without a ReferenceGrant, the gRPC
// status of what no rule matches (UNIMPLEMENTED) and of a rule without a usable backend
// (UNAVAILABLE), and the routes' status in /debug/routes.
import test from 'ava';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { serviceYaml } from '../support/backends.ts';
import { request } from '../support/http-client.ts';
import { freePort } from '../support/ports.ts';
import { createCa, issueCertificate, type TestCertificate } from '../support/certs.ts';
import { echoClient, grpc, startEchoServer, unary, type EchoClient, type EchoServer } from '../support/grpc.ts';

const GW = 'gateway.networking.k8s.io/v1';

let router: RouterProcess;
let ca: TestCertificate;
const servers: Record<string, EchoServer> = {};
const clients: EchoClient[] = [];

function client(port: number, authority: string, credentials?: grpc.ChannelCredentials): EchoClient {
  const c = echoClient(port, authority, { credentials });
  clients.push(c);
  return c;
}

const doc = (o: Record<string, unknown>): string => JSON.stringify(o);
const grpcRoute = (ns: string, name: string, spec: Record<string, unknown>, created = '2024-01-01T00:00:00Z'): string =>
  doc({ apiVersion: GW, kind: 'GRPCRoute', metadata: { name, namespace: ns, generation: 1, creationTimestamp: created }, spec });

test.before(async () => {
  for (const name of ['a', 'b', 'streams', 'elsewhere']) servers[name] = await startEchoServer(name);
  ca = await createCa('grpc-route CA');
  const cert = await issueCertificate(ca, ['secure.grpc.test']);
  const httpPort = await freePort();
  const httpsPort = await freePort();
  const parentRefs = [{ name: 'gw', namespace: 'infra' }];
  const file = writeTempFile([
    'apiVersion: v1\nkind: Namespace\nmetadata: { name: infra }',
    'apiVersion: v1\nkind: Namespace\nmetadata: { name: apps }',
    'apiVersion: v1\nkind: Namespace\nmetadata: { name: shared }',
    // No appProtocol: a GRPCRoute's backends speak HTTP/2 (h2c) anyway.
    ...['a', 'b', 'streams'].map((n) => serviceYaml(n, [servers[n]!.port], { namespace: 'apps' })),
    serviceYaml('elsewhere', [servers.elsewhere!.port], { namespace: 'shared' }),
    doc({ apiVersion: GW, kind: 'GatewayClass', metadata: { name: 'sy' }, spec: { controllerName: 'switchyard.io/gateway-controller' } }),
    doc({ apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 'cert', namespace: 'infra' }, stringData: { 'tls.crt': cert.cert, 'tls.key': cert.key } }),
    doc({
      apiVersion: GW, kind: 'Gateway', metadata: { name: 'gw', namespace: 'infra', generation: 1 },
      spec: {
        gatewayClassName: 'sy',
        listeners: [
          { name: 'http', protocol: 'HTTP', port: httpPort, allowedRoutes: { namespaces: { from: 'All' } } },
          { name: 'https', protocol: 'HTTPS', port: httpsPort, hostname: 'secure.grpc.test', tls: { certificateRefs: [{ name: 'cert' }] }, allowedRoutes: { namespaces: { from: 'All' } } },
        ],
      },
    }),
    grpcRoute('apps', 'echo', {
      parentRefs, hostnames: ['grpc.test', 'secure.grpc.test'],
      rules: [
        // Unary with `x-version: two` → b, with request and response headers modified.
        {
          matches: [{ method: { service: 'test.Echo', method: 'Unary' }, headers: [{ name: 'X-Version', value: 'two' }] }],
          filters: [
            { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-routed-by', value: 'grpcroute' }], remove: ['x-drop-me'] } },
            { type: 'ResponseHeaderModifier', responseHeaderModifier: { add: [{ name: 'x-rule', value: 'two' }] } },
          ],
          backendRefs: [{ name: 'b', port: 80 }],
        },
        // Any method of test.Echo matching an RE2 pattern (the streaming ones) → streams.
        { matches: [{ method: { type: 'RegularExpression', service: 'test\\.Ech.', method: '(Server|Client)Stream|Bidi' } }], backendRefs: [{ name: 'streams', port: 80 }] },
        // The rest of test.Echo → a and b, 3:1.
        { matches: [{ method: { service: 'test.Echo' } }], backendRefs: [{ name: 'a', port: 80, weight: 3 }, { name: 'b', port: 80, weight: 1 }] },
        // A service whose only backend is missing → UNAVAILABLE.
        { matches: [{ method: { service: 'test.Missing' } }], backendRefs: [{ name: 'nope', port: 80 }] },
      ],
    }),
    // Header modifiers on the backendRefs: each backend's own, for the calls it gets.
    grpcRoute('apps', 'per-backend', {
      parentRefs, hostnames: ['backends.grpc.test'],
      rules: [{
        backendRefs: [
          {
            name: 'a', port: 80, weight: 1,
            filters: [
              { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-backend', value: 'a' }] } },
              { type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [{ name: 'x-picked', value: 'a' }] } },
            ],
          },
          { name: 'b', port: 80, weight: 1, filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-backend', value: 'b' }] } }] },
        ],
      }],
    }),
    // Across namespaces: allowed by a ReferenceGrant for GRPCRoutes of `apps`, not for `other`.
    grpcRoute('apps', 'granted', { parentRefs, hostnames: ['granted.test'], rules: [{ backendRefs: [{ name: 'elsewhere', namespace: 'shared', port: 80 }] }] }),
    'apiVersion: v1\nkind: Namespace\nmetadata: { name: other }',
    grpcRoute('other', 'refused', { parentRefs, hostnames: ['refused.test'], rules: [{ backendRefs: [{ name: 'elsewhere', namespace: 'shared', port: 80 }] }] }),
    doc({
      apiVersion: 'gateway.networking.k8s.io/v1beta1', kind: 'ReferenceGrant', metadata: { name: 'grpc-from-apps', namespace: 'shared' },
      spec: { from: [{ group: 'gateway.networking.k8s.io', kind: 'GRPCRoute', namespace: 'apps' }], to: [{ group: '', kind: 'Service' }] },
    }),
  ].join('\n---\n'));
  router = await startRouter({ args: ['--file', file, '--http-port', String(httpPort), '--https-port', String(httpsPort), '--load-balance-algorithm', 'roundrobin'] });
});

test.after.always(async () => {
  for (const c of clients) c.close();
  await router?.stop();
  await Promise.all(Object.values(servers).map((s) => s.close()));
});

const tls = (): grpc.ChannelCredentials => grpc.credentials.createSsl(Buffer.from(ca.cert));

/** A unary call to any `/service/method` (raw bytes both ways), with its initial metadata. */
function call(c: EchoClient, path: string, metadata: Record<string, string> = {}): Promise<{ error: grpc.ServiceError | null; value?: Buffer; headers?: grpc.Metadata }> {
  return new Promise((resolve) => {
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(metadata)) md.set(k, v);
    let headers: grpc.Metadata | undefined;
    const id = (b: Buffer): Buffer => b;
    const unaryCall = c.makeUnaryRequest(path, id, id, Buffer.from('hi'), md, {}, (error, value) => resolve({ error, value, headers }));
    unaryCall.on('metadata', (m: grpc.Metadata) => { headers = m; });
  });
}

for (const [label, port, authority, credentials] of [
  ['h2c on the HTTP listener', () => router.http, 'grpc.test', undefined],
  ['h2 on the HTTPS listener (ALPN)', () => router.https, 'secure.grpc.test', tls],
] as const) {
  test(`exact method and header match, with request and response header modifiers: ${label}`, async (t) => {
    const c = client(port(), authority, credentials?.());
    const before = servers.b!.metadata.length;
    const result = await call(c, '/test.Echo/Unary', { 'x-version': 'two', 'x-drop-me': 'yes' });
    t.is(result.error, null);
    t.is(result.value!.toString(), 'b:hi');
    t.is(result.headers?.get('x-rule')[0], 'two', 'ResponseHeaderModifier');
    const seen = servers.b!.metadata[before]!;
    t.is(seen.get('x-routed-by')[0], 'grpcroute', 'RequestHeaderModifier set');
    t.deepEqual(seen.get('x-drop-me'), [], 'RequestHeaderModifier remove');
  });
}

test('header modifiers on backendRefs: each call carries the picked backend\'s own, its answer only that backend\'s', async (t) => {
  const c = client(router.http, 'backends.grpc.test');
  const seen = new Set<string>();
  // Round robin over two backends of weight 1: consecutive calls go to both.
  for (let i = 0; i < 4; i++) {
    // Other tests call a and b at the same time: this call's metadata is found by its own mark.
    const mark = `per-backend-${i}`;
    const result = await call(c, '/test.Echo/Unary', { 'x-call': mark });
    t.is(result.error, null);
    const backend = result.value!.toString().split(':')[0] as 'a' | 'b';
    seen.add(backend);
    const received = servers[backend]!.metadata.find((m) => m.get('x-call')[0] === mark);
    t.deepEqual(received?.get('x-backend'), [backend]);
    t.deepEqual(result.headers?.get('x-picked') ?? [], backend === 'a' ? ['a'] : []);
  }
  t.deepEqual([...seen].sort(), ['a', 'b']);
});

test('no rule matches: UNIMPLEMENTED, from the router; a host no route serves: UNIMPLEMENTED too', async (t) => {
  const c = client(router.http, 'grpc.test');
  const other = await call(c, '/other.Service/Call');
  t.is(other.error?.code, grpc.status.UNIMPLEMENTED);
  const nowhere = await call(client(router.http, 'nowhere.test'), '/test.Echo/Unary');
  t.is(nowhere.error?.code, grpc.status.UNIMPLEMENTED);
});

test('a rule whose backend does not exist answers UNAVAILABLE', async (t) => {
  const result = await call(client(router.http, 'grpc.test'), '/test.Missing/Call');
  t.is(result.error?.code, grpc.status.UNAVAILABLE);
});

test('weights: 100 concurrent calls on one connection go 3:1 to a and b', async (t) => {
  const c = client(router.http, 'grpc.test');
  const results = await Promise.all(Array.from({ length: 100 }, () => unary(c, 'w')));
  t.true(results.every((r) => r.error === null));
  const counts = { a: 0, b: 0 };
  for (const r of results) counts[r.value!.toString().split(':')[0] as 'a' | 'b']++;
  t.deepEqual(counts, { a: 75, b: 25 });
});

test('RE2 method patterns: each streaming kind reaches its backend, 1,000 messages each way', async (t) => {
  const c = client(router.http, 'grpc.test');
  const md = new grpc.Metadata();
  md.set('x-count', '1000');
  const down = c.serverStream(Buffer.from('go'), md);
  let received = 0;
  down.on('data', () => received++);
  t.is((await new Promise<grpc.StatusObject>((resolve) => down.on('status', resolve))).code, grpc.status.OK);
  t.is(received, 1000);
  const up = await new Promise<Buffer | undefined>((resolve, reject) => {
    const stream = c.clientStream(new grpc.Metadata(), {}, (err, value) => (err ? reject(err) : resolve(value)));
    for (let i = 0; i < 1000; i++) stream.write(Buffer.from('x'));
    stream.end();
  });
  t.is(up!.toString(), 'streams:1000:1000');
  const bidi = c.bidi();
  let echoed = 0;
  bidi.on('data', () => echoed++);
  for (let i = 0; i < 1000; i++) bidi.write(Buffer.from(`m${i}`));
  bidi.end();
  t.is((await new Promise<grpc.StatusObject>((resolve) => bidi.on('status', resolve))).code, grpc.status.OK);
  t.is(echoed, 1000);
  t.true(servers.streams!.calls.includes('/test.Echo/Bidi'));
  t.false(servers.a!.calls.includes('/test.Echo/Bidi'));
});

test('a backend in another namespace: served with a ReferenceGrant naming GRPCRoute, UNAVAILABLE and ResolvedRefs=False without', async (t) => {
  const granted = await unary(client(router.http, 'granted.test'), 'x');
  t.is(granted.value?.toString(), 'elsewhere:x');
  const refused = await unary(client(router.http, 'refused.test'), 'x');
  t.is(refused.error?.code, grpc.status.UNAVAILABLE);
  const debug = (await request(router.admin, { path: '/debug/routes' })).json<any>();
  const statusOf = (name: string) => debug.gatewayAPI.routes.find((r: any) => r.kind === 'GRPCRoute' && r.name === name);
  const conditions = (name: string) => Object.fromEntries(statusOf(name).parents[0].conditions.map((c: any) => [c.type, c.reason]));
  t.deepEqual(conditions('granted'), { Accepted: 'Accepted', ResolvedRefs: 'ResolvedRefs' });
  t.deepEqual(conditions('refused'), { Accepted: 'Accepted', ResolvedRefs: 'RefNotPermitted' });
  t.deepEqual(conditions('echo'), { Accepted: 'Accepted', ResolvedRefs: 'BackendNotFound' });
  const listeners = debug.gatewayAPI.gateways[0].listeners;
  t.deepEqual(listeners.map((l: any) => l.supportedKinds.map((k: any) => k.kind)), [['HTTPRoute', 'GRPCRoute'], ['HTTPRoute', 'GRPCRoute']]);
});
