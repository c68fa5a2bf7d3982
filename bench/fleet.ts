// `npm run bench:fleet`: a fleet of edge routers on one real API server (issue 25). N router
// processes (no HTTP traffic, a small heap, one ServiceAccount each so the audit log tells them
// apart, each behind a TCP proxy of its own that counts its connections and bytes) against a real
// kube-apiserver + etcd (test/support/real-apiserver.ts, the shipped RBAC) holding R Routes, each
// with a Service and an EndpointSlice of 3 endpoints (3 pods in a network namespace of its own,
// shared by all the slices: see fleet-objects.ts; a router's memory is therefore the
// shared-endpoint figure, about half of what distinct pod addresses cost). For each N it measures:
//
// - cold start: all N started at once with no status written yet; time to all ready, API server
//   and etcd CPU seconds and peak RSS, requests, new connections and MB received per router;
// - first status pass: until every Route has the router's status (a first deployment);
// - idle: FLEET_IDLE seconds of nothing; new connections and requests per router;
// - propagation: FLEET_EDITS host edits, time until the last router serves the new host;
// - leader change: the Lease holder stopped (SIGTERM); the new leader's status requests and
//   pass time, its RSS against the followers';
// - rolling restart: each router stopped and started again in turn (the default reads:
//   --watch-list=auto); then again reading every kind by paged lists (--watch-list=false), again
//   with --watch-list=true (phase `watchlist`), with --watch-list=list (phase `onelist`), again
//   reading everything as JSON (--kube-protobuf=false), and again with another build
//   (FLEET_COMPARE_CLI, e.g. main's);
// - restart storm: every router SIGKILLed and started again at once;
// - cold starts again (`coldcompare`, with FLEET_COMPARE_CLI): all stopped, every status cleared, all started
//   at once with one build, then its first status pass; the two builds in turn, FLEET_ROUNDS times;
//
// then a per-router cost extrapolated to 1,000 routers, with the assumptions printed. Results
// also go to bench/results/fleet-<time>.json. Nothing here asserts: these are measurements.
//
// API-server CPU of a start phase is printed gross (the phase's window) and net: less the
// API server's idle rate (its CPU over FLEET_IDLE_WINDOW seconds of nothing just before the
// phase, the routers running; more windows while it is still busy, the lowest rate taken) times
// the phase's length. The restarts run FLEET_ROUNDS times,
// interleaved, and their medians are printed; the issue's target (half of its 1.7 CPU-s, which
// was a gross figure) is compared with the gross figures. Also printed, as the steadier figure:
// GC amortized — the phase's CPU less its garbage collection (by the Go runtime's GC share),
// plus the MB it allocated × the GC CPU per MB over the whole run (a collection of the API
// server's ~1 GB heap, ~0.5–1 CPU-s, lands in one start of several and is owed by all).
//
// Env: FLEET_ROUTERS (default "1,10,50"; a size is skipped when free memory cannot hold it),
// FLEET_ROUTES (10000), FLEET_HEAP (router --max-old-space-size in MB, 512), FLEET_IDLE (30 s),
// FLEET_EDITS (20), FLEET_PHASES (comma list of cold,status,idle,propagation,leader,rolling,paged,
// watchlist,onelist,json,compare,storm,coldcompare; default all but watchlist, onelist, compare and coldcompare), FLEET_ROUNDS (the restarts this many times,
// interleaved; 1), FLEET_CLI (another build's dist/cli.js for every phase) and FLEET_LABEL (its
// name in the output), FLEET_COMPARE_CLI (another build's dist/cli.js for the `compare` restarts,
// A/B in the same rounds; FLEET_COMPARE_LABEL its name), FLEET_IDLE_WINDOW (seconds of idle
// before each start phase, 8), FLEET_ROUTER_ARGS (extra router flags, e.g. "--watch-list=false"),
// FLEET_APISERVER_ARGS (extra kube-apiserver flags, e.g. "--feature-gates=CBORServingAndStorage=true",
// under which the Routes are listed and watched as CBOR), FLEET_PROFILE=1 (kube-apiserver with --profiling: CPU profiles
// taken back to back through each start phase and the first status pass, merged, their top frames printed and
// the profiles kept in bench/results/; profiling costs the API server a little CPU of its own: not for A/B runs),
// FLEET_RELAY=1 (one `switchyard kube-relay` process between the routers and the API server, started
// before the first phase and not warmed: its own lists fall in the cold start; its CPU seconds and
// peak RSS per phase are columns of their own; the API server's CPU per router is still its CPU / N).
// Each phase also counts the routers' lists, watches and status writes (audit log) and the watchers kube-apiserver
// closed for falling behind ("Forcing ... watcher close due to unresponsiveness", its log at -v 1).
// Note `uptime` beside the numbers: the machine is shared.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readSync, statSync, writeFileSync } from 'node:fs';
import { freemem, loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from '../test/support/http-client.ts';
import { kubeconfigYaml } from '../test/support/real-apiserver-pki.ts';
import { createNetnsHosts } from '../test/support/netns-hosts.ts';
import { binaryDir, startRealCluster, type RealCluster } from '../test/support/real-apiserver.ts';
import { CLI, startRouter, type RouterProcess } from '../test/support/router-process.ts';
import { startTcpProxy, type TcpProxy } from '../test/support/tcp-proxy.ts';
import { relayTls, startRelay, type RelayProcess, type RelayTls } from '../test/support/relay-process.ts';
import { cpuSeconds } from './proc.ts';
import { admittedRoutes, clearRouteStatus, createRouteObjects, POD_PORT, routeHost, routerAccounts, setRouteHost, statusesCurrent } from './fleet-objects.ts';
import { apfTotals, type ApiServerTotals, AuditReader, childByName, countRequests, isRequest, peakRssBytes, percentile, ProcessWindow, type RequestCounts } from './fleet-measure.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const MANIFESTS = path.join(here, '../manifests/');
const sizes = (process.env.FLEET_ROUTERS ?? '1,10,50').split(',').map(Number).filter((n) => n > 0);
const ROUTES = Number(process.env.FLEET_ROUTES ?? 10_000);
const HEAP_MB = Number(process.env.FLEET_HEAP ?? 512);
const IDLE_S = Number(process.env.FLEET_IDLE ?? 30);
const EDITS = Number(process.env.FLEET_EDITS ?? 20);
const PHASES = new Set((process.env.FLEET_PHASES ?? 'cold,status,idle,propagation,leader,rolling,paged,json,storm').split(','));
const ROUNDS = Number(process.env.FLEET_ROUNDS ?? 1);
const IDLE_WINDOW_S = Number(process.env.FLEET_IDLE_WINDOW ?? 8);
const compareCli = process.env.FLEET_COMPARE_CLI;
const compareLabel = process.env.FLEET_COMPARE_LABEL ?? compareCli ?? '';
const cli = process.env.FLEET_CLI ?? CLI;
const label = process.env.FLEET_LABEL ?? (process.env.FLEET_CLI ? process.env.FLEET_CLI : 'this build');
const extraArgs = (process.env.FLEET_ROUTER_ARGS ?? '').split(/\s+/).filter(Boolean);
const PROFILE = process.env.FLEET_PROFILE === '1';
const RELAY = process.env.FLEET_RELAY === '1';
const RELAY_USER = 'system:serviceaccount:switchyard:switchyard-kube-relay';
const RESULTS = path.join(here, 'results');
/** Resident memory a router at FLEET_ROUTES routes needs, for the free-memory check (measured ~28 KB per route + 60 MB). */
const ROUTER_MB = 60 + ROUTES * 0.028;

interface FleetRouter { index: number; user: string; proxy: TcpProxy; kubeconfig: string; process: RouterProcess | undefined }

interface PhaseRow {
  routers: number;
  phase: string;
  wallS: number;
  apiCpuS: number;
  /** apiCpuS less the API server's idle rate (measured just before the phase) × the phase's length; NaN when not measured. */
  apiNetCpuS: number;
  etcdCpuS: number;
  apiPeakMB: number;
  /** MB the API server's Go runtime allocated during the phase. */
  apiAllocMB: number;
  /** Garbage collections the API server's Go runtime ran during the phase. */
  apiGcCycles: number;
  etcdPeakMB: number;
  /** Mean over the routers that took part. */
  requests: number;
  connections: number;
  mbDown: number;
  apfWaitS: number;
  apfRejected: number;
  /** Lists the API server served from its watch cache, and from etcd (all clients: the harness's own are few). */
  cacheLists: number;
  etcdLists: number;
  /** Of the consistent reads, those the watch cache could not serve in time (then served from etcd). */
  cacheFallbacks: number;
  /** Objects the API server read from etcd for lists, and its cache consistency checks (each reads a whole resource). */
  etcdObjects: number;
  consistencyChecks: number;
  /** FLEET_RELAY: the relay's CPU seconds and peak RSS in the phase (NaN without a relay). */
  relayCpuS: number;
  relayPeakMB: number;
  /** FLEET_RELAY: the relay's lists / watches / token and access reviews at the API server in the phase. */
  relayRequests: string;
  /** CPU seconds of the router processes (primaries) that ran through the whole phase, summed. */
  routerCpuS: number;
  /** All routers' requests in the phase by kind (audit log): lists, watches, status writes (PATCH/PUT), status reads (GET). */
  lists: number;
  watches: number;
  statusWrites: number;
  statusReads: number;
  /** Watchers kube-apiserver closed because they fell behind (its log), all clients. */
  watchersClosed: number;
  /** The routers' informer restarts in the phase ('restarting watch' in their logs), with the reasons seen. */
  informerRestarts: number;
  restartReasons: string;
  note: string;
}

const rows: PhaseRow[] = [];

/** The rolling restarts run in rounds: phase key, title, router flags, whether with FLEET_COMPARE_CLI. */
const RESTARTS: Array<[string, string, string[], boolean]> = [
  ['rolling', 'rolling restart', [], false],
  ['paged', 'rolling restart, paged lists', ['--watch-list=false'], false],
  ['watchlist', 'rolling restart, watch-list', ['--watch-list=true'], false],
  ['onelist', 'rolling restart, one list at resourceVersion=0', ['--watch-list=list'], false],
  ['json', 'rolling restart, JSON only', ['--kube-protobuf=false'], false],
  ['compare', 'rolling restart, FLEET_COMPARE_CLI', [], true],
];
const extra: Record<string, unknown>[] = [];
const seconds = (ms: number) => Math.round(ms / 100) / 10;
const mb = (bytes: number) => Math.round(bytes / 2 ** 20);
const uptime = () => loadavg().map((l) => l.toFixed(1)).join(' ');

let cluster: RealCluster;
let apiPid = 0;
let etcdPid = 0;
let audit: AuditReader;
let relay: { process: RelayProcess; tls: RelayTls } | undefined;

async function startFleetRouter(router: FleetRouter, more: string[] = [], build = cli): Promise<RouterProcess> {
  router.process = await startRouter({
    cli: build,
    args: ['--kubeconfig', router.kubeconfig, '--canonical-hostname', 'router.apps.example.com', ...extraArgs, ...more],
    env: { POD_NAMESPACE: 'switchyard', ROUTER_LOG_LEVEL: 'info', NODE_NAME: `fleet-${router.index}`, NODE_OPTIONS: `--max-old-space-size=${HEAP_MB}` },
    timeoutMs: 30 * 60_000,
  });
  return router.process;
}

/** Run `work` as one measured phase for `routers`. */
async function phase(name: string, routers: FleetRouter[], work: () => Promise<string | void>, options: { idleRate?: boolean; profile?: boolean } = {}): Promise<{ row: PhaseRow; requests: Map<string, RequestCounts> }> {
  // The API server's idle CPU rate just before a start phase, with the routers as they are.
  // After a burst (the objects created, a status pass) its garbage collector can run on for
  // a while: up to 4 windows, until one is quiet (≤ 0.04 CPU-s/s), and the lowest rate is taken
  // (the net is then rather too high than too low).
  let idleRate = NaN;
  for (let w = 0; options.idleRate && w < 4 && !(idleRate <= 0.04); w++) {
    const idle = new ProcessWindow(apiPid);
    const idleStarted = performance.now();
    await new Promise((resolve) => setTimeout(resolve, IDLE_WINDOW_S * 1000 / (w === 0 ? 1 : 2)));
    const rate = idle.cpuSeconds / ((performance.now() - idleStarted) / 1000);
    idleRate = Number.isNaN(idleRate) ? rate : Math.min(idleRate, rate);
  }
  const api = new ProcessWindow(apiPid);
  const etcd = new ProcessWindow(etcdPid);
  const relayWindow = relay ? new ProcessWindow(relay.process.child.pid!) : undefined;
  audit.mark();
  const connections0 = routers.map((r) => r.proxy.connections());
  const down0 = routers.map((r) => r.proxy.bytes().down);
  const apf0 = await apfTotals(cluster);
  runStart ??= { totals: apf0, cpu: cpuSeconds(apiPid) };
  const routerCpu0 = new Map(routers.filter((r) => r.process).map((r) => [r.process!.child.pid!, cpuSeconds(r.process!.child.pid!)] as const));
  const closed0 = closedWatchers.count();
  const profiler = PROFILE && options.profile !== false ? new Profiler(name) : undefined;
  const started = performance.now();
  let note: string;
  try {
    note = (await work()) ?? '';
  } finally {
    await profiler?.stop();
  }
  let routerCpuS = 0;
  for (const r of routers) {
    const pid = r.process?.child.pid;
    if (pid !== undefined && routerCpu0.has(pid) && r.process!.child.exitCode === null) routerCpuS += cpuSeconds(pid) - routerCpu0.get(pid)!;
  }
  const wallMs = performance.now() - started;
  const wallS = seconds(wallMs);
  const apiCpuS = api.cpuSeconds;
  const events = audit.read();
  const byRelay = events.filter((e) => e.user.username === RELAY_USER && isRequest(e));
  for (const e of byRelay) if (e.verb === 'list' || e.verb === 'watch') relayRequests.push(`${e.verb} ${e.objectRef?.resource ?? '?'}`);
  const reviews = byRelay.filter((e) => e.verb === 'create').length;
  const apf1 = await apfTotals(cluster);
  const requests = new Map(routers.map((r) => [r.user, countRequests(events, r.user)] as const));
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
  const row: PhaseRow = {
    routers: routers.length, phase: name, wallS,
    apiCpuS: round2(apiCpuS), apiNetCpuS: round2(apiCpuS - idleRate * wallMs / 1000), etcdCpuS: round1(etcd.cpuSeconds), apiPeakMB: Math.round(api.peakMB), apiAllocMB: Math.round((apf1.allocatedBytes - apf0.allocatedBytes) / 2 ** 20),
    apiGcCycles: apf1.gcCycles - apf0.gcCycles, etcdPeakMB: Math.round(etcd.peakMB),
    requests: round1(mean([...requests.values()].map((c) => c.total))),
    connections: round1(mean(routers.map((r, i) => r.proxy.connections() - connections0[i]!))),
    mbDown: round1(mean(routers.map((r, i) => (r.proxy.bytes().down - down0[i]!) / 2 ** 20))),
    apfWaitS: round1(apf1.waitSeconds - apf0.waitSeconds), apfRejected: apf1.rejected - apf0.rejected,
    cacheLists: apf1.cacheLists - apf0.cacheLists, etcdLists: apf1.etcdLists - apf0.etcdLists, cacheFallbacks: apf1.cacheFallbacks - apf0.cacheFallbacks,
    etcdObjects: apf1.etcdObjects - apf0.etcdObjects, consistencyChecks: apf1.consistencyChecks - apf0.consistencyChecks,
    relayCpuS: relayWindow ? round2(relayWindow.cpuSeconds) : NaN, relayPeakMB: relayWindow ? Math.round(relayWindow.peakMB) : NaN,
    relayRequests: relayWindow ? `${byRelay.filter((e) => e.verb === 'list').length}/${byRelay.filter((e) => e.verb === 'watch').length}/${reviews}` : '',
    routerCpuS: round1(routerCpuS),
    lists: sum([...requests.values()].map((c) => c.lists)), watches: sum([...requests.values()].map((c) => c.watches)),
    statusWrites: sum([...requests.values()].map((c) => c.status - c.statusGets)), statusReads: sum([...requests.values()].map((c) => c.statusGets)),
    watchersClosed: closedWatchers.count() - closed0, ...informerRestarts(routers, Date.now() - wallMs), note,
  };
  rows.push(row);
  process.stderr.write(`fleet: ${routers.length} routers, ${name}: ${JSON.stringify(row)} (load ${uptime()})\n`);
  return { row, requests };
}

/** 'restarting watch' lines the routers logged since `since` (ms), and their distinct reasons (first 3). */
function informerRestarts(routers: FleetRouter[], since: number): { informerRestarts: number; restartReasons: string } {
  let count = 0;
  const reasons = new Set<string>();
  for (const r of routers) {
    for (const line of r.process?.logs ?? []) {
      if (line.msg !== 'restarting watch' || Date.parse(String(line.time)) < since) continue;
      count++;
      reasons.add(`${String(line.resource ?? '')}: ${String(line.reason ?? '').slice(0, 80)}`);
    }
  }
  return { informerRestarts: count, restartReasons: [...reasons].slice(0, 3).join('; ') };
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/**
 * kube-apiserver's CPU profiles (/debug/pprof/profile, through kubectl) back to back from now
 * until stop(): the last one is cut short (the server ends a profile whose client left). stop()
 * merges them and prints the top frames, flat and cumulative.
 */
class Profiler {
  readonly #name: string;
  readonly #files: string[] = [];
  #child: ChildProcess | undefined;
  #running = true;
  readonly #loop: Promise<void>;
  constructor(name: string) {
    this.#name = name;
    this.#loop = this.#run();
  }

  async #run(): Promise<void> {
    mkdirSync(RESULTS, { recursive: true });
    for (let i = 0; this.#running; i++) {
      const file = path.join(RESULTS, `profile-${profileStamp}-${this.#name.replace(/[^a-z0-9]+/gi, '-')}-${i}.pb.gz`);
      const child = this.#child = spawn(path.join(binaryDir(), 'kubectl'), ['--kubeconfig', cluster.adminKubeconfig, 'get', '--raw', '/debug/pprof/profile?seconds=20'], { stdio: ['ignore', 'pipe', 'ignore'] });
      const chunks: Buffer[] = [];
      child.stdout!.on('data', (c: Buffer) => chunks.push(c));
      await new Promise((resolve) => child.on('close', resolve));
      const body = Buffer.concat(chunks);
      if (body.length > 0 && body[0] === 0x1f) { // gzip: a profile, not an error
        writeFileSync(file, body);
        this.#files.push(file);
      }
    }
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#child?.kill('SIGTERM');
    await this.#loop;
    if (this.#files.length === 0) return;
    const go = '/usr/local/go/bin/go';
    const merged = path.join(RESULTS, `profile-${profileStamp}-${this.#name.replace(/[^a-z0-9]+/gi, '-')}.pb.gz`);
    try {
      writeFileSync(merged, execFileSync(go, ['tool', 'pprof', '-proto', ...this.#files], { maxBuffer: 256 * 2 ** 20, stdio: ['ignore', 'pipe', 'ignore'] }));
      const flat = execFileSync(go, ['tool', 'pprof', '-top', '-nodecount=30', merged], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      const cum = execFileSync(go, ['tool', 'pprof', '-top', '-cum', '-nodecount=45', merged], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      profiles.push(`--- ${this.#name}: kube-apiserver CPU profile (${merged})\n${flat}\n${cum}`);
    } catch (err) {
      profiles.push(`--- ${this.#name}: profiles not merged (${(err as Error).message})`);
    }
  }
}

const profileStamp = new Date().toISOString().replace(/[:.]/g, '-');
const profiles: string[] = [];

/** Lines of kube-apiserver's log that say it closed a watcher for falling behind, counted as the log grows. */
class ClosedWatchers {
  #offset = 0;
  #count = 0;
  #rest = '';
  count(): number {
    const file = `${cluster.dir}/kube-apiserver.log`;
    if (!existsSync(file)) return this.#count;
    const size = statSync(file).size;
    if (size <= this.#offset) return this.#count;
    const fd = openSync(file, 'r');
    try {
      const chunk = Buffer.alloc(Math.min(size - this.#offset, 16 * 2 ** 20));
      while (this.#offset < size) {
        const n = readSync(fd, chunk, 0, Math.min(chunk.length, size - this.#offset), this.#offset);
        if (n <= 0) break;
        this.#offset += n;
        const lines = (this.#rest + chunk.toString('utf8', 0, n)).split('\n');
        this.#rest = lines.pop() ?? '';
        for (const line of lines) if (line.includes('watcher close due to unresponsiveness')) this.#count++;
      }
    } finally {
      closeSync(fd);
    }
    return this.#count;
  }
}

const closedWatchers = new ClosedWatchers();

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

/** The router holding the Lease (its identity ends in its pid). */
async function leaderOf(routers: FleetRouter[]): Promise<FleetRouter | undefined> {
  const lease = await cluster.api<any>('GET', '/apis/coordination.k8s.io/v1/namespaces/switchyard/leases/switchyard-default');
  const holder: string = lease.body?.spec?.holderIdentity ?? '';
  return routers.find((r) => r.process && holder.endsWith(`-${r.process.child.pid}`));
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 500): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`fleet: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Until a status pass that began after `passSince` is over: this build logs 'status pass
 * complete'; for an older build, until the audit log shows `needed` of the requests `counted`.
 */
async function statusPassDone(routers: FleetRouter[], counted: () => number, needed: number): Promise<Record<string, unknown> | undefined> {
  let line: Record<string, unknown> | undefined;
  await until('the status pass', () => {
    for (const r of routers) line ??= r.process?.logs.find((l) => l.msg === 'status pass complete' && Date.parse(String(l.time)) >= passSince);
    return line !== undefined || counted() >= needed;
  }, 60 * 60_000, 500);
  return line;
}

let passSince = 0;

/** Status requests (routes/status) in the audit log from now on, by users other than `except`. */
function statusRequestCounter(verb: string | undefined, except?: string): () => number {
  const reader = new AuditReader(cluster);
  reader.mark();
  let count = 0;
  return () => {
    for (const e of reader.read()) {
      if (e.objectRef?.subresource === 'status' && e.stage === 'ResponseComplete' && e.user.username !== except && (verb === undefined || e.verb === verb)) count++;
    }
    return count;
  };
}

/** V8 heap in use (the router's nodejs_heap_size_used_bytes), in bytes. */
async function heapUsed(router: FleetRouter): Promise<number> {
  const text = (await request(router.process!.admin, { path: '/metrics' }).catch(() => undefined))?.body ?? '';
  return Number(/^nodejs_heap_size_used_bytes (\S+)$/m.exec(text)?.[1] ?? NaN);
}

/** The leader's peak resident memory since it started (VmHWM) and V8 heap in use now, against the followers' medians. */
async function routerRss(routers: FleetRouter[], leader: FleetRouter | undefined): Promise<{ leaderMB: number; followerMB: number; leaderHeapMB: number; followerHeapMB: number }> {
  const followers = routers.filter((r) => r !== leader && r.process);
  const followerHeaps = await Promise.all(followers.map(heapUsed));
  return {
    leaderMB: leader?.process ? mb(peakRssBytes(leader.process.child.pid!)) : NaN,
    followerMB: mb(percentile(followers.map((r) => peakRssBytes(r.process!.child.pid!)), 50)),
    leaderHeapMB: leader?.process ? mb(await heapUsed(leader)) : NaN,
    followerHeapMB: mb(percentile(followerHeaps, 50)),
  };
}

async function runSize(n: number, users: string[]): Promise<void> {
  const routers: FleetRouter[] = [];
  // With FLEET_RELAY each router's TCP proxy leads to the relay, whose CA its kubeconfig trusts.
  const server = Number(new URL(relay ? relay.process.server : cluster.server).port);
  const ca = relay ? relay.tls.ca.cert : cluster.caCert;
  for (let i = 0; i < n; i++) {
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: server });
    const { token } = await cluster.serviceAccountKubeconfig('switchyard', users[i]!);
    const kubeconfig = path.join(cluster.dir, `fleet-${i}.kubeconfig`);
    writeFileSync(kubeconfig, kubeconfigYaml(`https://127.0.0.1:${proxy.port}`, ca, { token }), { mode: 0o600 });
    routers.push({ index: i, user: `system:serviceaccount:switchyard:${users[i]}`, proxy, kubeconfig, process: undefined });
  }
  const sizeStarted = Date.now();
  try {
    if (PHASES.has('cold')) {
      await phase('cold start', routers, async () => {
        await Promise.all(routers.map((r) => startFleetRouter(r)));
        const peaks = routers.map((r) => mb(peakRssBytes(r.process!.child.pid!)));
        return `router peak RSS at ready ${Math.min(...peaks)}-${Math.max(...peaks)} MB`;
      }, { idleRate: true });
    } else {
      await Promise.all(routers.map((r) => startFleetRouter(r)));
    }

    if (PHASES.has('status')) {
      await phase('first status pass', routers, async () => {
        passSince = sizeStarted; // the leader may have begun while the others were starting
        const pass = await statusPassDone(routers, statusRequestCounter('patch'), ROUTES);
        const admitted = await admittedRoutes(cluster);
        const leader = await leaderOf(routers);
        const { leaderMB, followerMB, leaderHeapMB, followerHeapMB } = await routerRss(routers, leader);
        extra.push({ routers: n, firstPassMs: pass?.ms, admitted, leaderMB, followerMB, leaderHeapMB, followerHeapMB });
        return `${admitted} of ${ROUTES} admitted${pass ? ` (pass ${pass.ms} ms after leading, at most ${pass.peakInFlight} writes in flight)` : ''}; peak RSS: leader ${leaderMB} MB, follower median ${followerMB} MB; heap used ${leaderHeapMB} / ${followerHeapMB} MB`;
      });
    }

    if (PHASES.has('idle')) {
      const leader = await leaderOf(routers);
      const connections0 = routers.map((r) => r.proxy.connections());
      const { requests } = await phase(`idle ${IDLE_S} s`, routers, async () => { await new Promise((r) => setTimeout(r, IDLE_S * 1000)); }, { profile: false });
      const followers = routers.filter((r) => r !== leader).map((r) => requests.get(r.user)?.total ?? 0);
      const newConnections = routers.map((r, i) => r.proxy.connections() - connections0[i]!);
      const leaderRequests = leader ? requests.get(leader.user)?.total ?? 0 : NaN;
      rows.at(-1)!.note = `leader ${leaderRequests} requests (Lease renewals), followers max ${Math.max(0, ...followers)}; new connections per router max ${Math.max(...newConnections)}`;
      extra.push({ routers: n, idleSeconds: IDLE_S, idleLeaderRequests: leaderRequests, idleFollowerRequestsMax: Math.max(0, ...followers), idleNewConnectionsMax: Math.max(...newConnections) });
    }

    if (PHASES.has('propagation')) {
      const toLast: number[] = [];
      await phase(`propagation ×${EDITS}`, routers, async () => {
        for (let e = 0; e < EDITS; e++) {
          const host = routeHost(e, 1);
          const started = performance.now();
          await setRouteHost(cluster, e, 1);
          const times = await Promise.all(routers.map(async (r) => {
            for (;;) {
              const reply = await request(r.process!.http, { host, path: '/' }).catch(() => undefined);
              if (reply?.status === 302 && reply.headers['location'] === `https://${host}/`) return performance.now() - started;
              await new Promise((resolve) => setTimeout(resolve, 5));
            }
          }));
          toLast.push(Math.max(...times));
          await setRouteHost(cluster, e, 0);
        }
        return `to the last router p50 ${Math.round(percentile(toLast, 50))} ms, p99 ${Math.round(percentile(toLast, 99))} ms, max ${Math.round(Math.max(...toLast))} ms`;
      }, { profile: false });
      extra.push({ routers: n, propagationMs: toLast });
    }

    if (PHASES.has('leader') && n > 1) {
      const leader = await leaderOf(routers);
      // "When statuses are current": the old leader has written what the edits above changed.
      await until('statuses current', () => statusesCurrent(cluster, Math.min(EDITS, ROUTES)), 10 * 60_000, 1000);
      if (leader) {
        const { requests } = await phase('leader change', routers.filter((r) => r !== leader), async () => {
          passSince = Date.now();
          const statusSoFar = statusRequestCounter(undefined, leader.user);
          await leader.process!.stop(); // SIGTERM: this build releases the Lease
          const pass = await statusPassDone(routers.filter((r) => r !== leader), statusSoFar, ROUTES);
          const next = await leaderOf(routers);
          const { leaderMB, followerMB } = await routerRss(routers.filter((r) => r !== leader), next);
          return `new leader: ${pass ? `pass ${pass.ms} ms, ${pass.written} written, ${pass.read} read; ` : ''}${statusSoFar()} status requests in the audit log; peak RSS ${leaderMB} MB vs follower median ${followerMB} MB`;
        });
        const next = [...requests.entries()].sort((a, b) => b[1].status - a[1].status)[0];
        extra.push({ routers: n, leaderChangeStatusRequests: next?.[1].status ?? 0, leaderChangeStatusGets: next?.[1].statusGets ?? 0, leaderChangeRequests: next?.[1].total ?? 0 });
        await startFleetRouter(leader);
      }
    }

    // Rounds of the rolling restarts, interleaved, so that A/B pairs share the machine's load.
    for (let round = 0; round < ROUNDS; round++) {
      const of = ROUNDS > 1 ? ` (round ${round + 1})` : '';
      // The variants in a rotating order, so that none always follows the same one (the API
      // server's garbage collection of one start lands in the next window).
      const variants = RESTARTS.filter(([key]) => PHASES.has(key) && (key !== 'compare' || compareCli));
      for (let v = 0; v < variants.length; v++) {
        const [, title, args, other] = variants[(v + round) % variants.length]!;
        await phase(`${other ? `rolling restart, ${compareLabel}` : title}${of}`, routers, async () => {
          const ready: number[] = [];
          for (const r of routers) {
            await r.process!.stop();
            await startFleetRouter(r, args, other ? compareCli : cli);
            ready.push(mb(peakRssBytes(r.process!.child.pid!)));
          }
          return `router peak RSS at ready ${Math.min(...ready)}-${Math.max(...ready)} MB`;
        }, { idleRate: true });
      }
    }

    // The storm; with `compare` also with FLEET_COMPARE_CLI (then once more with this build, so
    // that neither build always restarts after the other).
    const storms: Array<string | undefined> = PHASES.has('storm') ? (PHASES.has('compare') && compareCli ? [cli, compareCli, cli] : [cli]) : [];
    for (const [i, build] of storms.entries()) {
      const other = build === compareCli;
      await phase(`restart storm${other ? `, ${compareLabel}` : storms.length > 1 ? ` (${i === 0 ? 'first' : 'last'})` : ''}`, routers, async () => {
        for (const r of routers) r.process!.child.kill('SIGKILL');
        await Promise.all(routers.map((r) => r.process!.exited));
        await Promise.all(routers.map((r) => startFleetRouter(r, [], build)));
      }, { idleRate: true });
    }

    // Cold starts again, A/B (`coldcompare`, with FLEET_COMPARE_CLI): every router stopped, every
    // status cleared, all started at once with one build, then that build's first status pass;
    // the builds in a rotating order over FLEET_ROUNDS rounds.
    for (let round = 0; PHASES.has('coldcompare') && compareCli && round < ROUNDS; round++) {
      for (const build of round % 2 === 0 ? [cli, compareCli] : [compareCli, cli]) {
        const name = `${build === cli ? label : compareLabel} (round ${round + 1})`;
        await Promise.all(routers.map((r) => r.process?.stop()));
        await clearRouteStatus(cluster, ROUTES);
        passSince = Date.now();
        await phase(`cold start, ${name}`, routers, async () => {
          await Promise.all(routers.map((r) => startFleetRouter(r, [], build)));
        }, { idleRate: true });
        await phase(`first status pass, ${name}`, routers, async () => {
          const pass = await statusPassDone(routers, statusRequestCounter('patch'), ROUTES);
          return `${await admittedRoutes(cluster)} of ${ROUTES} admitted${pass ? ` (pass ${pass.ms} ms after leading)` : ''}`;
        });
      }
    }
  } finally {
    await Promise.all(routers.map((r) => r.process?.stop()));
    for (const r of routers) await r.proxy.close();
  }
}

/** The relay's lists and watches at the API server over the run, by resource (audit log). */
const relayRequests: string[] = [];
function relayReads(): string {
  const counts = new Map<string, number>();
  for (const uri of relayRequests) counts.set(uri, (counts.get(uri) ?? 0) + 1);
  return [...counts].map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
}

function printTable(): void {
  const columns: Array<[string, (r: PhaseRow) => string | number]> = [
    ['N', (r) => r.routers], ['phase', (r) => r.phase], ['wall s', (r) => r.wallS],
    ['apiserver CPU s', (r) => r.apiCpuS], ['per router', (r) => round2(r.apiCpuS / r.routers)],
    ['net of idle, per router', (r) => (Number.isNaN(r.apiNetCpuS) ? '' : round2(r.apiNetCpuS / r.routers))],
    ['GC amortized, per router', (r) => round2(amortized(r) / r.routers)], ['etcd CPU s', (r) => r.etcdCpuS],
    ['apiserver peak MB', (r) => r.apiPeakMB], ['apiserver MB allocated/router', (r) => Math.round(r.apiAllocMB / r.routers)], ['etcd peak MB', (r) => r.etcdPeakMB],
    ['requests/router', (r) => r.requests], ['new conns/router', (r) => r.connections], ['MB in/router', (r) => r.mbDown],
    ['APF wait s', (r) => r.apfWaitS], ['APF 429', (r) => r.apfRejected], ['lists cache/etcd (fallbacks)', (r) => `${r.cacheLists}/${r.etcdLists} (${r.cacheFallbacks})`],
    ...(RELAY ? [['relay CPU s', (r: PhaseRow) => r.relayCpuS], ['relay peak MB', (r: PhaseRow) => r.relayPeakMB], ['relay lists/watches/reviews', (r: PhaseRow) => r.relayRequests]] as Array<[string, (r: PhaseRow) => string | number]> : []),
    ['objects from etcd (checks)', (r) => `${r.etcdObjects} (${r.consistencyChecks})`], ['routers: lists/watches/status writes/reads', (r) => `${r.lists}/${r.watches}/${r.statusWrites}/${r.statusReads}`], ['watchers closed', (r) => r.watchersClosed], ['informer restarts', (r) => `${r.informerRestarts}${r.restartReasons ? ` (${r.restartReasons})` : ''}`], ['router CPU s', (r) => r.routerCpuS], ['', (r) => r.note],
  ];
  const cells = [columns.map(([h]) => h), ...rows.map((row) => columns.map(([, f]) => String(f(row))))];
  const widths = columns.map((_, i) => Math.max(...cells.map((c) => c[i]!.length)));
  if (compareCli) console.log(`\nFLEET_COMPARE_CLI: ${compareLabel}`);
  if (RELAY) {
    const slow = (relay?.process.logs ?? []).filter((l) => l['msg'] === 'slow cached read');
    console.log(`\nFLEET_RELAY: the routers read through one switchyard kube-relay (relay lists/watches at the API server over the run: ${relayReads()}); ${slow.length} slow cached reads (> 5 s before the answer)${slow.length ? `: ${slow.slice(0, 5).map((l) => `${String(l['verb'])} ${String(l['resource'])} review ${String(l['reviewMs'])} ms, sync ${String(l['syncMs'])} ms`).join('; ')}` : ''}`);
  }
  console.log(`\nFleet: ${label}; ${ROUTES} Routes (+ as many Services and EndpointSlices of 3 endpoints); router heap ${HEAP_MB} MB; load average at the end ${uptime()}`);
  for (const c of cells) console.log(c.map((v, i) => (i === cells[0]!.length - 1 ? v : v.padEnd(widths[i]!))).join('  ').trimEnd());
}

/** The API server's totals when the first phase began (for the GC figures over the whole run). */
let runStart: { totals: ApiServerTotals; cpu: number } | undefined;
let gcCost: { perCycle: number; perMB: number } = { perCycle: NaN, perMB: NaN };

/**
 * The API server's garbage collection over the run: its GC share of the Go runtime's busy time ×
 * its OS CPU time, per collection and per MB allocated.
 */
async function measureGcCost(): Promise<void> {
  if (!runStart) return;
  const end = await apfTotals(cluster);
  const start = runStart.totals;
  const gcCpu = (cpuSeconds(apiPid) - runStart.cpu) * (end.gcCpu - start.gcCpu) / ((end.allCpu - start.allCpu) - (end.idleCpu - start.idleCpu));
  const cycles = end.gcCycles - start.gcCycles;
  // No collection in the run (a small one): nothing to take off or spread.
  gcCost = cycles > 0 ? { perCycle: gcCpu / cycles, perMB: gcCpu / ((end.allocatedBytes - start.allocatedBytes) / 2 ** 20) } : { perCycle: 0, perMB: 0 };
}

/**
 * A start's API-server CPU without the lottery of where a collection lands: its CPU less the
 * collections that ran in it, plus what it allocated × the run's GC CPU per MB.
 */
function amortized(row: PhaseRow): number {
  return row.apiCpuS - row.apiGcCycles * gcCost.perCycle + row.apiAllocMB * gcCost.perMB;
}

/** The start phases by kind over the rounds: medians per router, gross and net of idle. */
function printStartMedians(): void {
  const groups = new Map<string, PhaseRow[]>();
  for (const row of rows) {
    if (!/^(cold start|rolling restart|restart storm)/.test(row.phase)) continue;
    const key = `${row.routers}\t${row.phase.replace(/ \((round \d+|first|last)\)$/, '')}`;
    groups.set(key, [...(groups.get(key) ?? []), row]);
  }
  if (![...groups.values()].some((g) => g.length > 1)) return;
  console.log(`\nStarts, API-server CPU-s per router over the rounds (median [min–max]; gross; net of the idle rate; GC amortized: less its collections at ${round2(gcCost.perCycle)} CPU-s each, plus the MB it allocated × ${(gcCost.perMB * 1000).toFixed(2)} CPU-ms, the run's GC cost per collection and per MB; MB allocated, median):`);
  for (const [key, group] of groups) {
    const [n, name] = key.split('\t');
    const gross = group.map((r) => r.apiCpuS / r.routers);
    const net = group.map((r) => r.apiNetCpuS / r.routers).filter((v) => !Number.isNaN(v));
    const range = (v: number[]) => `${round2(percentileMedian(v))} [${round2(Math.min(...v))}–${round2(Math.max(...v))}]`;
    const allocated = percentileMedian(group.map((r) => r.apiAllocMB / r.routers));
    const steady = group.map((r) => amortized(r) / r.routers);
    console.log(`  N=${n} ${name.padEnd(44)} ×${group.length}  gross ${range(gross)}${net.length ? `  net ${range(net)}` : ''}  GC amortized ${range(steady)}  allocated ${Math.round(allocated)} MB`);
  }
}

function percentileMedian(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length / 2;
  return sorted.length % 2 ? sorted[Math.floor(mid)]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function printExtrapolation(): void {
  const largest = Math.max(...rows.map((r) => r.routers));
  const find = (phase: string) => rows.find((r) => r.routers === largest && r.phase.startsWith(phase));
  const cold = find('cold start');
  const idle = find('idle');
  const storm = find('restart storm');
  if (!cold && !idle) return;
  const per = (row: PhaseRow | undefined, key: 'apiCpuS' | 'etcdCpuS') => (row ? row[key] / row.routers : NaN);
  console.log(`\nPer router, from the ${largest}-router run, × 1,000 routers (assumptions below):`);
  if (cold) {
    console.log(`  cold start: API server ${round1(per(cold, 'apiCpuS'))} CPU-s and etcd ${round1(per(cold, 'etcdCpuS'))} CPU-s per router → ${Math.round(per(cold, 'apiCpuS') * 1000)} API-server CPU-s for 1,000; ${cold.requests} requests and ${cold.mbDown} MB per router → ${Math.round(cold.requests * 1000)} requests, ${round1(cold.mbDown * 1000 / 1024)} GB`);
  }
  if (storm) console.log(`  restart storm: ${round1(per(storm, 'apiCpuS'))} API-server CPU-s per router → ${Math.round(per(storm, 'apiCpuS') * 1000)} CPU-s when 1,000 restart at once`);
  const idleExtra = extra.find((e) => e.routers === largest && 'idleSeconds' in e);
  if (idle && idleExtra) {
    const followerPerMinute = Number(idleExtra.idleFollowerRequestsMax) * 60 / IDLE_S;
    console.log(`  idle: a follower ${round1(followerPerMinute)} requests/min (at most), ${idleExtra.idleNewConnectionsMax} new connections per ${IDLE_S} s (at most) → ${round1(followerPerMinute * 1000 / 60)} requests/s for 1,000 followers, plus the leader's Lease renewals (${round1(Number(idleExtra.idleLeaderRequests) * 60 / IDLE_S)}/min whatever the count)`);
  }
  if (RELAY) {
    // Through a relay the state is read once per relay: only the routers' own requests (discovery,
    // the Lease, passed on) and the relay's token and access reviews grow with the routers.
    console.log('  FLEET_RELAY: the figures above are not linear in routers: the state is read once per relay (its lists and watches, counted in the cold');
    console.log('  start), and what grows with the routers is what each sends on through the relay (discovery, its Lease) and the relay\'s reviews of its token.');
    return;
  }
  console.log('  Assumptions: cost grows linearly with routers (each router reads the same objects and holds the same watches: one per kind, one on its Lease,');
  console.log('  one per referenced Secret); lists and watches are served from the API server\'s watch cache; one API server (a real control plane spreads');
  console.log('  routers over its replicas); every Lease renewal is one watch event to each router (1,000 events per 2 s, sent from the watch cache).');
}

/** Issue 25's targets at the largest size run, each with the measured value. */
function printTargets(): void {
  const largest = Math.max(...rows.map((r) => r.routers));
  const at = (key: string) => extra.find((e) => e.routers === largest && key in e);
  const cold = rows.find((r) => r.routers === largest && r.phase === 'cold start');
  const storm = rows.find((r) => r.routers === largest && /^restart storm( \(first\))?$/.test(r.phase));
  const lines: string[] = [];
  const idle = at('idleSeconds');
  if (idle) lines.push(`new connections per router over ${IDLE_S} s idle ≤ 1: max ${idle.idleNewConnectionsMax} → ${Number(idle.idleNewConnectionsMax) <= 1 ? 'met' : 'NOT met'}`);
  const change = at('leaderChangeStatusRequests');
  if (change) lines.push(`a leader change costs 0 per-Route requests with statuses current: ${change.leaderChangeStatusRequests} status requests (${change.leaderChangeStatusGets} GETs) → ${change.leaderChangeStatusRequests === 0 ? 'met' : 'NOT met'}`);
  for (const row of [cold, storm]) {
    if (!row) continue;
    const perRouter = row.apiCpuS / row.routers;
    const net = ` (${Number.isNaN(row.apiNetCpuS) ? '' : `net of idle ${round2(row.apiNetCpuS / row.routers)} s, `}GC amortized ${round2(amortized(row) / row.routers)} s)`;
    lines.push(`${row.phase}: API-server CPU per router ≤ 0.85 s (half of 1.7, gross): ${round2(perRouter)} s${net} → ${perRouter <= 0.85 ? 'met' : 'NOT met'}`);
  }
  // A restart reads what a cold start reads (and the Routes with their statuses, a little more): the median over the rounds.
  const restarts = rows.filter((r) => r.routers === largest && /^rolling restart( \(round \d+\))?$/.test(r.phase));
  if (restarts.length > 1) {
    const gross = percentileMedian(restarts.map((r) => r.apiCpuS / r.routers));
    const net = percentileMedian(restarts.map((r) => r.apiNetCpuS / r.routers));
    const steady = percentileMedian(restarts.map((r) => amortized(r) / r.routers));
    lines.push(`rolling restart, default reads, median of ${restarts.length}: API-server CPU per router ≤ 0.85 s (gross): ${round2(gross)} s (net of idle ${round2(net)} s, GC amortized ${round2(steady)} s) → ${gross <= 0.85 ? 'met' : 'NOT met'}`);
  }
  const first = at('firstPassMs');
  if (first) {
    lines.push(`first deployment: every status within 60 s: ${first.admitted} of ${ROUTES} in ${seconds(Number(first.firstPassMs))} s after leading → ${first.admitted === ROUTES && Number(first.firstPassMs) <= 60_000 ? 'met' : 'NOT met'}`);
    if (largest > 1) lines.push(`leader memory ≤ 1.2 × a follower's (peak RSS): ${first.leaderMB} MB vs ${first.followerMB} MB → ${Number(first.leaderMB) <= 1.2 * Number(first.followerMB) ? 'met' : 'NOT met'} (V8 heap in use after the pass: ${first.leaderHeapMB} vs ${first.followerHeapMB} MB)`);
  }
  if (lines.length === 0) return;
  console.log(`\nIssue 25 targets at ${largest} routers × ${ROUTES} routes:`);
  for (const line of lines) console.log(`  ${line}`);
}

async function main(): Promise<void> {
  const started = Date.now();
  const maxRouters = Math.max(...sizes);
  process.stderr.write(`fleet: starting a control plane and ${ROUTES} Routes (load ${uptime()})\n`);
  const pods = await createNetnsHosts(3);
  for (const address of pods.addresses) await pods.startEcho(address, POD_PORT);
  cluster = await startRealCluster({
    auditUsers: [...Array.from({ length: maxRouters }, (_, i) => `system:serviceaccount:switchyard:fleet-${i}`), ...(RELAY ? [RELAY_USER] : [])],
    apiServerArgs: [...(PROFILE ? ['--profiling=true'] : []), ...(process.env.FLEET_APISERVER_ARGS ?? '').split(/\s+/).filter(Boolean)],
  });
  try {
    apiPid = childByName('kube-apiserver');
    etcdPid = childByName('etcd');
    audit = new AuditReader(cluster);
    await cluster.apply({ kustomization: MANIFESTS });
    await cluster.waitEstablished('routes.route.openshift.io');
    const users = await routerAccounts(cluster, maxRouters);
    const createStarted = Date.now();
    await createRouteObjects(cluster, ROUTES, pods.addresses);
    process.stderr.write(`fleet: ${ROUTES * 3} objects created in ${seconds(Date.now() - createStarted)} s\n`);
    if (RELAY) {
      await cluster.apply({ kustomization: path.join(MANIFESTS, 'kube-relay') });
      const { kubeconfig } = await cluster.serviceAccountKubeconfig('switchyard', 'switchyard-kube-relay');
      const tls = await relayTls();
      relay = { process: await startRelay({ kubeconfig, tls, cli }), tls };
      process.stderr.write(`fleet: kube-relay at ${relay.process.server}\n`);
    }
    let first = true;
    for (const n of sizes) {
      const freeMB = freemem() / 2 ** 20;
      if (n * ROUTER_MB + 2048 > freeMB) {
        process.stderr.write(`fleet: skipping ${n} routers: ~${Math.round(n * ROUTER_MB)} MB needed, ${Math.round(freeMB)} MB free\n`);
        continue;
      }
      if (!first) await clearRouteStatus(cluster, ROUTES);
      first = false;
      await runSize(n, users);
    }
    await measureGcCost();
  } finally {
    await relay?.process.stop();
    await cluster.stop();
    await pods.close();
  }
  printTable();
  printStartMedians();
  printExtrapolation();
  printTargets();
  for (const text of profiles) console.log(`\n${text}`);
  mkdirSync(RESULTS, { recursive: true });
  const file = path.join(RESULTS, `fleet-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ label, routes: ROUTES, heapMB: HEAP_MB, load: loadavg(), seconds: (Date.now() - started) / 1000, rows, extra }, null, 2));
  console.log(`\n(${file})`);
}

await main();
