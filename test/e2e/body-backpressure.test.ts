// Body phases keep backpressure: with a requestBody or responseBody phase on the route, a side
// that does not read stops the other side from sending — the router does not take in the body
// and hold it. Each test sends far more than the router would hold with backpressure, lets the
// reader stall, waits for the writer to stall too, and then accounts for every byte written: in
// the kernel's socket queues of the exchange's connections (/proc/net/tcp), or held by a
// process. What processes hold must stay small (a few chunks); without backpressure the router
// would hold most of the body. Then the reader reads and gets the whole body, transformed.
//
// "Stalled" is decided by events, not time: the writer's progress is unchanged across a series
// of round trips through the same router process (each one turns its event loop many times; a
// router reading the stalled exchange without backpressure would have let the writer go on).
import test from 'ava';
import http from 'node:http';
import zlib from 'node:zlib';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { startBackend, serviceYaml, routeYaml, type Backend } from '../support/backends.ts';
import { request } from '../support/http-client.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const MW = 'switchyard.io/middlewares';

/** Sent one way per test. */
const TOTAL = 64 << 20;
/** What the processes on the way may hold at a stall: each one a chunk or two, zlib its window. */
const HELD_BOUND = 8 << 20;
const CHUNK = 256 << 10;
const LETTERS = Buffer.alloc(CHUNK, 'abcdefghijklmnopqrstuvwxyz');
/** Incompressible (gzip's window is 32 KB, the chunk repeats every 256 KB): gzip output as large as its input. */
const NOISE = randomBytes(CHUNK);

/** A writer that writes `TOTAL` bytes of `chunk` as fast as its reader takes them. */
interface Writer { written: number; done: boolean }
/** The two connections of an exchange by their client-side ports: client → router, router → backend. */
interface Flow { clientPort: number; upstreamPort: number }

function pump(writer: Writer, write: (chunk: Buffer) => boolean, wait: () => Promise<unknown>, end: () => void, chunk: Buffer): void {
  void (async () => {
    while (writer.written < TOTAL) {
      writer.written += chunk.length;
      if (!write(chunk)) await wait();
    }
    writer.done = true;
    end();
  })();
}

let backend: Backend;
let router: RouterProcess;
/** Per test (by path): the backend's response writer, or the request body it held back. */
const floods = new Map<string, Writer & { upstreamPort: number }>();
const holds = new Map<string, { upstreamPort: number; release: () => void; received: Promise<{ bytes: number; lowerCase: number }> }>();

test.before(async () => {
  backend = await startBackend('flood', {
    handler(req, res) {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname.startsWith('/flood/')) {
        const writer = { written: 0, done: false, upstreamPort: req.socket.remotePort! };
        floods.set(url.pathname, writer);
        res.writeHead(200, { 'content-type': url.searchParams.has('noise') ? 'application/json' : 'text/plain', 'content-length': String(TOTAL) });
        pump(writer, (c) => res.write(c), () => once(res, 'drain'), () => res.end(), url.searchParams.has('noise') ? NOISE : LETTERS);
        return true;
      }
      if (url.pathname.startsWith('/hold/')) {
        // Do not read the request body until the test says so.
        let release!: () => void;
        const released = new Promise<void>((resolve) => (release = resolve));
        const received = released.then(async () => {
          let bytes = 0;
          let lowerCase = 0;
          for await (const chunk of req as AsyncIterable<Buffer>) {
            bytes += chunk.length;
            for (let i = 0; i < chunk.length; i += 4096) if (chunk[i]! >= 97 && chunk[i]! <= 122) lowerCase++;
          }
          res.writeHead(200, { 'content-type': 'text/plain' }).end(String(bytes));
          return { bytes, lowerCase };
        });
        holds.set(url.pathname, { upstreamPort: req.socket.remotePort!, release, received });
        return true;
      }
      return false;
    },
  });
  const file = writeTempFile([
    serviceYaml('flood', [backend.port]),
    `apiVersion: switchyard.io/v1alpha1
kind: Middleware
metadata: { name: shout, namespace: default }
spec: { plugin: shout, config: { async: false } }`,
    `apiVersion: switchyard.io/v1alpha1
kind: Middleware
metadata: { name: shout-async, namespace: default }
spec: { plugin: shout, config: { async: true } }`,
    `apiVersion: switchyard.io/v1alpha1
kind: Middleware
metadata: { name: gzip, namespace: default }
spec: { plugin: compress, config: { encodings: [gzip], gzipLevel: 1 } }`,
    routeYaml('plain', 'plain.test', 'flood'),
    routeYaml('shout', 'shout.test', 'flood', { annotations: { [MW]: 'shout' } }),
    routeYaml('shout-async', 'shout-async.test', 'flood', { annotations: { [MW]: 'shout-async' } }),
    routeYaml('gzip', 'gzip.test', 'flood', { annotations: { [MW]: 'gzip' } }),
  ].join('\n---\n'));
  router = await startRouter({ args: ['--file', file, '--plugin', path.join(root, 'test/fixtures/plugins/shout.ts')] });
});

test.after.always(async () => {
  await router?.stop();
  await backend?.close();
});

/** Wait until `progress()` no longer moves: unchanged across 20 round trips through the router. */
async function stalledAt(progress: () => number): Promise<number> {
  for (;;) {
    const before = progress();
    for (let i = 0; i < 20; i++) await request(router.http, { host: 'plain.test', path: '/' });
    if (progress() === before) return before;
  }
}

