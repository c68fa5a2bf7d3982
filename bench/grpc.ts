// `npm run bench:grpc` (and the end of `npm run bench`): gRPC unary calls through switchyard
// and, side by side, through nginx `grpc_pass` (Envoy is not packaged in Debian; nginx is the
// next anchor the issue names), both in one worker/process, to the same h2c backend
// (bench/peers/grpc-backend.ts). Load: h2load over h2c (prior knowledge), POSTing one framed
// message with content-type application/grpc and te: trailers; req/s from h2load, p99 from its
// per-request log. Interleaved rounds, median. Prints one Markdown table; asserts nothing.
//
// Env: BENCH_DURATION (s per measurement, default 5), BENCH_ROUNDS (default 3),
// BENCH_GRPC_LOAD (h2load -c/-m, default "10/10"), BENCH_CLI (the build to measure, default this
// one's dist/cli.js), BENCH_BASE (another build's dist/cli.js, measured in the same interleaved
// rounds — a before/after of the HTTP/2 upstream path; its row adds CPU per call as a paired
// ratio to it, the two runs of a round back to back), BENCH_NGINX=0 (no nginx peer),
// BENCH_CALLGRIND=1 (the switchyard peers run under valgrind's callgrind: k instructions per call
// instead of CPU seconds, counters zeroed after the warm-up and dumped after each run of
// BENCH_REQUESTS calls, default 5000 — a figure the machine's load does not move; no nginx).

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { children, startJsonLine, waitForPort } from './processes.ts';
import { childPids, cpuSeconds } from './proc.ts';
import { dumpInstructions, zeroInstructions } from './callgrind.ts';
import { freePort } from '../test/support/ports.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const duration = Number(process.env.BENCH_DURATION ?? 5);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const [clients, streams] = (process.env.BENCH_GRPC_LOAD ?? '10/10').split('/').map(Number) as [number, number];
const callgrind = process.env.BENCH_CALLGRIND === '1';
const callgrindRequests = Number(process.env.BENCH_REQUESTS ?? 5000);
const HOST = 'grpc.bench.local';
const PATH = '/bench.Echo/Unary';

const has = (command: string, ...args: string[]): boolean => spawnSync(command, args, { encoding: 'utf8' }).error === undefined;

interface Peer { name: string; port: number; pid: number; stop(): void }
interface Round { rps: number; p99: number; cpuPer100k: number }

/** CPU seconds of a peer: its process and its children (nginx's worker). */
function cpuOf(pid: number): number {
  return cpuSeconds(pid) + childPids(pid).reduce((sum, child) => sum + cpuSeconds(child), 0);
}

function median(xs: number[]): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)]!;
}

/** One h2load run: req/s, and p99 (ms) from its per-request log. */
function load(port: number, dir: string): { rps: number; p99: number; requests: number } {
  const body = path.join(dir, 'request.bin');
  const log = path.join(dir, `h2load-${port}.log`);
  const out = spawnSync('h2load', [
    '-c', String(clients), '-m', String(streams), ...(callgrind ? ['-n', String(callgrindRequests)] : ['-D', String(duration)]), '-d', body,
    '-H', 'content-type: application/grpc', '-H', 'te: trailers', '-H', `:authority: ${HOST}`, `--log-file=${log}`,
    `http://127.0.0.1:${port}${PATH}`,
  ], { encoding: 'utf8' }).stdout;
  const rps = Number(/finished in [^,]+, ([\d.]+) req\/s/.exec(out)?.[1] ?? NaN);
  const ok = Number(/requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded/.exec(out)?.[1] ?? 0);
  // Log lines: start (µs since epoch), status, duration (µs).
  const durations = readFileSync(log, 'utf8').trim().split('\n').map((l) => Number(l.split('\t')[2]) / 1000).filter(Number.isFinite).sort((a, b) => a - b);
  const p99 = durations.length === 0 ? NaN : durations[Math.min(durations.length - 1, Math.floor(durations.length * 0.99))]!;
  return { rps, p99, requests: ok };
}

