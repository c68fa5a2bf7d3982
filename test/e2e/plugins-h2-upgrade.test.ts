// Loaded plugins on the other ways in, against a real router process: HTTP/2 on a route with its
// own certificate runs the whole chain (a request phase that rejects, a header set by a request
// phase, sync and async response phases, the log phase), and an Upgrade through a route whose
// request-phase plugin rejects is refused before any endpoint sees it.
import test from 'ava';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { startBackend, serviceYaml, routeYaml, type Backend } from '../support/backends.ts';
import { rawExchange, eventually } from '../support/http-client.ts';
import { createCa, issueCertificate, type TestCertificate } from '../support/certs.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const PLUGINS = [
  ...['api-key', 'request-id', 'json-access-log'].map((p) => path.join(root, 'examples/plugins', `${p}.ts`)),
  path.join(root, 'test/fixtures/plugins/async-phases.ts'),
].flatMap((p) => ['--plugin', p]);
const MW = 'switchyard.io/middlewares';
const KEY = 'h2-upgrade-key-123';

function middlewareYaml(name: string, plugin: string, config: unknown): string {
  return `apiVersion: switchyard.io/v1alpha1
kind: Middleware
metadata: { name: ${name}, namespace: default }
spec:
  plugin: ${plugin}
  config: ${JSON.stringify(config)}`;
}

let backend: Backend;
let router: RouterProcess;
let ca: TestCertificate;
let accessLog: string;

test.before(async () => {
  ca = await createCa('plugins h2 CA');
  const cert = await issueCertificate(ca, ['h2.test']);
  backend = await startBackend('app', { websocket: true });
  accessLog = path.join(mkdtempSync(path.join(tmpdir(), 'sy-h2-access-')), 'access.log');
  const file = writeTempFile([
    serviceYaml('app', [backend.port]),
    middlewareYaml('auth', 'api-key', { keys: [KEY] }),
    middlewareYaml('rid', 'request-id', {}),
    middlewareYaml('access', 'json-access-log', { path: accessLog }),
    middlewareYaml('later', 'async-phases', {}),
    routeYaml('h2', 'h2.test', 'app', {
      annotations: { [MW]: 'auth, rid, access, later' },
      spec: `  tls: ${JSON.stringify({ termination: 'edge', certificate: cert.cert, key: cert.key })}`,
    }),
    routeYaml('ws', 'ws.test', 'app', { annotations: { [MW]: 'auth' } }),
  ].join('\n---\n'));
  router = await startRouter({ args: ['--file', file, ...PLUGINS] });
});

test.after.always(async () => {
  await router?.stop();
  await backend?.close();
});

interface H2Reply { headers: http2.IncomingHttpHeaders; body: string }

async function h2Get(session: http2.ClientHttp2Session, p: string, headers: Record<string, string> = {}): Promise<H2Reply> {
  const stream = session.request({ ':path': p, ':authority': 'h2.test', ...headers });
  let body = '';
  stream.setEncoding('utf8').on('data', (c: string) => (body += c));
  const [response] = await once(stream, 'response') as [http2.IncomingHttpHeaders];
  await once(stream, 'end');
  return { headers: response, body };
}

test('HTTP/2 on a route with its own certificate runs the chain: rejection, request and response headers, log', async (t) => {
  const session = http2.connect(`https://127.0.0.1:${router.https}`, { ca: ca.cert, servername: 'h2.test', ALPNProtocols: ['h2'] });
  t.teardown(() => session.close());
  const denied = await h2Get(session, '/h2-denied');
  t.is((session.socket as tls.TLSSocket).alpnProtocol, 'h2');
  t.is(Number(denied.headers[':status']), 401, 'api-key rejects over h2');
  t.is(denied.headers['www-authenticate'], 'Bearer');
  t.false(backend.requests.some((r) => r.url === '/h2-denied'), 'the rejected request reached no endpoint');

  const ok = await h2Get(session, '/h2-ok', { 'x-api-key': KEY });
  t.is(Number(ok.headers[':status']), 200);
  const echoed = JSON.parse(ok.body) as { url: string; headers: Record<string, string | undefined> };
  t.is(echoed.url, '/h2-ok');
  t.is(echoed.headers['x-api-key'], undefined, 'the key is not forwarded');
  t.regex(echoed.headers['x-request-id']!, /^[0-9a-f-]{36}$/);
  t.is(ok.headers['x-request-id'], echoed.headers['x-request-id'], 'request-id response phase');
  t.is(ok.headers['x-async-response'], '200', 'async response phase');

  const lines = await eventually(() => {
    const text = readFileSync(accessLog, 'utf8');
    return ['/h2-denied', '/h2-ok'].every((p) => text.includes(`"path":"${p}"`)) ? text.trim().split('\n') : undefined;
  }, 5000);
  const byPath = new Map(lines!.map((l) => JSON.parse(l) as Record<string, unknown>).map((e) => [e.path, e]));
  t.like(byPath.get('/h2-denied'), { route: 'default/h2', kind: 'http', host: 'h2.test', status: 401, outcome: 'answered' });
  t.like(byPath.get('/h2-ok'), { route: 'default/h2', kind: 'http', host: 'h2.test', status: 200, outcome: 'forwarded', endpoint: `127.0.0.1:${backend.port}` });
});

function upgradeRequest(path: string, headers = ''): string {
  return `GET ${path} HTTP/1.1\r\nHost: ws.test\r\nConnection: Upgrade\r\nUpgrade: echo/1\r\n${headers}\r\n`;
}

test('an Upgrade through a route whose request-phase plugin rejects is refused: no 101, no endpoint', async (t) => {
  const refused = await rawExchange(router.http, upgradeRequest('/ws-denied'));
  t.regex(refused, /^HTTP\/1\.1 401 /);
  t.notRegex(refused, / 101 /);
  t.false(backend.requests.some((r) => r.url === '/ws-denied'), 'the refused Upgrade reached no endpoint');

  // With the key the same route switches protocols: the refusal above was the plugin's.
  const socket = net.connect(router.http, '127.0.0.1');
  t.teardown(() => socket.destroy());
  socket.write(upgradeRequest('/ws-ok', `X-Api-Key: ${KEY}\r\n`));
  const [first] = await once(socket, 'data') as [Buffer];
  t.regex(first.toString('latin1'), /^HTTP\/1\.1 101 /);
  t.true(backend.requests.some((r) => r.url === '/ws-ok'));
});
