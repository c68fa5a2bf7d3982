// `npm run bench:reliability`: reliability figures under load, on loopback, printed as a table.
// Every scenario runs a bounded load against real router processes (dist/cli.js) and counts
// requests sent, failed and the p99 latency. Numbers are one run on one machine; nothing here
// asserts (the 0-lost checks that can be made deterministic are e2e tests).
//
//   1 churn: routes loaded through a (fake) Kubernetes API server; Route and EndpointSlice
//     changes at a fixed rate while load hits a stable route and a route whose endpoint moves
//     (the old endpoint stays up until the change is applied)
//   2 backend killed under load (SIGKILL): failures, when the last one started, and how long
//     the restarted backend takes to get traffic again (active check)
//   3 SIGTERM under load (a rollover on the same ports) with long requests and WebSockets open
//   4 connection floods: idle keep-alive connections (RSS per connection, --max-connections
//     honoured, other clients' p99) and slowloris clients (cut by --header-timeout)
//   5 API server outage under load: the fake API server (test/support/fake-apiserver.ts)
//     refuses connections for 30 s; a Route created meanwhile is served once it is back. With
//     RELIABILITY_API=real, the real control plane of test/real/ instead (etcd, kube-apiserver,
//     kube-controller-manager; needs root and the binaries of test/k8s/build-binaries.sh): the
//     router runs under manifests/ RBAC, its backend is an echo server in a network namespace
//     (test/support/netns-hosts.ts: the API server refuses loopback endpoints, the real
//     EndpointSlice controller writes the slice), kube-apiserver is killed for 30 s, and a Route
//     written to etcd meanwhile (as another API server replica would) is served after it is back.
//
// Env: RELIABILITY_SCENARIOS (default "1,2,3,4,5"), RELIABILITY_API (scenario 5: "fake", default, or "real"), RELIABILITY_OUTAGE_SECONDS (default 30), RELIABILITY_ROUTES (scenario 1, default
// 10000), RELIABILITY_CHANGES (changes/s, default 100), RELIABILITY_CHURN_SECONDS (default 60),
// RELIABILITY_IDLE (idle connections, default 15000: 20k needs more than this machine's open-files hard limit of 20000 in the load process), RELIABILITY_SLOWLORIS (default 1000).
// The npm script raises the open-files limit (ulimit -n) for the flood.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Pool } from 'undici';
import WebSocket from 'ws';
import { children, startJsonLine } from './processes.ts';
import { freePort } from '../test/support/ports.ts';
import { startBackend, serviceYaml, routeYaml } from '../test/support/backends.ts';
import { FakeApiServer } from '../test/support/fake-apiserver.ts';
import { createNetnsHosts } from '../test/support/netns-hosts.ts';
import { startRealCluster } from '../test/support/real-apiserver.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.join(here, '..', 'dist', 'cli.js');
const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);

// ---- a killable backend process: `node bench/reliability.ts backend <name> [port]`
if (process.argv[2] === 'backend') {
  const name = process.argv[3]!;
  const server = http.createServer((req, res) => {
    const delay = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('delay') ?? 0);
    const reply = () => { res.writeHead(200, { 'x-backend': name, 'content-length': 2 }); res.end('ok'); };
    if (delay > 0) setTimeout(reply, delay); else reply();
  });
  server.keepAliveTimeout = 65_000;
  server.listen(Number(process.argv[4] ?? 0), '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ port: (server.address() as net.AddressInfo).port })}\n`);
  });
} else {
  main().then(() => process.exit(0), (err: Error) => { console.error(err.stack ?? err.message); process.exit(1); });
}

interface Row { scenario: string; sent: number; failed: number; p99: number; notes: string }
const rows: Row[] = [];

function p99(latencies: number[]): number {
  if (latencies.length === 0) return NaN;
  const sorted = [...latencies].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))]!;
}

interface Outcome { start: number; ms: number; ok: boolean; backend: string; error?: string }

/**
 * A closed-loop load: `concurrency` loops, each sending its next request when the previous one
 * ends, on keep-alive connections (undici, honouring the server's keep-alive hint) or on a new
 * connection per request.
 */
class Load {
  readonly outcomes: Outcome[] = [];
  #running = true;
  readonly #loops: Promise<void>[] = [];
  readonly #pool: Pool | null;

