// TLS routes end to end, against a real router process: edge (own certificate, HTTP/2, HSTS,
// X-Forwarded-Proto), insecureEdgeTerminationPolicy Redirect/Allow/None on the HTTP port,
// reencrypt verifying the backend and failing closed with 502 on a wrong CA, passthrough, and
// a Route refused by extended validation serving nothing.
import test from 'ava';
import https from 'node:https';
import http2 from 'node:http2';
import tls from 'node:tls';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { startBackend, serviceYaml, routeYaml, type Backend } from '../support/backends.ts';
import { request } from '../support/http-client.ts';
import { createCa, issueCertificate, unrelatedKey, type TestCertificate } from '../support/certs.ts';

let router: RouterProcess;
let echo: Backend;
let secure: https.Server;
let ca: TestCertificate;
let edgeCert: TestCertificate;

function tlsRoute(name: string, host: string, service: string, tlsSpec: Record<string, unknown>, annotations?: Record<string, string>): string {
  return routeYaml(name, host, service, { spec: `  tls: ${JSON.stringify(tlsSpec)}`, ...(annotations ? { annotations } : {}) });
}

test.before(async () => {
  ca = await createCa('e2e CA');
  const otherCa = await createCa('wrong CA');
  edgeCert = await issueCertificate(ca, ['edge.test']);
  const backendCert = await issueCertificate(ca, ['secure.default.svc', 'pass.test']);
  echo = await startBackend('echo');
  // A TLS backend for reencrypt and passthrough: says who it is and whether it saw TLS.
  secure = https.createServer({ cert: backendCert.cert, key: backendCert.key }, (req, res) => {
    const body = JSON.stringify({ backend: 'secure', url: req.url, headers: req.headers });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  secure.listen(0, '127.0.0.1');
  await once(secure, 'listening');
  const securePort = (secure.address() as AddressInfo).port;
  const file = writeTempFile([
    serviceYaml('echo', [echo.port]),
    serviceYaml('secure', [securePort], { portName: 'https' }),
    tlsRoute('edge', 'edge.test', 'echo', { termination: 'edge', certificate: edgeCert.cert, key: edgeCert.key, caCertificate: ca.cert }, { 'haproxy.router.openshift.io/hsts_header': 'max-age=31536000' }),
    tlsRoute('redirect', 'redirect.test', 'echo', { termination: 'edge', insecureEdgeTerminationPolicy: 'Redirect' }),
    tlsRoute('allow', 'allow.test', 'echo', { termination: 'edge', insecureEdgeTerminationPolicy: 'Allow' }),
    tlsRoute('none', 'none.test', 'echo', { termination: 'edge', insecureEdgeTerminationPolicy: 'None' }),
    tlsRoute('reencrypt', 'reencrypt.test', 'secure', { termination: 'reencrypt', destinationCACertificate: ca.cert }),
    tlsRoute('reencrypt-wrong-ca', 'wrong-ca.test', 'secure', { termination: 'reencrypt', destinationCACertificate: otherCa.cert }),
    tlsRoute('pass', 'pass.test', 'secure', { termination: 'passthrough' }),
    tlsRoute('badkey', 'badkey.test', 'echo', { termination: 'edge', certificate: edgeCert.cert, key: await unrelatedKey() }),
  ].join('\n---\n'));
  router = await startRouter({ args: ['--file', file] });
});

test.after.always(async () => {
  await router?.stop();
  await echo?.close();
  secure?.closeAllConnections();
  secure?.close();
});

interface HttpsReply { status: number; headers: Record<string, string | string[] | undefined>; body: string; subject: string }

/** One HTTPS/1.1 request to the router with SNI = host (or `sni`), trusting only the test CA unless told not to verify. */
function httpsGet(host: string, options: { path?: string; sni?: string; verify?: boolean } = {}): Promise<HttpsReply> {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1', port: router.https, path: options.path ?? '/', servername: options.sni ?? host, headers: { host },
      ca: ca.cert, rejectUnauthorized: options.verify ?? true, agent: false,
    }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, subject: String((res.socket as tls.TLSSocket).getPeerCertificate().subject?.CN ?? '') }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

test('edge: own certificate verified by the client, X-Forwarded-Proto https, HSTS', async (t) => {
  const reply = await httpsGet('edge.test', { path: '/hello' });
  t.is(reply.status, 200);
  t.is(reply.subject, 'edge.test');
  const echoed = JSON.parse(reply.body) as { backend: string; url: string; headers: Record<string, string> };
  t.is(echoed.backend, 'echo');
  t.is(echoed.url, '/hello');
  t.is(echoed.headers['x-forwarded-proto'], 'https');
  t.is(reply.headers['strict-transport-security'], 'max-age=31536000');
});

test('edge: HTTP/2 for a route with its own certificate', async (t) => {
  const session = http2.connect(`https://127.0.0.1:${router.https}`, { ca: ca.cert, servername: 'edge.test' });
  try {
    const stream = session.request({ ':path': '/h2', ':authority': 'edge.test' });
    let body = '';
    stream.setEncoding('utf8').on('data', (c: string) => (body += c));
    const [headers] = await once(stream, 'response');
    await once(stream, 'end');
    t.is(headers[':status'], 200);
    const echoed = JSON.parse(body) as { backend: string; url: string; headers: Record<string, string> };
    t.is(echoed.backend, 'echo');
    t.is((session.socket as tls.TLSSocket).alpnProtocol, 'h2');
    // Translated for the HTTP/1.1 backend: :authority → Host, no pseudo or connection headers.
    t.is(echoed.url, '/h2');
    t.is(echoed.headers.host, 'edge.test');
    t.false(Object.keys(echoed.headers).some((k) => k.startsWith(':')));
    t.is(echoed.headers['x-forwarded-proto'], 'https');
    // A request body over h2 (no content-length) reaches the backend whole.
    const post = session.request({ ':method': 'POST', ':path': '/h2-post', ':authority': 'edge.test' });
    let postBody = '';
    post.setEncoding('utf8').on('data', (c: string) => (postBody += c));
    post.end('x'.repeat(100_000));
    const [postHeaders] = await once(post, 'response');
    await once(post, 'end');
    t.is(postHeaders[':status'], 200);
    t.is((JSON.parse(postBody) as { body: string }).body.length, 100_000);
  } finally {
    session.close();
  }
});

test('edge: 421 when the Host disagrees with the SNI that chose the certificate', async (t) => {
  const reply = await httpsGet('allow.test', { sni: 'edge.test' });
  t.is(reply.status, 421);
});

test('edge without its own certificate: default certificate, routed by Host', async (t) => {
  const reply = await httpsGet('allow.test', { verify: false });
  t.is(reply.status, 200);
  t.not(reply.subject, 'edge.test');
});

test('insecureEdgeTerminationPolicy on the HTTP port: Redirect, Allow, None', async (t) => {
  const redirect = await request(router.http, { host: 'redirect.test', path: '/x?y=1' });
  t.is(redirect.status, 302);
  t.is(redirect.headers.location, 'https://redirect.test/x?y=1');
  const allow = await request(router.http, { host: 'allow.test' });
  t.is(allow.status, 200);
  const none = await request(router.http, { host: 'none.test' });
  t.is(none.status, 404);
});

// Regression: undici takes the TLS server name from the request's Host header unless the
// dispatch options carry `servername`; the backend must be checked as <service>.<ns>.svc.
test('reencrypt: the backend is verified against destinationCACertificate and the service name', async (t) => {
  const ok = await httpsGet('reencrypt.test', { verify: false, path: '/re' });
  t.is(ok.status, 200);
  t.is((JSON.parse(ok.body) as { backend: string }).backend, 'secure');
});

test('reencrypt: a backend certificate the destination CA does not sign fails closed with 502', async (t) => {
  const wrong = await httpsGet('wrong-ca.test', { verify: false });
  t.is(wrong.status, 502);
  t.is(wrong.headers['x-switchyard-error'], 'SY_UPSTREAM_TLS');
});

test('passthrough: the client sees the backend certificate', async (t) => {
  const reply = await httpsGet('pass.test', { path: '/through' });
  t.is(reply.status, 200);
  t.is(reply.subject, 'secure.default.svc');
  t.is((JSON.parse(reply.body) as { url: string }).url, '/through');
});

test('a Route failing extended validation serves nothing', async (t) => {
  const reply = await httpsGet('badkey.test', { verify: false });
  t.is(reply.status, 404);
  t.not(reply.subject, 'edge.test');
  const plain = await request(router.http, { host: 'badkey.test' });
  t.is(plain.status, 404);
});
