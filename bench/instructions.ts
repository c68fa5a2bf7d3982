// `npm run bench:instructions`: machine instructions the router executes per proxied request,
// counted by valgrind's callgrind — a figure a loaded, shared machine does not move (req/s and
// CPU seconds do). One router process (`--workers` BENCH_WORKERS, default 0) runs under callgrind; after a warm-up the
// counters are zeroed (callgrind_control -z), N requests go through, the counters are dumped
// (callgrind_control -d) and divided by N. The backend runs outside valgrind.
//
// Cases (each its own route of the same process): `plain` (no plugin: the hot path),
// `plugins` (three trivial plugins), and, when the build has the compress plugin, `json-100k`
// (the 100 KB JSON body of bench/large-json.ts, uncompressed) and `compress` (the same body
// gzip-compressed by the route's compress Middleware), and `https` (the plain case over TLS 1.3
// keep-alive on an edge route with an ECDSA P-256 certificate, as `npm run bench` measures it:
// the TLS record work and the HTTPS listener's path, which the plain case does not reach).
//
// The count is of every thread, V8's background compiler among them: after a short warm-up it
// counts TurboFan still compiling the hot path (500 warm-up requests: 266k per plain request;
// 12,000: 196k, the same build), and a build with more JavaScript on that path pays more of it
// then. Hence a warm-up of 10,000 requests by default — several minutes per build under valgrind.
// Compare builds at the same warm-up, and check a difference against CPU seconds per request at
// steady state (bench/ab.ts): it is what counts.
//
// Env: BENCH_CLI (a build's dist/cli.js; default this one), BENCH_BASE (another build's, measured
// the same way after it: before/after), BENCH_REQUESTS (default 2000), BENCH_WARMUP (default
// 10000), BENCH_CONCURRENCY (keep-alive connections, default 4), BENCH_CASES (comma-separated),
// BENCH_WORKERS (the router's --workers, default 0: worker threads are counted with the process;
// the worker processes of builds before worker threads too, callgrind following the children).
// With workers, warm up longer (each thread compiles its own code): BENCH_WARMUP × workers.
// BENCH_TRACING=1 (the same build twice more, with tracing on — 1 % of new traces sampled, then
// every one — exporting over OTLP/HTTP to bench/peers/otlp-sink.ts, which runs outside valgrind;
// the export's own work, batching and protobuf encoding, is in the router process and counted),
// BENCH_ARGS (more router arguments for every build, space-separated).
// Prints a Markdown table. Nothing here asserts.

import { spawnSync } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { children, startJsonLine } from './processes.ts';
import { childPids } from './proc.ts';
import { dumpInstructions, zeroInstructions } from './callgrind.ts';
import { LARGE_JSON } from './large-json.ts';
import { benchCertificate, benchServiceYaml } from './fixtures.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const requests = Number(process.env.BENCH_REQUESTS ?? 2000);
const warmup = Number(process.env.BENCH_WARMUP ?? 10_000);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 4);
const onlyCases = process.env.BENCH_CASES ? new Set(process.env.BENCH_CASES.split(',')) : null;
const workers = Number(process.env.BENCH_WORKERS ?? 0);
/** label, dist/cli.js, extra router arguments */
const builds: Array<[string, string, string[]]> = [['this build', process.env.BENCH_CLI ?? path.join(root, 'dist/cli.js'), []]];
if (process.env.BENCH_BASE) builds.push(['base (BENCH_BASE)', process.env.BENCH_BASE, []]);
const extraArgs = (process.env.BENCH_ARGS ?? '').split(' ').filter((a) => a !== '');
for (const build of builds) build[2].push(...extraArgs);
const withTracing = process.env.BENCH_TRACING === '1';
const TRACING_ROWS: Array<[string, string[]]> = [
  ['tracing 1 % sampled', ['--trace-sampler', 'parentbased_traceidratio', '--trace-sampler-arg', '0.01']],
  ['tracing every request', ['--trace-sampler', 'parentbased_always_on']],
];