  constructor(port: number, host: string, concurrency: number, options: { newConnections?: boolean; path?: string } = {}) {
    this.#pool = options.newConnections ? null : new Pool(`http://127.0.0.1:${port}`, { connections: concurrency, keepAliveTimeoutThreshold: 500 });
    for (let i = 0; i < concurrency; i++) this.#loops.push(this.#loop(port, host, options.path ?? '/'));
  }

  async #loop(port: number, host: string, urlPath: string): Promise<void> {
    while (this.#running) {
      const start = performance.now();
      try {
        const { status, backend } = this.#pool ? await this.#keepAlive(host, urlPath) : await newConnection(port, host, urlPath);
        this.outcomes.push({ start, ms: performance.now() - start, ok: status === 200, backend, error: status === 200 ? undefined : `status ${status}` });
      } catch (err) {
        const e = err as { code?: string; cause?: { code?: string }; message: string };
        this.outcomes.push({ start, ms: performance.now() - start, ok: false, backend: '', error: e.cause?.code ?? e.code ?? e.message });
      }
    }
  }

  async #keepAlive(host: string, urlPath: string): Promise<{ status: number; backend: string }> {
    const res = await this.#pool!.request({ path: urlPath, method: 'GET', headers: { host } });
    await res.body.dump();
    return { status: res.statusCode, backend: String(res.headers['x-backend'] ?? '') };
  }

  async stop(): Promise<{ sent: number; failed: number; p99: number; errors: string }> {
    this.#running = false;
    await Promise.all(this.#loops);
    await this.#pool?.close();
    const failed = this.outcomes.filter((o) => !o.ok);
    const errors = new Map<string, number>();
    for (const f of failed) errors.set(f.error!, (errors.get(f.error!) ?? 0) + 1);
    return { sent: this.outcomes.length, failed: failed.length, p99: p99(this.outcomes.map((o) => o.ms)), errors: [...errors].map(([k, v]) => `${k}×${v}`).join(' ') };
  }
}

function newConnection(port: number, host: string, urlPath: string): Promise<{ status: number; backend: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, headers: { host }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, backend: String(res.headers['x-backend'] ?? '') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

async function startRouter(args: string[]): Promise<{ child: ChildProcess; http: number; https: number; admin: number }> {
  const defaults = ['--bind', '127.0.0.1', '--admin-port', '0', '--workers', '0'];
  if (!args.includes('--http-port')) defaults.push('--http-port', '0');
  if (!args.includes('--https-port')) defaults.push('--https-port', '0');
  const { child, line } = await startJsonLine(process.execPath, [CLI, 'run', ...defaults, ...args], (l) => l.msg === 'listening');
  return { child, http: line.http as number, https: line.https as number, admin: line.admin as number };
}

function stopProcess(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  child.kill('SIGTERM');
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

function rssKiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
}

function writeRoutes(docs: string[]): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'switchyard-reliability-')), 'routes.yaml');
  writeFileSync(file, docs.join('\n---\n'));
  return file;
}

