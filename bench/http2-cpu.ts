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
// options for the routers, space-separated: `--cpu-prof --cpu-prof-dir=DIR` writes a profile each),
// BENCH_GC=1 (the routers preload bench/gc-probe.ts: adds the KB the old generation grew by at
// scavenges per request — what they promoted — and minor/major collections and GC pause ms per
// 100k requests, counts a loaded machine moves far less than CPU seconds; not with callgrind).
// Needs h2load (nghttp2-client), nginx and openssl. Nothing here asserts.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startJsonLine } from './processes.ts';
import { benchCertificate, benchEdgeRouteYaml, benchServiceYaml, startNginxBackend, type BenchCertificate } from './fixtures.ts';
import { cpuSeconds } from './proc.ts';
import { dumpInstructions, zeroInstructions } from './callgrind.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const HOST = 'bench.local';
const callgrind = process.env.BENCH_CALLGRIND === '1';
const requests = Number(process.env.BENCH_REQUESTS ?? (callgrind ? 5_000 : 100_000));
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const clients = Number(process.env.BENCH_CLIENTS ?? 10);
const streams = Number(process.env.BENCH_STREAMS ?? 10);
const withH1 = process.env.BENCH_H1 === '1';
const withGc = process.env.BENCH_GC === '1' && !callgrind;
const nodeArgs = [...(withGc ? ['--import', path.join(here, 'gc-probe.ts')] : []),
  ...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '')];
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
  return callgrind ? dumpInstructions(dir, pid) : cpuSeconds(pid);
}

interface GcTally { minor: number; major: number; pauseMs: number; promotedBytes: number }
interface Run { cpu: number; rps: number; ok: number; gc: GcTally | null }

/** The router's GC totals so far (bench/gc-probe.ts answers SIGUSR2 with a JSON line). */
function gcTally(child: import('node:child_process').ChildProcess): Promise<GcTally> {
  return new Promise((resolve) => {
    let buf = '';
    const onData = (d: string): void => {
      buf += d;
      for (const line of buf.split('\n').slice(0, -1)) {
        if (!line.startsWith('{"gcTally"')) continue;
        child.stdout!.removeListener('data', onData);
        resolve((JSON.parse(line) as { gcTally: GcTally }).gcTally);
        return;
      }
      buf = buf.slice(buf.lastIndexOf('\n') + 1);
    };
    child.stdout!.on('data', onData);
    child.kill('SIGUSR2');
  });
}

/** h2load with a fixed request count: the router's CPU seconds (or instructions), the req/s reached, its GC (BENCH_GC). */
async function run(s: { pid: number; port: number; child: import('node:child_process').ChildProcess }, h1: boolean): Promise<Run> {
  const { pid, port } = s;
  const gcBefore = withGc ? await gcTally(s.child) : null;
  if (callgrind) zeroInstructions(pid);
  const before = callgrind ? 0 : counter(pid);
  const out = spawnSync('h2load', [...(h1 ? ['--h1'] : []), '-c', String(clients), '-m', h1 ? '1' : String(streams), '-n', String(requests),
    `--connect-to=127.0.0.1:${port}`, `https://${HOST}/`], { encoding: 'utf8' }).stdout;
  const cpu = counter(pid) - before;
  const ok = Number(/(\d+) succeeded/.exec(out)?.[1] ?? 0);
  const rps = Number(/finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(out)?.[1] ?? NaN);
  let gc: GcTally | null = null;
  if (gcBefore !== null) {
    const after = await gcTally(s.child);
    gc = { minor: after.minor - gcBefore.minor, major: after.major - gcBefore.major, pauseMs: after.pauseMs - gcBefore.pauseMs, promotedBytes: after.promotedBytes - gcBefore.promotedBytes };
  }
  return { cpu, rps, ok, gc };
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
for (const s of started) for (const h1 of (withH1 ? [false, true] : [false])) await run(s, h1);
const results = new Map<string, Run[]>();
const modes = withH1 ? [false, true] : [false];
for (let r = 0; r < rounds; r++) {
  for (const h1 of modes) {
    for (const s of started) {
      const key = `${s.label}${h1 ? ' HTTPS/1.1' : ' HTTP/2'}`;
      const list = results.get(key) ?? [];
      list.push(await run(s, h1));
      results.set(key, list);
    }
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}; ${requests} requests per run, h2load -c${clients} -m${streams}, ${rounds} rounds`);
const unit = callgrind ? 'k instructions / req' : 'CPU s / 100k req';
const gcHead = withGc ? ' KB promoted / req | minor GCs / 100k | major GCs / 100k | GC pause ms / 100k |' : '';
console.log(`| build | ${unit} (median) | each run | req/s (median) | failed |${gcHead}`);
console.log(`|---|---|---|---|---|${withGc ? '---|---|---|---|' : ''}`);
for (const [key, list] of results) {
  const per100k = list.map((x) => (callgrind ? x.cpu / Math.max(1, x.ok) / 1000 : (x.cpu / Math.max(1, x.ok)) * 100_000));
  // GC: totals over the row's runs (a major collection every few tens of thousands of requests makes per-run figures jumpy).
  const ok = Math.max(1, list.reduce((n, x) => n + x.ok, 0));
  const sum = (f: (g: GcTally) => number): number => list.reduce((n, x) => n + (x.gc === null ? 0 : f(x.gc)), 0);
  const gcCells = withGc
    ? ` ${(sum((g) => g.promotedBytes) / 1024 / ok).toFixed(2)} | ${((sum((g) => g.minor) / ok) * 100_000).toFixed(0)} | ${((sum((g) => g.major) / ok) * 100_000).toFixed(1)} | ${((sum((g) => g.pauseMs) / ok) * 100_000).toFixed(0)} |`
    : '';
  console.log(`| ${key} | ${median(per100k).toFixed(2)} | ${per100k.map((x) => x.toFixed(2)).join(' ')} | ${median(list.map((x) => x.rps)).toFixed(0)} | ${list.reduce((n, x) => n + requests - x.ok, 0)} |${gcCells}`);
}
// A clean stop: a --cpu-prof profile is written on exit.
await Promise.all(started.map((s) => new Promise((resolve) => { s.child.once('exit', resolve); s.child.kill('SIGTERM'); })));
process.exit(0);
