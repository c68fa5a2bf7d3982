// The request corpus (issue 10): raw-byte requests — smuggling shapes (CL.TE, TE.CL, obfuscated
// Transfer-Encoding), chunk-size tricks, bare LF, obs-fold, NUL and control bytes, Host and
// request-target tricks, Expect, HTTP/1.0 keep-alive, pipelining, Upgrade with trailing bytes,
// stalled bodies, `OPTIONS *`, interim responses — each sent on the HTTP and the HTTPS listener
// of a router with `--workers 0` and with `--workers 2`, to a backend that records the raw bytes
// of every connection. Every vector is either refused (a 4xx, then the connection closed) or
// reaches the backend as exactly the requests the client meant (method, path, Host, body), and
// nothing else: a sentinel request on a fresh connection after each vector is the barrier
// before the backend's requests are compared.
import test from 'ava';
import net from 'node:net';
import tls from 'node:tls';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { serviceYaml, routeYaml } from '../support/backends.ts';
import { startRawBackend, okAnswer, type RawBackend, type RecordedRequest } from '../support/raw-backend.ts';
import { createCa, issueCertificate, type TestCertificate } from '../support/certs.ts';

interface Expected { method: string; path: string; body?: string; host?: string }

interface Vector {
  name: string;
  /** Raw bytes; `{P}` is replaced by a path unique to this run of the vector. */
  send: string;
  /** 'refused': a 4xx answer, then the router closes the connection. Else the requests the backend must see, in order. */
  expect: 'refused' | Expected[];
  /** Statuses of the responses the client must get, in order (forwarded vectors; default 200 each). */
  statuses?: number[];
  /** The client keeps its side open and waits for the router to close (stalled bodies, closing exchanges). */
  waitForClose?: boolean;
  host?: string;
  /** Only on this port (default: both). */
  only?: 'http' | 'https';
}

const get = (path = '{P}', extra: Partial<Expected> = {}): Expected => ({ method: 'GET', path, ...extra });
const post = (body: string, path = '{P}'): Expected => ({ method: 'POST', path, body });
const H = 'Host: a.test\r\n';

