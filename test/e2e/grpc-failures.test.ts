// gRPC when things go wrong, with real @grpc/grpc-js servers and clients: deadlines (the client's,
// and grpc-timeout enforced by the router), cancellation both ways, a backend that resets or dies
// mid-stream, no endpoint, a plugin that rejects — each must reach the client as a gRPC status
// it can read, never an HTML/plain-text body. And multiplexing: 100 concurrent calls on one client
// connection spread over two backends by weight; an h1-only backend on the same host still served.
import test from 'ava';
import path from 'node:path';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { request, eventually, metricsText, metricValue } from '../support/http-client.ts';
import { routeYaml, serviceYaml, startBackend, type Backend } from '../support/backends.ts';
import { echoClient, grpc, startEchoServer, unary, type EchoClient, type EchoServer } from '../support/grpc.ts';
import { h2Connect, h2Request } from '../support/h2-client.ts';
import { ErrorCode, FrameType, frame, headersFrame, rstFrame } from '../support/h2-frames.ts';
import { startRawH2Backend, type RawH2Backend } from '../support/raw-h2-backend.ts';
import { spawnEchoServer, type EchoProcess } from '../support/grpc-echo-child.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const guardLog = path.join(mkdtempSync(path.join(tmpdir(), 'grpc-guard-')), 'calls.jsonl');

let router: RouterProcess;
let a: EchoServer;
let b: EchoServer;
let weighted1: EchoServer;
let weighted2: EchoServer;
let doomed: EchoProcess;
let survivor: EchoServer;
let web: Backend;
const resetters: Array<[string, RawH2Backend]> = [];
const GRPC_HEADERS: Array<[string, string]> = [[':status', '200'], ['content-type', 'application/grpc']];

/** A frame built for stream 0, moved to `stream`. */
function withStream(bytes: Buffer, stream: number): Buffer {
  const copy = Buffer.from(bytes);
  copy.writeUInt32BE(stream & 0x7fffffff, 5);
  return copy;
}
const clients: EchoClient[] = [];

function client(authority: string): EchoClient {
  const c = echoClient(router.http, authority);
  clients.push(c);
  return c;
}

const H2C = { appProtocol: 'kubernetes.io/h2c' };

function grpcCount(metrics: string, route: string, code: string): number {
  return metricValue(metrics, 'switchyard_grpc_responses_total', { route, grpc_code: code }) ?? 0;
}

