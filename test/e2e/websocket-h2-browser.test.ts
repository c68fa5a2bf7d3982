// A browser opening `wss://` over HTTP/2 (RFC 8441): headless Chromium (Debian's `chromium`,
// driven by playwright-core, as the dashboard test) loads a page from an edge route with its own
// certificate — so the router offers h2 — and opens a WebSocket to the same host. Chromium puts
// it on its HTTP/2 connection only when the router allows extended CONNECT; the test checks that
// it did (the page over h2, the WebSocket's handshake as DevTools saw it: 200, not HTTP/1.1's 101)
// and that messages go both ways through the router to a real `ws` backend.
import test from 'ava';
import http from 'node:http';
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { WebSocketServer } from 'ws';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { serviceYaml, routeYaml } from '../support/backends.ts';
import { eventually, metricsText, metricValue } from '../support/http-client.ts';
import { createCa, issueCertificate } from '../support/certs.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// A bound on page loads, not a wait: Chromium beside CPU hogs takes seconds to paint a page.
const WAIT = { timeout: 60_000 };

let router: RouterProcess;
let backend: http.Server;
let profile: string;
let context: BrowserContext;
let page: Page;
const upgrades: http.IncomingMessage[] = [];

const PAGE = '<!doctype html><title>ws over h2</title><p>switchyard</p>';

test.before(async () => {
  // Not a skip: CI installs chromium (.ci/run); a missing browser is a failure, said in one line.
  if (!existsSync(CHROMIUM)) throw new Error(`chromium not found at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
  backend = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(PAGE);
  });
  const wss = new WebSocketServer({ noServer: true });
  backend.on('upgrade', (req, socket, head) => {
    upgrades.push(req);
    wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (data) => ws.send(`echo:${data.toString()}`)));
  });
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  const ca = await createCa('browser ws CA');
  const cert = await issueCertificate(ca, ['ws.test']);
  const tlsSpec = `  tls: ${JSON.stringify({ termination: 'edge', certificate: cert.cert, key: cert.key })}`;
  const file = writeTempFile([
    serviceYaml('page', [(backend.address() as import('node:net').AddressInfo).port]),
    routeYaml('page', 'ws.test', 'page', { spec: tlsSpec }),
  ].join('\n---\n'));
  router = await startRouter({ args: ['--file', file] });
  // The browser trusts exactly this certificate's key (as a pinned SPKI), and finds ws.test at 127.0.0.1.
  const spki = createHash('sha256').update(new X509Certificate(cert.cert).publicKey.export({ type: 'spki', format: 'der' })).digest('base64');
  profile = mkdtempSync(path.join(tmpdir(), 'switchyard-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--disable-quic', `--ignore-certificate-errors-spki-list=${spki}`, '--host-resolver-rules=MAP ws.test 127.0.0.1'],
  });
  page = context.pages()[0] ?? await context.newPage();
});

test.after.always(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await router?.stop();
  backend?.closeAllConnections();
  await new Promise((resolve) => backend?.close(resolve));
});

test('Chromium opens wss:// on its HTTP/2 connection to the route and messages go both ways', async (t) => {
  t.timeout(180_000);
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  const handshakes: Array<{ status: number; headersText?: string }> = [];
  cdp.on('Network.webSocketHandshakeResponseReceived', (e: { response: { status: number; headersText?: string } }) => handshakes.push(e.response));
  const origin = `https://ws.test:${router.https}`;
  await page.goto(`${origin}/`, WAIT);
  t.is(await page.evaluate(() => (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).nextHopProtocol), 'h2');
  const replies = await page.evaluate(() => new Promise<string[]>((resolve, reject) => {
    const ws = new WebSocket(`wss://${location.host}/live?from=browser`);
    const got: string[] = [];
    ws.onopen = () => ws.send('one');
    ws.onmessage = (e) => {
      got.push(String(e.data));
      if (got.length === 1) ws.send('two');
      else { ws.close(); resolve(got); }
    };
    ws.onerror = () => reject(new Error('websocket error'));
  }), WAIT);
  t.deepEqual(replies, ['echo:one', 'echo:two']);
  // The backend got an HTTP/1.1 Upgrade from the router.
  t.is(upgrades.length, 1);
  t.is(upgrades[0]!.url, '/live?from=browser');
  t.is(upgrades[0]!.headers.upgrade, 'websocket');
  // Over HTTP/2: the handshake DevTools saw is the extended CONNECT's 200 (over HTTP/1.1 it is a 101).
  t.is(handshakes.length, 1);
  t.is(handshakes[0]!.status, 200);
  await eventually(async () => metricValue(await metricsText(router.admin), 'switchyard_tunnels_active', { kind: 'websocket' }) === 0, 30_000);
});
