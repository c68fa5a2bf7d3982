// BackendTLSPolicy end to end, in file mode against a real router process and real TLS backends
// on 127.0.0.1: the router speaks TLS to a Service's endpoints when a policy targets it, with the
// policy's hostname as SNI, and verifies the certificate against the ConfigMap's CA and that
// hostname (or subjectAltNames, when given); a wrong CA, hostname or SAN is a 502 with a short
// body; a policy whose CA ConfigMap is missing says so on its status and its backend answers 500
// while the other routes keep serving; the older of two conflicting policies applies; and once a
// policy is removed the router speaks plain HTTP to that Service again; a RequestMirror copy to
// such a Service goes over TLS too. A Gateway's
// spec.tls.backend.clientCertificateRef is the certificate the router presents to such backends
// (one that requires a client certificate answers through that Gateway only), and a reference
// that cannot be used is the Gateway's ResolvedRefs=False.
import test from 'ava';
import https from 'node:https';
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { startBackend, serviceYaml, type Backend } from '../support/backends.ts';
import { eventually, request } from '../support/http-client.ts';
import { freePort } from '../support/ports.ts';
import { createCa, issueCertificate } from '../support/certs.ts';

const GW = 'gateway.networking.k8s.io/v1';
const SPIFFE = 'spiffe://cluster.test/ns/apps/sa/secure';

let router: RouterProcess;
let httpPort: number;
let file: string;
let tlsServer: https.Server;
let tlsPort: number;
/** A TLS backend that requires a client certificate of `clientCa`. */
let mtlsServer: https.Server;
let plain: Backend;
/** Waiters for a request path on the TLS backend (mirrored copies arrive after the client's answer). */
const arrivals = new Map<string, (sni: string | false | null) => void>();
let docs: string[];
/** Docs of the policy the removal test takes out. */
let togglePolicy: string;

function httpRoute(name: string, host: string, service: string, gateway = 'edge'): string {
  return JSON.stringify({
    apiVersion: GW, kind: 'HTTPRoute', metadata: { name, namespace: 'apps', generation: 1, creationTimestamp: '2024-01-01T00:00:00Z' },
    spec: { parentRefs: [{ name: gateway, namespace: 'apps' }], hostnames: [host], rules: [{ backendRefs: [{ name: service, port: 80 }] }] },
  });
}

function gateway(name: string, clientCertificate?: string): string {
  return JSON.stringify({
    apiVersion: GW, kind: 'Gateway', metadata: { name, namespace: 'apps', generation: 1 },
    spec: {
      gatewayClassName: 'switchyard', listeners: [{ name: 'http', protocol: 'HTTP', port: httpPort }],
      ...(clientCertificate ? { tls: { backend: { clientCertificateRef: { group: '', kind: 'Secret', name: clientCertificate } } } } : {}),
    },
  });
}

function policy(name: string, service: string, validation: Record<string, unknown>, created = '2024-01-01T00:00:00Z', sectionName?: string): string {
  return JSON.stringify({
    apiVersion: GW, kind: 'BackendTLSPolicy', metadata: { name, namespace: 'apps', generation: 3, creationTimestamp: created },
    spec: { targetRefs: [{ group: '', kind: 'Service', name: service, ...(sectionName ? { sectionName } : {}) }], validation },
  });
}

function caMap(name: string, pem: string): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'apps' }, data: { 'ca.crt': pem } });
}

const caRef = (name: string) => [{ group: '', kind: 'ConfigMap', name }];

function get(host: string, path = '/') {
  return request(httpPort, { host, path, timeoutMs: 8000 });
}

async function gatewayStatus(): Promise<any> {
  return (await request(router.admin, { path: '/debug/routes' })).json<any>().gatewayAPI;
}