const VECTORS: Vector[] = [
  // --- baseline
  { name: 'plain GET', send: `GET {P} HTTP/1.1\r\n${H}\r\n`, expect: [get()] },
  { name: 'POST with Content-Length', send: `POST {P} HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhello`, expect: [post('hello')] },
  { name: 'chunked POST', send: `POST {P} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, expect: [post('hello')] },
  // --- CL.TE / TE.CL and obfuscated Transfer-Encoding
  { name: 'CL.TE', send: `POST {P} HTTP/1.1\r\n${H}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG`, expect: 'refused' },
  { name: 'TE.CL', send: `POST {P} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n`, expect: 'refused' },
  { name: 'TE: chunked, identity', send: `POST {P} HTTP/1.1\r\n${H}Transfer-Encoding: chunked, identity\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, expect: 'refused' },
  { name: 'TE: identity, chunked (chunked last: valid)', send: `POST {P} HTTP/1.1\r\n${H}Transfer-Encoding: identity, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, expect: [post('hello')] },
  { name: 'TE with a tab before chunked (valid whitespace)', send: `POST {P} HTTP/1.1\r\n${H}Transfer-Encoding:\tchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, expect: [post('hello')] },
  { name: 'TE obs-folded onto chunked', send: `POST {P} HTTP/1.1\r\n${H}Transfer-Encoding: x\r\n\tchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, expect: 'refused' },
  { name: 'space before the colon: Transfer-Encoding : chunked', send: `POST {P} HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, expect: 'refused' },
  { name: 'TE: xchunked', send: `POST {P} HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, expect: 'refused' },
  { name: 'TE: chunked twice in two headers', send: `POST {P} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, expect: 'refused' },
  { name: 'TE: CHUNKED (case-insensitive)', send: `POST {P} HTTP/1.1\r\n${H}Transfer-Encoding: CHUNKED\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, expect: [post('hello')] },
  { name: 'two equal Content-Length headers', send: `POST {P} HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello`, expect: 'refused' },
  { name: 'Content-Length: 5, 5', send: `POST {P} HTTP/1.1\r\n${H}Content-Length: 5, 5\r\n\r\nhello`, expect: 'refused' },
  { name: 'Content-Length: +5', send: `POST {P} HTTP/1.1\r\n${H}Content-Length: +5\r\n\r\nhello`, expect: 'refused' },
  { name: 'Content-Length: -1', send: `POST {P} HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n`, expect: 'refused' },
  { name: 'Content-Length: 0x5', send: `POST {P} HTTP/1.1\r\n${H}Content-Length: 0x5\r\n\r\nhello`, expect: 'refused' },
  // --- chunk-size tricks
  { name: 'chunk extension', send: `POST {P} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\n\r\n`, expect: [post('hello')] },
  { name: 'chunk size with leading zeros', send: `POST {P} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0005\r\nhello\r\n0\r\n\r\n`, expect: [post('hello')] },
  { name: 'chunk size 0x5', send: `POST {P} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n`, expect: 'refused' },
  { name: 'chunk size overflow', send: `POST {P} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFF5\r\nhello\r\n0\r\n\r\n`, expect: 'refused' },
  { name: 'negative chunk size', send: `POST {P} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n`, expect: 'refused' },
  { name: 'chunk data longer than its size', send: `POST {P} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n`, expect: 'refused' },
  { name: 'chunked trailer', send: `POST {P} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n`, expect: [post('hello')] },
  // --- line endings, folding, bytes
  { name: 'bare LF line endings', send: `GET {P} HTTP/1.1\n${H.replace('\r\n', '\n')}\n`, expect: 'refused' },
  { name: 'bare LF after a chunk size', send: `POST {P} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n`, expect: 'refused' },
  { name: 'bare CR in a header', send: `GET {P} HTTP/1.1\r\n${H}X-A: a\rb\r\n\r\n`, expect: 'refused' },
  { name: 'obs-fold in a header', send: `GET {P} HTTP/1.1\r\n${H}X-Folded: a\r\n b\r\n\r\n`, expect: 'refused' },
  { name: 'NUL in a header value', send: `GET {P} HTTP/1.1\r\n${H}X-A: a\0b\r\n\r\n`, expect: 'refused' },
  { name: 'NUL in the path', send: `GET {P}\0x HTTP/1.1\r\n${H}\r\n`, expect: 'refused' },
  { name: 'control byte 0x01 in a header value', send: `GET {P} HTTP/1.1\r\n${H}X-A: a\x01b\r\n\r\n`, expect: 'refused' },
  { name: 'DEL in a header value', send: `GET {P} HTTP/1.1\r\n${H}X-A: a\x7fb\r\n\r\n`, expect: 'refused' },
  { name: 'space inside a header name', send: `GET {P} HTTP/1.1\r\n${H}X A: b\r\n\r\n`, expect: 'refused' },
  { name: 'header line without a colon', send: `GET {P} HTTP/1.1\r\n${H}NoColon\r\n\r\n`, expect: 'refused' },
  { name: 'two spaces in the request line (parsed as one target)', send: `GET  {P} HTTP/1.1\r\n${H}\r\n`, expect: [get()] },
  { name: 'lower-case method', send: `get {P} HTTP/1.1\r\n${H}\r\n`, expect: 'refused' },
  // On the HTTP port the preface starts h2c (test/e2e/h2c-listener.test.ts); over TLS, HTTP/2 is chosen by ALPN only.
  { name: 'HTTP/2 preface on an HTTP/1.1 listener', send: 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', expect: 'refused', only: 'https' },
  { name: 'HTTP/1.2', send: `GET {P} HTTP/1.2\r\n${H}\r\n`, expect: 'refused' },
  { name: 'header block larger than --max-header-size', send: `GET {P} HTTP/1.1\r\n${H}X-Big: ${'x'.repeat(20_000)}\r\n\r\n`, expect: 'refused' },
  // --- Host and request target
  { name: 'absolute-form: the URI authority wins over Host', send: 'GET http://a.test{P} HTTP/1.1\r\nHost: b.test\r\n\r\n', expect: [get('{P}', { host: 'a.test' })] },
  { name: 'absolute-form with userinfo', send: 'GET http://x@a.test{P} HTTP/1.1\r\nHost: a.test\r\n\r\n', expect: 'refused' },
  { name: 'duplicate Host', send: `GET {P} HTTP/1.1\r\n${H}Host: b.test\r\n\r\n`, expect: 'refused' },
  { name: 'Host with junk after the port', send: `GET {P} HTTP/1.1\r\nHost: a.test:@evil.example\r\n\r\n`, expect: 'refused' },
  { name: 'Host with a port', send: `GET {P} HTTP/1.1\r\nHost: a.test:8080\r\n\r\n`, expect: [get('{P}', { host: 'a.test:8080' })] },
  { name: 'no Host in HTTP/1.1', send: 'GET {P} HTTP/1.1\r\n\r\n', expect: 'refused' },
  { name: 'OPTIONS *', send: `OPTIONS * HTTP/1.1\r\n${H}\r\n`, expect: 'refused' },
  { name: 'CONNECT', send: `CONNECT a.test:443 HTTP/1.1\r\n${H}\r\n`, expect: 'refused' },
  // A fragment is never part of a request target (RFC 9112 §3.2; HAProxy since CVE-2023-45539):
  // routed on the raw path it would miss a policy on /admin, and many backends read /admin#x as /admin.
  { name: 'fragment in the request target', send: `GET {P}#x HTTP/1.1\r\n${H}\r\n`, expect: 'refused' },
  { name: 'empty fragment in the request target', send: `GET {P}# HTTP/1.1\r\n${H}\r\n`, expect: 'refused' },
  { name: 'fragment after a query', send: `GET {P}?a=1#x HTTP/1.1\r\n${H}\r\n`, expect: 'refused' },
  { name: 'fragment in an absolute-form target', send: 'GET http://a.test{P}#x HTTP/1.1\r\nHost: a.test\r\n\r\n', expect: 'refused' },
  { name: 'fragment in an Upgrade request', send: `GET {P}#x HTTP/1.1\r\n${H}Upgrade: foo\r\nConnection: Upgrade\r\n\r\n`, expect: 'refused' },
  // --- Expect, HTTP/1.0, pipelining
  { name: 'Expect: 100-continue', send: `POST {P} HTTP/1.1\r\n${H}Content-Length: 5\r\nExpect: 100-continue\r\n\r\nhello`, expect: [post('hello')] },
  { name: 'Expect: something else', send: `POST {P} HTTP/1.1\r\n${H}Content-Length: 5\r\nExpect: teapot\r\n\r\nhello`, expect: 'refused' },
  { name: 'HTTP/1.0 keep-alive, two requests', send: `GET {P} HTTP/1.0\r\n${H}Connection: keep-alive\r\n\r\nGET {P}/2 HTTP/1.0\r\n${H}\r\n`, expect: [get(), get('{P}/2')] },
  { name: 'pipelined GETs', send: `GET {P} HTTP/1.1\r\n${H}\r\nGET {P}/2 HTTP/1.1\r\n${H}\r\n`, expect: [get(), get('{P}/2')] },
  { name: 'request after a chunked body in the same packet', send: `POST {P} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET {P}/2 HTTP/1.1\r\n${H}\r\n`, expect: [post('hello'), get('{P}/2')] },
  { name: 'GET with a body', send: `GET {P} HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhello`, expect: [get('{P}', { body: 'hello' })] },
  // --- Upgrade, stalled bodies, interim responses
  { name: 'Upgrade with trailing bytes, answered 200 by the backend', send: `GET {P} HTTP/1.1\r\n${H}Upgrade: foo\r\nConnection: Upgrade\r\n\r\nTRAILING`, expect: [get()], waitForClose: true },
  { name: 'stalled body (Content-Length 100, 3 bytes sent)', send: `POST {P} HTTP/1.1\r\n${H}Content-Length: 100\r\n\r\nabc`, expect: 'refused', waitForClose: true },
  { name: '103 Early Hints from the backend', send: 'GET {P}/103 HTTP/1.1\r\nHost: b.test\r\n\r\n', expect: [get('{P}/103')], statuses: [103, 200], host: 'b.test' },
  { name: 'unsolicited 100 Continue from the backend', send: 'GET {P}/100 HTTP/1.1\r\nHost: b.test\r\n\r\n', expect: [get('{P}/100')], statuses: [502], host: 'b.test' },
  { name: 'invalid status line 099 from the backend', send: 'GET {P}/099 HTTP/1.1\r\nHost: b.test\r\n\r\n', expect: [get('{P}/099')], statuses: [502], host: 'b.test' },
];

function interim(requestLine: string, request: RecordedRequest): string | null {
  const path = request.target;
  if (path.endsWith('/103')) return 'HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
  if (path.endsWith('/100')) return 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
  if (path.endsWith('/099')) return 'HTTP/1.1 099 Odd\r\nContent-Length: 2\r\n\r\nok';
  return okAnswer(requestLine);
}

let backend: RawBackend;
let ca: TestCertificate;
let file: string;
const routers: Record<string, RouterProcess> = {};

test.before(async () => {
  backend = await startRawBackend(interim);
  ca = await createCa('corpus CA');
  const cert = await issueCertificate(ca, ['a.test', 'b.test']);
  const tlsSpec = `  tls: ${JSON.stringify({ termination: 'edge', certificate: cert.cert, key: cert.key, insecureEdgeTerminationPolicy: 'Allow' })}`;
  file = writeTempFile([
    serviceYaml('raw', [backend.port]),
    routeYaml('a', 'a.test', 'raw', { spec: tlsSpec }),
    routeYaml('b', 'b.test', 'raw', { spec: tlsSpec }),
  ].join('\n---\n'));
  const args = (workers: string) => ['--file', file, '--workers', workers, '--client-timeout', '500ms', '--backend-check-interval', '60s'];
  [routers.w0, routers.w2] = await Promise.all([startRouter({ args: args('0') }), startRouter({ args: args('2') })]);
});

test.after.always(async () => {
  await Promise.all(Object.values(routers).map((r) => r.stop()));
  await backend?.close();
});

interface Outcome { text: string; closed: boolean }

/** Send `bytes` on a fresh connection; resolve once `done(text)` holds or the router closes. */
function exchange(router: RouterProcess, secure: boolean, host: string, bytes: string, done: (text: string) => boolean): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket: net.Socket = secure
      ? tls.connect({ host: '127.0.0.1', port: router.https, servername: host, ca: ca.cert, ALPNProtocols: ['http/1.1'] })
      : net.connect(router.http, '127.0.0.1');
    let text = '';
    let settled = false;
    const finish = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ text, closed });
    };
    // A bound for the test only; a vector that gets here fails below.
    const timer = setTimeout(() => finish(false), 10_000);
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (done(text)) finish(false);
    });
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
    socket.write(Buffer.from(bytes, 'latin1'));
  });
}

