// Client-certificate validation on Gateway HTTPS listeners (spec.tls.frontend), end to end in
// file mode against a real router process with an address pool: real TLS clients (HTTP/1.1 and
// HTTP/2) with client certificates issued by test CAs. AllowValidOnly lets in only certificates of
// the port's CAs (a per-port entry overrides the default for its port); AllowInsecureFallback
// asks for one and lets everyone in (and the Gateway says so); a CA reference that cannot be
// resolved takes only the HTTPS listeners it applies to out of service, with the spec's reasons;
// a session ticket from another port does not skip the check. Only 127.x addresses are used.
import test from 'ava';
import https from 'node:https';
import http2 from 'node:http2';
import tls from 'node:tls';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { startBackend, serviceYaml, type Backend } from '../support/backends.ts';
import { eventually, request } from '../support/http-client.ts';
import { freePort } from '../support/ports.ts';
import { createCa, issueCertificate, type TestCertificate } from '../support/certs.ts';

const GW = 'gateway.networking.k8s.io/v1';
const NET = `127.${150 + (process.pid % 50)}.${(process.pid + 3) % 250}`;
const POOL = `${NET}.1-${NET}.6`;

let router: RouterProcess;
let httpPort: number;
/** The default validation's port, and the one with a per-port override. */
let portA: number;
let portB: number;
/** A third HTTPS port (the broken Gateway's cross-namespace reference). */
let portC: number;
let serverCa: TestCertificate;
let clientA: TestCertificate;
let clientB: TestCertificate;
let rogue: TestCertificate;
/** Issued by a CA named as CA A is, with a key of its own. */
let impostor: TestCertificate;
const backends: Record<string, Backend> = {};
/** The objects the router reads (a second router with worker threads reads them too). */
let objectsFile: string;

interface Client { cert: string; key: string }
type Outcome = { status: number; backend: string } | { refused: string };

const configMap = (name: string, ca: string, namespace = 'infra') =>
  JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace }, data: { 'ca.crt': ca } });
const caRef = (name: string, extra: Record<string, unknown> = {}) => ({ group: '', kind: 'ConfigMap', name, ...extra });
const httpsListener = (name: string, port: number, hostname?: string) => ({
  name, protocol: 'HTTPS', port, ...(hostname ? { hostname } : {}),
  tls: { mode: 'Terminate', certificateRefs: [{ name: 'server-cert' }] }, allowedRoutes: { namespaces: { from: 'Same' } },
});

function gateway(name: string, created: string, listeners: unknown[], frontend: unknown): string {
  return JSON.stringify({
    apiVersion: GW, kind: 'Gateway', metadata: { name, namespace: 'infra', creationTimestamp: created, generation: 1 },
    spec: { gatewayClassName: 'switchyard', tls: { frontend }, listeners },
  });
}

function route(name: string, gatewayName: string, service: string, sectionName?: string): string {
  return JSON.stringify({
    apiVersion: GW, kind: 'HTTPRoute', metadata: { name, namespace: 'infra', generation: 1 },
    spec: { parentRefs: [{ name: gatewayName, ...(sectionName ? { sectionName } : {}) }], rules: [{ backendRefs: [{ name: service, port: 80 }] }] },
  });
}

async function gatewayStatus(name: string): Promise<any> {
  const doc: any = (await request(router.admin, { path: '/debug/routes' })).json();
  return doc.gatewayAPI.gateways.find((g: any) => g.name === name);
}

async function addressOf(name: string): Promise<string> {
  return (await eventually(async () => (await gatewayStatus(name))?.addresses?.[0]?.value as string | undefined, 10_000))!;
}

/** GET / over HTTP/1.1 with `client`'s certificate (or none): the answer, or why it failed. */
function h1(address: string, port: number, host: string, client: Client | null, session?: Buffer): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = https.request({
      host: address, port, servername: host, path: '/', headers: { host }, ca: serverCa.cert, agent: false,
      ...(client ?? {}), ...(session ? { session } : {}),
    }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => { body += c; }).on('end', () => resolve({ status: res.statusCode ?? 0, backend: backendOf(body) }));
    });
    req.once('error', (err: NodeJS.ErrnoException) => resolve({ refused: err.code ?? err.message }));
    req.end();
  });
}