test.before(async () => {
  const ca = await createCa('backend CA');
  const other = await createCa('unrelated CA');
  const leaf = await issueCertificate(ca, ['backend.internal'], { uris: [SPIFFE] });
  // A TLS echo backend: says which server name the client asked for.
  tlsServer = https.createServer({ cert: leaf.cert, key: leaf.key }, (req, res) => {
    arrivals.get(req.url ?? '')?.((req.socket as TLSSocket).servername);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ backend: 'secure', sni: (req.socket as TLSSocket).servername, url: req.url }));
  });
  await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
  tlsPort = (tlsServer.address() as AddressInfo).port;
  const clientCa = await createCa('client CA');
  const client = await issueCertificate(clientCa, ['router.client'], { client: true });
  mtlsServer = https.createServer({ cert: leaf.cert, key: leaf.key, ca: clientCa.cert, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ backend: 'mtls', client: (req.socket as TLSSocket).getPeerCertificate().subject?.CN }));
  });
  await new Promise<void>((resolve) => mtlsServer.listen(0, '127.0.0.1', resolve));
  const mtlsPort = (mtlsServer.address() as AddressInfo).port;
  plain = await startBackend('plain');
  httpPort = await freePort();
  const services = ['ok', 'wrong-ca', 'wrong-host', 'san-uri', 'san-host', 'san-miss', 'no-ca', 'conflict', 'section'];
  togglePolicy = policy('toggle', 'toggle', { caCertificateRefs: caRef('backend-ca'), hostname: 'backend.internal' });
  docs = [
    'apiVersion: v1\nkind: Namespace\nmetadata: { name: apps }',
    ...services.map((s) => serviceYaml(s, [tlsPort], { namespace: 'apps', portName: 'https' })),
    serviceYaml('toggle', [plain.port], { namespace: 'apps' }),
    serviceYaml('cleartext', [plain.port], { namespace: 'apps' }),
    caMap('backend-ca', ca.cert),
    caMap('other-ca', other.cert),
    JSON.stringify({ apiVersion: GW, kind: 'GatewayClass', metadata: { name: 'switchyard' }, spec: { controllerName: 'switchyard.io/gateway-controller' } }),
    gateway('edge', 'router-client'),
    gateway('bare'),
    gateway('bad-client', 'no-such-secret'),
    JSON.stringify({
      apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 'router-client', namespace: 'apps' },
      stringData: { 'tls.crt': client.cert, 'tls.key': client.key },
    }),
    serviceYaml('mtls', [mtlsPort], { namespace: 'apps', portName: 'https' }),
    httpRoute('mtls', 'mtls.btls.test', 'mtls'),
    httpRoute('mtls-bare', 'mtls-bare.btls.test', 'mtls', 'bare'),
    httpRoute('mtls-bad', 'mtls-bad.btls.test', 'mtls', 'bad-client'),
    policy('mtls', 'mtls', { caCertificateRefs: caRef('backend-ca'), hostname: 'backend.internal' }),
    ...[...services, 'toggle', 'cleartext'].map((s) => httpRoute(s, `${s}.btls.test`, s)),
    // Traffic to the cleartext backend, a copy of each request to `ok` (TLS, as its policy says).
    JSON.stringify({
      apiVersion: GW, kind: 'HTTPRoute', metadata: { name: 'mirrored', namespace: 'apps', generation: 1, creationTimestamp: '2024-01-01T00:00:00Z' },
      spec: {
        parentRefs: [{ name: 'edge', namespace: 'apps' }], hostnames: ['mirrored.btls.test'],
        rules: [{ filters: [{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'ok', port: 80 } } }], backendRefs: [{ name: 'cleartext', port: 80 }] }],
      },
    }),
    policy('ok', 'ok', { caCertificateRefs: caRef('backend-ca'), hostname: 'backend.internal' }),
    policy('wrong-ca', 'wrong-ca', { caCertificateRefs: caRef('other-ca'), hostname: 'backend.internal' }),
    policy('wrong-host', 'wrong-host', { caCertificateRefs: caRef('backend-ca'), hostname: 'elsewhere.internal' }),
    // With subjectAltNames the hostname is the SNI only: a name the certificate lacks is fine.
    policy('san-uri', 'san-uri', { caCertificateRefs: caRef('backend-ca'), hostname: 'sni-only.internal', subjectAltNames: [{ type: 'URI', uri: SPIFFE }] }),
    policy('san-host', 'san-host', { caCertificateRefs: caRef('backend-ca'), hostname: 'sni-only.internal', subjectAltNames: [{ type: 'Hostname', hostname: 'backend.internal' }] }),
    policy('san-miss', 'san-miss', { caCertificateRefs: caRef('backend-ca'), hostname: 'backend.internal', subjectAltNames: [{ type: 'URI', uri: 'spiffe://cluster.test/ns/apps/sa/other' }] }),
    policy('no-ca', 'no-ca', { caCertificateRefs: caRef('missing-ca'), hostname: 'backend.internal' }),
    // Two on one Service: the older applies (its hostname is the certificate's), the newer is Conflicted.
    policy('conflict-old', 'conflict', { caCertificateRefs: caRef('backend-ca'), hostname: 'backend.internal' }, '2024-01-01T00:00:00Z'),
    policy('conflict-new', 'conflict', { caCertificateRefs: caRef('backend-ca'), hostname: 'elsewhere.internal' }, '2024-02-01T00:00:00Z'),
    // One for the port by name wins over one for the whole Service.
    policy('section-port', 'section', { caCertificateRefs: caRef('backend-ca'), hostname: 'backend.internal' }, '2024-03-01T00:00:00Z', 'https'),
    policy('section-all', 'section', { caCertificateRefs: caRef('backend-ca'), hostname: 'elsewhere.internal' }, '2024-01-01T00:00:00Z'),
    togglePolicy,
  ];
  file = writeTempFile(docs.join('\n---\n'));
  router = await startRouter({ args: ['--file', file, '--http-port', String(httpPort)] });
});

