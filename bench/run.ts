// `npm run bench`: throughput and latency of a backend reached directly vs through switchyard,
// on loopback, printed as a table. Uses wrk when installed (apt-get install wrk), else
// autocannon (in its own process, so the load generator does not share the router's event loop).
// Options (env): BENCH_DURATION (s, default 5), BENCH_CONNECTIONS (default 50),
// BENCH_WORKERS (comma-separated --workers values to measure, default "0,2"),
// BENCH_CONNECTION_CLOSE=1 (a new connection per request: measures accepting, e.g. SO_REUSEPORT
// workers vs node:cluster's hand-off), BENCH_CLI (another build's dist/cli.js to compare),
// BENCH_PLUGINS=0 to skip the plugin scenario (one process: a route without plugins vs one
// with three trivial plugins — set a header, check a header, a log phase — measured in turn).
// Anchors: when haproxy and/or nginx are installed (apt-get install haproxy nginx), the same
// backend is also measured behind each of them, one thread/worker, keep-alive to the backend.
// Numbers are for comparison on one machine, not targets: nothing here asserts.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync, mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { children, startJsonLine, waitForPort } from './processes.ts';
import { freePort } from '../test/support/ports.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const duration = Number(process.env.BENCH_DURATION ?? 5);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);
const connectionClose = process.env.BENCH_CONNECTION_CLOSE === '1';
const cli = process.env.BENCH_CLI ?? path.join(root, 'dist/cli.js');
interface Result { rps: number; p50: number; p99: number; errors: number }

function has(command: string, versionFlag = '-v'): boolean {
  return spawnSync(command, [versionFlag], { encoding: 'utf8' }).error === undefined;
}

function hasWrk(): boolean {
  return has('wrk', '--version');
}

/** Start HAProxy (nbthread 1) or nginx (1 worker) in front of the backend; resolves with its port. */
async function startAnchor(kind: 'haproxy' | 'nginx', dir: string, backendPort: number): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort();
  let child: ChildProcess;
  if (kind === 'haproxy') {
    const cfg = path.join(dir, 'haproxy.cfg');
    writeFileSync(cfg, [
      'global', '  nbthread 1', '  maxconn 4096',
      'defaults', '  mode http', '  timeout connect 5s', '  timeout client 30s', '  timeout server 30s',
      'frontend f', `  bind 127.0.0.1:${port}`, '  default_backend b',
      'backend b', '  http-reuse always', `  server s1 127.0.0.1:${backendPort}`, '',
    ].join('\n'));
    child = spawn('haproxy', ['-f', cfg, '-db'], { stdio: 'ignore' });
  } else {
    const prefix = path.join(dir, 'nginx');
    mkdirSync(path.join(prefix, 'logs'), { recursive: true });
    const cfg = path.join(prefix, 'nginx.conf');
    writeFileSync(cfg, `worker_processes 1; daemon off; pid ${prefix}/nginx.pid; error_log ${prefix}/logs/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${prefix}/body; proxy_temp_path ${prefix}/proxy; fastcgi_temp_path ${prefix}/fcgi;
  uwsgi_temp_path ${prefix}/uwsgi; scgi_temp_path ${prefix}/scgi;
  upstream b { server 127.0.0.1:${backendPort}; keepalive 80; }
  server { listen 127.0.0.1:${port}; location / { proxy_pass http://b; proxy_http_version 1.1; proxy_set_header Connection ""; } }
}
`);
    child = spawn('nginx', ['-p', prefix, '-c', cfg], { stdio: 'ignore' });
  }
  children.push(child);
  await waitForPort(port);
  return { port, child };
}

function runWrk(url: string, host: string): Result {
  const close = connectionClose ? ['-H', 'Connection: close'] : [];
  const out = spawnSync('wrk', ['-t1', `-c${connections}`, `-d${duration}s`, '--latency', '-H', `Host: ${host}`, ...close, url], { encoding: 'utf8' }).stdout;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
  const toMs = (v: string, unit: string) => Number(v) * (unit === 'us' ? 0.001 : unit === 's' ? 1000 : 1);
  const p = (q: string) => { const m = new RegExp(`${q}%\\s+([\\d.]+)(us|ms|s)`).exec(out); return m ? toMs(m[1]!, m[2]!) : NaN; };
  const errors = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  return { rps, p50: p('50'), p99: p('99'), errors };
}