test.before(async () => {
  [a, b, weighted1, weighted2, survivor] = await Promise.all(['a', 'b', 'w1', 'w2', 'survivor'].map((n) => startEchoServer(n)));
  doomed = await spawnEchoServer('doomed');
  web = await startBackend('web');
  // Raw HTTP/2 backends that answer gRPC headers and one message, then reset the stream (or reset at once).
  const message = frame(FrameType.DATA, 0, 0, Buffer.from([0, 0, 0, 0, 1, 0x41]));
  const answers: Record<string, (stream: number) => Buffer[]> = {
    'after-cancel': (id) => [headersFrame(id, GRPC_HEADERS, false), withStream(message, id), rstFrame(id, ErrorCode.CANCEL)],
    'after-internal': (id) => [headersFrame(id, GRPC_HEADERS, false), withStream(message, id), rstFrame(id, ErrorCode.INTERNAL_ERROR)],
    'before-internal': (id) => [rstFrame(id, ErrorCode.INTERNAL_ERROR)],
  };
  for (const [name, answer] of Object.entries(answers)) resetters.push([name, await startRawH2Backend((id) => answer(id))]);
  const file = writeTempFile([
    serviceYaml('a', [a.port], H2C),
    serviceYaml('w1', [weighted1.port], H2C),
    serviceYaml('w2', [weighted2.port], H2C),
    serviceYaml('pair', [doomed.port, survivor.port], H2C),
    serviceYaml('empty', [a.port], { ...H2C, notReady: [a.port] }),
    ...resetters.map(([name, backend]) => serviceYaml(`reset-${name}`, [backend.port], H2C)),
    ...resetters.map(([name]) => routeYaml(`reset-${name}`, `${name}.reset.test`, `reset-${name}`)),
    serviceYaml('web', [web.port]),
    routeYaml('a', 'a.test', 'a'),
    routeYaml('weighted', 'weighted.test', 'w1', {
      annotations: { 'haproxy.router.openshift.io/balance': 'roundrobin', 'haproxy.router.openshift.io/disable_cookies': 'true' },
      spec: '  alternateBackends: [{ kind: Service, name: w2, weight: 1 }]\n  port: { targetPort: http }',
    }).replace('to: { kind: Service, name: w1 }', 'to: { kind: Service, name: w1, weight: 3 }'),
    routeYaml('pair', 'pair.test', 'pair', { annotations: { 'haproxy.router.openshift.io/balance': 'roundrobin', 'haproxy.router.openshift.io/disable_cookies': 'true' } }),
    routeYaml('empty', 'empty.test', 'empty'),
    routeYaml('secured', 'secured.test', 'a', { annotations: { 'switchyard.io/middlewares': 'auth' } }),
    routeYaml('guarded', 'guarded.test', 'a', { annotations: { 'switchyard.io/middlewares': 'guard' } }),
    `apiVersion: switchyard.io/v1alpha1
kind: Middleware
metadata: { name: guard, namespace: default }
spec: { plugin: grpc-guard, config: { deny: ["test.Echo/ClientStream"], log: ${JSON.stringify(guardLog)} } }`,
    `apiVersion: switchyard.io/v1alpha1
kind: Middleware
metadata: { name: auth, namespace: default }
spec: { plugin: api-key, config: { keys: ["s3cret-key"] } }`,
    // One host, two Routes: gRPC to the h2c backend, everything else to an HTTP/1.1-only backend.
    routeYaml('mixed-grpc', 'mixed.test', 'a', { path: '/test.Echo' }),
    routeYaml('mixed-web', 'mixed.test', 'web'),
  ].join('\n---\n'));
  router = await startRouter({ args: ['--file', file, '--plugin', path.join(root, 'examples/plugins/api-key.ts'), '--plugin', path.join(root, 'test/fixtures/plugins/grpc-guard.ts')] });
});

test.after.always(async () => {
  for (const c of clients) c.close();
  await router?.stop();
  await Promise.all([a, b, weighted1, weighted2, survivor].map((s) => s?.close()));
  await doomed?.kill();
  await web?.close();
  await Promise.all(resetters.map(([, backend]) => backend.close()));
});

test("the client's deadline: DEADLINE_EXCEEDED for the client, and the backend sees the call cancelled", async (t) => {
  const result = await unary(client('a.test'), 'slow', { 'x-hang': '1' }, { deadline: Date.now() + 300 });
  t.is(result.error?.code, grpc.status.DEADLINE_EXCEEDED);
  await eventually(() => a.cancelled.includes('/test.Echo/Unary'), 10_000);
  t.pass();
});

test('grpc-timeout is enforced by the router for a client that does not: DEADLINE_EXCEEDED as a gRPC status, the backend cancelled', async (t) => {
  const before = a.cancelled.length;
  const session = h2Connect(`http://127.0.0.1:${router.http}`);
  t.teardown(() => session.close());
  const reply = await h2Request(session, {
    ':method': 'POST', ':path': '/test.Echo/Unary', ':authority': 'a.test',
    'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '200m', 'x-hang': '1',
  }, Buffer.from([0, 0, 0, 0, 1, 0x41]));
  t.is(reply.status, 200);
  const status = reply.headers['grpc-status'] ?? reply.trailers['grpc-status'];
  t.is(status, String(grpc.status.DEADLINE_EXCEEDED));
  t.is(reply.headers['content-type'], 'application/grpc');
  await eventually(() => a.cancelled.length > before, 10_000);
});