test.after.always(async () => {
  await router?.stop();
  await plain?.close();
  for (const server of [tlsServer, mtlsServer]) {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  }
});

test('a policy with the CA and hostname of the backend\'s certificate: TLS with that SNI, 200', async (t) => {
  const reply = await get('ok.btls.test', '/hello');
  t.is(reply.status, 200);
  t.like(reply.json(), { backend: 'secure', sni: 'backend.internal', url: '/hello' });
  const status = (await gatewayStatus()).policies.find((p: any) => p.name === 'ok');
  t.deepEqual(status.ancestors.map((a: any) => a.ancestorRef), [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', namespace: 'apps', name: 'edge' }]);
  t.like(status.ancestors[0].conditions, [{ type: 'Accepted', status: 'True', reason: 'Accepted' }, { type: 'ResolvedRefs', status: 'True', reason: 'ResolvedRefs' }]);
});

test('a wrong CA or a hostname the certificate does not carry: 502 with a short body', async (t) => {
  for (const host of ['wrong-ca.btls.test', 'wrong-host.btls.test']) {
    const reply = await get(host);
    t.is(reply.status, 502, host);
    t.true(reply.body.length < 200, `${host}: ${reply.body}`);
    t.regex(reply.body, /backend TLS verification failed/, 'a failed verification (SY_UPSTREAM_TLS), not a connect error');
    t.notRegex(reply.body, /BEGIN|backend\.internal/);
  }
});

test('subjectAltNames: a URI or DNS name the certificate carries is verified instead of the hostname (sent as SNI); one it lacks is 502', async (t) => {
  const uri = await get('san-uri.btls.test');
  t.is(uri.status, 200);
  t.like(uri.json(), { sni: 'sni-only.internal' });
  const host = await get('san-host.btls.test');
  t.is(host.status, 200);
  t.like(host.json(), { sni: 'sni-only.internal' });
  const miss = await get('san-miss.btls.test');
  t.is(miss.status, 502);
  t.regex(miss.body, /backend TLS verification failed/);
});

test('a CA ConfigMap that does not exist: the policy says why, its backend answers 500, the other routes keep serving', async (t) => {
  const status = await gatewayStatus();
  const conditions = status.policies.find((p: any) => p.name === 'no-ca').ancestors[0].conditions;
  t.like(conditions, [
    { type: 'Accepted', status: 'False', reason: 'NoValidCACertificate' },
    { type: 'ResolvedRefs', status: 'False', reason: 'InvalidCACertificateRef' },
  ]);
  t.regex(conditions[1].message, /ConfigMap apps\/missing-ca not found/);
  const route = status.routes.find((r: any) => r.name === 'no-ca').parents[0].conditions;
  t.like(route.find((c: any) => c.type === 'ResolvedRefs'), { status: 'False', reason: 'InvalidBackendTLSPolicy' });
  t.like(route.find((c: any) => c.type === 'Accepted'), { status: 'True' });
  t.is((await get('no-ca.btls.test')).status, 500);
  t.is((await get('ok.btls.test')).status, 200);
  t.is((await get('cleartext.btls.test')).status, 200);
});

test('conflicts: the older policy on a Service applies, the newer is Conflicted; one naming the port wins over one for the whole Service', async (t) => {
  const reply = await get('conflict.btls.test');
  t.is(reply.status, 200);
  t.like(reply.json(), { sni: 'backend.internal' });
  const policies = (await gatewayStatus()).policies;
  const accepted = (name: string) => policies.find((p: any) => p.name === name).ancestors[0].conditions[0];
  t.like(accepted('conflict-old'), { status: 'True', reason: 'Accepted' });
  t.like(accepted('conflict-new'), { status: 'False', reason: 'Conflicted' });
  const section = await get('section.btls.test');
  t.is(section.status, 200);
  t.like(section.json(), { sni: 'backend.internal' });
  t.like(accepted('section-port'), { status: 'True' });
  t.like(accepted('section-all'), { status: 'True' });
});

test('a policy on a cleartext backend makes the router speak TLS to it (502); removed, plain HTTP again (200)', async (t) => {
  t.is((await get('toggle.btls.test')).status, 502);
  writeFileSync(file, docs.filter((d) => d !== togglePolicy).join('\n---\n'));
  const reply = await eventually(async () => {
    const r = await get('toggle.btls.test');
    if (r.status !== 200) throw new Error(`still ${r.status}`);
    return r;
  }, 10_000);
  t.like(reply.json(), { backend: 'plain' });
  // The policy is gone from the status too.
  t.falsy((await gatewayStatus()).policies.find((p: any) => p.name === 'toggle'));
});

test('a Gateway\'s backend client certificate is presented to TLS backends; without one, or with one that cannot be read, such a backend refuses', async (t) => {
  const reply = await get('mtls.btls.test');
  t.is(reply.status, 200);
  t.like(reply.json(), { backend: 'mtls', client: 'router.client' });
  t.is((await get('mtls-bare.btls.test')).status, 502);
  t.is((await get('mtls-bad.btls.test')).status, 502);
  const gateways = (await gatewayStatus()).gateways;
  const conditions = (name: string) => gateways.find((g: any) => g.name === name).conditions;
  t.like(conditions('edge').find((c: any) => c.type === 'ResolvedRefs'), { status: 'True', reason: 'ResolvedRefs' });
  t.like(conditions('bad-client').find((c: any) => c.type === 'ResolvedRefs'), { status: 'False', reason: 'InvalidClientCertificateRef' });
  t.like(conditions('bad-client').find((c: any) => c.type === 'Accepted'), { status: 'True' });
  t.falsy(conditions('bare').find((c: any) => c.type === 'ResolvedRefs'));
});

test('a RequestMirror copy to a Service with a policy goes over TLS as the policy says', async (t) => {
  const copied = new Promise<string | false | null>((resolve) => arrivals.set('/mirrored-copy', resolve));
  const reply = await get('mirrored.btls.test', '/mirrored-copy');
  t.is(reply.status, 200);
  t.like(reply.json(), { backend: 'plain' });
  t.is(await copied, 'backend.internal', 'the copy reached the TLS backend with the policy\'s SNI');
});