/** The same over HTTP/2. */
function h2(address: string, port: number, host: string, client: Client | null): Promise<Outcome> {
  return new Promise((resolve) => {
    const session = http2.connect(`https://${address}:${port}`, { servername: host, ca: serverCa.cert, ...(client ?? {}) });
    const done = (outcome: Outcome) => { session.destroy(); resolve(outcome); };
    session.once('error', (err: NodeJS.ErrnoException) => done({ refused: err.code ?? err.message }));
    // Cut after the handshake (a certificate of the wrong CA under TLS 1.3): closed with no answer.
    session.once('close', () => done({ refused: 'closed' }));
    const stream = session.request({ ':path': '/', ':authority': host });
    let status = 0;
    let body = '';
    stream.on('response', (headers) => { status = Number(headers[':status']); });
    stream.setEncoding('utf8').on('data', (c: string) => { body += c; }).on('end', () => done(status === 0 ? { refused: 'no response' } : { status, backend: backendOf(body) }));
    stream.once('error', (err: NodeJS.ErrnoException) => done({ refused: err.code ?? err.message }));
    stream.end();
  });
}

/** The echo backend's name, else the body (a router error page). */
function backendOf(body: string): string {
  try {
    return JSON.parse(body).backend;
  } catch {
    return body.trim();
  }
}

const served = (o: Outcome) => ('refused' in o ? o.refused : `${o.status} ${o.backend}`);

test.before(async () => {
  for (const name of ['strict', 'override', 'fallback', 'plain']) backends[name] = await startBackend(name);
  httpPort = await freePort();
  portA = await freePort();
  portB = await freePort();
  portC = await freePort();
  serverCa = await createCa('gateway mTLS server CA');
  // RSA, as upstream's conformance certificates are: a same-named impostor CA's signatures fail
  // RSA padding checks under it.
  const caA = await createCa('client CA A', { rsa: true });
  const caB = await createCa('client CA B');
  const caRogue = await createCa('client CA nobody trusts');
  const server = await issueCertificate(serverCa, ['*.mtls.test', 'mtls.test']);
  clientA = await issueCertificate(caA, ['client-a'], { client: true });
  clientB = await issueCertificate(caB, ['client-b'], { client: true });
  rogue = await issueCertificate(caRogue, ['rogue'], { client: true });
  impostor = await issueCertificate(await createCa('client CA A', { rsa: true }), ['impostor'], { client: true, rsa: true });
  const docs = [
    'apiVersion: v1\nkind: Namespace\nmetadata: { name: infra }',
    'apiVersion: v1\nkind: Namespace\nmetadata: { name: elsewhere }',
    ...Object.entries(backends).map(([name, b]) => serviceYaml(name, [b.port], { namespace: 'infra' })),
    JSON.stringify({ apiVersion: GW, kind: 'GatewayClass', metadata: { name: 'switchyard', generation: 1 }, spec: { controllerName: 'switchyard.io/gateway-controller' } }),
    JSON.stringify({
      apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 'server-cert', namespace: 'infra' },
      stringData: { 'tls.crt': server.cert, 'tls.key': server.key },
    }),
    configMap('ca-a', caA.cert),
    configMap('ca-b', caB.cert),
    configMap('no-ca', 'not a certificate'),
    configMap('ca-elsewhere', caA.cert, 'elsewhere'),
    // Default: CA A; port B: CA B.
    gateway('strict', '2024-01-01T00:00:00Z', [httpsListener('https', portA), httpsListener('https-b', portB, 'b.mtls.test')], {
      default: { validation: { caCertificateRefs: [caRef('ca-a')] } },
      perPort: [{ port: portB, tls: { validation: { caCertificateRefs: [caRef('ca-b')] } } }],
    }),
    route('strict', 'strict', 'strict', 'https'),
    route('override', 'strict', 'override', 'https-b'),
    gateway('fallback', '2024-01-02T00:00:00Z', [httpsListener('https', portA)], {
      default: { validation: { mode: 'AllowInsecureFallback', caCertificateRefs: [caRef('ca-a')] } },
    }),
    route('fallback', 'fallback', 'fallback'),
    // Unresolvable CA references: each takes out the HTTPS listener of its port, not the HTTP one.
    gateway('broken', '2024-01-03T00:00:00Z', [
      { name: 'http', protocol: 'HTTP', port: httpPort, allowedRoutes: { namespaces: { from: 'Same' } } },
      httpsListener('missing', portA, 'missing.mtls.test'),
      httpsListener('kind', portB, 'kind.mtls.test'),
      httpsListener('grant', portC, 'grant.mtls.test'),
    ], {
      default: { validation: { caCertificateRefs: [caRef('does-not-exist')] } },
      perPort: [
        { port: portB, tls: { validation: { caCertificateRefs: [{ group: '', kind: 'Service', name: 'plain' }] } } },
        // ca-elsewhere exists; no ReferenceGrant in its namespace lets the Gateway read it.
        { port: portC, tls: { validation: { caCertificateRefs: [caRef('ca-elsewhere', { namespace: 'elsewhere' })] } } },
      ],
    }),
    route('plain', 'broken', 'plain'),
  ];
  objectsFile = writeTempFile(docs.join('\n---\n'));
  router = await startRouter({ args: ['--file', objectsFile, '--gateway-addresses', POOL] });
});