function runAutocannon(url: string, host: string): Result {
  const require = createRequire(import.meta.url);
  const bin = path.join(path.dirname(require.resolve('autocannon/package.json')), 'autocannon.js');
  const close = connectionClose ? ['-H', 'connection=close'] : [];
  const out = spawnSync(process.execPath, [bin, '--json', '-c', String(connections), '-d', String(duration), '-H', `host=${host}`, ...close, url], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout;
  const json = JSON.parse(out) as { requests: { average: number }; latency: { p50: number; p99: number }; non2xx: number; errors: number };
  return { rps: json.requests.average, p50: json.latency.p50, p99: json.latency.p99, errors: json.non2xx + json.errors };
}

async function main(): Promise<void> {
  const backend = await startJsonLine(process.execPath, [path.join(here, 'backend.ts')], (l) => typeof l.port === 'number');
  const port = backend.line.port as number;
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-bench-'));
  const file = path.join(dir, 'routes.yaml');
  writeFileSync(file, `apiVersion: v1
kind: Service
metadata: { name: bench }
spec: { ports: [{ name: http, port: 80 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: bench-1, labels: { kubernetes.io/service-name: bench } }
addressType: IPv4
ports: [{ name: http, port: ${port} }]
endpoints: [{ addresses: ["127.0.0.1"], conditions: { ready: true } }]
---
apiVersion: route.openshift.io/v1
kind: Route
metadata: { name: bench, annotations: { haproxy.router.openshift.io/disable_cookies: "true" } }
spec: { host: bench.local, to: { kind: Service, name: bench } }
---
apiVersion: route.openshift.io/v1
kind: Route
metadata:
  name: bench-plugins
  annotations: { haproxy.router.openshift.io/disable_cookies: "true", switchyard.io/middlewares: "set, check, log" }
spec: { host: bench-plugins.local, to: { kind: Service, name: bench } }
${['set', 'check', 'log'].map((name, i) => `---
apiVersion: switchyard.io/v1alpha1
kind: Middleware
metadata: { name: ${name} }
spec: { plugin: ${['bench-set-header', 'bench-check-header', 'bench-log'][i]} }
`).join('')}`);
  const pluginArgs = ['set-header', 'check-header', 'log-phase'].flatMap((p) => ['--plugin', path.join(here, 'plugins', `${p}.ts`)]);
  const load = hasWrk() ? runWrk : runAutocannon;
  const tool = hasWrk() ? 'wrk' : 'autocannon';
  const rows: Array<[string, Result]> = [['direct to backend', load(`http://127.0.0.1:${port}/`, 'bench.local')]];
  for (const workers of (process.env.BENCH_WORKERS ?? '0,2').split(',').map(Number)) {
    const { child: router, line: listening } = await startJsonLine(process.execPath, [cli, 'run', '--file', file,
      '--bind', '127.0.0.1', '--http-port', '0', '--https-port', '0', '--admin-port', '0', '--workers', String(workers), ...pluginArgs], (l) => l.msg === 'listening');
    const url = `http://127.0.0.1:${listening.http as number}/`;
    load(url, 'bench.local'); // warm-up: JIT, connection pools
    rows.push([`switchyard --workers ${workers}`, load(url, 'bench.local')]);
    if (workers === 0 && process.env.BENCH_PLUGINS !== '0') {
      // Alternate the two routes in one process so both see the same machine state.
      load(url, 'bench-plugins.local');
      rows.push(['  3 trivial plugins', load(url, 'bench-plugins.local')]);
      rows.push(['  no plugins (again)', load(url, 'bench.local')]);
      rows.push(['  3 plugins (again)', load(url, 'bench-plugins.local')]);
    }
    router.kill('SIGTERM');
    await new Promise((r) => router.once('exit', r));
  }
  for (const kind of ['haproxy', 'nginx'] as const) {
    if (!has(kind)) continue;
    const anchor = await startAnchor(kind, dir, port);
    const url = `http://127.0.0.1:${anchor.port}/`;
    load(url, 'bench.local');
    rows.push([`${kind} (1 thread, anchor)`, load(url, 'bench.local')]);
    anchor.child.kill('SIGTERM');
    await new Promise((r) => anchor.child.once('exit', r));
  }
  const row = (name: string, r: Result) => `| ${name.padEnd(26)} | ${r.rps.toFixed(0).padStart(9)} | ${r.p50.toFixed(2).padStart(8)} | ${r.p99.toFixed(2).padStart(8)} | ${String(r.errors).padStart(6)} |`;
  console.log(`\n${tool}, ${connections} connections${connectionClose ? ' (a new one per request)' : ''}, ${duration} s each, node ${process.version}, loopback, backend: one Node process\n`);
  console.log('| path                       |     req/s | p50 (ms) | p99 (ms) | errors |');
  console.log('|----------------------------|-----------|----------|----------|--------|');
  for (const [name, r] of rows) console.log(row(name, r));
  for (const c of children) c.kill('SIGTERM');
}

main().catch((err: Error) => { console.error(err.message); process.exit(1); });
