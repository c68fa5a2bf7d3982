// `node bench/ab.ts`: interleaved A/B of router builds (or one build under different environments)
// on the three paths `npm run bench` ratios to HAProxy — HTTP/1.1 keep-alive (wrk -t1 -c50),
// HTTPS keep-alive on an edge route (wrk over TLS 1.3, ECDSA P-256), HTTP/2 (h2load -c10 -m10) —
// each router one process in front of the same nginx `return 200` backend. Per run: the router's
// user and system CPU seconds per 100k requests (from /proc; callgrind's instruction counts are
// user space only, the system share is the kernel's loopback TCP), the backend's, and req/s; per
// peer the median over the rounds and the median of its per-round ratio to the first peer (the
// pair measured back to back, which survives a shared machine's load better than either alone).
//
// Env: AB_PEERS — `label=path/to/dist/cli.js` entries separated by `;`, each optionally followed
// by `,NAME=value` environment settings for that router (e.g.
// `native=dist/cli.js;undici=dist/cli.js,SWITCHYARD_UPSTREAM_CLIENT=undici`; default this build);
// AB_MODES (plain,https,h2), AB_ROUNDS (5), AB_DURATION (s per run, 5), AB_WARMUP (s per peer and
// mode before the rounds, 10), AB_PLUGINS=1 (the routers load run.ts's three trivial plugins and
// its plugin route, as `npm run bench`'s switchyard-0 row does), AB_NODE_ARGS (Node options for the
// routers, space-separated, e.g. `--cpu-prof --cpu-prof-dir=DIR`), AB_ROUTER_ARGS (more router
// arguments). Prints a Markdown table with the time (UTC) and the load average. Nothing asserts.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startJsonLine } from './processes.ts';
import { childPids } from './proc.ts';
import { benchCertificate, benchEdgeRouteYaml, benchPluginArgs, benchPluginsYaml, benchServiceYaml, startNginxBackend } from './fixtures.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const HOST = 'bench.local';
const rounds = Number(process.env.AB_ROUNDS ?? 5);
const duration = Number(process.env.AB_DURATION ?? 5);
const warmup = Number(process.env.AB_WARMUP ?? 10);
const modes = (process.env.AB_MODES ?? 'plain,https,h2').split(',') as Array<'plain' | 'https' | 'h2'>;
const withPlugins = process.env.AB_PLUGINS === '1';
const nodeArgs = (process.env.AB_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
const routerArgs = (process.env.AB_ROUTER_ARGS ?? '').split(' ').filter((a) => a !== '');

interface PeerSpec { label: string; cli: string; env: Record<string, string> }
const specs: PeerSpec[] = (process.env.AB_PEERS ?? `this=${path.join(root, 'dist/cli.js')}`).split(';').filter((s) => s !== '').map((entry) => {
  const [head, ...settings] = entry.split(',');
  const eq = head!.indexOf('=');
  if (eq < 0) throw new Error(`AB_PEERS entry without label=cli: ${entry}`);
  const env: Record<string, string> = {};
  for (const s of settings) env[s.slice(0, s.indexOf('='))] = s.slice(s.indexOf('=') + 1);
  return { label: head!.slice(0, eq), cli: path.resolve(head!.slice(eq + 1)), env };
});

/** utime and stime of a process and its threads, seconds. */
function cpu(pid: number): [number, number] {
  let user = 0;
  let system = 0;
  for (const p of [pid, ...childPids(pid)]) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      user += Number(fields[11]) / 100;
      system += Number(fields[12]) / 100;
    } catch { /* gone */ }
  }
  return [user, system];
}

function load(mode: 'plain' | 'https' | 'h2', ports: { http: number; https: number }, seconds: number): { requests: number; rps: number; errors: number } {
  if (mode === 'h2') {
    const out = spawnSync('h2load', ['-c', '10', '-m', '10', '-D', String(seconds), `--connect-to=127.0.0.1:${ports.https}`, `https://${HOST}/`], { encoding: 'utf8' }).stdout;
    const ok = Number(/(\d+) succeeded/.exec(out)?.[1] ?? 0);
    const failed = Number(/(\d+) failed/.exec(out)?.[1] ?? 0) + Number(/(\d+) errored/.exec(out)?.[1] ?? 0);
    return { requests: ok, rps: Number(/finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(out)?.[1] ?? NaN), errors: failed };
  }
  const url = mode === 'plain' ? `http://127.0.0.1:${ports.http}/` : `https://127.0.0.1:${ports.https}/`;
  const out = spawnSync('wrk', ['-t1', '-c50', `-d${seconds}s`, '-H', `Host: ${HOST}`, url], { encoding: 'utf8' }).stdout;
  const errors = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  return { requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? 0), rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0), errors };
}

