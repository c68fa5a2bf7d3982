// Reencrypt routes whose Service port says nothing of the HTTP version: the router offers ALPN
// `h2` and `http/1.1` to the endpoint (as OpenShift's router with HTTP/2 on) and speaks what the
// endpoint chose — HTTP/2 to a server that offers it, HTTP/1.1 to one that does not — while a
// port or route that says `http1` keeps HTTP/1.1, a wrong CA still fails closed, and a gRPC
// backend behind a reencrypt route works without any appProtocol.
import test from 'ava';
import https from 'node:https';
import http2 from 'node:http2';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { routeYaml, serviceYaml } from '../support/backends.ts';
import { createCa, issueCertificate, type TestCertificate } from '../support/certs.ts';
import { request } from '../support/http-client.ts';
import { echoClient, grpc, startEchoServer, unary, type EchoClient, type EchoServer } from '../support/grpc.ts';

let router: RouterProcess;
let ca: TestCertificate;
let both: http2.Http2SecureServer;
let h1only: https.Server;
let grpcServer: EchoServer;
let grpcClient: EchoClient | undefined;
/** The ALPN protocol of each TLS connection the h2-and-HTTP/1.1 backend accepted. */
const negotiated: Array<string | false | null> = [];
/** The HTTP/2 sessions that carried requests to it. */
const h2Sessions = new Set<http2.Http2Session>();

/** Answers with the HTTP version the request came in. */
function versionHandler(name: string) {
  return (req: { httpVersion: string; url?: string }, res: { setHeader(name: string, value: string | number): unknown; end(body: string): unknown }) => {
    const body = JSON.stringify({ backend: name, httpVersion: req.httpVersion, url: req.url });
    res.setHeader('content-type', 'application/json');
    res.end(body);
  };
}

test.before(async () => {
  ca = await createCa('reencrypt ALPN CA');
  const edge = await issueCertificate(ca, ['both.test', 'h1.test', 'forced.test', 'annotated.test', 'wrong.test', 'grpc-re.test']);
  const other = await createCa('another CA');
  const bothCert = await issueCertificate(ca, ['both.default.svc', 'forced-both.default.svc']);
  const h1Cert = await issueCertificate(ca, ['h1only.default.svc']);
  const grpcCert = await issueCertificate(ca, ['grpc-tls.default.svc']);
  // h2 and HTTP/1.1 on one TLS port, as Go's net/http or nginx `http2 on` serve.
  both = http2.createSecureServer({ cert: bothCert.cert, key: bothCert.key, allowHTTP1: true }, versionHandler('both'));
  both.on('secureConnection', (s: import('node:tls').TLSSocket) => negotiated.push(s.alpnProtocol));
  both.on('stream', (stream: http2.ServerHttp2Stream) => h2Sessions.add(stream.session!));
  // A TLS server that knows no ALPN at all.
  h1only = https.createServer({ cert: h1Cert.cert, key: h1Cert.key }, versionHandler('h1only'));
  both.listen(0, '127.0.0.1');
  h1only.listen(0, '127.0.0.1');
  await Promise.all([once(both, 'listening'), once(h1only, 'listening')]);
  grpcServer = await startEchoServer('secure', { credentials: grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(grpcCert.cert), private_key: Buffer.from(grpcCert.key) }]) });
  const port = (s: { address(): unknown }) => (s.address() as AddressInfo).port;
  const reencrypt = (destinationCA: string) => `  tls: ${JSON.stringify({ termination: 'reencrypt', certificate: edge.cert, key: edge.key, destinationCACertificate: destinationCA, insecureEdgeTerminationPolicy: 'Allow' })}`;
  const file = writeTempFile([
    serviceYaml('both', [port(both)]),
    serviceYaml('forced-both', [port(both)], { appProtocol: 'http' }),
    serviceYaml('h1only', [port(h1only)]),
    serviceYaml('grpc-tls', [grpcServer.port]),
    routeYaml('both', 'both.test', 'both', { spec: reencrypt(ca.cert) }),
    routeYaml('h1', 'h1.test', 'h1only', { spec: reencrypt(ca.cert) }),
    routeYaml('forced', 'forced.test', 'forced-both', { spec: reencrypt(ca.cert) }),
    routeYaml('annotated', 'annotated.test', 'both', { spec: reencrypt(ca.cert), annotations: { 'switchyard.io/backend-protocol': 'http1' } }),
    routeYaml('wrong', 'wrong.test', 'both', { spec: reencrypt(other.cert) }),
    routeYaml('grpc-re', 'grpc-re.test', 'grpc-tls', { spec: reencrypt(ca.cert) }),
  ].join('\n---\n'));
  router = await startRouter({ args: ['--file', file] });
});

test.after.always(async () => {
  grpcClient?.close();
  await router?.stop();
  await grpcServer?.close();
  both?.close();
  h1only?.closeAllConnections();
  h1only?.close();
});

async function versionVia(host: string, path = '/'): Promise<{ status: number; backend?: string; httpVersion?: string }> {
  const reply = await request(router.http, { host, path });
  if (reply.status !== 200) return { status: reply.status };
  const { backend, httpVersion } = JSON.parse(reply.body) as { backend: string; httpVersion: string };
  return { status: reply.status, backend, httpVersion };
}

test.serial('an endpoint that offers h2 by ALPN gets HTTP/2; concurrent requests share its connection', async (t) => {
  const first = await versionVia('both.test');
  t.deepEqual(first, { status: 200, backend: 'both', httpVersion: '2.0' });
  const replies = await Promise.all(Array.from({ length: 10 }, (_, i) => versionVia('both.test', `/n${i}`)));
  t.true(replies.every((r) => r.httpVersion === '2.0'));
  // One HTTP/2 connection carried all eleven requests.
  t.is(h2Sessions.size, 1);
});

test.serial('an endpoint that knows no ALPN gets HTTP/1.1', async (t) => {
  t.deepEqual(await versionVia('h1.test'), { status: 200, backend: 'h1only', httpVersion: '1.1' });
});

test.serial('a Service port with appProtocol http, or switchyard.io/backend-protocol http1, keeps HTTP/1.1 even where h2 is offered', async (t) => {
  const before = negotiated.length;
  t.deepEqual(await versionVia('forced.test'), { status: 200, backend: 'both', httpVersion: '1.1' });
  t.deepEqual(await versionVia('annotated.test'), { status: 200, backend: 'both', httpVersion: '1.1' });
  // Never offered h2 (undici 8 would offer it by default and speak HTTP/2 with its own client).
  t.true(negotiated.length > before);
  t.true(negotiated.slice(before).every((p) => p === 'http/1.1'));
});

test.serial('a backend certificate the destination CA does not sign still fails closed (502 SY_UPSTREAM_TLS)', async (t) => {
  const reply = await request(router.http, { host: 'wrong.test' });
  t.is(reply.status, 502);
  t.is(reply.headers['x-switchyard-error'], 'SY_UPSTREAM_TLS');
});

test.serial('gRPC to a TLS backend behind a reencrypt route with no appProtocol: ALPN picks h2 and the call works', async (t) => {
  grpcClient = echoClient(router.https, 'grpc-re.test', { credentials: grpc.credentials.createSsl(Buffer.from(ca.cert)) });
  const reply = await unary(grpcClient, 'over alpn');
  t.is(reply.error, null);
  t.is(reply.value?.toString(), 'secure:over alpn');
});
