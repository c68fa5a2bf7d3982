// `node bench/instructions.ts [router args]`: instructions per proxied request, counted by
// valgrind's callgrind — a measure that a busy machine does not blur the way it blurs CPU seconds
// (it counts work, not time; expect the run itself to take minutes: valgrind is ~50× slower).
//
// Starts an nginx `return 200` backend (a small Node server without nginx), the router under
// `valgrind --tool=callgrind --trace-children=yes` on one edge route, sends INSTR_WARM requests
// (JIT warm-up), zeroes the counters (callgrind_control --dump), sends INSTR_REQUESTS more with
// h2load (10 connections), dumps again and prints the instructions of that second window divided
// by its requests, per process. What the router does on its own meanwhile (timers) is counted
// too: compare builds or settings with the same request counts.
//
// Env: INSTR_MODE (http | https | h2; default http), INSTR_REQUESTS (default 500), INSTR_WARM
// (default 1000), INSTR_CLI (default dist/cli.js). Needs valgrind and h2load
// (apt-get install -y valgrind nghttp2-client).

import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { children, startJsonLine, waitForPort } from './processes.ts';
import { childPids } from './proc.ts';
import { freePort } from '../test/support/ports.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const mode = process.env.INSTR_MODE ?? 'http';
const requests = Number(process.env.INSTR_REQUESTS ?? 500);
const warm = Number(process.env.INSTR_WARM ?? 1000);
const cli = process.env.INSTR_CLI ?? path.join(here, '..', 'dist/cli.js');
const routerArgs = process.argv.slice(2);
const HOST = 'bench.local';

async function backend(dir: string): Promise<number> {
  if (spawnSync('nginx', ['-v']).error !== undefined) {
    const started = await startJsonLine(process.execPath, [path.join(here, 'backend.ts')], (l) => typeof l.port === 'number');
    return started.line.port as number;
  }
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

function routes(dir: string, port: number): string {
  const key = path.join(dir, 'tls.key');
  const cert = path.join(dir, 'tls.crt');
  spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert,
    '-days', '2', '-subj', `/CN=${HOST}`, '-addext', `subjectAltName=DNS:${HOST}`]);
  const indent = (file: string) => readFileSync(file, 'utf8').trim().split('\n').map((l) => `      ${l}`).join('\n');
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
spec:
  host: ${HOST}
  to: { kind: Service, name: bench }
  tls:
    termination: edge
    insecureEdgeTerminationPolicy: Allow
    certificate: |
${indent(cert)}
    key: |
${indent(key)}
`);
  return file;
}

function load(http: number, https: number, n: number): string {
  const target = mode === 'h2'
    ? ['-m', '10', `--connect-to=127.0.0.1:${https}`, `https://${HOST}/`]
    : ['--h1', '-m', '1', `--connect-to=127.0.0.1:${mode === 'https' ? https : http}`, `${mode === 'https' ? 'https' : 'http'}://${HOST}/`];
  const out = spawnSync('h2load', ['-n', String(n), '-c', '10', ...target], { encoding: 'utf8' }).stdout;
  const line = /requests: .*/.exec(out)?.[0] ?? 'h2load printed no summary';
  if (!/ (\d+) succeeded/.test(line) || Number(/ (\d+) succeeded/.exec(line)![1]) !== n) throw new Error(`not every request succeeded: ${line}`);
  return line;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-instructions-'));
  const file = routes(dir, await backend(dir));
  const [http, https] = [await freePort(), await freePort()];
  const out = path.join(dir, 'callgrind.out');
  const router = spawn('valgrind', ['--tool=callgrind', '--trace-children=yes', `--callgrind-out-file=${out}.%p`, process.execPath, cli, 'run', '--file', file,
    '--bind', '127.0.0.1', '--http-port', String(http), '--https-port', String(https), '--admin-port', '0', '--log-level', 'warn', ...routerArgs], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(router);
  let stderr = '';
  router.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  // Start-up under valgrind takes minutes on a busy machine.
  for (let attempt = 0; ; attempt++) {
    try { await waitForPort(http); break; } catch { if (attempt > 300 || router.exitCode !== null) throw new Error(`router did not start: ${stderr.slice(-2000)}`); }
  }
  const dump = () => { for (const pid of [router.pid!, ...childPids(router.pid!)]) spawnSync('callgrind_control', ['--dump', String(pid)], { stdio: 'ignore' }); };
  load(http, https, warm);
  dump();
  const before = new Set(readdirSync(dir));
  const summary = load(http, https, requests);
  dump();
  const counts = readdirSync(dir).filter((f) => f.startsWith('callgrind.out') && !before.has(f)).map((f) => {
    const text = readFileSync(path.join(dir, f), 'utf8');
    return { pid: /^pid: (\d+)/m.exec(text)?.[1] ?? f, instructions: Number(/^summary: (\d+)/m.exec(text)?.[1] ?? /^totals: (\d+)/m.exec(text)?.[1] ?? 0) };
  });
  const total = counts.reduce((s, c) => s + c.instructions, 0);
  console.log(`${mode}, router ${routerArgs.join(' ') || '(defaults)'}: ${summary}`);
  console.log(`instructions per request: ${Math.round(total / requests)}${counts.length > 1 ? ` (per process: ${counts.map((c) => `${c.pid} ${Math.round(c.instructions / requests)}`).join(', ')})` : ''}`);
  router.kill('SIGKILL');
}

main().then(() => process.exit(0), (err: Error) => { console.error(err.stack ?? err.message); process.exit(1); });
