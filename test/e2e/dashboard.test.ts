// The admin dashboard in a real browser: headless Chromium (Debian's `chromium`, driven by
// playwright-core) against a real router process in file mode. The page lists the file's
// routes, shows a route added to the file without a reload, turns an endpoint down when its
// backend dies, shows a rejected route's reason and the recent configuration errors, and the
// admin port refuses wrong credentials. With SWITCHYARD_SCREENSHOT=<path> it also saves a
// screenshot: `npm run build && SWITCHYARD_SCREENSHOT=docs/dashboard.png npx ava test/e2e/dashboard.test.ts`
// makes docs/dashboard.png.

import test from 'ava';
import { existsSync, mkdtempSync, rmSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { startBackend, serviceYaml, routeYaml, type Backend } from '../support/backends.ts';
import { request } from '../support/http-client.ts';
import { echoClient, grpc, startEchoServer, unary, type EchoServer } from '../support/grpc.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-quic'];
const USER = 'ops';
const PASS = 'dash-s3cret';
const basic = (user: string, pass: string, scheme = 'Basic') => ({ authorization: `${scheme} ${Buffer.from(`${user}:${pass}`).toString('base64')}` });
/** Bounds every wait for the page; the page itself updates within 2 s of a change. */
const WAIT = { timeout: 15_000 };

let router: RouterProcess;
let shop1: Backend, shop2: Backend, blog: Backend;
let echo: EchoServer;
let file: string;
let profile: string;
let context: BrowserContext;
let page: Page;

const CHECKED = { 'switchyard.io/health-check-path': '/ready', 'switchyard.io/health-check-interval': '200ms', 'switchyard.io/health-check-fall': '1', 'switchyard.io/health-check-rise': '1' };

