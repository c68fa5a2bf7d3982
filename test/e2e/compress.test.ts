// Response compression end to end: the built-in compress plugin named by a Middleware and put on
// every route by --enable-compression (OpenShift's ROUTER_ENABLE_COMPRESSION); gzip, brotli and
// zstd chosen by Accept-Encoding, over HTTP/1.1 and HTTP/2; bodies streamed, not buffered.
import test from 'ava';
import http from 'node:http';
import http2 from 'node:http2';
import zlib from 'node:zlib';
import { once } from 'node:events';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { startBackend, serviceYaml, routeYaml, type Backend } from '../support/backends.ts';
import { createCa, issueCertificate, type TestCertificate } from '../support/certs.ts';
import { request } from '../support/http-client.ts';

const JSON_BODY = JSON.stringify(Array.from({ length: 2000 }, (_, i) => ({ id: i, name: `item ${i}`, tags: ['alpha', 'beta'] })));
const decompress: Record<string, (b: Buffer) => Buffer> = {
  gzip: zlib.gunzipSync, br: zlib.brotliDecompressSync, zstd: (zlib as unknown as { zstdDecompressSync(b: Buffer): Buffer }).zstdDecompressSync,
};

let backend: Backend;
let router: RouterProcess;
let everywhere: RouterProcess;
let ca: TestCertificate;
/** The streaming routes: the backend holds the rest of the body until this resolves. */
let releaseRest: () => void = () => {};
let releaseRestOfLength: () => void = () => {};
const FIRST_PART = 'first part of a body of known length\n'.repeat(2_000);
const LAST_PART = 'the rest\n';

test.before(async () => {
  ca = await createCa('compress CA');
  const cert = await issueCertificate(ca, ['zip.test']);
  backend = await startBackend('app', {
    handler(req, res) {
      if (req.url === '/large.json') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(JSON_BODY), etag: '"abc"' });
        res.end(JSON_BODY);
        return true;
      }
      if (req.url === '/no-transform') {
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-transform' });
        res.end(JSON_BODY);
        return true;
      }
      if (req.url === '/stream') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first part of a long stream\n'.repeat(40_000)); // ~1 MB
        new Promise<void>((resolve) => { releaseRest = resolve; }).then(() => res.end('the end\n'));
        return true;
      }
      if (req.url === '/stream-length') {
        // A Content-Length body whose backend pauses mid-body (a slow or streaming backend).
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(FIRST_PART.length + LAST_PART.length) });
        res.write(FIRST_PART);
        new Promise<void>((resolve) => { releaseRestOfLength = resolve; }).then(() => res.end(LAST_PART));
        return true;
      }
      return false;
    },
  });
  const file = writeTempFile([
    serviceYaml('app', [backend.port]),
    `apiVersion: switchyard.io/v1alpha1
kind: Middleware
metadata: { name: zip, namespace: default }
spec: { plugin: compress, config: { minSize: 512 } }`,
    routeYaml('zip', 'zip.test', 'app', { annotations: { 'switchyard.io/middlewares': 'zip' }, spec: `  tls: ${JSON.stringify({ termination: 'edge', insecureEdgeTerminationPolicy: 'Allow', certificate: cert.cert, key: cert.key })}` }),
    routeYaml('plain', 'plain.test', 'app'),
  ].join('\n---\n'));
  [router, everywhere] = await Promise.all([
    startRouter({ args: ['--file', file] }),
    startRouter({ args: ['--file', file, '--enable-compression', '--compression-mime', 'text/plain application/json'] }),
  ]);
});

test.after.always(async () => {
  await router?.stop();
  await everywhere?.stop();
  await backend?.close();
});

function get(port: number, host: string, path: string, acceptEncoding?: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { host };
    if (acceptEncoding !== undefined) headers['accept-encoding'] = acceptEncoding;
    http.get({ port, host: '127.0.0.1', path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c)).on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    }).on('error', reject);
  });
}

for (const encoding of ['gzip', 'br', 'zstd']) {
  test(`a Middleware naming compress: ${encoding} by Accept-Encoding, the body intact`, async (t) => {
    const reply = await get(router.http, 'zip.test', '/large.json', `${encoding}, identity;q=0.1`);
    t.is(reply.status, 200);
    t.is(reply.headers['content-encoding'], encoding);
    t.is(reply.headers['content-length'], undefined);
    t.is(reply.headers.vary, 'Accept-Encoding');
    t.is(reply.headers.etag, 'W/"abc"');
    t.true(reply.body.length < Buffer.byteLength(JSON_BODY) / 4);
    t.is(decompress[encoding]!(reply.body).toString(), JSON_BODY);
  });
}