async function startSwitchyard(dir: string, backend: number, name = 'switchyard', cli = process.env.BENCH_CLI ?? path.join(root, 'dist/cli.js')): Promise<Peer> {
  const file = path.join(dir, 'routes.yaml');
  writeFileSync(file, `apiVersion: v1
kind: Service
metadata: { name: grpc, namespace: default }
spec: { ports: [{ name: grpc, port: 80, appProtocol: kubernetes.io/h2c }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: grpc-1, namespace: default, labels: { kubernetes.io/service-name: grpc } }
addressType: IPv4
ports: [{ name: grpc, port: ${backend}, appProtocol: kubernetes.io/h2c }]
endpoints: [{ addresses: ["127.0.0.1"], conditions: { ready: true } }]
---
apiVersion: route.openshift.io/v1
kind: Route
metadata: { name: grpc, namespace: default }
spec: { host: ${HOST}, to: { kind: Service, name: grpc } }
`);
  const port = await freePort();
  const args = [cli, 'run', '--file', file, '--workers', '0', '--bind', '127.0.0.1', '--http-port', String(port), '--https-port', '0', '--admin-port', '0'];
  const valgrind = ['--tool=callgrind', `--callgrind-out-file=${dir}/cg.%p`, `--log-file=${dir}/valgrind-${name.replace(/\W/g, '-')}.log`, '--dump-instr=no', '--collect-jumps=no'];
  const child = callgrind
    ? spawn('valgrind', [...valgrind, process.execPath, ...args], { stdio: 'ignore', env: { ...process.env, ROUTER_LOG_LEVEL: 'warn' } })
    : spawn(process.execPath, args, { stdio: 'ignore', env: { ...process.env, ROUTER_LOG_LEVEL: 'warn' } });
  children.push(child);
  // A loaded machine (or valgrind) starts the router slower than 5 s.
  await waitForPort(port, callgrind ? 6000 : 1200);
  return { name, port, pid: child.pid!, stop: () => child.kill('SIGTERM') };
}

async function startNginx(dir: string, backend: number): Promise<Peer> {
  const prefix = path.join(dir, 'nginx-grpc');
  mkdirSync(path.join(prefix, 'logs'), { recursive: true });
  const port = await freePort();
  writeFileSync(path.join(prefix, 'nginx.conf'), `worker_processes 1; daemon off; pid ${prefix}/nginx.pid; error_log ${prefix}/logs/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  upstream grpc_backend { server 127.0.0.1:${backend}; keepalive 32; }
  server {
    listen 127.0.0.1:${port} http2;
    location / { grpc_pass grpc://grpc_backend; }
  }
}
`);
  const child: ChildProcess = spawn('nginx', ['-p', prefix, '-c', path.join(prefix, 'nginx.conf')], { stdio: 'ignore' });
  children.push(child);
  await waitForPort(port);
  return { name: 'nginx', port, pid: child.pid!, stop: () => child.kill('SIGQUIT') };
}