test.before(async () => {
  // Not a skip: CI installs chromium (.ci/run); a missing browser is a failure, said in one line.
  if (!existsSync(CHROMIUM)) throw new Error(`chromium not found at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
  [shop1, shop2, blog, echo] = await Promise.all([startBackend('shop-1'), startBackend('shop-2'), startBackend('blog'), startEchoServer('echo')]);
  file = writeTempFile([
    serviceYaml('shop', [shop1.port, shop2.port], { namespace: 'store' }),
    routeYaml('shop', 'shop.example.test', 'shop', { namespace: 'store', annotations: CHECKED }),
    serviceYaml('blog', [blog.port], { namespace: 'press' }),
    routeYaml('blog', 'blog.example.test', 'blog', { namespace: 'press', path: '/posts' }),
    // Newer claim on a host another namespace already holds: rejected with HostAlreadyClaimed.
    routeYaml('shop-copy', 'shop.example.test', 'blog', { namespace: 'press' }),
    // An invalid document: a configuration error with its file, document and field.
    'apiVersion: route.openshift.io/v1\nkind: Route\nmetadata: { name: broken, namespace: press }\nspec:\n  host: broken.example.test',
    // A gRPC backend (after the invalid document: its index stays #8).
    serviceYaml('echo', [echo.port], { namespace: 'rpc', appProtocol: 'kubernetes.io/h2c' }),
    routeYaml('echo', 'echo.example.test', 'echo', { namespace: 'rpc' }),
  ].join('\n---\n'));
  router = await startRouter({ args: ['--file', file], env: { STATS_USERNAME: USER, STATS_PASSWORD: PASS, ROUTER_LOG_LEVEL: 'info' } });
  profile = mkdtempSync(path.join(tmpdir(), 'switchyard-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: FLAGS,
    httpCredentials: { username: USER, password: PASS }, viewport: { width: 1440, height: 900 },
  });
  page = context.pages()[0] ?? await context.newPage();
  await page.goto(`${router.adminUrl}/`);
  await page.waitForSelector('body[data-loaded="true"]', WAIT);
});

test.after.always(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await router?.stop();
  await Promise.all([shop1?.close(), shop2?.close(), blog?.close(), echo?.close()]);
});

const row = (key: string) => `tr[data-key="${key}"]`;

test.serial('wrong or missing credentials get 401 on the page and its data; health stays open', async (t) => {
  for (const p of ['/', '/dashboard/routes.json', '/dashboard/events', '/dashboard/app.js']) {
    t.is((await request(router.admin, { path: p })).status, 401, p);
    t.is((await request(router.admin, { path: p, headers: basic(USER, 'wrong') })).status, 401, p);
  }
  t.is((await request(router.admin, { path: '/healthz' })).status, 200);
  // Same refusal from inside the browser, whatever it has cached for the origin.
  const status = await page.evaluate(async (auth) => (await fetch('/dashboard/overview.json', { headers: { authorization: auth } })).status, basic(USER, 'nope').authorization);
  t.is(status, 401);
  // The right credentials, with a lower-case scheme (RFC 9110: the scheme is case-insensitive).
  t.is((await request(router.admin, { path: '/', headers: basic(USER, PASS, 'basic') })).status, 200);
});

test.serial('the page lists the routes of the file with host, path, backends and endpoints', async (t) => {
  await page.waitForSelector(row('Route/store/shop'), WAIT);
  const shop = await page.textContent(row('Route/store/shop'));
  t.regex(shop!, /store\/shop/);
  t.regex(shop!, /shop\.example\.test/);
  t.regex(shop!, /store\/shop w100/);
  t.true(shop!.includes(`127.0.0.1:${shop1.port}`) && shop!.includes(`127.0.0.1:${shop2.port}`));
  const blogRow = await page.textContent(row('Route/press/blog'));
  t.regex(blogRow!, /blog\.example\.test\/posts/);
  t.is(await page.locator(`${row('Route/store/shop')} .ep[data-health="up"]`).count(), 2);
});

test.serial('a rejected route shows its reason, and the configuration error its file, document and field', async (t) => {
  const rejected = page.locator(`${row('Route/press/shop-copy')}[data-state="rejected"]`);
  await rejected.waitFor(WAIT);
  t.regex((await rejected.textContent())!, /HostAlreadyClaimed/);
  const errors = page.locator('#config-errors');
  await errors.waitFor({ state: 'visible', ...WAIT });
  const text = (await errors.textContent())!;
  t.true(text.includes(path.basename(file)));
  t.regex(text, /spec\.to/);
  t.regex(text, /#8/); // its index in the file (0-based, as in the logs): 3 + 1 + 2 + 1 + 1 documents before it
});

test.serial('a route added to the file appears without a reload', async (t) => {
  const marker = await page.evaluate(() => { (window as unknown as { marker: number }).marker = 42; return 42; });
  appendFileSync(file, `\n---\n${routeYaml('news', 'news.example.test', 'blog', { namespace: 'press' })}\n`);
  await page.waitForSelector(row('Route/press/news'), WAIT);
  t.regex((await page.textContent(row('Route/press/news')))!, /news\.example\.test/);
  // Same document: no navigation happened.
  t.is(await page.evaluate(() => (window as unknown as { marker?: number }).marker), marker);
});

test.serial('killing a backend turns its endpoint down; the route shows as degraded', async (t) => {
  const endpoint = `${row('Route/store/shop')} .ep[data-endpoint="127.0.0.1:${shop2.port}"]`;
  await shop2.close();
  await page.waitForSelector(`${endpoint}[data-health="down"]`, WAIT);
  t.is(await page.locator(`${row('Route/store/shop')} .ep[data-endpoint="127.0.0.1:${shop1.port}"]`).getAttribute('data-health'), 'up');
  t.regex((await page.textContent(`${row('Route/store/shop')} .badge`))!, /degraded/);
});

test.serial('filters narrow the list; a row links to the route detail with its last probe', async (t) => {
  await page.selectOption('select[name=state]', 'rejected');
  await page.waitForFunction(() => document.querySelectorAll('#routes tr[data-key]').length === 1, undefined, WAIT);
  t.truthy(await page.$(row('Route/press/shop-copy')));
  await page.selectOption('select[name=state]', '');
  await page.fill('input[name=q]', 'shop.example');
  await page.waitForFunction(() => !document.querySelector('tr[data-key="Route/press/blog"]') && document.querySelector('tr[data-key="Route/store/shop"]'), undefined, WAIT);
  await page.fill('input[name=q]', '');
  await page.waitForSelector(row('Route/press/blog'), WAIT);
  await page.click(`${row('Route/store/shop')} a.route-link`);
  await page.waitForSelector('#detail:not([hidden])', WAIT);
  await page.waitForFunction(() => /fail: /.test(document.querySelector('#detail-body')?.textContent ?? ''), undefined, WAIT);
  const detail = (await page.textContent('#detail-body'))!;
  t.regex(detail, /pass: HTTP 200/);
  t.regex(detail, /ECONNREFUSED/);
  await page.click('#detail-close');
});

test.serial('a gRPC route\'s detail counts its calls by gRPC status', async (t) => {
  const client = echoClient(router.http, 'echo.example.test');
  t.teardown(() => client.close());
  for (let i = 0; i < 3; i++) t.is((await unary(client, `m${i}`)).error, null);
  t.is((await unary(client, 'x', { 'x-fail': String(grpc.status.NOT_FOUND) })).error?.code, grpc.status.NOT_FOUND);
  await page.click(`${row('Route/rpc/echo')} a.route-link`);
  await page.waitForSelector('#detail:not([hidden])', WAIT);
  await page.waitForFunction(() => /OK 3 · NOT_FOUND 1/.test(document.querySelector('#detail-body')?.textContent ?? ''), undefined, WAIT);
  t.regex((await page.textContent('#detail-body'))!, /gRPC statuses\s*OK 3 · NOT_FOUND 1/);
  await page.click('#detail-close');
});

test.serial('traffic shows as request rate, 5xx ratio and latency on the route', async (t) => {
  for (let i = 0; i < 20; i++) await request(router.http, { host: 'blog.example.test', path: i % 4 === 0 ? '/posts?status=503' : '/posts' });
  const cells = `${row('Route/press/blog')} td.num`;
  await page.waitForFunction((sel) => {
    const tds = document.querySelectorAll(sel);
    return tds.length === 4 && tds[0]!.textContent !== '–' && tds[1]!.textContent !== '–';
  }, cells, WAIT);
  const [rate, ratio, p50, p99] = await page.locator(cells).allTextContents();
  t.true(Number(rate) > 0, rate);
  t.regex(ratio!, /%$/);
  t.not(ratio, '0.0 %'); // 5 of 20 answers were 503
  t.regex(p50!, /ms|s$/);
  t.regex(p99!, /ms|s$/);
  const target = process.env.SWITCHYARD_SCREENSHOT;
  if (target) {
    await page.setViewportSize({ width: 1440, height: 640 });
    await page.screenshot({ path: target, fullPage: true });
  }
});