test('without Accept-Encoding, with no-transform, or on a route without compress: the body as sent', async (t) => {
  const identity = await get(router.http, 'zip.test', '/large.json');
  t.is(identity.headers['content-encoding'], undefined);
  t.is(identity.headers['content-length'], String(Buffer.byteLength(JSON_BODY)));
  t.is(identity.headers.vary, 'Accept-Encoding');
  t.is(identity.body.toString(), JSON_BODY);
  const kept = await get(router.http, 'zip.test', '/no-transform', 'gzip');
  t.is(kept.headers['content-encoding'], undefined);
  t.is(kept.body.toString(), JSON_BODY);
  const plain = await get(router.http, 'plain.test', '/large.json', 'gzip');
  t.is(plain.headers['content-encoding'], undefined);
  t.is(plain.headers.vary, undefined);
});

test('--enable-compression puts compress on every route, with --compression-mime\'s types', async (t) => {
  const reply = await get(everywhere.http, 'plain.test', '/large.json', 'br');
  t.is(reply.headers['content-encoding'], 'br');
  t.is(zlib.brotliDecompressSync(reply.body).toString(), JSON_BODY);
});

test('HTTP/2: compressed the same way', async (t) => {
  const session = http2.connect(`https://127.0.0.1:${router.https}`, { servername: 'zip.test', ca: ca.cert });
  t.teardown(() => session.close());
  const stream = session.request({ ':path': '/large.json', ':authority': 'zip.test', 'accept-encoding': 'gzip' });
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  const [headers] = await once(stream, 'response') as [http2.IncomingHttpHeaders];
  await once(stream, 'end');
  t.is(headers['content-encoding'], 'gzip');
  t.is(zlib.gunzipSync(Buffer.concat(chunks)).toString(), JSON_BODY);
});

test('a compressed body streams: the client decompresses the first part before the backend sends the rest', async (t) => {
  const gunzip = zlib.createGunzip();
  let text = '';
  gunzip.setEncoding('utf8').on('data', (c: string) => (text += c));
  const firstText = new Promise<void>((resolve) => gunzip.on('data', () => resolve()));
  const ended = new Promise<void>((resolve) => gunzip.on('end', () => resolve()));
  const req = http.get({ port: router.http, host: '127.0.0.1', path: '/stream', headers: { host: 'zip.test', 'accept-encoding': 'gzip' } }, (res) => {
    t.is(res.headers['content-encoding'], 'gzip');
    res.pipe(gunzip);
  });
  req.on('error', (err) => t.fail(err.message));
  await firstText; // the backend has not finished: the router did not wait for the whole body
  t.false(text.includes('the end'));
  releaseRest();
  await ended;
  t.true(text.endsWith('the end\n'));
  t.is(text.length, 'first part of a long stream\n'.length * 40_000 + 'the end\n'.length);
});

// Regression: after a compressed part, undici resumed its paused parser with no bytes read yet
// and handed over an empty piece of the Content-Length body; the compress plugin answered it
// with an already-resolved Promise, which paused and resumed the parser again, in microtasks
// only — the router's event loop never ran again (every exchange of the process hung).
test('a Content-Length body whose backend pauses mid-body: compressed, and the router keeps serving meanwhile', async (t) => {
  const gunzip = zlib.createGunzip();
  let text = '';
  gunzip.setEncoding('utf8').on('data', (c: string) => (text += c));
  const firstText = new Promise<void>((resolve) => gunzip.on('data', () => resolve()));
  const ended = new Promise<void>((resolve) => gunzip.on('end', () => resolve()));
  const req = http.get({ port: router.http, host: '127.0.0.1', path: '/stream-length', headers: { host: 'zip.test', 'accept-encoding': 'gzip' } }, (res) => {
    t.is(res.headers['content-encoding'], 'gzip');
    t.is(res.headers['content-length'], undefined);
    res.pipe(gunzip);
  });
  req.on('error', (err) => t.fail(err.message));
  await firstText;
  // The backend still holds the rest: the router answers another request meanwhile.
  const other = await request(router.http, { host: 'plain.test', path: '/' });
  t.is(other.status, 200);
  t.false(text.includes(LAST_PART));
  releaseRestOfLength();
  await ended;
  t.is(text, FIRST_PART + LAST_PART);
});
