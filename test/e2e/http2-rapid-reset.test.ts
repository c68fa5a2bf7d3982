// HTTP/2 rapid reset (CVE-2023-44487, issue 19 item 1): HEADERS + RST_STREAM pairs written raw on
// one connection (test/support/h2-frames.ts) to an edge route with its own certificate, with
// `--workers 0` and `--workers 2`. A connection gets GOAWAY ENHANCE_YOUR_CALM past its glitch
// budget and keeps serving below it; a stream reset in the same read as its HEADERS reaches no
// backend (counted at the backend: requests and TCP connections); one client's connections share
// a budget, and a client that spent it is refused new connections for a while. Each test speaks
// from its own 127.x address, so the per-client budgets of different tests do not mix. The
// latency of other clients during an attack is measured by `npm run bench:rapid-reset`.
import test from 'ava';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { startBackend, serviceYaml, routeYaml, type Backend } from '../support/backends.ts';
import { metricsText, metricValue, request } from '../support/http-client.ts';
import { createCa, issueCertificate, type TestCertificate } from '../support/certs.ts';
import { ErrorCode, RawH2Connection, getRequest, headersFrame, rstFrame } from '../support/h2-frames.ts';

const CONNECTION_BUDGET = 50;
const CLIENT_BUDGET = 60;

let echo: Backend;
let ca: TestCertificate;
const routers: Record<string, RouterProcess> = {};

test.before(async () => {
  echo = await startBackend('echo');
  ca = await createCa('rapid reset CA');
  const cert = await issueCertificate(ca, ['h2.test']);
  const file = writeTempFile([
    serviceYaml('echo', [echo.port]),
    routeYaml('h2', 'h2.test', 'echo', { spec: `  tls: ${JSON.stringify({ termination: 'edge', certificate: cert.cert, key: cert.key, insecureEdgeTerminationPolicy: 'Allow' })}` }),
  ].join('\n---\n'));
  const args = (workers: string) => ['--file', file, '--workers', workers, '--http2-connection-glitches', String(CONNECTION_BUDGET), '--http2-client-glitches', String(CLIENT_BUDGET)];
  [routers.w0, routers.w2] = await Promise.all([
    startRouter({ args: args('0'), env: { ROUTER_LOG_LEVEL: 'info' } }),
    startRouter({ args: args('2'), env: { ROUTER_LOG_LEVEL: 'info' } }),
  ]);
  // Warm pools: with the old code every reset stream still took (and killed) a backend connection.
  for (const router of Object.values(routers)) for (let i = 0; i < 4; i++) await request(router.http, { host: 'h2.test', path: '/warm' });
});

test.after.always(async () => {
  await Promise.all(Object.values(routers).map((r) => r.stop()));
  await echo?.close();
});

function open(router: RouterProcess, localAddress: string): Promise<RawH2Connection> {
  return RawH2Connection.open({ port: router.https, servername: 'h2.test', ca: ca.cert, localAddress });
}

/** `count` HEADERS + RST_STREAM pairs from stream `first` on, in one buffer (one write, read together). */
function resets(first: number, count: number, tag: string, code: number = ErrorCode.CANCEL): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const id = first + 2 * i;
    parts.push(headersFrame(id, getRequest('h2.test', `/reset/${tag}/${id}`)), rstFrame(id, code));
  }
  return Buffer.concat(parts);
}

/** Backend traffic caused by reset streams of `tag`: requests that arrived, connections opened since `accepted`. */
function upstreamWork(tag: string, accepted: number): { requests: number; connections: number } {
  return { requests: echo.requests.filter((r) => r.url.startsWith(`/reset/${tag}/`)).length, connections: echo.acceptedConnections() - accepted };
}

