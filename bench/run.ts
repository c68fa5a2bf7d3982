// `npm run bench`: switchyard side by side with its peers, in one run on one machine, so the
// ratios mean something even where absolute numbers drift (shared or noisy machines).
//
// Peers (each proxying to the same backend — nginx `return 200` when installed, else a small
// Node server): HAProxy `nbthread 1` (the anchor, = 1.00) and `nbthread 2` (what a second thread
// costs per request on this machine, the yardstick for --workers 2), nginx 1 worker, switchyard in one
// process (`--workers 0`) and with `--workers 1` / `--workers 2`, fastify + @fastify/http-proxy,
// and node-http-proxy with a keep-alive agent; and the Node floor (bench/peers/node-floor.ts):
// bare Node servers that answer themselves, proxying nothing — node:http for HTTP/1.1, node:https
// for HTTPS keep-alive, node:http2's stream API for HTTP/2 — the ceiling a Node proxy cannot pass,
// so every switchyard ratio can be read against HAProxy and against Node's own limit. Missing
// system tools are skipped and named.
//
// Measured, in interleaved rounds (every peer once per round; median of the rounds):
// - HTTP keep-alive req/s (wrk -t1 -c50) and the peer's CPU seconds per 100k requests
//   (utime+stime of all its processes, every thread, from /proc, before/after); for
//   `--workers N` the measure is that CPU per request against one process's (printed below the
//   table, with each round's back-to-back pair as a ratio), not req/s: on two cores the threads
//   share the CPUs with wrk and the backend;
// - p99 latency at a fixed rate of half HAProxy's max (autocannon --overallRate: wrk2 is not
//   packaged in Debian; the achieved rate is printed);
// - TLS against HAProxy with the same ECDSA P-256 certificate (TLS 1.3): full handshakes/s
//   (openssl s_time -new, one connection at a time), keep-alive HTTPS req/s on an edge route
//   (wrk) with the peer's CPU seconds per 100k of them (which a loaded machine moves less than
//   req/s), HTTP/2 req/s (h2load -c10 -m10).
//
// Also, in the same switchyard process: a route with three trivial plugins (set a header, check
// a header, a log phase) next to the plain one (BENCH_PLUGINS=0 skips it); and a 100 KB JSON
// response (bench/large-json.ts) as is and through the compress plugin (gzip, what a browser
// asks for), for the CPU a compressed response costs (BENCH_COMPRESS=0 skips both). And the
// one-process router with tracing on, exporting over OTLP/HTTP to a collector stand-in that
// accepts every export (bench/peers/otlp-sink.ts): 1 % of new traces sampled, and every one
// (BENCH_TRACING=0 skips them); printed again as ratios to the same router with tracing off.
//
// Env: BENCH_DURATION (s per measurement, default 5), BENCH_ROUNDS (default 3),
// BENCH_WARMUP_REQUESTS (requests per peer thread before the rounds, default 150000: --workers 2
// gets twice as many, so each thread's heap and JIT reach steady state), BENCH_WARMUP_SECONDS
// (and at least this long per thread for the one-process and --workers rows, default 30),
// BENCH_CONNECTIONS (default 50), BENCH_PEERS (comma-separated names to run; default all),
// BENCH_CONNECTION_CLOSE=1 (a new connection per request: measures accepting, e.g. SO_REUSEPORT
// workers vs node:cluster's hand-off), BENCH_CLI (another build's dist/cli.js to compare),
// BENCH_BASE (another build's dist/cli.js, run as one more peer — `switchyard-base` — in the same
// interleaved rounds: before/after a change on one machine, whatever its load).
// Prints one Markdown table; writes bench/results/bench-<time>.json. Nothing here asserts.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import http from 'node:http';
import { children, startJsonLine, waitForPort } from './processes.ts';
import { childPids, cpuSeconds } from './proc.ts';
import { freePort } from '../test/support/ports.ts';
import { BENCH_PLUGINS_HOST, benchCertificate, benchEdgeRouteYaml, benchPluginArgs, benchPluginsYaml, benchServiceYaml, spawnNginx, startNginxBackend, writeNginxConfig, type BenchCertificate } from './fixtures.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const duration = Number(process.env.BENCH_DURATION ?? 5);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
/**
 * Warm-up requests per peer thread. A V8 heap starts with a small young generation and grows it
 * only as the requests it serves leave survivors (per thread: a worker thread sees 1/N of the
 * requests), and the JIT warms per thread too: about 150k requests per thread to steady state
 * (the new space grows 1 → 64 MB). 2 s of warm-up left --workers 2 measuring its warm-up:
 * +20–35 % CPU per request, against ±5 % at steady state (README, Threads and lifecycle).
 */