test.after.always(async () => {
  await router?.stop();
  for (const b of Object.values(backends)) await b.close();
});

test('AllowValidOnly: a certificate of the port\'s CA gets through, none or another CA\'s is refused (HTTP/1.1 and HTTP/2)', async (t) => {
  const address = await addressOf('strict');
  await eventually(async () => served(await h1(address, portA, 'a.mtls.test', clientA)) === '200 strict', 10_000);
  for (const send of [h1, h2]) {
    t.is(served(await send(address, portA, 'a.mtls.test', clientA)), '200 strict', send.name);
    t.true('refused' in await send(address, portA, 'a.mtls.test', null), `${send.name}: no certificate`);
    t.true('refused' in await send(address, portA, 'a.mtls.test', rogue), `${send.name}: an unknown CA`);
    t.true('refused' in await send(address, portA, 'a.mtls.test', impostor), `${send.name}: a CA named as the trusted one`);
    // CA B is trusted on port B only.
    t.true('refused' in await send(address, portA, 'a.mtls.test', clientB), `${send.name}: port B's CA on port A`);
  }
  const status = await gatewayStatus('strict');
  t.deepEqual(status.conditions.map((c: any) => [c.type, c.status]), [['Accepted', 'True'], ['Programmed', 'True']]);
});

test('a per-port entry overrides the default for its port', async (t) => {
  const address = await addressOf('strict');
  for (const send of [h1, h2]) {
    t.is(served(await send(address, portB, 'b.mtls.test', clientB)), '200 override', send.name);
    t.true('refused' in await send(address, portB, 'b.mtls.test', clientA), `${send.name}: the default CA on port B`);
    t.true('refused' in await send(address, portB, 'b.mtls.test', null), `${send.name}: no certificate`);
  }
});

test('a client without SNI is checked all the same', async (t) => {
  const address = await addressOf('strict');
  const hello = (client: Client | null) => new Promise<string>((resolve) => {
    // No servername: the router's default certificate, so the server certificate is not verified here.
    const socket = tls.connect({ host: address, port: portA, rejectUnauthorized: false, ...(client ?? {}) }, () => {
      socket.write('GET / HTTP/1.1\r\nhost: a.mtls.test\r\nconnection: close\r\n\r\n');
    });
    let data = '';
    socket.setEncoding('utf8').on('data', (c: string) => { data += c; });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(`error ${err.code ?? err.message}`));
    socket.once('close', () => resolve(data.split('\r\n')[0] || 'closed'));
  });
  t.is(await hello(clientA), 'HTTP/1.1 200 OK');
  t.not(await hello(null), 'HTTP/1.1 200 OK');
  t.not(await hello(rogue), 'HTTP/1.1 200 OK');
});

test('a session of one port (its client certificate valid there) does not open another port with other CAs', async (t) => {
  const address = await addressOf('strict');
  // A session of port A, where client A's certificate is valid; resumed on port B it would carry
  // that verdict along if both ports shared session ticket keys.
  const session = await new Promise<Buffer>((resolve, reject) => {
    const socket = tls.connect({ host: address, port: portA, servername: 'b.mtls.test', ca: serverCa.cert, maxVersion: 'TLSv1.2', ...clientA }, () => {
      const s = socket.getSession();
      socket.end();
      if (s) resolve(s); else reject(new Error('no session'));
    });
    socket.once('error', reject);
  });
  const outcome = await h1(address, portB, 'b.mtls.test', null, session);
  t.true('refused' in outcome, served(outcome));
});