for (const workers of ['w0', 'w2'] as const) {
  const label = workers === 'w0' ? '--workers 0' : '--workers 2';
  const client = workers === 'w0' ? '127.0.0.10' : '127.0.0.20';

  test.serial(`${label}: resets within the connection budget leave it serving; past it GOAWAY ENHANCE_YOUR_CALM; no reset stream reaches the backend`, async (t) => {
    const tag = `budget-${workers}`;
    const accepted = echo.acceptedConnections();
    const connection = await open(routers[workers]!, client);
    t.teardown(() => connection.destroy());
    // One short of the budget, then a real request on the same connection: answered, no GOAWAY.
    const below = CONNECTION_BUDGET - 1;
    const ok = 1 + 2 * below;
    connection.write(Buffer.concat([resets(1, below, tag), headersFrame(ok, getRequest('h2.test', `/ok/${tag}`))]));
    await connection.wait(() => connection.answeredStreams().has(ok) || connection.goaway !== null);
    t.is(connection.goaway, null, 'no GOAWAY within the budget');
    t.true(connection.answeredStreams().has(ok), 'the request after the resets is answered');
    // Far past it: GOAWAY ENHANCE_YOUR_CALM, and the connection closes.
    connection.write(resets(ok + 2, 1000, tag));
    await connection.wait(() => connection.closed);
    t.is(connection.goaway?.code, ErrorCode.ENHANCE_YOUR_CALM);
    // Every reset stream was reset in the read that brought it: none became an upstream exchange.
    const work = upstreamWork(tag, accepted);
    t.is(work.requests, 0, 'no reset stream reached the backend');
    t.true(work.connections <= 1, `backend connections opened: ${work.connections} (at most one for the real request)`);
    t.is(echo.requests.filter((r) => r.url === `/ok/${tag}`).length, 1);
  });

  test.serial(`${label}: a reset with NO_ERROR is a glitch too`, async (t) => {
    const tag = `noerror-${workers}`;
    const connection = await open(routers[workers]!, workers === 'w0' ? '127.0.0.11' : '127.0.0.21');
    t.teardown(() => connection.destroy());
    connection.write(resets(1, 1000, tag, ErrorCode.NO_ERROR));
    await connection.wait(() => connection.closed);
    t.is(connection.goaway?.code, ErrorCode.ENHANCE_YOUR_CALM);
    t.is(upstreamWork(tag, 0).requests, 0);
  });
}

test.serial('--workers 0: one client\'s connections share its budget; past it GOAWAY, then its new connections are refused', async (t) => {
  const router = routers.w0!;
  const client = '127.0.0.30';
  const first = await open(router, client);
  t.teardown(() => first.destroy());
  // 45 of the client's 60, within the connection's 50: still serving.
  first.write(Buffer.concat([resets(1, 45, 'client-1'), headersFrame(91, getRequest('h2.test', '/ok/client-1'))]));
  await first.wait(() => first.answeredStreams().has(91) || first.goaway !== null);
  t.is(first.goaway, null);
  // A second connection of the same client, within its own connection budget (49 of 50), runs
  // out of the client's (15 left, regained at 6 per second).
  const second = await open(router, client);
  t.teardown(() => second.destroy());
  second.write(resets(1, CONNECTION_BUDGET - 1, 'client-2'));
  await second.wait(() => second.closed);
  t.is(second.goaway?.code, ErrorCode.ENHANCE_YOUR_CALM);
  // Refused until half the client's budget is back (5 s); another client is not.
  await t.throwsAsync(open(router, client));
  const other = await open(router, '127.0.0.31');
  other.write(headersFrame(1, getRequest('h2.test', '/ok/other-client')));
  await other.wait(() => other.answeredStreams().has(1));
  other.destroy();
  const text = await metricsText(router.admin);
  t.true((metricValue(text, 'switchyard_http2_calm_total', { reason: 'client_budget' }) ?? 0) >= 1);
  t.true((metricValue(text, 'switchyard_http2_calm_total', { reason: 'client_refused' }) ?? 0) >= 1);
  t.true((metricValue(text, 'switchyard_http2_calm_total', { reason: 'connection_budget' }) ?? 0) >= 1);
  t.true((metricValue(text, 'switchyard_http2_glitches_total') ?? 0) >= 45 + CONNECTION_BUDGET);
});
