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

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startJsonLine } from './processes.ts';
import { benchCertificate, benchEdgeRouteYaml, benchServiceYaml, startNginxBackend, type BenchCertificate } from './fixtures.ts';
import { cpuSeconds } from './proc.ts';

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

function routes(backend: number, tls: BenchCertificate): string {
  const file = path.join(dir, 'routes.yaml');
  writeFileSync(file, `${benchServiceYaml(backend)}---\n${benchEdgeRouteYaml(HOST, tls)}`);
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

const tls = benchCertificate(dir, HOST);
const { port: backend } = await startNginxBackend(dir);
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
