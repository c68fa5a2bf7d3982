// `npm run build && node bench/dashboard.ts`: is the admin dashboard usable at 10k routes? Starts
// the real router on a file of N routes (each its own host, Service and endpoint; DASHBOARD_ROUTES,
// default 10000; DASHBOARD_WORKERS, default 0), then measures the JSON the page reads (first page,
// a host filter, sorted by request rate, the overview, one route's detail) and, when Chromium is
// installed, the page in a real browser: load until the first rows show, next page, typing a filter.

import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startJsonLine } from './processes.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const n = Number(process.env.DASHBOARD_ROUTES ?? 10_000);
const workers = process.env.DASHBOARD_WORKERS ?? '0';
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

function doc(i: number, port: number): string {
  return `---
apiVersion: v1
kind: Service
metadata: { name: s${i}, namespace: ns${i % 20} }
spec: { ports: [{ name: http, port: 80 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: s${i}-1, namespace: ns${i % 20}, labels: { kubernetes.io/service-name: s${i} } }
addressType: IPv4
ports: [{ name: http, port: ${port} }]
endpoints: [{ addresses: ["127.0.0.1"], conditions: { ready: true } }]
---
apiVersion: route.openshift.io/v1
kind: Route
metadata: { name: r${i}, namespace: ns${i % 20} }
spec: { host: r${i}.scale.local, to: { kind: Service, name: s${i} } }
`;
}

function get(port: number, p: string, host?: string): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, headers: host ? { host } : {}, agent: false }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length)).on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
    });
    req.on('error', reject);
    req.end();
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function timed(port: number, p: string, runs = 15): Promise<string> {
  const ms: number[] = [];
  let bytes = 0;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const reply = await get(port, p);
    ms.push(performance.now() - t0);
    if (reply.status !== 200) throw new Error(`${p}: HTTP ${reply.status}`);
    bytes = reply.bytes;
  }
  return `${median(ms).toFixed(1)} ms median (${(bytes / 1024).toFixed(0)} KiB)`;
}

async function main(): Promise<void> {
  const backend = http.createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
  const backendPort = (backend.address() as { port: number }).port;
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-dashboard-bench-'));
  const file = path.join(dir, 'routes.yaml');
  writeFileSync(file, Array.from({ length: n }, (_, i) => doc(i, backendPort)).join(''));
  const { child, line } = await startJsonLine(process.execPath, [path.join(root, 'dist/cli.js'), 'run', '--file', file, '--bind', '127.0.0.1',
    '--http-port', '0', '--https-port', '0', '--admin-port', '0', '--workers', workers], (l) => l.msg === 'listening');
  const admin = line.admin as number;
  const httpPort = line.http as number;
  // Some traffic on a few routes, so the sampler has series to merge and sort by.
  for (let i = 0; i < 200; i++) await get(httpPort, '/', `r${i % 50}.scale.local`);
  await get(admin, '/dashboard/overview.json');
  await new Promise((r) => setTimeout(r, 2500)); // two samples: the figures exist
  console.log(`switchyard dashboard, ${n} routes, --workers ${workers}`);
  console.log(`  routes.json first page (100 rows)   ${await timed(admin, '/dashboard/routes.json?limit=100')}`);
  console.log(`  routes.json host filter              ${await timed(admin, '/dashboard/routes.json?q=r4242.scale')}`);
  console.log(`  routes.json sorted by rate           ${await timed(admin, '/dashboard/routes.json?sort=rate')}`);
  console.log(`  routes.json state=down (all rows)    ${await timed(admin, '/dashboard/routes.json?state=down')}`);
  console.log(`  overview.json                        ${await timed(admin, '/dashboard/overview.json')}`);
  console.log(`  route.json (one detail)              ${await timed(admin, `/dashboard/route.json?key=${encodeURIComponent('Route/ns2/r42')}`)}`);
  console.log(`  /metrics                             ${await timed(admin, '/metrics', 5)}`);
  if (existsSync(CHROMIUM)) {
    const profile = mkdtempSync(path.join(tmpdir(), 'switchyard-chromium-'));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM, headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'],
    });
    const page = context.pages()[0] ?? await context.newPage();
    let t0 = performance.now();
    await page.goto(`http://127.0.0.1:${admin}/`);
    await page.waitForSelector('body[data-loaded="true"] #routes tr[data-key]');
    console.log(`  browser: page load to first rows     ${(performance.now() - t0).toFixed(0)} ms`);
    t0 = performance.now();
    const first = await page.getAttribute('#routes tr[data-key]', 'data-key');
    await page.click('#pager button:last-child');
    await page.waitForFunction((key) => document.querySelector('#routes tr[data-key]')?.getAttribute('data-key') !== key, first);
    console.log(`  browser: next page                   ${(performance.now() - t0).toFixed(0)} ms`);
    t0 = performance.now();
    await page.fill('input[name=q]', 'r9999.scale');
    await page.waitForFunction(() => document.querySelectorAll('#routes tr[data-key]').length === 1);
    console.log(`  browser: filter typed to 1 row       ${(performance.now() - t0).toFixed(0)} ms (includes the 200 ms typing debounce)`);
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  } else {
    console.log(`  browser: skipped (no ${CHROMIUM})`);
  }
  child.kill('SIGTERM');
  backend.close();
  rmSync(dir, { recursive: true, force: true });
}

main().then(() => process.exit(0), (err: Error) => { console.error(err); process.exit(1); });