test('client cancel: the backend sees the stream cancelled', async (t) => {
  const c = client('a.test');
  const md = new grpc.Metadata();
  md.set('x-hang', '1');
  const call = c.serverStream(Buffer.from('x'), md);
  call.on('error', () => {}); // the CANCELLED status is read below
  await new Promise((resolve) => call.once('data', resolve));
  const before = a.cancelled.filter((p) => p === '/test.Echo/ServerStream').length;
  call.cancel();
  const status = await new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  t.is(status.code, grpc.status.CANCELLED);
  await eventually(() => a.cancelled.filter((p) => p === '/test.Echo/ServerStream').length > before, 10_000);
});

for (const [label, name, expected] of [
  ['CANCEL after the response began: CANCELLED', 'after-cancel', grpc.status.CANCELLED],
  ['INTERNAL_ERROR after the response began: UNAVAILABLE', 'after-internal', grpc.status.UNAVAILABLE],
  ['INTERNAL_ERROR before the response: UNAVAILABLE', 'before-internal', grpc.status.UNAVAILABLE],
] as const) {
  test(`a backend that resets the stream (${label})`, async (t) => {
    const session = h2Connect(`http://127.0.0.1:${router.http}`);
    t.teardown(() => session.close());
    const reply = await h2Request(session, {
      ':method': 'POST', ':path': '/test.Echo/Unary', ':authority': `${name}.reset.test`, 'content-type': 'application/grpc', te: 'trailers',
    }, Buffer.from([0, 0, 0, 0, 1, 0x41]));
    t.is(reply.rstCode, 0, 'the client stream ends with a status, not a reset');
    t.is(reply.trailers['grpc-status'] ?? reply.headers['grpc-status'], String(expected));
    t.true(grpcCount(await metricsText(router.admin), `default/reset-${name}`, grpc.status[expected] as string) >= 1);
  });
}

test("no ready endpoint: UNAVAILABLE with the router's reason, as a gRPC status", async (t) => {
  const result = await unary(client('empty.test'), 'x');
  t.is(result.error?.code, grpc.status.UNAVAILABLE);
  t.regex(result.error?.details ?? '', /no ready and healthy endpoint/);
  t.is(result.error?.metadata.get('x-switchyard-error')[0], 'SY_NO_ENDPOINT');
  t.true((grpcCount(await metricsText(router.admin), 'default/empty', 'UNAVAILABLE')) >= 1, 'counted per route by gRPC status');
});

test('no route for the host: UNIMPLEMENTED (the gRPC mapping of 404)', async (t) => {
  const result = await unary(client('nowhere.test'), 'x');
  t.is(result.error?.code, grpc.status.UNIMPLEMENTED);
});

test('a plugin that rejects (401): UNAUTHENTICATED with its message; with the key the call goes through', async (t) => {
  const denied = await unary(client('secured.test'), 'x');
  t.is(denied.error?.code, grpc.status.UNAUTHENTICATED);
  t.regex(denied.error?.details ?? '', /missing or invalid API key/);
  const allowed = await unary(client('secured.test'), 'x', { 'x-api-key': 's3cret-key' });
  t.is(allowed.error, null);
  const metrics = await metricsText(router.admin);
  t.true(grpcCount(metrics, 'default/secured', 'UNAUTHENTICATED') >= 1);
  t.true(grpcCount(metrics, 'default/secured', 'OK') >= 1);
});

