// `node bench/http2-cpu.ts`: the router's CPU seconds per 100k HTTP/2 requests (h2load -c10 -m10
// against an edge route, a fixed number of requests, nginx `return 200` backend), for this build
// and, with BENCH_BASE, another build's dist/cli.js in the same interleaved rounds — a before/after
// that survives a loaded, shared machine better than req/s (CPU per request moves less with load
// than throughput does). Also prints the req/s each run reached, and the load average.
//
// BENCH_CALLGRIND=1 counts instructions instead (valgrind --tool=callgrind, counters zeroed after
// the warm-up and dumped after the run, divided by the requests): a figure load does not move.
//
// Env: BENCH_CLI (the build to measure, default this one's dist/cli.js), BENCH_BASE (another build's dist/cli.js), BENCH_REQUESTS (per run, default 100000; 5000
// under callgrind),
// BENCH_ROUNDS (default 3), BENCH_CLIENTS / BENCH_STREAMS (h2load -c / -m, default 10 / 10),
// BENCH_H1=1 (also HTTPS/1.1 keep-alive through h2load --h1, same count), BENCH_NODE_ARGS (Node
// options for the routers, space-separated: `--cpu-prof --cpu-prof-dir=DIR` writes a profile each).
// Needs h2load (nghttp2-client), nginx and openssl. Nothing here asserts.

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { children, startJsonLine, waitForPort } from './processes.ts';
import { cpuSeconds } from './proc.ts';
import { freePort } from '../test/support/ports.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const HOST = 'bench.local';
const callgrind = process.env.BENCH_CALLGRIND === '1';
const requests = Number(process.env.BENCH_REQUESTS ?? (callgrind ? 5_000 : 100_000));
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const clients = Number(process.env.BENCH_CLIENTS ?? 10);
const streams = Number(process.env.BENCH_STREAMS ?? 10);
const withH1 = process.env.BENCH_H1 === '1';
const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
const builds: Array<[string, string]> = [['this build', process.env.BENCH_CLI ?? path.join(root, 'dist/cli.js')]];
if (process.env.BENCH_BASE) builds.push(['base', process.env.BENCH_BASE]);

const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-h2cpu-'));

function certificate(): { cert: string; key: string; combined: string } {
  const key = path.join(dir, 'tls.key');
  const cert = path.join(dir, 'tls.crt');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert,
    '-days', '2', '-subj', `/CN=${HOST}`, '-addext', `subjectAltName=DNS:${HOST}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl req failed: ${r.stderr}`);
  const combined = path.join(dir, 'combined.pem');
  writeFileSync(combined, readFileSync(cert, 'utf8') + readFileSync(key, 'utf8'));
  return { cert, key, combined };
}

async function nginxBackend(): Promise<number> {
  const port = await freePort();
  const prefix = path.join(dir, 'nginx');
  mkdirSync(path.join(prefix, 'logs'), { recursive: true });
  writeFileSync(path.join(prefix, 'nginx.conf'), `worker_processes 1; daemon off; pid ${prefix}/nginx.pid; error_log ${prefix}/logs/error.log;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path ${prefix}/body; proxy_temp_path ${prefix}/proxy; fastcgi_temp_path ${prefix}/fcgi;
  uwsgi_temp_path ${prefix}/uwsgi; scgi_temp_path ${prefix}/scgi; keepalive_requests 1000000;
  server { listen 127.0.0.1:${port}; location / { return 200 "ok"; } } }
`);
  children.push(spawn('nginx', ['-p', prefix, '-c', path.join(prefix, 'nginx.conf')], { stdio: 'ignore' }));
  await waitForPort(port);
  return port;
}

function routes(backend: number, tls: { cert: string; key: string }): string {
  const file = path.join(dir, 'routes.yaml');
  const indent = (pem: string) => readFileSync(pem, 'utf8').trim().split('\n').map((l) => `      ${l}`).join('\n');
  writeFileSync(file, `apiVersion: v1
kind: Service
metadata: { name: bench }
spec: { ports: [{ name: http, port: 80 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: bench-1, labels: { kubernetes.io/service-name: bench } }
addressType: IPv4
ports: [{ name: http, port: ${backend} }]
endpoints: [{ addresses: ["127.0.0.1"], conditions: { ready: true } }]
---
apiVersion: route.openshift.io/v1
kind: Route
metadata: { name: bench, annotations: { haproxy.router.openshift.io/disable_cookies: "true" } }
spec:
  host: ${HOST}
  to: { kind: Service, name: bench }
  tls:
    termination: edge
    certificate: |
${indent(tls.cert)}
    key: |
${indent(tls.key)}
`);
  return file;
}