const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-ab-'));
const tls = benchCertificate(dir, HOST);
const backend = await startNginxBackend(dir);
const backendPids = () => [backend.child.pid!, ...childPids(backend.child.pid!)];
const routes = path.join(dir, 'routes.yaml');
writeFileSync(routes, `${benchServiceYaml(backend.port)}---\n${benchEdgeRouteYaml(HOST, tls, 'Allow')}${withPlugins ? benchPluginsYaml() : ''}`);
const pluginArgs = withPlugins ? benchPluginArgs() : [];

const routers: Array<{ spec: PeerSpec; pid: number; ports: { http: number; https: number }; child: import('node:child_process').ChildProcess }> = [];
for (const spec of specs) {
  const saved = { ...process.env };
  Object.assign(process.env, spec.env);
  const { child, line } = await startJsonLine(process.execPath, [...nodeArgs, spec.cli, 'run', '--file', routes, '--bind', '127.0.0.1', '--http-port', '0',
    '--https-port', '0', '--admin-port', '0', '--workers', '0', '--default-certificate', tls.combined, ...pluginArgs, '--log-level', 'info', ...routerArgs],
  (l) => l.msg === 'listening');
  process.env = saved;
  routers.push({ spec, pid: child.pid!, ports: { http: line.http as number, https: line.https as number }, child });
}

const started = new Date();
const load0 = loadavg()[0]!;
for (const mode of modes) for (const r of routers) load(mode, r.ports, warmup);

interface Run { rps: number; user: number; system: number; backend: number; errors: number }
const results = new Map<string, Run[]>();
const backendCpu = () => backendPids().reduce((s, p) => { const [u, y] = cpu(p); return s + u + y; }, 0);
for (let round = 0; round < rounds; round++) {
  for (const mode of modes) {
    // Alternate the order each round: no peer always runs right after the same other.
    const order = round % 2 === 0 ? routers : [...routers].reverse();
    for (const r of order) {
      const [u0, s0] = cpu(r.pid);
      const b0 = backendCpu();
      const got = load(mode, r.ports, duration);
      const [u1, s1] = cpu(r.pid);
      const per = (x: number) => (got.requests > 0 ? (x / got.requests) * 100_000 : NaN);
      const key = `${r.spec.label}\t${mode}`;
      results.set(key, [...(results.get(key) ?? []), { rps: got.rps, user: per(u1 - u0), system: per(s1 - s0), backend: per(backendCpu() - b0), errors: got.errors }]);
      console.error(`round ${round + 1} ${mode} ${r.spec.label}: ${got.rps.toFixed(0)} req/s, ${per(u1 - u0 + s1 - s0).toFixed(2)} CPU s / 100k`);
    }
  }
}
for (const r of routers) { r.child.kill('SIGTERM'); await new Promise((resolve) => r.child.once('exit', resolve)); }
backend.child.kill('SIGTERM');

const median = (xs: number[]) => { const s = xs.filter(Number.isFinite).sort((a, b) => a - b); return s.length ? s[Math.floor((s.length - 1) / 2)]! : NaN; };
const f = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '–');
console.log(`\n${started.toISOString().slice(11, 16)}–${new Date().toISOString().slice(11, 16)} UTC, load average ${load0.toFixed(1)} → ${loadavg()[0]!.toFixed(1)}; ` +
  `${rounds} interleaved rounds of ${duration} s after ${warmup} s of warm-up per peer and mode; node ${process.version}` +
  `${withPlugins ? '; routers with run.ts\'s 3 plugins loaded' : ''}${nodeArgs.length ? `; node ${nodeArgs.join(' ')}` : ''}\n`);
console.log('| mode | peer | req/s | CPU s / 100k (user + sys) | user | sys | × first (paired) | backend CPU s / 100k | failed |');
console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|');
for (const mode of modes) {
  const first = results.get(`${routers[0]!.spec.label}\t${mode}`)!;
  for (const r of routers) {
    const list = results.get(`${r.spec.label}\t${mode}`)!;
    const paired = median(list.map((x, i) => (x.user + x.system) / (first[i]!.user + first[i]!.system)));
    console.log(`| ${mode} | ${r.spec.label} | ${f(median(list.map((x) => x.rps)), 0)} | ${f(median(list.map((x) => x.user + x.system)))} | ${f(median(list.map((x) => x.user)))} | ` +
      `${f(median(list.map((x) => x.system)))} | ${f(paired)} | ${f(median(list.map((x) => x.backend)))} | ${list.reduce((n, x) => n + x.errors, 0)} |`);
  }
}
process.exit(0);