/**
 * Bytes in the kernel's queues (sent and not yet read, or not yet sent) of the four sockets of
 * an exchange's two connections: client ↔ router, router ↔ backend.
 */
function queuedBytes(flow: Flow): number {
  const ends = [
    [flow.clientPort, router.http], [router.http, flow.clientPort], [flow.upstreamPort, backend.port], [backend.port, flow.upstreamPort],
  ];
  let sum = 0;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5) continue;
    const local = parseInt(f[1]!.split(':')[1]!, 16);
    const remote = parseInt(f[2]!.split(':')[1]!, 16);
    if (!ends.some(([l, r]) => l === local && r === remote)) continue;
    const [tx, rx] = f[4]!.split(':').map((h) => parseInt(h, 16));
    sum += tx! + rx!;
  }
  return sum;
}

/** At a stall: what was written and is neither in a socket queue nor read is held by a process. */
function heldAfterStall(t: import('ava').ExecutionContext, what: string, written: number, flow: Flow): void {
  const queued = queuedBytes(flow);
  const held = written - queued;
  t.log(`${what} stalled after ${(written / 2 ** 20).toFixed(1)} MiB: ${(queued / 2 ** 20).toFixed(1)} MiB in socket queues, ${(held / 2 ** 20).toFixed(2)} MiB held by processes`);
  t.true(held < HELD_BOUND, `${held} bytes held by the processes on the way (the router took the body in)`);
}

const responseCases = [
  { host: 'shout.test', what: 'a sync responseBody phase' },
  { host: 'shout-async.test', what: 'an async responseBody phase' },
  { host: 'gzip.test', what: 'the compress plugin (zlib)' },
];

for (const { host, what } of responseCases) {
  test.serial(`${what}: a client that does not read stops the backend; then it gets the whole body (${host})`, async (t) => {
    const target = `/flood/${host}${host === 'gzip.test' ? '?noise' : ''}`;
    const req = http.request({ host: '127.0.0.1', port: router.http, path: target, headers: { host, 'accept-encoding': 'gzip' }, agent: false });
    req.end();
    const [res] = await once(req, 'response') as [http.IncomingMessage];
    t.is(res.statusCode, 200);
    // Not reading: Node's client stops reading its socket once its own buffer is full.
    const writer = await waitFor(() => floods.get(`/flood/${host}`));
    heldAfterStall(t, 'the backend', await stalledAt(() => writer.written), { clientPort: req.socket!.localPort!, upstreamPort: writer.upstreamPort });

    // Now read: everything arrives, transformed.
    const expected = createHash('sha256');
    const got = createHash('sha256');
    let bytes = 0;
    if (host === 'gzip.test') {
      t.is(res.headers['content-encoding'], 'gzip');
      for (let n = 0; n < TOTAL; n += CHUNK) expected.update(NOISE);
      for await (const chunk of res.pipe(zlib.createGunzip()) as AsyncIterable<Buffer>) {
        bytes += chunk.length;
        got.update(chunk);
      }
      t.is(bytes, TOTAL);
    } else {
      const upper = Buffer.from(LETTERS.toString('latin1').toUpperCase(), 'latin1');
      for (let n = 0; n < TOTAL; n += CHUNK) expected.update(upper);
      let tail = Buffer.alloc(0);
      for await (const chunk of res as AsyncIterable<Buffer>) {
        // The last bytes are the plugin's trailer line: hash the body, keep what may be the trailer.
        const all = tail.length === 0 ? chunk : Buffer.concat([tail, chunk]);
        const room = Math.max(0, TOTAL - bytes);
        const body = all.subarray(0, Math.min(room, all.length));
        got.update(body);
        bytes += body.length;
        tail = Buffer.from(all.subarray(body.length));
      }
      t.is(bytes, TOTAL);
      t.regex(tail.toString(), new RegExp(`^\\n\\[up 0 down ${TOTAL} chunks \\d+\\]$`));
    }
    t.is(got.digest('hex'), expected.digest('hex'));
    t.true(writer.done);
  });
}

for (const host of ['shout.test', 'shout-async.test']) {
  test.serial(`a requestBody phase: an endpoint that does not read stops the client's upload; then it gets the whole body (${host})`, async (t) => {
    const target = `/hold/${host}`;
    const req = http.request({ host: '127.0.0.1', port: router.http, method: 'POST', path: target, headers: { host }, agent: false });
    const client: Writer = { written: 0, done: false };
    const responded = once(req, 'response') as Promise<[http.IncomingMessage]>;
    pump(client, (c) => req.write(c), () => once(req, 'drain'), () => req.end(), LETTERS);
    const hold = await waitFor(() => holds.get(target));
    heldAfterStall(t, 'the client\'s upload', await stalledAt(() => client.written), { clientPort: req.socket!.localPort!, upstreamPort: hold.upstreamPort });

    hold.release();
    const received = await hold.received;
    t.is(received.bytes, TOTAL, 'the endpoint got the whole body');
    t.is(received.lowerCase, 0, 'upper-cased by the requestBody phase');
    const [res] = await responded;
    t.is(res.statusCode, 200);
    res.resume();
    t.true(client.done);
  });
}

/** The backend's record of a request, once it arrived (the request is on its way through the router). */
async function waitFor<T>(get: () => T | undefined): Promise<T> {
  for (;;) {
    const value = get();
    if (value !== undefined) return value;
    await request(router.http, { host: 'plain.test', path: '/' });
  }
}