export async function benchGrpc(): Promise<void> {
  if (!has('h2load', '--version')) {
    console.log('\ngRPC unary: skipped (h2load not installed — apt-get install -y nghttp2-client)');
    return;
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-bench-grpc-'));
  // One gRPC message: the 5-byte prefix (uncompressed, length 2) and 2 bytes of payload.
  writeFileSync(path.join(dir, 'request.bin'), Buffer.from([0, 0, 0, 0, 2, 0x08, 0x01]));
  const backend = await startJsonLine(process.execPath, [path.join(here, 'peers', 'grpc-backend.ts')], (l) => typeof l.port === 'number');
  const backendPort = backend.line.port as number;
  const peers: Peer[] = [await startSwitchyard(dir, backendPort)];
  const base = process.env.BENCH_BASE;
  if (base) peers.push(await startSwitchyard(dir, backendPort, 'switchyard base', path.resolve(base)));
  if (has('nginx', '-v') && process.env.BENCH_NGINX !== '0' && !callgrind) peers.push(await startNginx(dir, backendPort));
  const results = new Map<string, Round[]>(peers.map((p) => [p.name, []]));
  for (const p of peers) load(p.port, dir); // warm-up (JIT, upstream connections)
  if (callgrind) for (const p of peers) zeroInstructions(p.pid);
  // Under callgrind the "CPU" of a run is its instructions / 1000 per call × 100k: k instructions per call.
  const counter = (pid: number): number => (callgrind ? dumpInstructions(dir, pid) / 1000 : cpuOf(pid));
  for (let round = 0; round < rounds; round++) {
    // Alternate the order each round: no peer always runs right after the same other.
    for (const p of round % 2 === 0 ? peers : [...peers].reverse()) {
      const cpu0 = callgrind ? 0 : counter(p.pid);
      const r = load(p.port, dir);
      const cpu = counter(p.pid) - cpu0;
      results.get(p.name)!.push({ rps: r.rps, p99: r.p99, cpuPer100k: r.requests > 0 ? (callgrind ? cpu / r.requests : (cpu / r.requests) * 100_000) : NaN });
      console.error(`gRPC round ${round + 1}: ${p.name}: ${r.rps.toFixed(0)} req/s, p99 ${r.p99.toFixed(2)} ms`);
    }
  }
  for (const p of peers) p.stop();
  backend.child.kill('SIGTERM');
  const first = results.get(peers[0]!.name)!;
  const summary = peers.map((p) => {
    const rs = results.get(p.name)!;
    // CPU per call over this build's in the same round (the two runs back to back).
    const paired = median(rs.map((r, i) => r.cpuPer100k / first[i]!.cpuPer100k));
    return { name: p.name, rps: median(rs.map((r) => r.rps)), p99: median(rs.map((r) => r.p99)), cpuPer100k: median(rs.map((r) => r.cpuPer100k)), paired };
  });
  const anchor = summary.find((s) => s.name === 'nginx');
  const f = (x: number, d = 0): string => (Number.isFinite(x) ? x.toFixed(d) : '–');
  const ratio = (x: number, base: number | undefined): string => (base !== undefined && Number.isFinite(x) && Number.isFinite(base) && base > 0 ? (x / base).toFixed(2) : '–');
  console.log(`\ngRPC unary (h2c client → proxy → h2c backend, a Node http2 server answering one message): h2load -c${clients} -m${streams}, ${duration} s per measurement, median of ${rounds} interleaved rounds; loadavg at end ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
  const label = (name: string): string => (name === 'nginx' ? 'nginx 1 worker, grpc_pass' : name === 'switchyard' ? 'switchyard one process' : `${name} (${base}), one process`);
  const unit = callgrind ? `k instructions / call (callgrind, ${callgrindRequests} calls per run)` : 'CPU s / 100k calls';
  console.log(`| peer | req/s | × nginx | p99 (ms) | × nginx p99 | ${unit} |${base ? ` ${callgrind ? 'instructions' : 'CPU'} × switchyard (paired) |` : ''}`);
  console.log(`|---|---:|---:|---:|---:|---:|${base ? '---:|' : ''}`);
  for (const s of summary) {
    console.log(`| ${label(s.name)} | ${f(s.rps)} | ${ratio(s.rps, anchor?.rps)} | ${f(s.p99, 2)} | ${ratio(s.p99, anchor?.p99)} | ${f(s.cpuPer100k, 2)} |${base ? ` ${f(s.paired, 3)} |` : ''}`);
  }
  if (anchor === undefined) console.log('\nnginx not installed: no anchor (apt-get install -y nginx); Envoy is not packaged in Debian.');
  mkdirSync(path.join(here, 'results'), { recursive: true });
  const out = path.join(here, 'results', `bench-grpc-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(out, JSON.stringify({ node: process.version, duration, rounds, clients, streams, loadavg: loadavg(), results: summary }, null, 2));
  console.log(`JSON: ${path.relative(root, out)}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  benchGrpc().then(() => process.exit(0), (err: Error) => { console.error(err.stack ?? err.message); process.exit(1); });
}