test('AllowInsecureFallback: a certificate is asked for but not required, and the Gateway says so', async (t) => {
  const address = await addressOf('fallback');
  await eventually(async () => served(await h1(address, portA, 'a.mtls.test', null)) === '200 fallback', 10_000);
  for (const send of [h1, h2]) {
    // The impostor's signature does not verify under CA A: let in all the same. (With the CAs
    // checked in this mode, upstream's InsecureFallback test got 400s: its Go client met the
    // OpenSSL error such a check left behind, tls-terminator.ts; these Node clients do not.)
    const clients: Array<[string, Client | null]> = [['valid', clientA], ['unknown CA', rogue], ['impostor', impostor], ['none', null]];
    for (const [name, client] of clients) t.is(served(await send(address, portA, 'a.mtls.test', client)), '200 fallback', `${send.name} ${name}`);
  }
  const status = await gatewayStatus('fallback');
  t.like(status.conditions.find((c: any) => c.type === 'InsecureFrontendValidationMode'), { status: 'True', reason: 'ConfigurationChanged' });
  t.is((await gatewayStatus('strict')).conditions.find((c: any) => c.type === 'InsecureFrontendValidationMode'), undefined);
});

test('unresolvable CA references take out only the HTTPS listeners they apply to, with the spec\'s reasons', async (t) => {
  const address = await addressOf('broken');
  const status = await gatewayStatus('broken');
  const conditions = (name: string) => Object.fromEntries(status.listeners.find((l: any) => l.name === name).conditions.map((c: any) => [c.type, `${c.status} ${c.reason}`]));
  t.like(conditions('http'), { Accepted: 'True Accepted', ResolvedRefs: 'True ResolvedRefs', Programmed: 'True Programmed' });
  t.like(conditions('missing'), { Accepted: 'False NoValidCACertificate', ResolvedRefs: 'False InvalidCACertificateRef', Programmed: 'False Invalid' });
  t.like(conditions('kind'), { Accepted: 'False NoValidCACertificate', ResolvedRefs: 'False InvalidCACertificateKind', Programmed: 'False Invalid' });
  t.like(conditions('grant'), { Accepted: 'False NoValidCACertificate', ResolvedRefs: 'False RefNotPermitted', Programmed: 'False Invalid' });
  t.regex(status.listeners.find((l: any) => l.name === 'missing').conditions.find((c: any) => c.type === 'ResolvedRefs').message, /ConfigMap infra\/does-not-exist not found/);
  // The HTTP listener serves; the HTTPS port is not served at all (no listener left on it).
  t.is((await request(httpPort, { address, host: 'x.mtls.test' })).json().backend, 'plain');
  t.true('refused' in await h1(address, portA, 'missing.mtls.test', clientA));
  t.like(status.conditions[0], { type: 'Accepted', status: 'True', reason: 'ListenersNotValid' });
});

test('with worker threads every worker checks the certificates of the connections it takes', async (t) => {
  // A second router over the same objects: one address of its own (the oldest Gateway, strict, gets it).
  const address = `127.${150 + ((process.pid + 11) % 50)}.${(process.pid + 14) % 250}.1`;
  const workers = await startRouter({ args: ['--file', objectsFile, '--gateway-addresses', address, '--workers', '2'] });
  try {
    await eventually(async () => served(await h1(address, portA, 'a.mtls.test', clientA)) === '200 strict', 10_000);
    // Several connections each way, so that both workers' terminators are exercised.
    for (let i = 0; i < 6; i++) {
      t.is(served(await h1(address, portA, 'a.mtls.test', clientA)), '200 strict');
      t.is(served(await h2(address, portA, 'a.mtls.test', clientA)), '200 strict');
      t.true('refused' in await h1(address, portA, 'a.mtls.test', null));
      t.true('refused' in await h2(address, portA, 'a.mtls.test', rogue));
    }
  } finally {
    await workers.stop();
  }
});
