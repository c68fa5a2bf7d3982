// Trailers pass through the exchange: an endpoint's chunked response with trailers reaches an
// HTTP/1.1 client and an HTTP/2 client with them (what gRPC's grpc-status rides on).
import test from 'ava';
import http from 'node:http';
import http2 from 'node:http2';
import { once } from 'node:events';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { serviceYaml, routeYaml } from '../support/backends.ts';
import { startRawBackend, type RawBackend } from '../support/raw-backend.ts';
import { createCa, issueCertificate, type TestCertificate } from '../support/certs.ts';

let backend: RawBackend;
let router: RouterProcess;
let ca: TestCertificate;

test.before(async () => {
  ca = await createCa('trailers CA');
  const cert = await issueCertificate(ca, ['trailers.test']);
  backend = await startRawBackend(() => 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n' +
    '5\r\nhello\r\n0\r\nX-Checksum: abc123\r\n\r\n');
  const file = writeTempFile([
    serviceYaml('raw', [backend.port]),
    routeYaml('trailers', 'trailers.test', 'raw', { spec: `  tls: ${JSON.stringify({ termination: 'edge', insecureEdgeTerminationPolicy: 'Allow', certificate: cert.cert, key: cert.key })}` }),
  ].join('\n---\n'));
  router = await startRouter({ args: ['--file', file] });
});

test.after.always(async () => {
  await router?.stop();
  await backend?.close();
});

test('HTTP/1.1: the body and then the trailers', async (t) => {
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    http.get({ port: router.http, host: '127.0.0.1', path: '/', headers: { host: 'trailers.test', te: 'trailers' } }, resolve).on('error', reject);
  });
  let body = '';
  res.setEncoding('utf8').on('data', (c: string) => (body += c));
  await once(res, 'end');
  t.is(body, 'hello');
  t.is(res.trailers['x-checksum'], 'abc123');
});

test('HTTP/2: the body and then the trailers', async (t) => {
  const session = http2.connect(`https://127.0.0.1:${router.https}`, { servername: 'trailers.test', ca: ca.cert });
  t.teardown(() => session.close());
  const stream = session.request({ ':path': '/', ':authority': 'trailers.test', te: 'trailers' });
  let body = '';
  stream.setEncoding('utf8').on('data', (c: string) => (body += c));
  const trailers = once(stream, 'trailers') as Promise<[http2.IncomingHttpHeaders]>;
  await once(stream, 'end');
  t.is(body, 'hello');
  t.is((await trailers)[0]['x-checksum'], 'abc123');
});