/** callgrind's instruction count since the last zeroing (dumped now), or the CPU seconds so far. */
function counter(pid: number): number {
  if (!callgrind) return cpuSeconds(pid);
  const before = new Set(readdirSync(dir));
  execFileSync('callgrind_control', ['-d', String(pid)], { stdio: 'ignore' });
  const file = readdirSync(dir).find((f) => f.startsWith(`cg.${pid}`) && !before.has(f));
  if (file === undefined) throw new Error('callgrind wrote no dump');
  const m = /^(?:summary|totals):\s+(\d+)/m.exec(readFileSync(path.join(dir, file), 'utf8'));
  if (m === null) throw new Error(`no totals in ${file}`);
  return Number(m[1]);
}

/** h2load with a fixed request count: the router's CPU seconds (or instructions) and the req/s reached. */
function run(pid: number, port: number, h1: boolean): { cpu: number; rps: number; ok: number } {
  if (callgrind) execFileSync('callgrind_control', ['-z', String(pid)], { stdio: 'ignore' });
  const before = callgrind ? 0 : counter(pid);
  const out = spawnSync('h2load', [...(h1 ? ['--h1'] : []), '-c', String(clients), '-m', h1 ? '1' : String(streams), '-n', String(requests),
    `--connect-to=127.0.0.1:${port}`, `https://${HOST}/`], { encoding: 'utf8' }).stdout;
  const cpu = counter(pid) - before;
  const ok = Number(/(\d+) succeeded/.exec(out)?.[1] ?? 0);
  const rps = Number(/finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(out)?.[1] ?? NaN);
  return { cpu, rps, ok };
}

const tls = certificate();
const backend = await nginxBackend();
const file = routes(backend, tls);
const started: Array<{ label: string; pid: number; port: number; child: import('node:child_process').ChildProcess }> = [];
for (const [label, cli] of builds) {
  const valgrind = ['--tool=callgrind', `--callgrind-out-file=${dir}/cg.%p`, `--log-file=${dir}/valgrind.log`, '--dump-instr=no', '--collect-jumps=no'];
  const [cmd, pre] = callgrind ? ['valgrind', [...valgrind, process.execPath, ...nodeArgs]] : [process.execPath, nodeArgs];
  const { child, line } = await startJsonLine(cmd, [...pre, cli, 'run', '--file', file, '--bind', '127.0.0.1', '--http-port', '0',
    '--https-port', '0', '--admin-port', '0', '--workers', '0', '--log-level', 'info'], (l) => l.msg === 'listening');
  started.push({ label, pid: child.pid!, port: line.https as number, child });
}
// Warm-up (JIT, pools, TLS session state).
for (const s of started) for (const h1 of (withH1 ? [false, true] : [false])) run(s.pid, s.port, h1);
const results = new Map<string, Array<{ cpu: number; rps: number; ok: number }>>();
const modes = withH1 ? [false, true] : [false];
for (let r = 0; r < rounds; r++) {
  for (const h1 of modes) {
    for (const s of started) {
      const key = `${s.label}${h1 ? ' HTTPS/1.1' : ' HTTP/2'}`;
      const list = results.get(key) ?? [];
      list.push(run(s.pid, s.port, h1));
      results.set(key, list);
    }
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}; ${requests} requests per run, h2load -c${clients} -m${streams}, ${rounds} rounds`);
const unit = callgrind ? 'k instructions / req' : 'CPU s / 100k req';
console.log(`| build | ${unit} (median) | each run | req/s (median) | failed |`);
console.log('|---|---|---|---|---|');
for (const [key, list] of results) {
  const per100k = list.map((x) => (callgrind ? x.cpu / Math.max(1, x.ok) / 1000 : (x.cpu / Math.max(1, x.ok)) * 100_000));
  console.log(`| ${key} | ${median(per100k).toFixed(2)} | ${per100k.map((x) => x.toFixed(2)).join(' ')} | ${median(list.map((x) => x.rps)).toFixed(0)} | ${list.reduce((n, x) => n + requests - x.ok, 0)} |`);
}
// A clean stop: a --cpu-prof profile is written on exit.
await Promise.all(started.map((s) => new Promise((resolve) => { s.child.once('exit', resolve); s.child.kill('SIGTERM'); })));
process.exit(0);