const warmupRequests = Number(process.env.BENCH_WARMUP_REQUESTS ?? 150_000);
/**
 * And at least this long per thread for the switchyard rows that --workers is compared on, s:
 * on a loaded machine V8's optimizing compiler, which runs on its platform threads, finishes
 * later in wall time (--workers 1 was still falling from 9.2 to 5.8 CPU s per 100k over the
 * rounds after 150k requests in 19 s; after 30 s it matched one process).
 */
const warmupSeconds = Number(process.env.BENCH_WARMUP_SECONDS ?? 30);
/** The 100 KB JSON rows run in the one-process router, warmed by its own row: their path needs far fewer (each costs ~1 ms compressed). */
const LARGE_BODY_WARMUP = Math.min(warmupRequests, 5_000);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);
const only = process.env.BENCH_PEERS ? new Set(process.env.BENCH_PEERS.split(',')) : null;
const HOST = 'bench.local';
const cli = process.env.BENCH_CLI ?? path.join(root, 'dist/cli.js');
const connectionClose = process.env.BENCH_CONNECTION_CLOSE === '1';
const withPlugins = process.env.BENCH_PLUGINS !== '0';
const withTracing = process.env.BENCH_TRACING !== '0';
/** The tracing rows: name, label, sampler arguments. */
const TRACING = [
  { name: 'switchyard-trace-1', label: '  one process, tracing 1 % sampled', args: ['--trace-sampler', 'parentbased_traceidratio', '--trace-sampler-arg', '0.01'] },
  { name: 'switchyard-trace-100', label: '  one process, tracing every request', args: ['--trace-sampler', 'parentbased_always_on'] },
] as const;
const baseCli = process.env.BENCH_BASE ?? null;
const withCompress = process.env.BENCH_COMPRESS !== '0';
const COMPRESS_HOST = 'bench-compress.local';

const has = (command: string, ...args: string[]) => spawnSync(command, args, { encoding: 'utf8' }).error === undefined;
const tools = { haproxy: has('haproxy', '-v'), nginx: has('nginx', '-v'), wrk: has('wrk', '--version'), h2load: has('h2load', '--version'), openssl: has('openssl', 'version') };

// ---- load generators ------------------------------------------------------------------------

interface Load { rps: number; p99: number; requests: number; errors: number }

function wrk(url: string, host = HOST, headers: Record<string, string> = {}): Load {
  const close = connectionClose ? ['-H', 'Connection: close'] : [];
  const extra = Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
  const out = spawnSync('wrk', ['-t1', `-c${connections}`, `-d${duration}s`, '--latency', '-H', `Host: ${host}`, ...close, ...extra, url], { encoding: 'utf8' }).stdout;
  const toMs = (v: string, unit: string) => Number(v) * (unit === 'us' ? 0.001 : unit === 's' ? 1000 : 1);
  const m99 = /99%\s+([\d.]+)(us|ms|s)/.exec(out);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  const errors = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0) + Number(/Socket errors:.*?timeout (\d+)/.exec(out)?.[1] ?? 0);
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0), p99: m99 ? toMs(m99[1]!, m99[2]!) : NaN, requests, errors };
}

