// HTTP/2 conformance (issue 19 item 9): h2spec (test/tools/h2spec, built and cached by
// test/tools/build-go-tool.sh) against an edge route with its own certificate — switchyard with
// `--workers 0` and `--workers 2` — and against a bare Node `http2` server on the same machine
// with the same certificate. A case switchyard fails that bare Node passes is a failure here:
// what is left are Node's and nghttp2's own behaviours, each documented with its cause in the
// README (the h2spec section of the security model), which this test also checks.
//
// Two cases are races on Node (RACES): their outcome depends on whether the response has closed
// the stream before h2spec's next frame is read. They are left out of that comparison, and both
// orders are forced here instead with raw frames, on switchyard and on bare Node alike.
//
// The route's host is `localhost`: h2spec sends its host as the TLS server name, the router offers
// h2 only to a host with its own certificate, and `localhost` resolves here without DNS.
import test from 'ava';
import http2 from 'node:http2';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { startBackend, serviceYaml, routeYaml, type Backend } from '../support/backends.ts';
import { createCa, issueCertificate, type TestCertificate } from '../support/certs.ts';
import { ErrorCode, FLAG_ACK, FLAG_END_STREAM, FrameType, RawH2Connection, dataFrame, getRequest, headersFrame, pingFrame } from '../support/h2-frames.ts';
import { requireTool } from '../support/go-tools.ts';

const run = promisify(execFile);
const README = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');

let echo: Backend;
let ca: TestCertificate;
let bare: http2.Http2SecureServer;
const routers: Record<string, RouterProcess> = {};

interface Outcome { cases: number; failed: string[] }

/**
 * Cases whose outcome on Node is a race, not a behaviour. h2spec sends a request whose HEADERS
 * carries END_STREAM, then at once another frame on the same stream: a DATA frame (5.1 as a GET,
 * 6.1 as a POST — h2spec's source calls 6.1 a duplicate of 5.1) or a second HEADERS. Read in the
 * same pass as the request, the stream is half-closed (remote) and nghttp2 answers `STREAM_CLOSED`:
 * passed. Read after the response has ended, the stream is closed, and Node's nghttp2 keeps no
 * closed streams (the README's `5.1 closed` rows) and drops the frame: failed. h2spec writes the
 * two frames separately (two TLS records), so which comes first is scheduling: beside two CPU
 * hogs each case, run alone 60 times, failed 1 to 7 times on bare Node, `--workers 0` and
 * `--workers 2` alike (session 9), on either side in any run. The comparison leaves them out;
 * the tests below force each order and check both answers.
 */
const RACES = new Set([
  'http2/5.1: half closed (remote): Sends a DATA frame',
  'http2/5.1: half closed (remote): Sends a HEADERS frame',
  'http2/6.1: Sends a DATA frame on the stream that is not in "open" or "half-closed (local)" state',
]);
let bareOutcome: Promise<Outcome>;

/** Run h2spec against 127.0.0.1:`port` as `localhost`; the failed cases as `section: title`. */
async function h2spec(port: number, label: string): Promise<Outcome> {
  const binary = requireTool('h2spec');
  const report = path.join(mkdtempSync(path.join(tmpdir(), 'sy-h2spec-')), `${label}.xml`);
  // Exits 1 when a case fails: the report says which.
  await run(binary, ['--host', 'localhost', '--port', String(port), '--tls', '--insecure', '--timeout', '5', '--junit-report', report], { maxBuffer: 1 << 26 })
    .catch((err: { code?: unknown }) => { if (typeof err.code !== 'number') throw err; });
  // Frames are quoted into the report raw (a PING's opaque data has NUL bytes): read it as text.
  const xml = readFileSync(report, 'latin1');
  const failed: string[] = [];
  let cases = 0;
  for (const m of xml.matchAll(/<testcase package="([^"]*)" classname="([^"]*)"[^>]*>([^]*?)<\/testcase>/g)) {
    cases++;
    if (/<(error|failure)[\s>]/.test(m[3]!)) failed.push(`${m[1]}: ${m[2]}`);
  }
  return { cases, failed: failed.sort() };
}

test.before(async () => {
  ca = await createCa('h2spec CA');
  const cert = await issueCertificate(ca, ['localhost']);
  echo = await startBackend('echo');
  bare = http2.createSecureServer({ cert: cert.cert, key: cert.key });
  bare.on('request', (req, res) => {
    req.resume();
    req.on('end', () => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('ok\n'); });
  });
  await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', () => resolve()));
  const file = writeTempFile([
    serviceYaml('echo', [echo.port]),
    routeYaml('h2', 'localhost', 'echo', { spec: `  tls: ${JSON.stringify({ termination: 'edge', certificate: cert.cert, key: cert.key })}` }),
  ].join('\n---\n'));
  [routers.w0, routers.w2] = await Promise.all([
    startRouter({ args: ['--file', file, '--workers', '0'], env: { ROUTER_LOG_LEVEL: 'info' } }),
    startRouter({ args: ['--file', file, '--workers', '2'], env: { ROUTER_LOG_LEVEL: 'info' } }),
  ]);
  bareOutcome = h2spec((bare.address() as import('node:net').AddressInfo).port, 'bare');
  bareOutcome.catch(() => {});
});

test.after.always(async () => {
  await Promise.all(Object.values(routers).map((r) => r.stop()));
  bare?.close();
  await echo?.close();
});