interface Case { name: string; host: string; path: string; headers?: Record<string, string>; needs?: string; tls?: boolean }
const CASES: Case[] = [
  { name: 'plain', host: 'plain.bench', path: '/' },
  { name: 'plugins', host: 'plugins.bench', path: '/' },
  { name: 'json-100k', host: 'plain.bench', path: '/large.json', headers: { 'accept-encoding': 'gzip' } },
  { name: 'compress', host: 'compress.bench', path: '/large.json', headers: { 'accept-encoding': 'gzip' }, needs: 'compress' },
  { name: 'https', host: 'tls.bench', path: '/', tls: true },
];

function startBackend(): Promise<{ port: number; server: http.Server }> {
  const body = Buffer.from(LARGE_JSON);
  const server = http.createServer((req, res) => {
    if (req.url === '/large.json') res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length }).end(body);
    else res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2 }).end('ok');
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ port: (server.address() as import('node:net').AddressInfo).port, server })));
}

function routes(dir: string, backend: number, compress: boolean): string {
  const file = path.join(dir, 'routes.yaml');
  const route = (name: string, host: string, middlewares = '') => `---
apiVersion: route.openshift.io/v1
kind: Route
metadata: { name: ${name}, annotations: { haproxy.router.openshift.io/disable_cookies: "true"${middlewares ? `, switchyard.io/middlewares: "${middlewares}"` : ''} } }
spec: { host: ${host}, to: { kind: Service, name: bench } }
`;
  const middleware = (name: string, plugin: string, config = '{}') => `---
apiVersion: switchyard.io/v1alpha1
kind: Middleware
metadata: { name: ${name} }
spec: { plugin: ${plugin}, config: ${config} }
`;
  writeFileSync(file, `${benchServiceYaml(backend)}${route('plain', 'plain.bench')}---
apiVersion: route.openshift.io/v1
kind: Route
metadata: { name: tls, annotations: { haproxy.router.openshift.io/disable_cookies: "true" } }
spec: { host: tls.bench, to: { kind: Service, name: bench }, tls: { termination: edge } }
${route('plugins', 'plugins.bench', 'set, check, log')}${middleware('set', 'bench-set-header')}${middleware('check', 'bench-check-header')}${middleware('log', 'bench-log')}${compress ? `${route('compress', 'compress.bench', 'gzip')}${middleware('gzip', 'compress', '{ encodings: [gzip] }')}` : ''}`);
  return file;
}

/** N requests over `concurrency` keep-alive connections; resolves when all are answered (bodies read). */
async function load(ports: { http: number; https: number }, c: Case, n: number): Promise<number> {
  const client = c.tls === true ? https : http;
  // TLS: the bench's own self-signed certificate (not verified), one session per connection.
  const agent = c.tls === true
    ? new https.Agent({ keepAlive: true, maxSockets: concurrency, rejectUnauthorized: false, servername: c.host })
    : new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const port = c.tls === true ? ports.https : ports.http;
  let next = 0;
  let failed = 0;
  const one = (): Promise<void> => new Promise((resolve) => {
    const req = client.get({ port, host: '127.0.0.1', path: c.path, agent, headers: { host: c.host, ...c.headers } }, (res) => {
      if (res.statusCode !== 200) failed++;
      res.resume().on('end', resolve);
    });
    req.on('error', () => { failed++; resolve(); });
  });
  const lanes = Array.from({ length: concurrency }, async () => { while (next++ < n) await one(); });
  await Promise.all(lanes);
  agent.destroy();
  return failed;
}

/** The router's process, and its worker processes in builds that forked them. */
const treeOf = (pid: number): number[] => [pid, ...childPids(pid)];

function dumpTotal(dir: string, pid: number, seen: Set<string>): number {
  return treeOf(pid).reduce((total, p) => total + dumpInstructions(dir, p, seen), 0);
}

