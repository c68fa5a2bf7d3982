// `npm run bench:scale`: how the route table scales. For N routes (each its own host and
// Service) it starts the real router on a file, then adds routes one at a time and measures:
// start-up until "listening", the initial table build, memory, the time from a file write to
// the new host answering (propagation; includes the file watcher's ~100 ms debounce), and the
// cost of one incremental table update (switchyard_table_update_duration_seconds).
// SCALE_SOURCE=kube reads the objects from the test suite's fake API server instead (list +
// watch through @kubernetes/client-node): propagation is then watch event → new host answers.
// Env: SCALE_SIZES (default "100,1000,10000"), SCALE_EDITS (default 10), SCALE_SOURCE (file|kube).

import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAll } from 'js-yaml';
import { FakeApiServer } from '../test/support/fake-apiserver.ts';
import { startJsonLine } from './processes.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const sizes = (process.env.SCALE_SIZES ?? '100,1000,10000').split(',').map(Number);
const edits = Number(process.env.SCALE_EDITS ?? 10);
const source = process.env.SCALE_SOURCE === 'kube' ? 'kube' : 'file';

function routeDoc(i: number, port: number): string {
  return `---
apiVersion: v1
kind: Service
metadata: { name: s${i} }
spec: { ports: [{ name: http, port: 80 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: s${i}-1, labels: { kubernetes.io/service-name: s${i} } }
addressType: IPv4
ports: [{ name: http, port: ${port} }]
endpoints: [{ addresses: ["127.0.0.1"], conditions: { ready: true } }]
---
apiVersion: route.openshift.io/v1
kind: Route
metadata: { name: r${i} }
spec: { host: r${i}.scale.local, path: /app, to: { kind: Service, name: s${i} } }
`;
}

function get(port: number, host: string, p = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, headers: { host }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function metric(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : NaN;
}

const pct = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

async function main(): Promise<void> {
  const backend = http.createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
  const backendPort = (backend.address() as { port: number }).port;
  const rows: string[] = [];
  for (const n of sizes) {
    const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-scale-'));
    const file = path.join(dir, 'routes.yaml');
    let api: FakeApiServer | null = null;
    let sourceArgs: string[];
    let addRoute: (i: number) => void;
    if (source === 'kube') {
      api = await FakeApiServer.start();
      const fake = api;
      addRoute = (i) => { for (const doc of loadAll(routeDoc(i, backendPort))) if (doc) fake.create(doc as never); };
      for (let i = 0; i < n; i++) addRoute(i);
      sourceArgs = ['--kubeconfig', api.kubeconfigPath, '--update-status=false'];
    } else {
      writeFileSync(file, Array.from({ length: n }, (_, i) => routeDoc(i, backendPort)).join(''));
      addRoute = (i) => appendFileSync(file, routeDoc(i, backendPort));
      sourceArgs = ['--file', file];
    }
    const started = performance.now();
    const { child, line } = await startJsonLine(process.execPath, [path.join(root, 'dist/cli.js'), 'run', ...sourceArgs, '--bind', '127.0.0.1',
      '--http-port', '0', '--https-port', '0', '--admin-port', '0', '--workers', '0', '--log-level', 'info'], (l) => l.msg === 'listening');
    const ports = line as { http: number; admin: number };
    const startupMs = performance.now() - started;
    let text = (await get(ports.admin, 'x', '/metrics')).body;
    const initialMs = metric(text, 'switchyard_table_update_duration_seconds_sum') * 1000;
    const rssMb = metric(text, 'process_resident_memory_bytes') / 2 ** 20;
    const sumBefore = metric(text, 'switchyard_table_update_duration_seconds_sum');
    const countBefore = metric(text, 'switchyard_table_update_duration_seconds_count');
    const propagation: number[] = [];
    for (let e = 0; e < edits; e++) {
      const i = n + e;
      const t0 = performance.now();
      addRoute(i);
      for (;;) {
        if ((await get(ports.http, `r${i}.scale.local`, '/app')).status === 200) break;
        await new Promise((r) => setTimeout(r, 2));
      }
      propagation.push(performance.now() - t0);
    }
    text = (await get(ports.admin, 'x', '/metrics')).body;
    const updates = metric(text, 'switchyard_table_update_duration_seconds_count') - countBefore;
    const perUpdateMs = ((metric(text, 'switchyard_table_update_duration_seconds_sum') - sumBefore) * 1000) / updates;
    rows.push(`| ${String(n).padStart(6)} | ${startupMs.toFixed(0).padStart(10)} | ${initialMs.toFixed(0).padStart(13)} | ${rssMb.toFixed(0).padStart(8)} | ${perUpdateMs.toFixed(2).padStart(14)} | ${pct(propagation, 0.5).toFixed(0).padStart(10)} | ${pct(propagation, 1).toFixed(0).padStart(10)} |`);
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await api?.close();
  }
  backend.close();
  console.log(`\nsource: ${source}; routes: one host, Service and EndpointSlice each; ${edits} single-route additions per size; node ${process.version}\n`);
  console.log('| routes | start (ms) | initial build | RSS (MB) | 1 update (ms) | propag p50 | propag max |');
  console.log('|--------|------------|---------------|----------|----------------|------------|------------|');
  for (const r of rows) console.log(r);
  console.log(source === 'kube'
    ? '\npropagation = object created at the API server → new host answers 200 (watch event, admission, compile, swap)'
    : '\npropagation = file write → new host answers 200 (file watcher debounce and a re-parse of the whole file included)');
}

main().catch((err: Error) => { console.error(err.message); process.exit(1); });