for (const workers of ['w0', 'w2'] as const) {
  test(`${workers === 'w0' ? '--workers 0' : '--workers 2'}: switchyard fails no h2spec case that a bare Node http2 server passes`, async (t) => {
    t.timeout(600_000);
    const [ours, node] = await Promise.all([h2spec(routers[workers]!.https, workers), bareOutcome]);
    t.log(`switchyard: ${ours.cases - ours.failed.length}/${ours.cases} passed; bare Node: ${node.cases - node.failed.length}/${node.cases}`);
    for (const c of ours.failed) t.log(`  fails (${RACES.has(c) ? 'a race on Node, forced both ways below' : 'as bare Node does'}): ${c}`);
    t.is(ours.cases, node.cases);
    t.true(ours.cases >= 140, `h2spec ran its cases (${ours.cases})`);
    t.deepEqual(ours.failed.filter((c) => !node.failed.includes(c) && !RACES.has(c)), [], 'cases bare Node passes');
    // Each remaining failure is documented with its cause.
    for (const c of ours.failed) t.true(README.includes(c.slice(c.indexOf(': ') + 2)), `README documents "${c}"`);
  });
}

// The races' two orders, forced: the answer to a frame on a stream whose request has ended
// depends only on whether the response has closed the stream before the frame is read.
const TARGETS = { bare: 'bare Node', w0: '--workers 0', w2: '--workers 2' } as const;

/**
 * A raw connection past its SETTINGS exchange (the server has ACKed ours, so ours to its went
 * first), as h2spec's handshake: nothing of ours is left unsent when the server answers with
 * GOAWAY and closes — unread bytes would make its close a reset, which can discard the GOAWAY.
 */
async function open(target: keyof typeof TARGETS): Promise<RawH2Connection> {
  const port = target === 'bare' ? (bare.address() as import('node:net').AddressInfo).port : routers[target]!.https;
  const connection = await RawH2Connection.open({ port, servername: 'localhost', ca: ca.cert });
  await connection.wait(() => connection.frames.some((f) => f.type === FrameType.SETTINGS && (f.flags & FLAG_ACK) !== 0));
  return connection;
}

/** A POST whose HEADERS frame ends the stream (h2spec's 6.1 request). */
const POST = getRequest('localhost', '/').map(([name, value]): [string, string] => [name, name === ':method' ? 'POST' : value]);

/** The frames h2spec sends after the request on its stream `id`. */
const LATE_FRAMES = {
  DATA: (id: number) => dataFrame(id, 'test'),
  HEADERS: (id: number) => headersFrame(id, POST),
} as const;

/** The server's GOAWAY, or its RST_STREAM on stream 1, as `frame code`. */
function streamError(connection: RawH2Connection): string | null {
  if (connection.goaway !== null) return `GOAWAY ${connection.goaway.code}`;
  const rst = connection.frames.find((f) => f.type === FrameType.RST_STREAM && f.stream === 1);
  return rst === undefined ? null : `RST_STREAM ${rst.payload.readUInt32BE(0)}`;
}

for (const [target, label] of Object.entries(TARGETS) as Array<[keyof typeof TARGETS, string]>) {
  for (const [kind, late] of Object.entries(LATE_FRAMES)) {
    test(`${label}: ${kind} read in the same pass as its request's END_STREAM (half-closed (remote)) is answered STREAM_CLOSED`, async (t) => {
      const connection = await open(target);
      t.teardown(() => connection.destroy());
      // One write, one TLS record, one read: nghttp2 processes both frames before any response
      // can be sent, so the stream is half-closed (remote) when the second frame arrives.
      connection.write(Buffer.concat([headersFrame(1, POST), late(1)]));
      await connection.wait(() => streamError(connection) !== null);
      const error = streamError(connection);
      const frames = connection.frames.map((f) => `${f.type}/${f.flags}/${f.stream}`).join(' ');
      t.true(error === `GOAWAY ${ErrorCode.STREAM_CLOSED}` || error === `RST_STREAM ${ErrorCode.STREAM_CLOSED}`, `answer: ${String(error)} (frames type/flags/stream: ${frames}; closed: ${connection.closed})`);
    });

    test(`${label}: ${kind} after the response ended (the stream closed) is dropped and the connection serves on`, async (t) => {
      const connection = await open(target);
      t.teardown(() => connection.destroy());
      const ended = (stream: number) => connection.frames.some((f) => f.stream === stream && (f.type === FrameType.DATA || f.type === FrameType.HEADERS) && (f.flags & FLAG_END_STREAM) !== 0);
      connection.write(headersFrame(1, POST));
      await connection.wait(() => ended(1));
      t.true(ended(1), 'the response ended');
      // Node keeps no closed streams (nghttp2_option_set_no_closed_streams): the frame cannot be
      // told from one on a stream never opened below the highest, and is dropped unanswered. A
      // PING behind it, then a new request, show that the connection still reads and serves.
      connection.write(Buffer.concat([late(1), pingFrame('closed'), headersFrame(3, POST)]));
      await connection.wait(() => ended(3));
      t.is(streamError(connection), null, 'no GOAWAY, no RST_STREAM');
      t.true(connection.frames.some((f) => f.type === FrameType.PING && (f.flags & FLAG_ACK) !== 0), 'the PING behind it is answered');
      t.true(ended(3), 'the next request is answered');
    });
  }
}