async function measure(label: string, cli: string, backend: number, extraArgs: string[]): Promise<Map<string, number>> {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-callgrind-'));
  const compress = spawnSync(process.execPath, ['-e', `import(${JSON.stringify(path.join(path.dirname(cli), 'plugins/compress.js'))}).then(() => process.exit(0), () => process.exit(1))`]).status === 0;
  const file = routes(dir, backend, compress);
  const plugins = ['set-header', 'check-header', 'log-phase'].flatMap((p) => ['--plugin', path.join(here, 'plugins', `${p}.ts`)]);
  const { child, line } = await startJsonLine('valgrind', ['--tool=callgrind', `--callgrind-out-file=${dir}/cg.%p`, `--log-file=${dir}/valgrind.log`, '--dump-instr=no', '--collect-jumps=no', '--trace-children=yes',
    process.execPath, cli, 'run', '--file', file, '--bind', '127.0.0.1', '--http-port', '0', '--https-port', '0', '--admin-port', '0', '--workers', String(workers),
    '--default-certificate', benchCertificate(dir, 'tls.bench').combined, ...plugins, '--log-level', 'info', ...extraArgs], (l) => l.msg === 'listening');
  const ports = { http: line.http as number, https: line.https as number };
  const pid = child.pid!;
  const dumps = new Set(readdirSync(dir));
  const out = new Map<string, number>();
  const cases = CASES.filter((c) => (onlyCases === null || onlyCases.has(c.name)) && (c.needs !== 'compress' || compress));
  // Every case warms up first: code shared by the cases is optimised before any is counted.
  for (const c of cases) await load(ports, c, warmup);
  for (const c of cases) {
    for (const p of treeOf(pid)) zeroInstructions(p);
    const failed = await load(ports, c, requests);
    const total = dumpTotal(dir, pid, dumps);
    out.set(c.name, total / requests);
    console.error(`${label}: ${c.name}: ${(total / requests / 1000).toFixed(0)}k instructions per request${failed > 0 ? ` (${failed} failed)` : ''}`);
  }
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  return out;
}

async function main(): Promise<void> {
  const backend = await startBackend();
  if (withTracing) {
    const sink = await startJsonLine(process.execPath, [path.join(here, 'peers/otlp-sink.ts')], (l) => typeof l.port === 'number');
    const otlp = ['--otlp-endpoint', `http://127.0.0.1:${sink.line.port as number}`];
    for (const [label, args] of TRACING_ROWS) builds.push([`this build, ${label}`, builds[0]![1], [...extraArgs, ...otlp, ...args]]);
  }
  const results: Array<[string, Map<string, number>]> = [];
  for (const [label, cli, args] of builds) results.push([label, await measure(label, cli, backend.port, args)]);
  backend.server.close();
  console.log(`\ncallgrind (valgrind ${spawnSync('valgrind', ['--version'], { encoding: 'utf8' }).stdout.trim()}), node ${process.version}, ${requests} requests after ${warmup} warm-up, ${concurrency} keep-alive connections, --workers ${workers}; loadavg ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
  const names = CASES.map((c) => c.name).filter((n) => results.some(([, r]) => r.has(n)));
  console.log(`| build | ${names.map((n) => `${n} (k instr/req)`).join(' | ')} |`);
  console.log(`|---|${names.map(() => '---:').join('|')}|`);
  for (const [label, r] of results) console.log(`| ${label} | ${names.map((n) => (r.has(n) ? (r.get(n)! / 1000).toFixed(0) : '–')).join(' | ')} |`);
  if (withTracing) {
    const off = results[0]![1];
    console.log(`\ntracing / off (plain): ${results.filter(([label]) => label.includes('tracing')).map(([label, r]) => `${label.replace('this build, ', '')} ${(r.get('plain')! / off.get('plain')!).toFixed(3)}`).join(', ')}`);
  } else if (results.length === 2) {
    const [a, b] = [results[0]![1], results[1]![1]];
    console.log(`\nthis / base: ${names.filter((n) => a.has(n) && b.has(n)).map((n) => `${n} ${(a.get(n)! / b.get(n)!).toFixed(3)}`).join(', ')}`);
  }
}

main().then(() => process.exit(0), (err: Error) => { console.error(err.stack ?? err.message); for (const c of children) c.kill('SIGKILL'); process.exit(1); });