// ---- scenario 1: churn
async function churn(): Promise<void> {
  const routes = env('RELIABILITY_ROUTES', 10_000);
  const rate = env('RELIABILITY_CHANGES', 100);
  const seconds = env('RELIABILITY_CHURN_SECONDS', 60);
  const [x, y] = await Promise.all([startBackend('x'), startBackend('y')]);
  const api = await FakeApiServer.start();
  const ns = 'default';
  const service = (name: string) => ({ apiVersion: 'v1', kind: 'Service', metadata: { namespace: ns, name }, spec: { ports: [{ name: 'http', port: 80 }] } });
  const slice = (name: string, port: number) => ({
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { namespace: ns, name: `${name}-slice`, labels: { 'kubernetes.io/service-name': name } },
    addressType: 'IPv4', ports: [{ name: 'http', port }], endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
  });
  const route = (name: string, host: string, svc: string, generation = 0) => ({
    apiVersion: 'route.openshift.io/v1', kind: 'Route',
    metadata: { namespace: ns, name, annotations: { 'switchyard.io/bench-generation': String(generation) } },
    spec: { host, to: { kind: 'Service', name: svc } },
  });
  api.create(service('stable'));
  api.create(slice('stable', x.port));
  api.create(route('stable', 'stable.bench', 'stable'));
  api.create(service('moving'));
  api.create(slice('moving', x.port));
  api.create(route('moving', 'moving.bench', 'moving'));
  for (let i = 0; i < routes; i++) {
    api.create(service(`s${i}`));
    api.create(slice(`s${i}`, y.port));
    api.create(route(`r${i}`, `r${i}.bench`, `s${i}`));
  }
  const loadStart = performance.now();
  const router = await startRouter(['--kubeconfig', api.kubeconfigPath, '--update-status=false']);
  const syncMs = performance.now() - loadStart;
  const rssAfterLoad = rssKiB(router.child.pid!);
  const stable = new Load(router.http, 'stable.bench', 4);
  const moving = new Load(router.http, 'moving.bench', 4);
  let changes = 0;
  const interval = 1000 / rate;
  const end = performance.now() + seconds * 1000;
  for (let tick = 0; performance.now() < end; tick++) {
    if (tick % 2 === 0) api.update(route(`r${tick % routes}`, `r${tick % routes}.bench`, `s${tick % routes}`, tick));
    else api.update(slice('moving', (tick >> 1) % 2 === 0 ? y.port : x.port));
    changes++;
    const due = loadStart + syncMs + (tick + 1) * interval;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
  }
  const [s, m] = await Promise.all([stable.stop(), moving.stop()]);
  await stopProcess(router.child);
  await api.close();
  await Promise.all([x.close(), y.close()]);
  const achieved = changes / seconds;
  rows.push({ scenario: `1 churn: stable route (${routes} routes)`, ...s, notes: `${changes} changes in ${seconds} s (${achieved.toFixed(0)}/s); first sync ${(syncMs / 1000).toFixed(1)} s; RSS ${(rssAfterLoad / 1024).toFixed(0)} MiB ${s.errors}` });
  rows.push({ scenario: '1 churn: moving endpoint', ...m, notes: m.errors });
}

// ---- scenario 2: backend killed under load
async function backendKilled(): Promise<void> {
  const startBackendProcess = async (name: string, port = 0) => {
    const { child, line } = await startJsonLine(process.execPath, [fileURLToPath(import.meta.url), 'backend', name, String(port)], (l) => typeof l.port === 'number');
    return { child, port: line.port as number };
  };
  const a = await startBackendProcess('a');
  let b = await startBackendProcess('b');
  const file = writeRoutes([serviceYaml('ab', [a.port, b.port]), routeYaml('ab', 'kill.bench', 'ab', { annotations: {
    'haproxy.router.openshift.io/balance': 'roundrobin', 'haproxy.router.openshift.io/disable_cookies': 'true',
    'router.openshift.io/haproxy.health.check.interval': '500ms',
  } })]);
  const router = await startRouter(['--file', file]);
  const load = new Load(router.http, 'kill.bench', 8, { path: '/?delay=5' });
  await sleep(2000);
  const killedAt = performance.now();
  b.child.kill('SIGKILL');
  await sleep(3000);
  const restartedAt = performance.now();
  b = await startBackendProcess('b', b.port);
  const rejoined = await new Promise<number>((resolve) => {
    const check = setInterval(() => {
      const first = load.outcomes.find((o) => o.start > restartedAt && o.backend === 'b');
      if (first) { clearInterval(check); resolve(first.start - restartedAt); }
    }, 20);
    setTimeout(() => { clearInterval(check); resolve(NaN); }, 15_000);
  });
  await sleep(1000);
  const result = await load.stop();
  const failures = load.outcomes.filter((o) => !o.ok);
  const lastFailure = failures.length ? Math.max(...failures.map((o) => o.start)) - killedAt : 0;
  const afterOneSecond = failures.filter((o) => o.start > killedAt + 1000).length;
  await stopProcess(router.child);
  a.child.kill('SIGKILL');
  b.child.kill('SIGKILL');
  rows.push({ scenario: '2 backend killed (1 of 2)', ...result, notes: `last failed request started ${lastFailure.toFixed(0)} ms after the kill; failures starting > 1 s after it: ${afterOneSecond}; restarted backend served again after ${rejoined.toFixed(0)} ms ${result.errors}` });
}