test('a backend killed mid-stream: its streams end UNAVAILABLE, the streams on the other endpoint continue', async (t) => {
  const c = client('pair.test');
  // Open streams until both backends serve some (round robin: alternating).
  const streams = await Promise.all(Array.from({ length: 6 }, () => new Promise<{ call: grpc.ClientDuplexStream<Buffer, Buffer>; backend: string }>((resolve) => {
    const call = c.bidi();
    call.on('metadata', (md: grpc.Metadata) => resolve({ call, backend: String(md.get('x-backend')[0]) }));
    call.on('error', () => {});
  })));
  const onDoomed = streams.filter((s) => s.backend === 'doomed');
  const onSurvivor = streams.filter((s) => s.backend === 'survivor');
  t.true(onDoomed.length > 0 && onSurvivor.length > 0, JSON.stringify(streams.map((s) => s.backend)));
  const statuses = streams.map((s) => new Promise<grpc.StatusObject>((resolve) => s.call.on('status', resolve)));
  await doomed.kill(); // a crash: the kernel closes its sockets, no GOAWAY, no RST_STREAM
  for (const [i, s] of streams.entries()) {
    if (s.backend === 'doomed') t.is((await statuses[i]!).code, grpc.status.UNAVAILABLE);
  }
  // The survivors still echo, then end OK.
  for (const s of onSurvivor) {
    const echoed = new Promise<string>((resolve) => s.call.once('data', (m: Buffer) => resolve(m.toString())));
    s.call.write(Buffer.from('still here'));
    t.is(await echoed, 'still here');
    s.call.end();
  }
  for (const [i, s] of streams.entries()) {
    if (s.backend === 'survivor') t.is((await statuses[i]!).code, grpc.status.OK);
  }
});

test('100 concurrent calls over one client connection, spread 3:1 over two backends by weight', async (t) => {
  const c = client('weighted.test');
  const results = await Promise.all(Array.from({ length: 100 }, (_, i) => unary(c, `m${i}`, { 'x-delay': '300' })));
  const by = { w1: 0, w2: 0 };
  for (const r of results) {
    t.is(r.error, null);
    by[r.value!.toString().split(':')[0] as 'w1' | 'w2']++;
  }
  t.deepEqual(by, { w1: 75, w2: 25 });
  // All in flight at once: each backend saw its calls before it answered the first (x-delay).
  t.is(weighted1.calls.length + weighted2.calls.length, 100);
});

test('an HTTP/1.1-only backend on the same host still works, for HTTP/1.1 and h2c clients', async (t) => {
  t.is((await unary(client('mixed.test'), 'x')).value?.toString(), 'a:x');
  const h1 = await request(router.http, { host: 'mixed.test', path: '/page' });
  t.is(h1.status, 200);
  t.is(h1.json<{ backend: string }>().backend, 'web');
  const session = h2Connect(`http://127.0.0.1:${router.http}`);
  t.teardown(() => session.close());
  const h2 = await h2Request(session, { ':path': '/page', ':authority': 'mixed.test' });
  t.is(h2.status, 200);
  t.is((JSON.parse(h2.text()) as { backend: string }).backend, 'web');
});

test('plugins see gRPC: ctx.grpc names the service and method (a plugin refuses one), the log phase sees the grpc status', async (t) => {
  const c = client('guarded.test');
  t.is((await unary(c, 'x')).error, null);
  const refused = await new Promise<grpc.ServiceError | null>((resolve) => {
    const call = c.clientStream(new grpc.Metadata(), {}, (err) => resolve(err));
    call.end();
  });
  t.is(refused?.code, grpc.status.PERMISSION_DENIED);
  t.regex(refused?.details ?? '', /ClientStream is not allowed here/);
  const lines = await eventually(() => {
    let text = '';
    try { text = readFileSync(guardLog, 'utf8'); } catch { return null; }
    const parsed = text.trim().split('\n').map((l) => JSON.parse(l) as { service: string; method: string; grpcStatus: number | null; status: number });
    return parsed.length >= 2 ? parsed : null;
  }, 10_000);
  t.deepEqual(lines!.map((l) => [l.service, l.method, l.grpcStatus]).sort(), [['test.Echo', 'ClientStream', 7], ['test.Echo', 'Unary', 0]]);
});