/** Final statuses of complete responses in `text` (interim 1xx included, in order). */
function statuses(text: string): number[] {
  return [...text.matchAll(/(?:^|\n)HTTP\/1\.[01] (\d{3})[^\r\n]*\r\n/g)].map((m) => Number(m[1]));
}

function completeResponses(text: string): number {
  return statuses(text).filter((s) => s >= 200).length;
}

let counter = 0;

async function runVector(t: import('ava').ExecutionContext, router: RouterProcess, secure: boolean, vector: Vector): Promise<void> {
  const path = `/c${++counter}`;
  const bytes = vector.send.replaceAll('{P}', path);
  const before = backend.requests.length;
  const expected = vector.expect === 'refused' ? null : vector.expect.map((e) => ({ ...e, path: e.path.replaceAll('{P}', path) }));
  const wanted = expected?.length ?? 0;
  const outcome = await exchange(router, secure, vector.host ?? 'a.test', bytes,
    (text) => !vector.waitForClose && vector.expect !== 'refused' && completeResponses(text) >= wanted);
  // Barrier: a sentinel on a fresh connection; whatever the vector made the router send is in by its answer.
  const sentinel = `/sentinel${counter}`;
  const barrier = await exchange(router, secure, 'a.test', `GET ${sentinel} HTTP/1.1\r\n${H}Connection: close\r\n\r\n`, (text) => completeResponses(text) >= 1);
  t.is(statuses(barrier.text)[0], 200, 'the sentinel went through');
  const arrived = backend.requests.slice(before).filter((r) => r.target !== sentinel);
  const got = statuses(outcome.text);
  if (expected === null) {
    t.true(got.length === 1 && got[0]! >= 400 && got[0]! < 500, `refused with one 4xx, got ${JSON.stringify(got)}: ${JSON.stringify(outcome.text.slice(0, 200))}`);
    t.true(outcome.closed, 'the router closed the connection');
    t.deepEqual(arrived.map((r) => `${r.method} ${r.target}`), [], 'nothing reached the backend');
    return;
  }
  t.deepEqual(got.filter((s) => s >= 200), vector.statuses?.filter((s) => s >= 200) ?? expected.map(() => 200), `statuses: ${JSON.stringify(outcome.text.slice(0, 300))}`);
  if (vector.statuses?.some((s) => s < 200)) t.deepEqual(got, vector.statuses);
  t.deepEqual(arrived.map((r) => `${r.method} ${r.target}`), expected.map((e) => `${e.method} ${e.path}`), 'exactly the requests meant');
  arrived.forEach((r, i) => {
    const e = expected[i]!;
    t.is(r.body, e.body ?? '', `body of ${r.method} ${r.target}`);
    t.is(r.headers.get('host')?.join(','), e.host ?? vector.host ?? 'a.test', `Host of ${r.method} ${r.target}`);
    t.is(r.headers.get('host')?.length, 1);
  });
  if (vector.waitForClose) t.true(outcome.closed, 'the router closed the connection');
}

test('the corpus has at least 40 vectors', (t) => {
  t.true(VECTORS.length >= 40, `${VECTORS.length}`);
});

for (const workers of ['w0', 'w2']) {
  for (const secure of [false, true]) {
    for (const vector of VECTORS) {
      if (vector.only !== undefined && vector.only !== (secure ? 'https' : 'http')) continue;
      test.serial(`${workers === 'w0' ? '--workers 0' : '--workers 2'} ${secure ? 'https' : 'http'}: ${vector.name}`, async (t) => {
        await runVector(t, routers[workers]!, secure, vector);
      });
    }
  }
}