// ---- scenario 3: SIGTERM under load, long requests and WebSockets open
async function sigterm(): Promise<void> {
  const backend = await startBackend('w', { websocket: true });
  const file = writeRoutes([serviceYaml('w', [backend.port]), routeYaml('w', 'term.bench', 'w')]);
  const httpPort = await freePort();
  const httpsPort = await freePort();
  const args = ['--file', file, '--http-port', String(httpPort), '--https-port', String(httpsPort), '--client-timeout', '2s', '--drain-timeout', '20s'];
  const a = await startRouter(args);
  const sockets = await Promise.all(Array.from({ length: 50 }, () => new Promise<WebSocket>((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${httpPort}/`, { headers: { host: 'term.bench' } });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  })));
  let wsSent = 0;
  let wsEchoed = 0;
  for (const ws of sockets) ws.on('message', () => { wsEchoed++; });
  const ping = setInterval(() => { for (const ws of sockets) if (ws.readyState === WebSocket.OPEN) { ws.send('ping'); wsSent++; } }, 200);
  const keepAlive = new Load(httpPort, 'term.bench', 4);
  const fresh = new Load(httpPort, 'term.bench', 4, { newConnections: true });
  const long = Array.from({ length: 20 }, () => newConnection(httpPort, 'term.bench', '/?delay=3000').then((r) => r.status === 200, () => false));
  await sleep(500);
  const b = await startRouter(args);
  const termAt = performance.now();
  const exited = stopProcess(a.child);
  const longOk = (await Promise.all(long)).filter(Boolean).length;
  await sleep(1000);
  clearInterval(ping);
  await sleep(300); // the last echoes
  for (const ws of sockets) ws.close();
  await exited;
  const drainMs = performance.now() - termAt;
  const [k, f] = await Promise.all([keepAlive.stop(), fresh.stop()]);
  await stopProcess(b.child);
  await backend.close();
  rows.push({ scenario: '3 SIGTERM: keep-alive clients', ...k, notes: k.errors });
  rows.push({ scenario: '3 SIGTERM: new connections', ...f, notes: f.errors });
  rows.push({ scenario: '3 SIGTERM: long requests + WS', sent: 20 + wsSent, failed: 20 - longOk + (wsSent - wsEchoed), p99: NaN, notes: `20 requests of 3 s: ${longOk} ok; 50 WebSockets: ${wsEchoed}/${wsSent} messages echoed; old router exited ${drainMs.toFixed(0)} ms after SIGTERM, once the WebSockets closed` });
}

// ---- scenario 4: connection floods
function openIdle(port: number, host: string): Promise<net.Socket | null> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      data += d;
      if (data.includes('\r\n\r\n') && data.endsWith('ok')) resolve(socket);
    });
    socket.on('error', () => resolve(null));
    socket.on('close', () => resolve(null));
    socket.write(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
  });
}

async function floods(): Promise<void> {
  const idle = env('RELIABILITY_IDLE', 15_000);
  const slowloris = env('RELIABILITY_SLOWLORIS', 1000);
  const backendProcess = await startJsonLine(process.execPath, [path.join(here, 'backend.ts')], (l) => typeof l.port === 'number');
  const file = writeRoutes([serviceYaml('f', [backendProcess.line.port as number]), routeYaml('f', 'flood.bench', 'f')]);
  const cap = idle + 100;
  const router = await startRouter(['--file', file, '--max-connections', String(cap), '--client-timeout', '10m', '--header-timeout', '2s']);
  const measure = async (ms: number) => { const l = new Load(router.http, 'flood.bench', 4); await sleep(ms); return l.stop(); };
  const baseline = await measure(3000);
  const rssBefore = rssKiB(router.child.pid!);
  const sockets: net.Socket[] = [];
  for (let i = 0; i < idle; i += 200) {
    const batch = await Promise.all(Array.from({ length: Math.min(200, idle - i) }, () => openIdle(router.http, 'flood.bench')));
    for (const s of batch) if (s) sockets.push(s);
  }
  const rssAfter = rssKiB(router.child.pid!);
  const during = await measure(3000);
  // Beyond the cap: the listener closes the connection at once.
  const extra = await Promise.all(Array.from({ length: 200 }, () => openIdle(router.http, 'flood.bench')));
  const accepted = extra.filter((s) => s !== null);
  rows.push({ scenario: '4 idle: baseline (no flood)', ...baseline, notes: '' });
  rows.push({ scenario: `4 idle: ${sockets.length} keep-alive conns open`, ...during, notes: `RSS +${((rssAfter - rssBefore) / 1024).toFixed(0)} MiB = ${((rssAfter - rssBefore) * 1024 / sockets.length / 1024).toFixed(1)} KiB per connection; --max-connections ${cap}: of 200 more connections, ${accepted.length} served, ${200 - accepted.length} closed unanswered` });
  for (const s of [...sockets, ...accepted]) s?.destroy();
  await sleep(500);

  // Slowloris: headers one byte at a time, never finished.
  const closedAfter: number[] = [];
  const slow = Array.from({ length: slowloris }, () => {
    const socket = net.connect(router.http, '127.0.0.1');
    const opened = performance.now();
    socket.on('error', () => {});
    socket.resume(); // read the 408, or the close is never seen
    socket.on('close', () => closedAfter.push(performance.now() - opened));
    socket.write('GET / HTTP/1.1\r\nHost: flood.bench\r\n');
    const drip = setInterval(() => { if (!socket.destroyed) socket.write('X'); }, 500);
    socket.on('close', () => clearInterval(drip));
    return socket;
  });
  await sleep(500);
  const underAttack = await measure(3000);
  const deadline = performance.now() + 10_000;
  while (closedAfter.length < slowloris && performance.now() < deadline) await sleep(100);
  for (const s of slow) s.destroy();
  const closedMs = [...closedAfter].sort((x, y) => x - y);
  rows.push({ scenario: `4 slowloris: ${slowloris} clients`, ...underAttack, notes: `p99 ${(underAttack.p99 / baseline.p99).toFixed(2)}× the idle baseline; ${closedMs.length}/${slowloris} cut by --header-timeout 2s (median after ${closedMs[closedMs.length >> 1]?.toFixed(0)} ms, last ${closedMs.at(-1)?.toFixed(0)} ms)` });
  await stopProcess(router.child);
  backendProcess.child.kill('SIGTERM');
}

// ---- scenario 5: API server outage
async function apiOutage(): Promise<void> {
  const seconds = env('RELIABILITY_OUTAGE_SECONDS', 30);
  const backend = await startBackend('o');
  const api = await FakeApiServer.start();
  const ns = 'default';
  api.create({ apiVersion: 'v1', kind: 'Service', metadata: { namespace: ns, name: 'o' }, spec: { ports: [{ name: 'http', port: 80 }] } });
  api.create({
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { namespace: ns, name: 'o-slice', labels: { 'kubernetes.io/service-name': 'o' } },
    addressType: 'IPv4', ports: [{ name: 'http', port: backend.port }], endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
  });
  const route = (name: string) => ({ apiVersion: 'route.openshift.io/v1', kind: 'Route', metadata: { namespace: ns, name }, spec: { host: `${name}.bench`, to: { kind: 'Service', name: 'o' } } });
  api.create(route('stable'));
  const router = await startRouter(['--kubeconfig', api.kubeconfigPath, '--update-status=false']);
  const keepAlive = new Load(router.http, 'stable.bench', 4);
  const fresh = new Load(router.http, 'stable.bench', 2, { newConnections: true });
  await sleep(2000);
  const outage = api.refuseConnections(seconds * 1000);
  await sleep(1000);
  api.create(route('during')); // stored while every client connection is refused
  await outage;
  const back = performance.now();
  let appliedAfter = NaN;
  while (performance.now() - back < 60_000) {
    const reply = await newConnection(router.http, 'during.bench', '/').catch(() => ({ status: 0 }));
    if (reply.status === 200) { appliedAfter = performance.now() - back; break; }
    await sleep(100);
  }
  await sleep(1000);
  const [k, f] = await Promise.all([keepAlive.stop(), fresh.stop()]);
  await stopProcess(router.child);
  await api.close();
  await backend.close();
  rows.push({ scenario: `5 API outage (${seconds} s): keep-alive`, ...k, notes: k.errors });
  rows.push({ scenario: `5 API outage (${seconds} s): new connections`, ...f, notes: `a Route created during the outage was served ${(appliedAfter / 1000).toFixed(1)} s after the API server came back (watch restart backoff included) ${f.errors}` });
}

// ---- scenario 5 against the real control plane (RELIABILITY_API=real)
async function apiOutageReal(): Promise<void> {
  const seconds = env('RELIABILITY_OUTAGE_SECONDS', 30);
  const cluster = await startRealCluster();
  const hosts = await createNetnsHosts(1);
  let router: Awaited<ReturnType<typeof startRouter>> | undefined;
  try {
    await cluster.apply({ kustomization: path.join(here, '..', 'manifests') });
    await cluster.waitEstablished('routes.route.openshift.io');
    const address = hosts.addresses[0]!;
    await hosts.startEcho(address, 8080);
    const route = (name: string) => `
apiVersion: route.openshift.io/v1
kind: Route
metadata: { name: ${name}, namespace: app }
spec:
  host: ${name}.bench
  to: { kind: Service, name: o }
`;
    await cluster.apply({ yaml: `
apiVersion: v1
kind: Namespace
metadata: { name: app }
---
apiVersion: v1
kind: Service
metadata: { name: o, namespace: app }
spec:
  selector: { app: o }
  ports: [{ name: http, port: 80, targetPort: 8080 }]
---${route('stable')}` });
    await cluster.createPod({ namespace: 'app', name: 'o-1', labels: { app: 'o' }, ip: address, ready: true });
    const { kubeconfig } = await cluster.serviceAccountKubeconfig('switchyard', 'switchyard-router');
    router = await startRouter(['--kubeconfig', kubeconfig, '--lease-namespace', 'switchyard']);
    const served = async (host: string) => (await newConnection(router!.http, host, '/').catch(() => ({ status: 0 }))).status === 200;
    const ready = performance.now();
    while (!(await served('stable.bench'))) {
      if (performance.now() - ready > 60_000) throw new Error('scenario 5 (real): the stable route was not served within 60 s');
      await sleep(100);
    }
    const keepAlive = new Load(router.http, 'stable.bench', 4);
    const fresh = new Load(router.http, 'stable.bench', 2, { newConnections: true });
    await sleep(2000);
    await cluster.killApiServer();
    const killedAt = performance.now();
    // Written while kube-apiserver is down, in the JSON it stores custom resources as (see
    // test/real/failover.test.ts).
    await cluster.etcdPut('/registry/route.openshift.io/routes/app/during', JSON.stringify({
      apiVersion: 'route.openshift.io/v1', kind: 'Route',
      metadata: { name: 'during', namespace: 'app', uid: randomUUID(), creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), generation: 1 },
      spec: { host: 'during.bench', to: { kind: 'Service', name: 'o', weight: 100 }, wildcardPolicy: 'None' },
    }));
    await sleep(Math.max(0, seconds * 1000 - (performance.now() - killedAt)));
    await cluster.startApiServer();
    const back = performance.now();
    let appliedAfter = NaN;
    while (performance.now() - back < 90_000) {
      if (await served('during.bench')) { appliedAfter = performance.now() - back; break; }
      await sleep(100);
    }
    await sleep(1000);
    const [k, f] = await Promise.all([keepAlive.stop(), fresh.stop()]);
    const label = `5 API outage, real kube-apiserver (${seconds} s)`;
    rows.push({ scenario: `${label}: keep-alive`, ...k, notes: k.errors });
    rows.push({ scenario: `${label}: new connections`, ...f, notes: `backend: a pod in a network namespace, slice by the EndpointSlice controller; a Route written to etcd during the outage was served ${(appliedAfter / 1000).toFixed(1)} s after kube-apiserver was back up (its start-up and the watch restart backoff included) ${f.errors}` });
  } finally {
    if (router) await stopProcess(router.child);
    await hosts.close();
    await cluster.stop();
  }
}

async function main(): Promise<void> {
  const selected = new Set((process.env.RELIABILITY_SCENARIOS ?? '1,2,3,4,5').split(',').map((s) => s.trim()));
  const api = process.env.RELIABILITY_API ?? 'fake';
  if (api !== 'fake' && api !== 'real') throw new Error(`RELIABILITY_API=${api}: expected fake or real`);
  if (selected.has('1')) await churn();
  if (selected.has('2')) await backendKilled();
  if (selected.has('3')) await sigterm();
  if (selected.has('4')) await floods();
  if (selected.has('5')) await (api === 'real' ? apiOutageReal() : apiOutage());
  let migrate = 'n/a';
  try { migrate = readFileSync('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8').trim(); } catch { /* not Linux */ }
  console.log(`\nnode ${process.version}, loopback, --workers 0, net.ipv4.tcp_migrate_req=${migrate}\n`);
  console.log('| scenario | sent | failed | p99 (ms) | notes |');
  console.log('|---|---:|---:|---:|---|');
  for (const r of rows) console.log(`| ${r.scenario} | ${r.sent} | ${r.failed} | ${Number.isNaN(r.p99) ? '' : r.p99.toFixed(1)} | ${r.notes.trim()} |`);
  for (const c of children) c.kill('SIGTERM');
}