function autocannon(url: string, options: { rate?: number; seconds?: number; amount?: number; host?: string; headers?: Record<string, string> } = {}): Load {
  const require = createRequire(import.meta.url);
  const bin = path.join(path.dirname(require.resolve('autocannon/package.json')), 'autocannon.js');
  const args = [bin, '--json', '-c', String(connections), '-d', String(options.seconds ?? duration), '-H', `host=${options.host ?? HOST}`,
    ...Object.entries(options.headers ?? {}).flatMap(([k, v]) => ['-H', `${k}=${v}`])];
  if (connectionClose) args.push('-H', 'connection=close');
  if (options.rate) args.push('-R', String(Math.round(options.rate)));
  if (options.amount) args.push('-a', String(options.amount)); // a number of requests instead of a duration
  const out = spawnSync(process.execPath, [...args, url], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout;
  const json = JSON.parse(out) as { requests: { average: number; total: number }; latency: { p99: number }; non2xx: number; errors: number };
  return { rps: json.requests.average, p99: json.latency.p99, requests: json.requests.total, errors: json.non2xx + json.errors };
}

const httpLoad = (url: string, host = HOST, headers: Record<string, string> = {}) => (tools.wrk ? wrk(url, host, headers) : autocannon(url, { host, headers }));

/** Full TLS 1.3 handshakes per second, one connection at a time, no session reuse. */
function handshakes(port: number): number {
  const out = spawnSync('openssl', ['s_time', '-connect', `127.0.0.1:${port}`, '-new', '-tls1_3', '-time', String(duration)], { encoding: 'utf8' }).stdout;
  const m = /(\d+) connections in ([\d.]+)s/.exec(out);
  const real = /(\d+) connections in (\d+) real seconds/.exec(out);
  if (real) return Number(real[1]) / Math.max(1, Number(real[2]));
  return m ? Number(m[1]) / duration : NaN;
}

function h2load(port: number): number {
  const out = spawnSync('h2load', ['-c', '10', '-m', '10', '-D', String(duration), `--connect-to=127.0.0.1:${port}`, `https://${HOST}/`], { encoding: 'utf8' }).stdout;
  const ok = Number(/(\d+) succeeded/.exec(out)?.[1] ?? 0);
  const rps = Number(/finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(out)?.[1] ?? NaN);
  return ok > 0 ? rps : NaN;
}

// ---- peers ----------------------------------------------------------------------------------

interface Running {
  http: number; https?: number; admin?: number;
  /** The HTTP/2 port when it is not the HTTPS one (the Node floor's http2 server). */
  h2?: number;
  pids: () => number[]; stop: () => Promise<void>;
}
interface Peer {
  name: string; label: string; tls: boolean; host?: string; start: () => Promise<Running>;
  /** Request path (default `/`) and extra headers; `fixedRate: false` leaves it out of the fixed-rate latency rounds. */
  path?: string; headers?: Record<string, string>; fixedRate?: boolean;
  /**
   * Threads that share the load, each with its own JIT and heap to warm (switchyard --workers N):
   * the warm-up sends this many times the requests, so every thread has seen as many as a
   * single-threaded peer's one thread before the rounds measure steady state, and lasts at least
   * BENCH_WARMUP_SECONDS per thread. Set on the one-process and --workers rows only.
   */
  threads?: number;
  /** Warm-up requests per thread when not BENCH_WARMUP_REQUESTS (a row of a process another row warms). */
  warmup?: number;
}

function stopper(child: ChildProcess): () => Promise<void> {
  return async () => {
    if (child.exitCode !== null) return;
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  };
}

const withChildren = (pid: number) => () => [pid, ...childPids(pid)];


function peers(dir: string, backend: number, tls: BenchCertificate, running: Map<string, Running>, otlpSink: number | null): Peer[] {
  const list: Peer[] = [];
  if (tools.haproxy) {
    list.push({ name: 'haproxy', label: 'HAProxy 1 thread', tls: true, async start() {
      const [port, tlsPort] = [await freePort(), await freePort()];
      const cfg = path.join(dir, 'haproxy.cfg');
      writeFileSync(cfg, ['global', '  nbthread 1', '  maxconn 8192', '  ssl-default-bind-options ssl-min-ver TLSv1.3',
        'defaults', '  mode http', '  timeout connect 5s', '  timeout client 30s', '  timeout server 30s', '  option http-keep-alive',
        'frontend f', `  bind 127.0.0.1:${port}`, `  bind 127.0.0.1:${tlsPort} ssl crt ${tls.combined} alpn h2,http/1.1`, '  default_backend b',
        'backend b', '  http-reuse always', `  server s1 127.0.0.1:${backend}`, ''].join('\n'));
      const child = spawn('haproxy', ['-f', cfg, '-db'], { stdio: 'ignore' });
      children.push(child);
      await waitForPort(port);
      return { http: port, https: tlsPort, pids: withChildren(child.pid!), stop: stopper(child) };
    } });
    // What a second thread costs a C proxy on this machine (wrk and the backend on the same two
    // cores): the yardstick for switchyard --workers 2's CPU per request against one process.
    list.push({ name: 'haproxy-2', label: 'HAProxy 2 threads', tls: false, async start() {
      const port = await freePort();
      const cfg = path.join(dir, 'haproxy-2.cfg');
      writeFileSync(cfg, ['global', '  nbthread 2', '  maxconn 8192',
        'defaults', '  mode http', '  timeout connect 5s', '  timeout client 30s', '  timeout server 30s', '  option http-keep-alive',
        'frontend f', `  bind 127.0.0.1:${port}`, '  default_backend b',
        'backend b', '  http-reuse always', `  server s1 127.0.0.1:${backend}`, ''].join('\n'));
      const child = spawn('haproxy', ['-f', cfg, '-db'], { stdio: 'ignore' });
      children.push(child);
      await waitForPort(port);
      return { http: port, pids: withChildren(child.pid!), stop: stopper(child) };
    } });
  }
  if (tools.nginx) {
    list.push({ name: 'nginx', label: 'nginx 1 worker', tls: false, async start() {
      const port = await freePort();
      const prefix = path.join(dir, 'nginx-proxy');
      writeNginxConfig(prefix, `upstream b { server 127.0.0.1:${backend}; keepalive 80; }
  server { listen 127.0.0.1:${port}; location / { proxy_pass http://b; proxy_http_version 1.1; proxy_set_header Connection ""; } }`);
      const child = spawnNginx(prefix);
      children.push(child);
      await waitForPort(port);
      return { http: port, pids: withChildren(child.pid!), stop: stopper(child) };
    } });
  }
  const routes = path.join(dir, 'routes.yaml');
  writeFileSync(routes, `${benchServiceYaml(backend)}---
${benchEdgeRouteYaml(HOST, tls, 'Allow')}${benchPluginsYaml()}---
apiVersion: route.openshift.io/v1
kind: Route
metadata:
  name: bench-compress
  annotations: { haproxy.router.openshift.io/disable_cookies: "true", switchyard.io/middlewares: "gzip" }
spec: { host: ${COMPRESS_HOST}, to: { kind: Service, name: bench } }
---
apiVersion: switchyard.io/v1alpha1
kind: Middleware
metadata: { name: gzip }
spec: { plugin: compress, config: { encodings: [gzip] } }
`);
  const pluginArgs = benchPluginArgs();
  for (const workers of [0, 1, 2]) {
    list.push({ name: `switchyard-${workers}`, label: workers === 0 ? 'switchyard one process' : `switchyard --workers ${workers}`, tls: workers === 0, threads: Math.max(1, workers), async start() {
      const { child, line } = await startJsonLine(process.execPath, [cli, 'run', '--file', routes, '--bind', '127.0.0.1',
        '--http-port', '0', '--https-port', '0', '--admin-port', '0', '--workers', String(workers), '--default-certificate', tls.combined, ...pluginArgs,
        '--log-level', 'info'], (l) => l.msg === 'listening'); // info: the "listening" line
      return { http: line.http as number, https: line.https as number, pids: withChildren(child.pid!), stop: stopper(child) };
    } });
    if (workers === 0 && otlpSink !== null) {
      for (const tracing of TRACING) {
        list.push({ name: tracing.name, label: tracing.label, tls: false, async start() {
          const { child, line } = await startJsonLine(process.execPath, [cli, 'run', '--file', routes, '--bind', '127.0.0.1',
            '--http-port', '0', '--https-port', '0', '--admin-port', '0', '--workers', '0', '--default-certificate', tls.combined, ...pluginArgs,
            '--log-level', 'info', '--otlp-endpoint', `http://127.0.0.1:${otlpSink}`, ...tracing.args], (l) => l.msg === 'listening');
          return { http: line.http as number, admin: line.admin as number, pids: withChildren(child.pid!), stop: stopper(child) };
        } });
      }
    }
    if (workers === 0 && baseCli !== null) {
      list.push({ name: 'switchyard-base', label: 'switchyard one process, base build (BENCH_BASE)', tls: true, async start() {
        const { child, line } = await startJsonLine(process.execPath, [baseCli, 'run', '--file', routes, '--bind', '127.0.0.1',
          '--http-port', '0', '--https-port', '0', '--admin-port', '0', '--workers', '0', '--default-certificate', tls.combined,
          '--log-level', 'info'], (l) => l.msg === 'listening');
        return { http: line.http as number, https: line.https as number, pids: withChildren(child.pid!), stop: stopper(child) };
      } });
    }
    if (workers === 0 && withCompress) {
      // The same process: a 100 KB JSON response as is, and gzip-compressed by the compress plugin.
      const same = async () => ({ ...running.get('switchyard-0')!, stop: async () => {} });
      list.push({ name: 'switchyard-json', label: '  same process, 100 KB JSON response', tls: false, path: '/large.json', headers: { 'accept-encoding': 'gzip' }, fixedRate: false, warmup: LARGE_BODY_WARMUP, start: same });
      list.push({ name: 'switchyard-compress', label: '  same process, 100 KB JSON, compress (gzip)', tls: false, host: COMPRESS_HOST, path: '/large.json', headers: { 'accept-encoding': 'gzip' }, fixedRate: false, warmup: LARGE_BODY_WARMUP, start: same });
    }
    if (workers === 0 && withPlugins) {
      // The same process, another route: measured in its own turn of each round.
      list.push({ name: 'switchyard-plugins', label: '  same process, route with 3 trivial plugins', tls: false, host: BENCH_PLUGINS_HOST, async start() {
        const base = running.get('switchyard-0')!;
        return { ...base, stop: async () => {} };
      } });
    }
  }
  list.push({ name: 'node-floor', label: 'Node floor: bare http / https / http2 server (no proxying)', tls: true, async start() {
    const { child, line } = await startJsonLine(process.execPath, [path.join(here, 'peers/node-floor.ts'), tls.cert, tls.key], (l) => typeof l.h2 === 'number');
    return { http: line.http as number, https: line.https as number, h2: line.h2 as number, pids: withChildren(child.pid!), stop: stopper(child) };
  } });
  list.push({ name: 'fastify', label: '@fastify/http-proxy', tls: false, async start() {
    const { child, line } = await startJsonLine(process.execPath, [path.join(here, 'peers/fastify-proxy.ts'), String(backend)], (l) => typeof l.port === 'number');
    return { http: line.port as number, pids: withChildren(child.pid!), stop: stopper(child) };
  } });
  list.push({ name: 'http-proxy', label: 'http-proxy (keep-alive agent)', tls: false, async start() {
    const { child, line } = await startJsonLine(process.execPath, [path.join(here, 'peers/http-proxy.ts'), String(backend)], (l) => typeof l.port === 'number');
    return { http: line.port as number, pids: withChildren(child.pid!), stop: stopper(child) };
  } });
  return list.filter((p) => only === null || only.has(p.name));
}

// ---- measurement ----------------------------------------------------------------------------

interface PeerResult {
  name: string; label: string;
  rounds: Array<{ rps: number; p99: number; cpuPer100k: number; errors: number }>;
  rps: number; p99: number; cpuPer100k: number;
  fixedRate?: { rate: number; achieved: number; p99: number };
  tlsHandshakes?: number; httpsRps?: number; h2Rps?: number;
  /** CPU seconds per 100k HTTPS keep-alive requests (the peer's processes, during the wrk run). */
  httpsCpuPer100k?: number;
}

/** One request: its status, Content-Encoding and body size on the wire. */
function probe(port: number, host: string, target: string, headers: Record<string, string>): Promise<{ status: number; encoding: string | undefined; bytes: number }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: target, headers: { ...headers, host } }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length)).on('end', () => resolve({ status: res.statusCode!, encoding: res.headers['content-encoding'], bytes }));
    }).on('error', reject);
  });
}

