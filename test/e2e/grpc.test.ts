// gRPC through the router with real @grpc/grpc-js servers and clients: the backend protocol
// chosen by the Service port's appProtocol (h2c, TLS h2 on reencrypt) or the
// switchyard.io/backend-protocol annotation; clients over h2c on the HTTP port and h2 on the HTTPS
// port (edge TLS); a Route, an Ingress; unary calls with their trailers and status codes, and each
// streaming kind with 10,000 messages (flow control end to end, nothing buffered whole).
import test from 'ava';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { routeYaml, serviceYaml } from '../support/backends.ts';
import { createCa, issueCertificate, type TestCertificate } from '../support/certs.ts';
import { echoClient, grpc, startEchoServer, unary, type EchoClient, type EchoServer } from '../support/grpc.ts';

let router: RouterProcess;
let plain: EchoServer;
let secure: EchoServer;
let ca: TestCertificate;
const clients: EchoClient[] = [];

const MESSAGES = 10_000;

function client(port: number, authority: string, credentials?: grpc.ChannelCredentials): EchoClient {
  const c = echoClient(port, authority, { credentials });
  clients.push(c);
  return c;
}

test.before(async () => {
  ca = await createCa('grpc CA');
  const edge = await issueCertificate(ca, ['grpc-edge.test', 'grpc-reencrypt.test']);
  // The reencrypt backend is verified as <service>.<namespace>.svc.
  const backendCert = await issueCertificate(ca, ['grpc-tls.default.svc']);
  plain = await startEchoServer('plain');
  secure = await startEchoServer('secure', { credentials: grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(backendCert.cert), private_key: Buffer.from(backendCert.key) }]) });
  const file = writeTempFile([
    serviceYaml('grpc-plain', [plain.port], { appProtocol: 'kubernetes.io/h2c' }),
    serviceYaml('grpc-noproto', [plain.port], { portName: 'grpc' }),
    serviceYaml('grpc-tls', [secure.port], { appProtocol: 'kubernetes.io/h2' }),
    routeYaml('plain', 'grpc.test', 'grpc-plain'),
    routeYaml('edge', 'grpc-edge.test', 'grpc-plain', { spec: `  tls: ${JSON.stringify({ termination: 'edge', certificate: edge.cert, key: edge.key })}` }),
    routeYaml('annotated', 'grpc-annotated.test', 'grpc-noproto', { annotations: { 'switchyard.io/backend-protocol': 'grpc' } }),
    routeYaml('reencrypt', 'grpc-reencrypt.test', 'grpc-tls', { spec: `  tls: ${JSON.stringify({ termination: 'reencrypt', certificate: edge.cert, key: edge.key, destinationCACertificate: ca.cert })}` }),
    `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: grpc-ingress, namespace: default }
spec:
  ingressClassName: switchyard
  rules:
    - host: grpc-ingress.test
      http:
        paths:
          - { path: /test.Echo/, pathType: Prefix, backend: { service: { name: grpc-plain, port: { number: 80 } } } }`,
  ].join('\n---\n'));
  router = await startRouter({ args: ['--file', file] });
});

test.after.always(async () => {
  for (const c of clients) c.close();
  await router?.stop();
  await plain?.close();
  await secure?.close();
});

const tlsCredentials = (): grpc.ChannelCredentials => grpc.credentials.createSsl(Buffer.from(ca.cert));

for (const [label, host, useTls] of [
  ['a Route over h2c', 'grpc.test', false],
  ['an edge TLS Route over h2', 'grpc-edge.test', true],
  ['an Ingress', 'grpc-ingress.test', false],
  ['a Route whose Service says nothing, with switchyard.io/backend-protocol', 'grpc-annotated.test', false],
  ['a reencrypt Route to a TLS h2 backend (appProtocol kubernetes.io/h2)', 'grpc-reencrypt.test', true],
] as const) {
  test(`unary through ${label}: the answer, custom trailers, and error statuses with their message`, async (t) => {
    const c = client(useTls ? router.https : router.http, host, useTls ? tlsCredentials() : undefined);
    const ok = await unary(c, 'hello');
    t.is(ok.error, null);
    t.regex(ok.value!.toString(), /^(plain|secure):hello$/);
    t.truthy(ok.trailers?.get('x-served-by')[0], 'a custom trailer came through');
    for (const code of [grpc.status.NOT_FOUND, grpc.status.PERMISSION_DENIED, grpc.status.RESOURCE_EXHAUSTED, grpc.status.INTERNAL]) {
      const failed = await unary(c, 'x', { 'x-fail': String(code) });
      t.is(failed.error?.code, code);
      t.regex(failed.error?.details ?? '', /^failed as asked by /);
    }
  });
}

test('server streaming: 10,000 messages in order, then the status', async (t) => {
  const c = client(router.http, 'grpc.test');
  const md = new grpc.Metadata();
  md.set('x-count', String(MESSAGES));
  const call = c.serverStream(Buffer.from('go'), md);
  let n = 0;
  let inOrder = true;
  call.on('data', (m: Buffer) => { if (m.toString() !== `plain:${n}`) inOrder = false; n++; });
  const status = await new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  t.is(status.code, grpc.status.OK);
  t.is(n, MESSAGES);
  t.true(inOrder);
  t.is(status.metadata.get('x-served-by')[0], 'plain');
});

test('client streaming: 10,000 messages up, one answer counting them', async (t) => {
  const c = client(router.https, 'grpc-edge.test', tlsCredentials());
  const answer = new Promise<{ err: grpc.ServiceError | null; value?: Buffer }>((resolve) => {
    const call = c.clientStream(new grpc.Metadata(), {}, (err, value) => resolve({ err, value }));
    let i = 0;
    // Honour the client's backpressure: write until it says stop, continue on drain.
    const pump = (): void => {
      while (i < MESSAGES) {
        if (!call.write(Buffer.from(`m${i++}`))) { call.once('drain', pump); return; }
      }
      call.end();
    };
    pump();
  });
  const { err, value } = await answer;
  t.is(err, null);
  const bytes = Array.from({ length: MESSAGES }, (_, i) => `m${i}`.length).reduce((a, b) => a + b, 0);
  t.is(value!.toString(), `plain:${MESSAGES}:${bytes}`);
});

test('bidi streaming: 10,000 messages echoed one for one while both directions are open', async (t) => {
  const c = client(router.http, 'grpc.test');
  const call = c.bidi();
  let received = 0;
  let next = 0;
  // Ping-pong in windows of 100: the echo of a message arrives while later ones are still being sent.
  const sendWindow = (): void => {
    const end = Math.min(next + 100, MESSAGES);
    while (next < end) call.write(Buffer.from(`b${next++}`));
    if (next === MESSAGES) call.end();
  };
  call.on('data', (m: Buffer) => {
    if (m.toString() !== `b${received}`) t.fail(`message ${received} was ${m.toString()}`);
    received++;
    if (received === next && next < MESSAGES) sendWindow();
  });
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  sendWindow();
  t.is((await status).code, grpc.status.OK);
  t.is(received, MESSAGES);
});