const failedRequests = (r: PeerResult) => r.rounds.reduce((sum, x) => sum + x.errors, 0);
const median = (xs: number[]) => { const s = xs.filter(Number.isFinite).sort((a, b) => a - b); return s.length ? s[Math.floor((s.length - 1) / 2)]! : NaN; };
const cpuOf = (r: Running) => r.pids().reduce((sum, pid) => sum + cpuSeconds(pid), 0);

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-bench-'));
  // nginx's worker runs as nobody: it must traverse the directory to read large.json (the key
  // files in it stay 0600).
  chmodSync(dir, 0o711);
  const tls = benchCertificate(dir, HOST);
  let backendPort: number;
  let backendName: string;
  if (tools.nginx) {
    backendPort = (await startNginxBackend(dir)).port;
    backendName = 'nginx `return 200` (1 worker)';
  } else {
    const backend = await startJsonLine(process.execPath, [path.join(here, 'backend.ts')], (l) => typeof l.port === 'number');
    backendPort = backend.line.port as number;
    backendName = 'one Node process (install nginx for the usual nginx `return 200` backend)';
  }
  const running = new Map<string, Running>();
  const tracingWanted = withTracing && (only === null || TRACING.some((t) => only.has(t.name)));
  const sink = tracingWanted ? await startJsonLine(process.execPath, [path.join(here, 'peers/otlp-sink.ts')], (l) => typeof l.port === 'number') : null;
  const list = peers(dir, backendPort, tls, running, sink === null ? null : sink.line.port as number);
  for (const p of list) running.set(p.name, await p.start());
  const results = new Map<string, PeerResult>(list.map((p) => [p.name, { name: p.name, label: p.label, rounds: [], rps: NaN, p99: NaN, cpuPer100k: NaN }]));

  // What the large-body rows get: a 200, and the compress route gzip (a row that measured
  // error answers or an uncompressed body would say nothing about compression).
  for (const p of list) {
    if (p.path === undefined) continue;
    const got = await probe(running.get(p.name)!.http, p.host ?? HOST, p.path, p.headers ?? {});
    console.error(`probe ${p.name}: ${got.status}, content-encoding ${got.encoding ?? 'none'}, ${got.bytes} bytes`);
    if (got.status !== 200 || (p.name === 'switchyard-compress' && got.encoding !== 'gzip')) throw new Error(`${p.label.trim()}: not what it should measure (${got.status}, ${got.encoding ?? 'no content-encoding'})`);
  }
  // Warm-up: JIT, connection pools, heaps grown to their working size — per thread.
  for (const p of list) {
    const url = `http://127.0.0.1:${running.get(p.name)!.http}${p.path ?? '/'}`;
    const started = performance.now();
    autocannon(url, { amount: (p.warmup ?? warmupRequests) * (p.threads ?? 1), host: p.host, headers: p.headers });
    const left = p.threads === undefined ? 0 : Math.round(warmupSeconds * p.threads - (performance.now() - started) / 1000);
    if (left > 0) autocannon(url, { seconds: left, host: p.host, headers: p.headers });
  }

  for (let round = 0; round < rounds; round++) {
    for (const p of list) {
      const r = running.get(p.name)!;
      const cpu0 = cpuOf(r);
      const load = httpLoad(`http://127.0.0.1:${r.http}${p.path ?? '/'}`, p.host, p.headers);
      const cpu = cpuOf(r) - cpu0;
      results.get(p.name)!.rounds.push({ rps: load.rps, p99: load.p99, cpuPer100k: load.requests > 0 ? (cpu / load.requests) * 100_000 : NaN, errors: load.errors });
      console.error(`round ${round + 1}: ${p.label}: ${load.rps.toFixed(0)} req/s`);
    }
  }
  for (const r of results.values()) {
    r.rps = median(r.rounds.map((x) => x.rps));
    r.p99 = median(r.rounds.map((x) => x.p99));
    r.cpuPer100k = median(r.rounds.map((x) => x.cpuPer100k));
  }
  const anchor = results.get('haproxy');
  // Fixed rate: half of HAProxy's max (or of the fastest peer's when HAProxy is missing).
  const maxRps = anchor?.rps ?? Math.max(...[...results.values()].map((r) => r.rps));
  const rate = maxRps / 2;
  for (let round = 0; round < rounds; round++) {
    for (const p of list) {
      if (p.fixedRate === false) continue;
      const r = running.get(p.name)!;
      const load = autocannon(`http://127.0.0.1:${r.http}/`, { rate, host: p.host });
      const res = results.get(p.name)!;
      const all = (res as PeerResult & { fixedRounds?: Load[] }).fixedRounds ??= [];
      all.push(load);
      res.fixedRate = { rate, achieved: median(all.map((l) => l.rps)), p99: median(all.map((l) => l.p99)) };
    }
  }
  // TLS and HTTP/2 (the peers that terminate TLS with the same certificate).
  const tlsPeers = list.filter((p) => p.tls);
  for (let round = 0; round < rounds; round++) {
    for (const p of tlsPeers) {
      const r = running.get(p.name)!;
      const res = results.get(p.name)! as PeerResult & { tlsRounds?: Array<[number, number, number, number]> };
      const hs = tools.openssl ? handshakes(r.https!) : NaN;
      const cpu0 = cpuOf(r);
      const load = tools.wrk ? wrk(`https://127.0.0.1:${r.https}/`) : autocannon(`https://127.0.0.1:${r.https}/`);
      const httpsCpu = load.requests > 0 ? ((cpuOf(r) - cpu0) / load.requests) * 100_000 : NaN;
      const h2 = tools.h2load ? h2load(r.h2 ?? r.https!) : NaN;
      (res.tlsRounds ??= []).push([hs, load.rps, h2, httpsCpu]);
      res.tlsHandshakes = median(res.tlsRounds.map((x) => x[0]));
      res.httpsRps = median(res.tlsRounds.map((x) => x[1]));
      res.h2Rps = median(res.tlsRounds.map((x) => x[2]));
      res.httpsCpuPer100k = median(res.tlsRounds.map((x) => x[3]));
    }
  }
  // What the tracing routers exported or dropped (their /metrics), before they stop.
  const spanCounts = new Map<string, { exported: number; dropped: number }>();
  for (const t of TRACING) {
    const admin = running.get(t.name)?.admin;
    if (admin !== undefined) spanCounts.set(t.name, await spanCountsOf(admin));
  }
  for (const r of running.values()) await r.stop();
  for (const c of children) c.kill('SIGTERM');

  // ---- report ---------------------------------------------------------------------------------
  const f = (x: number | undefined, d = 0) => (x !== undefined && Number.isFinite(x) ? x.toFixed(d) : '–');
  const ratio = (x: number | undefined, base: number | undefined) => (x !== undefined && base !== undefined && Number.isFinite(x) && Number.isFinite(base) && base > 0 ? (x / base).toFixed(2) : '–');
  const a = anchor;
  console.log(`\n${tools.wrk ? `wrk -t1 -c${connections}` : `autocannon -c${connections}`}, ${connectionClose ? 'a new connection per request' : 'keep-alive'}, ${duration} s per measurement, median of ${rounds} interleaved rounds after ${warmupRequests} warm-up requests per peer thread ` +
    `(switchyard rows: and at least ${warmupSeconds} s per thread); ` +
    `backend: ${backendName}; node ${process.version}; ${(await import('node:os')).cpus().length} CPUs; loadavg at end ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
  console.log('| peer | req/s | × HAProxy | CPU s / 100k req | p99 at ½ HAProxy max (ms) | × HAProxy p99 | TLS handshakes/s | × | HTTPS keep-alive req/s | × | HTTPS CPU s / 100k | HTTP/2 req/s | × |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of results.values()) {
    console.log(`| ${r.label} | ${f(r.rps)} | ${ratio(r.rps, a?.rps)} | ${f(r.cpuPer100k, 2)} | ${f(r.fixedRate?.p99, 2)} | ${ratio(r.fixedRate?.p99, a?.fixedRate?.p99)} | ` +
      `${f(r.tlsHandshakes)} | ${ratio(r.tlsHandshakes, a?.tlsHandshakes)} | ${f(r.httpsRps)} | ${ratio(r.httpsRps, a?.httpsRps)} | ${f(r.httpsCpuPer100k, 2)} | ${f(r.h2Rps)} | ${ratio(r.h2Rps, a?.h2Rps)} |`);
  }
  const json = results.get('switchyard-json');
  const compressed = results.get('switchyard-compress');
  if (json && compressed && failedRequests(json) === 0 && failedRequests(compressed) === 0) {
    console.log(`\n100 KB JSON (bench/large-json.ts), CPU per response: ${f(json.cpuPer100k * 10)} µs as is, ${f(compressed.cpuPer100k * 10)} µs gzip-compressed by the compress plugin (level 6)`);
  }
  // A row whose requests failed (non-2xx, timeouts) measured something else: say so.
  for (const r of results.values()) {
    const failed = failedRequests(r);
    if (failed > 0) console.log(`\nWARNING: ${r.label.trim()}: ${failed} requests failed (non-2xx or timed out); its row does not measure what it says`);
  }
  const sy = results.get('switchyard-0');
  const floor = results.get('node-floor');
  if (sy && floor) {
    console.log(`\nswitchyard one process / Node floor (a bare Node server answering itself): HTTP/1.1 ${ratio(sy.rps, floor.rps)}, ` +
      `HTTPS keep-alive ${ratio(sy.httpsRps, floor.httpsRps)}, HTTP/2 ${ratio(sy.h2Rps, floor.h2Rps)}, TLS handshakes ${ratio(sy.tlsHandshakes, floor.tlsHandshakes)}; ` +
      `the floor itself × HAProxy: HTTP/1.1 ${ratio(floor.rps, a?.rps)}, HTTPS ${ratio(floor.httpsRps, a?.httpsRps)}, HTTP/2 ${ratio(floor.h2Rps, a?.h2Rps)}`);
  }
  // --workers N: on two cores shared with wrk and the backend, a second thread cannot add
  // req/s the way it would on an idle many-core machine, so its measure is CPU per request
  // against one process (target: at most 5 % more), each round's pair measured back to back.
  const perRound = (r: PeerResult, base: PeerResult) => median(r.rounds.map((x, i) => x.cpuPer100k / (base.rounds[i]?.cpuPer100k ?? NaN)));
  if (sy) {
    for (const r of results.values()) {
      if (!/^switchyard-[1-9]/.test(r.name)) continue;
      console.log(`\n${r.label}: CPU per request ${ratio(r.cpuPer100k, sy.cpuPer100k)} × one process (${f(r.cpuPer100k, 2)} against ${f(sy.cpuPer100k, 2)} CPU s / 100k; ` +
        `median of the rounds' paired ratios ${f(perRound(r, sy), 2)}; target ≤ 1.05). Its req/s is not the measure: the threads share two cores with wrk and the backend.`);
    }
    const h1 = results.get('haproxy');
    const h2 = results.get('haproxy-2');
    if (h1 && h2) console.log(`HAProxy nbthread 2 on the same machine: CPU per request ${ratio(h2.cpuPer100k, h1.cpuPer100k)} × nbthread 1 (paired ${f(perRound(h2, h1), 2)}) — what a second thread costs here when no state is at stake.`);
  }
  const fastify = results.get('fastify');
  if (sy && fastify) console.log(`\nswitchyard one process / @fastify/http-proxy: ${ratio(sy.rps, fastify.rps)}`);
  console.log(`fixed rate: ${f(rate)} req/s requested (autocannon --overallRate, ${connections} connections); achieved: ` +
    [...results.values()].map((r) => `${r.name} ${f(r.fixedRate?.achieved)}`).join(', '));
  console.log('TLS: ECDSA P-256 certificate, TLS 1.3, edge route (switchyard) / ssl bind (HAProxy); handshakes: openssl s_time -new (one connection at a time); HTTP/2: h2load -c10 -m10');
  if (sy && spanCounts.size > 0) {
    console.log('\nTracing (the one-process router; OTLP/HTTP to a collector stand-in that accepts every export), as ratios to tracing off:\n');
    console.log('| tracing | req/s | × off | CPU s / 100k req | × off | spans exported | dropped |');
    console.log('|---|---:|---:|---:|---:|---:|---:|');
    console.log(`| off | ${f(sy.rps)} | 1.00 | ${f(sy.cpuPer100k, 2)} | 1.00 | | |`);
    for (const t of TRACING) {
      const r = results.get(t.name);
      const counts = spanCounts.get(t.name);
      if (r === undefined || counts === undefined) continue;
      console.log(`| ${t.name === 'switchyard-trace-1' ? '1 % sampled' : 'every request'} | ${f(r.rps)} | ${ratio(r.rps, sy.rps)} | ${f(r.cpuPer100k, 2)} | ${ratio(r.cpuPer100k, sy.cpuPer100k)} | ${counts.exported} | ${counts.dropped} |`);
    }
  }
  const missing = Object.entries(tools).filter(([, ok]) => !ok).map(([name]) => name);
  if (missing.length > 0) console.log(`\nskipped (not installed): ${missing.join(', ')} — apt-get install -y haproxy nginx wrk nghttp2-client openssl`);
  mkdirSync(path.join(here, 'results'), { recursive: true });
  const out = path.join(here, 'results', `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(out, JSON.stringify({ node: process.version, duration, rounds, connections, backend: backendName, loadavg: loadavg(), tools, results: [...results.values()], spans: Object.fromEntries(spanCounts) }, null, 2));
  console.log(`JSON: ${path.relative(root, out)}`);
}

/** switchyard_tracing_spans_exported_total and the sum of switchyard_tracing_spans_dropped_total. */
async function spanCountsOf(adminPort: number): Promise<{ exported: number; dropped: number }> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const sum = (name: string) => text.split('\n').filter((l) => l.startsWith(name)).reduce((s, l) => s + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  return { exported: sum('switchyard_tracing_spans_exported_total'), dropped: sum('switchyard_tracing_spans_dropped_total') };
}

main().then(() => process.exit(0), (err: Error) => { console.error(err.stack ?? err.message); process.exit(1); });
