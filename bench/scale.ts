// `npm run bench:scale`: how switchyard scales with the number of routes. For each size N it
// starts the real router (one process, or with worker threads) on N routes — each a Route, a
// Service and an EndpointSlice with 3 endpoints — from a file or from the Kubernetes source (the
// test suite's fake API server, list + watch through @kubernetes/client-node), and measures:
//
// The shape of the routes (SCALE_SHAPE): `pods` (default) is what a cluster has — every route's
// 3 endpoints at addresses of their own (127.64.x.y, as pods have), objects with labels, a uid,
// owner references on the slice's endpoints, a `haproxy.router.openshift.io/timeout` annotation
// on the Route, active checks on (TCP, `--backend-check-interval` SCALE_CHECK_INTERVAL, default
// 1h: every endpoint is checked once, soon after start-up), and, with SCALE_SERVE (default on up
// to 20,000 routes: 3 listening sockets per route), a listener on every endpoint and one request
// served per route before the memory is read. `shared` is the older shape: every route's
// endpoints are the same 127.0.0.1-3 (one endpoint state for all routes), bare metadata.
//
// - start: spawn → "listening" (sources synced, first table built, ports open: ready);
// - memory: RSS above an empty router, per route (after the requests, once RSS settles);
// - propagation: one route's host edited (file rewritten / object updated at the API server)
//   → the new host answers 200, while a constant-rate load runs against another route;
// - the cost of one incremental table update (switchyard_table_update_duration_seconds).
//
// SCALE_HEALTH_ENDPOINTS=10000 adds the active health check scenario: that many endpoints
// (2 per route, distinct 127.2.x.y addresses, each a listening socket in a helper process),
// checked every 5 s (TCP, or SCALE_HEALTH_TYPE=http: GET /health); the router's CPU seconds are
// read from /proc over a window, then HAProxy's (one thread, the same servers with
// `check inter 5s`, `option httpchk` for http) when haproxy is installed.
//
// Env: SCALE_SIZES (default "1000,10000"), SCALE_SOURCE (file | kube | both; default file),
// SCALE_SHAPE (pods | shared), SCALE_CLI (another build's dist/cli.js), SCALE_SERVE (1 | 0), SCALE_CHECK_INTERVAL (pods shape, default 1h),
// SCALE_EDITS (default 20), SCALE_WORKERS (the router's --workers, default 0), SCALE_LOAD_RATE (req/s during edits,
// default 500; 0 = no load), SCALE_HEAP=1 (heap snapshot breakdown per size),
// SCALE_HEALTH_ENDPOINTS, SCALE_HEALTH_TYPE (tcp | http), SCALE_HEALTH_WINDOW (s, default 30),
// SCALE_HEALTH_HAPROXY=0 (no HAProxy anchor), SCALE_NODE_ARGS (extra node
// flags for the router, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"). Results also go to
// bench/results/scale-<time>.json. Nothing here asserts: these are measurements.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';
import { benchAddress } from './addresses.ts';
import { FakeApiServer } from '../test/support/fake-apiserver.ts';
import { children, startJsonLine } from './processes.ts';
import { analyse, readSnapshot } from './heap-breakdown.ts';
import { cpuSeconds, rssBytes, childPids } from './proc.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const sizes = (process.env.SCALE_SIZES ?? '1000,10000').split(',').map(Number).filter((n) => n > 0);
const sources = process.env.SCALE_SOURCE === 'both' ? ['file', 'kube'] as const : [process.env.SCALE_SOURCE === 'kube' ? 'kube' as const : 'file' as const];
const edits = Number(process.env.SCALE_EDITS ?? 20);
const workers = Number(process.env.SCALE_WORKERS ?? 0);
const loadRate = Number(process.env.SCALE_LOAD_RATE ?? 500);
const heap = process.env.SCALE_HEAP === '1';
const healthEndpoints = Number(process.env.SCALE_HEALTH_ENDPOINTS ?? 0);
const healthWindow = Number(process.env.SCALE_HEALTH_WINDOW ?? 30);
const healthType = process.env.SCALE_HEALTH_TYPE === 'http' ? 'http' as const : 'tcp' as const;
const ENDPOINTS = ['127.0.0.1', '127.0.0.2', '127.0.0.3'];
const shape = process.env.SCALE_SHAPE === 'shared' ? 'shared' as const : 'pods' as const;
const checkInterval = process.env.SCALE_CHECK_INTERVAL ?? '1h';
/** The router to measure: another build's dist/cli.js (SCALE_CLI), e.g. to compare before/after a change. */
const cli = process.env.SCALE_CLI ?? path.join(root, 'dist/cli.js');
/** Serve one request per route (pods shape): a listener on each of the 3N endpoint addresses. */
const serveFor = (n: number) => shape === 'pods' && (process.env.SCALE_SERVE === undefined ? n <= 20_000 : process.env.SCALE_SERVE === '1');

// ---- objects --------------------------------------------------------------------------------

interface RouteSet { service: object; slice: object; route: object }

/** What `kubectl apply` leaves on an object in a real cluster (the router should not keep it). */
function applied(object: Record<string, any>): Record<string, any> {
  const copy = structuredClone(object);
  copy.metadata.annotations = { ...copy.metadata.annotations, 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify(object) };
  copy.metadata.managedFields = [{ manager: 'kubectl-client-side-apply', operation: 'Update', apiVersion: object.apiVersion, time: '2024-05-01T10:00:00Z',
    fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { 'f:annotations': { '.': {}, 'f:kubectl.kubernetes.io/last-applied-configuration': {} } }, 'f:spec': {} } }];
  return copy;
}

/** A stable uid per object, as the API server gives. */
function uid(what: string): string {
  const h = createHash('md5').update(what).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** The pods shape's addresses of route i's endpoints. */
function podAddresses(i: number): string[] {
  return [0, 1, 2].map((k) => benchAddress('pods', 3 * i + k));
}

/** A route as a cluster has it (SCALE_SHAPE=pods): its own endpoint addresses, labels, uids, pod references, a timeout. */
function podsRouteSet(i: number, port: number, host: string): RouteSet {
  const ns = `team-${i % 100}`;
  const app = `app-${i}`;
  const labels = { app, 'app.kubernetes.io/name': app, 'app.kubernetes.io/part-of': `system-${i % 37}`, team: ns };
  const meta = (kind: string, name: string, extra: object = {}) => ({ name, namespace: ns, uid: uid(`${kind}/${ns}/${name}`), resourceVersion: String(1000 + i), creationTimestamp: '2026-11-01T10:00:00Z', labels, ...extra });
  const hash = createHash('md5').update(app).digest('hex').slice(0, 10);
  return {
    service: { apiVersion: 'v1', kind: 'Service', metadata: meta('Service', `s${i}`),
      spec: { type: 'ClusterIP', selector: { app }, ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: port }] } },
    slice: {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4',
      metadata: meta('EndpointSlice', `s${i}-${hash.slice(0, 5)}`, { labels: { ...labels, 'kubernetes.io/service-name': `s${i}`, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' },
        ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: `s${i}`, uid: uid(`Service/${ns}/s${i}`), controller: true, blockOwnerDeletion: true }] }),
      ports: [{ name: 'http', protocol: 'TCP', port }],
      endpoints: podAddresses(i).map((a, k) => {
        const pod = `${app}-${hash}-${'abcde'.charAt(k)}${k}x${i % 10}`;
        return { addresses: [a], conditions: { ready: true, serving: true, terminating: false }, nodeName: `node-${i % 5}`, targetRef: { kind: 'Pod', namespace: ns, name: pod, uid: uid(`Pod/${ns}/${pod}`) } };
      }),
    },
    route: { apiVersion: 'route.openshift.io/v1', kind: 'Route', metadata: meta('Route', `r${i}`, { annotations: { 'haproxy.router.openshift.io/timeout': '30s' } }),
      spec: { host, path: '/app', to: { kind: 'Service', name: `s${i}`, weight: 100 }, port: { targetPort: 'http' }, wildcardPolicy: 'None' } },
  };
}

function routeSet(i: number, port: number, addresses?: string[], host = `r${i}.scale.local`): RouteSet {
  if (addresses === undefined && shape === 'pods') return podsRouteSet(i, port, host);
  addresses ??= ENDPOINTS;
  const ns = `team-${i % 100}`;
  return {
    service: { apiVersion: 'v1', kind: 'Service', metadata: { name: `s${i}`, namespace: ns }, spec: { ports: [{ name: 'http', port: 80, targetPort: port }] } },
    slice: {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4',
      metadata: { name: `s${i}-1`, namespace: ns, labels: { 'kubernetes.io/service-name': `s${i}` } },
      ports: [{ name: 'http', port }],
      endpoints: addresses.map((a) => ({ addresses: [a], conditions: { ready: true } })),
    },
    route: { apiVersion: 'route.openshift.io/v1', kind: 'Route', metadata: { name: `r${i}`, namespace: ns }, spec: { host, path: '/app', to: { kind: 'Service', name: `s${i}` } } },
  };
}

function yamlOf(set: RouteSet): string {
  // JSON is YAML: one flow document per object keeps the file generator trivial.
  return `---\n${JSON.stringify(set.service)}\n---\n${JSON.stringify(set.slice)}\n---\n${JSON.stringify(set.route)}\n`;
}

// ---- helpers --------------------------------------------------------------------------------

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

/** GET; a connection error is status 0 (the caller retries or reports). */
function get(port: number, host: string, p = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, headers: { host }, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.end();
  });
}

/**
 * A sample's value from /metrics text. Found with indexOf, not by splitting: at 100k routes the
 * text is tens of MB, and splitting it into lines made garbage whose collection in this process
 * (which also runs the fake API server) delayed the edits measured right after.
 */
function metric(text: string, name: string): number {
  const at = text.startsWith(`${name} `) ? 0 : text.indexOf(`\n${name} `) + 1;
  if (at === 0 && !text.startsWith(`${name} `)) return NaN;
  const end = text.indexOf('\n', at);
  return Number(text.slice(at + name.length + 1, end === -1 ? undefined : end));
}

const pct = (xs: number[], q: number) => (xs.length === 0 ? NaN : [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(q * xs.length) - 1)]!);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function listen(address: string, port: number): Promise<http.Server> {
  const server = http.createServer((_req, res) => res.end('ok'));
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(port, address, () => resolve()); });
  return server;
}

/** The same port on 127.0.0.1, .2 and .3 (one backend per endpoint address). */
async function startBackends(): Promise<{ port: number; servers: http.Server[] }> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const first = await listen(ENDPOINTS[0]!, 0);
    const port = (first.address() as { port: number }).port;
    try {
      const rest = await Promise.all(ENDPOINTS.slice(1).map((a) => listen(a, port)));
      return { port, servers: [first, ...rest] };
    } catch {
      first.close();
    }
  }
  throw new Error('could not bind one port on 127.0.0.1-3');
}

/** A constant-rate load (autocannon --overallRate in its own process) until stopped. */
function constantLoad(port: number, host: string, rate: number): ChildProcess | null {
  if (rate <= 0) return null;
  const require = createRequire(import.meta.url);
  const bin = path.join(path.dirname(require.resolve('autocannon/package.json')), 'autocannon.js');
  const child = spawn(process.execPath, [bin, '-c', '10', '-d', '3600', '-R', String(rate), '-H', `host=${host}`, `http://127.0.0.1:${port}/app`], { stdio: 'ignore' });
  children.push(child);
  return child;
}

/** Listening sockets on the pods shape's first `count` endpoint addresses (one port), in helper processes. */
async function podListeners(count: number): Promise<{ port: number; stop: () => void }> {
  const helpers: ChildProcess[] = [];
  let port = 0;
  for (let first = 0; first < count; first += LISTENERS_PER_HELPER) {
    const helper = await startJsonLine(process.execPath, [path.join(here, 'listeners.ts'), String(Math.min(LISTENERS_PER_HELPER, count - first)), 'http', String(port), String(first), 'pods'],
      (l) => typeof l.port === 'number');
    helpers.push(helper.child);
    port = helper.line.port as number;
  }
  return { port, stop: () => { for (const h of helpers) h.kill('SIGTERM'); } };
}

/** One request to every route (each route's balancer, plugin chain and one endpoint's pool come to life), 50 at a time. */
async function oneRequestPerRoute(port: number, n: number): Promise<void> {
  let next = 0;
  let failed = 0;
  await Promise.all(Array.from({ length: 50 }, async () => {
    while (next < n) {
      const i = next++;
      if ((await get(port, `r${i}.scale.local`, '/app')).status !== 200) failed++;
    }
  }));
  if (failed > 0) console.error(`one request per route: ${failed} of ${n} not answered 200`);
}

interface Started { child: ChildProcess; http: number; admin: number; startMs: number; startCpuS: number; dir: string }

async function startRouter(sourceArgs: string[], dir: string, extraNodeArgs: string[] = [], routerWorkers = workers): Promise<Started> {
  const started = performance.now();
  const { child, line } = await startJsonLine(process.execPath, [...extraNodeArgs, cli, 'run', ...sourceArgs, '--bind', '127.0.0.1',
    '--http-port', '0', '--https-port', '0', '--admin-port', '0', '--workers', String(routerWorkers), '--log-level', 'info'], (l) => l.msg === 'listening', { cwd: dir });
  const startMs = performance.now() - started;
  const startCpuS = [child.pid!, ...childPids(child.pid!)].reduce((s, p) => s + cpuSeconds(p), 0);
  return { child, http: line.http as number, admin: line.admin as number, startMs, startCpuS, dir };
}

async function stopRouter(r: Started): Promise<void> {
  r.child.kill('SIGTERM');
  await new Promise((resolve) => r.child.once('exit', resolve));
}

/** RSS of the router (one process: its worker threads included). */
function routerRss(r: Started): number[] {
  return [rssBytes(r.child.pid!)];
}

/** How long the RSS must stay within 1 MB to count as settled (s; SCALE_SETTLE), and the most to wait. */
const SETTLE_S = Number(process.env.SCALE_SETTLE ?? 30);
const SETTLE_MAX_S = 180;

/**
 * The RSS at two moments. `first`: once it stops growing right after the burst (start-up, one
 * request per route, one scrape), which still holds that burst's garbage and the young generation
 * V8 grew for it. `settled`: once it has stayed within 1 MB for SETTLE_S seconds — an idle V8
 * shrinks its heap some 10–30 s after the last burst (the memory reducer), and that is what a
 * router holds between bursts. Both are read with nothing else happening (no scrapes).
 */
async function settledRss(r: Started): Promise<{ first: number; settled: number }> {
  await get(r.admin, 'x', '/metrics');
  let last = routerRss(r)[0]!;
  let first = last;
  for (let i = 0; i < 10; i++) {
    await sleep(300);
    first = routerRss(r)[0]!;
    if (Math.abs(first - last) < 1 << 20) break;
    last = first;
  }
  let anchor = first;
  let since = performance.now();
  const deadline = since + SETTLE_MAX_S * 1000;
  while (performance.now() - since < SETTLE_S * 1000 && performance.now() < deadline) {
    await sleep(1000);
    const now = routerRss(r)[0]!;
    if (Math.abs(now - anchor) >= 1 << 20) { anchor = now; since = performance.now(); }
  }
  return { first, settled: routerRss(r)[0]! };
}

/**
 * The RSS split by what holds it, from the router's own process metrics (prom-client's default
 * metrics, read right after the RSS): V8's heap as committed (its young generation apart: it
 * does not grow with the routes), the memory V8 is told of outside its heap (Buffers,
 * ArrayBuffers), and the rest — native memory (sockets, malloc arenas) and the binary's pages.
 */
function rssComposition(rss: number, text: string, n: number): Record<string, number> {
  const kb = (bytes: number) => Math.round(bytes / 1024 / n * 10) / 10;
  const bytes = rssBytesByHolder(rss, text);
  return Object.fromEntries(Object.entries(bytes).map(([k, v]) => [k, kb(v)]));
}

/** The RSS split (bytes): see rssComposition. */
function rssBytesByHolder(rss: number, text: string): Record<Holder, number> {
  const heapTotal = metric(text, 'nodejs_heap_size_total_bytes');
  const young = metric(text, 'nodejs_heap_space_size_total_bytes{space="new"}');
  const external = metric(text, 'nodejs_external_memory_bytes');
  return {
    rss, heapUsed: metric(text, 'nodejs_heap_size_used_bytes'), heapCommittedOld: heapTotal - young, heapCommittedYoung: young,
    external, native: rss - heapTotal - external,
  };
}

type Holder = 'rss' | 'heapUsed' | 'heapCommittedOld' | 'heapCommittedYoung' | 'external' | 'native';

/** The same split above the empty router (KB per route): what the routes add to each holder. */
function compositionAboveEmpty(rss: number, text: string, empty: EmptyRouter, n: number): Record<string, number> {
  const at = rssBytesByHolder(rss, text);
  return Object.fromEntries((Object.keys(at) as Holder[]).map((k) => [k, Math.round((at[k] - empty.bytes[k]) / 1024 / n * 10) / 10]));
}

async function heapBreakdown(r: Started, routes: number): Promise<Array<{ name: string; bytesPerRoute: number }>> {
  const before = new Set(readdirSync(r.dir));
  r.child.kill('SIGUSR2');
  let file: string | undefined;
  for (let i = 0; i < 600 && !file; i++) {
    await sleep(100);
    file = readdirSync(r.dir).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
  }
  if (!file) return [];
  await get(r.admin, 'x', '/healthz'); // answers once the snapshot is written
  const b = analyse(readSnapshot(path.join(r.dir, file)), 12);
  return [{ name: 'whole heap', bytesPerRoute: Math.round(b.totalBytes / routes) },
    ...b.retainers.map((x) => ({ name: x.name, bytesPerRoute: Math.round(x.retained / routes) }))];
}

// ---- one size -------------------------------------------------------------------------------

interface SizeResult {
  source: string; shape: string; served: boolean; routes: number; workers: number; startMs: number; startCpuS: number;
  /** Settled (see settledRss), and the first reading right after the burst. */
  rssMb: number; emptyRssMb: number; kbPerRoute: number; firstRssMb: number; kbPerRouteFirst: number;
  updateMs: number; propagationP50: number; propagationP99: number; propagationMax: number;
  loadRate: number; heap?: Array<{ name: string; bytesPerRoute: number }>;
  /** Where the RSS is (KB per route, whole process: the empty router's share included). */
  rssKbPerRoute: Record<string, number>;
  /** The same, above the empty router's (KB per route): what the routes add to V8's heap, to native memory… */
  aboveEmptyKbPerRoute: Record<string, number>;
  /** Every edit's propagation (ms), in order: with 20 edits p99 is the slowest one, this says which. */
  propagationMs: number[];
}

async function measure(source: 'file' | 'kube', n: number, backendPort: number, empty: EmptyRouter): Promise<SizeResult> {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-scale-'));
  const file = path.join(dir, 'routes.yaml');
  let api: FakeApiServer | null = null;
  let sourceArgs: string[];
  let editRoute: (i: number, host: string) => Promise<void>;
  // The pods shape's endpoints: listeners on all of them when serving, else a port none listens on.
  const served = serveFor(n);
  const pods = shape === 'pods' ? (served ? await podListeners(3 * n) : { port: backendPort, stop: () => {} }) : null;
  const port = pods?.port ?? backendPort;
  const sets = Array.from({ length: n }, (_, i) => routeSet(i, port));
  if (source === 'kube') {
    api = await FakeApiServer.start();
    const fake = api;
    for (const s of sets) { fake.create(applied(s.service as any)); fake.create(applied(s.slice as any)); fake.create(applied(s.route as any)); }
    sourceArgs = ['--kubeconfig', api.kubeconfigPath, '--update-status=false'];
    editRoute = async (i, host) => {
      const r = sets[i]!.route as any;
      const current = fake.get<any>({ kind: 'Route', namespace: r.metadata.namespace, name: r.metadata.name });
      fake.update({ ...current, spec: { ...current.spec, host } });
    };
  } else {
    const docs = sets.map(yamlOf);
    writeFileSync(file, docs.join(''));
    sourceArgs = ['--file', file];
    editRoute = async (i, host) => {
      docs[i] = yamlOf(routeSet(i, port, undefined, host));
      writeFileSync(file, docs.join(''));
    };
  }
  const nodeArgs = [...(heap ? ['--heapsnapshot-signal=SIGUSR2'] : []), ...(process.env.SCALE_NODE_ARGS?.split(' ').filter(Boolean) ?? [])];
  const shapeArgs = shape === 'pods' ? ['--backend-check-interval', checkInterval] : [];
  const router = await startRouter([...sourceArgs, ...shapeArgs], dir, nodeArgs);
  if (served) await oneRequestPerRoute(router.http, n);
  const rss = await settledRss(router);
  // Read before the heap snapshot (a full collection) and before the edits and their load.
  let text = (await get(router.admin, 'x', '/metrics')).body;
  const composition = rssComposition(rss.settled, text, n);
  const aboveEmpty = compositionAboveEmpty(rss.settled, text, empty, n);
  let heapRows: SizeResult['heap'];
  if (heap) {
    try {
      heapRows = await heapBreakdown(router, n);
    } catch (err) {
      console.error(`heap breakdown failed: ${(err as Error).message}`);
    }
  }
  const load = constantLoad(router.http, 'r0.scale.local', loadRate);
  const sumBefore = metric(text, 'switchyard_table_update_duration_seconds_sum');
  const countBefore = metric(text, 'switchyard_table_update_duration_seconds_count');
  const propagation: number[] = [];
  for (let e = 0; e < edits; e++) {
    const i = 1 + ((e * 7919) % (n - 1 || 1)); // spread over the file; never r0 (under load)
    const host = `r${i}-e${e}.scale.local`;
    const t0 = performance.now();
    await editRoute(i, host);
    for (;;) {
      // Routed (not 404): 200 from a backend, or the router's 502/503 when the endpoints do not listen.
      const status = (await get(router.http, host, '/app')).status;
      if (status !== 404 && status !== 0) break;
      await sleep(1);
    }
    propagation.push(performance.now() - t0);
    await sleep(50);
  }
  load?.kill('SIGTERM');
  text = (await get(router.admin, 'x', '/metrics')).body;
  const updates = metric(text, 'switchyard_table_update_duration_seconds_count') - countBefore;
  const updateMs = ((metric(text, 'switchyard_table_update_duration_seconds_sum') - sumBefore) * 1000) / updates;
  const result: SizeResult = {
    source, shape, served, routes: n, workers, startMs: Math.round(router.startMs), startCpuS: router.startCpuS, rssMb: rss.settled / 2 ** 20, emptyRssMb: empty.settled / 2 ** 20,
    kbPerRoute: (rss.settled - empty.settled) / 1024 / n, firstRssMb: rss.first / 2 ** 20, kbPerRouteFirst: (rss.first - empty.first) / 1024 / n,
    updateMs, propagationP50: pct(propagation, 0.5), propagationP99: pct(propagation, 0.99), propagationMax: Math.max(...propagation), loadRate,
    propagationMs: propagation.map((ms) => Math.round(ms * 10) / 10),
    rssKbPerRoute: composition,
    aboveEmptyKbPerRoute: aboveEmpty,
  };
  console.error(`measured: ${JSON.stringify({ ...result, propagationMs: undefined })}`);
  console.error(`RSS by holder, KB per route: ${Object.entries(composition).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  console.error(`above the empty router, KB per route: ${Object.entries(aboveEmpty).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  result.heap = heapRows;
  await stopRouter(router);
  await api?.close();
  pods?.stop();
  return result;
}

/** The empty router's RSS (first and settled, see settledRss) and its split by holder (bytes) once settled. */
interface EmptyRouter { first: number; settled: number; bytes: Record<Holder, number> }

async function emptyRouter(source: 'file' | 'kube'): Promise<EmptyRouter> {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-scale-'));
  let api: FakeApiServer | null = null;
  let args: string[];
  if (source === 'kube') {
    api = await FakeApiServer.start();
    args = ['--kubeconfig', api.kubeconfigPath, '--update-status=false'];
  } else {
    writeFileSync(path.join(dir, 'routes.yaml'), '# no routes\n');
    args = ['--file', path.join(dir, 'routes.yaml')];
  }
  const router = await startRouter(args, dir);
  const rss = await settledRss(router);
  const bytes = rssBytesByHolder(rss.settled, (await get(router.admin, 'x', '/metrics')).body);
  await stopRouter(router);
  await api?.close();
  return { ...rss, bytes };
}

// ---- active health checks -------------------------------------------------------------------

/** Endpoints per listener helper process (each kept HTTP connection is a descriptor there too). */
const LISTENERS_PER_HELPER = 5000;

interface HealthRun { cpuSeconds: number; windowS: number; percentOfOneCore: number; timeWaitAfter: number }
interface HealthResult { endpoints: number; type: 'tcp' | 'http'; intervalS: number; switchyard: HealthRun; haproxy: HealthRun | null }

/** Check connections in TIME_WAIT, at either end (one end's address is 127.2.x.y): what closing them leaves behind. */
function timeWaitSockets(): number {
  let n = 0;
  try {
    for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
      const [, local, remote, state] = line.trim().split(/\s+/);
      // addresses are little-endian hex: 127.2.x.y is yyxx027F
      if (state === '06' && (local?.slice(4, 8) === '027F' || remote?.slice(4, 8) === '027F')) n++;
    }
  } catch { /* not Linux */ }
  return n;
}

/** CPU of `pids()` over the window, after one full check interval (every endpoint checked once). */
async function cpuOver(pids: () => number[]): Promise<HealthRun> {
  await sleep(6000);
  const before = pids().reduce((s, p) => s + cpuSeconds(p), 0);
  const t0 = performance.now();
  await sleep(healthWindow * 1000);
  const cpu = pids().reduce((s, p) => s + cpuSeconds(p), 0) - before;
  const windowS = (performance.now() - t0) / 1000;
  return { cpuSeconds: cpu, windowS, percentOfOneCore: (100 * cpu) / windowS, timeWaitAfter: timeWaitSockets() };
}

/** The same servers checked by HAProxy (one thread): `check inter 5s`, TCP or `option httpchk`. */
async function haproxyHealth(port: number, addresses: string[], type: 'tcp' | 'http', dir: string): Promise<HealthRun> {
  const frontPort = await new Promise<number>((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => { const p = (probe.address() as net.AddressInfo).port; probe.close(() => resolve(p)); });
  });
  const cfg = path.join(dir, 'haproxy-health.cfg');
  writeFileSync(cfg, [
    'global', '  nbthread 1', '  maxconn 4000',
    'defaults', '  mode tcp', '  timeout connect 3s', '  timeout client 30s', '  timeout server 30s', '  timeout check 3s',
    'frontend f', `  bind 127.0.0.1:${frontPort}`, '  default_backend b',
    'backend b', ...(type === 'http' ? ['  option httpchk GET /health', '  http-check expect status 200'] : []),
    ...addresses.map((a, i) => `  server s${i} ${a}:${port} check inter 5s`), '',
  ].join('\n'));
  const child = spawn('haproxy', ['-f', cfg, '-db'], { stdio: 'ignore' });
  children.push(child);
  const run = await cpuOver(() => [child.pid!]);
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
  return run;
}

async function measureHealth(count: number, type: 'tcp' | 'http'): Promise<HealthResult> {
  const helpers: ChildProcess[] = [];
  const addresses: string[] = [];
  let port = 0;
  for (let first = 0; first < count; first += LISTENERS_PER_HELPER) {
    const n = Math.min(LISTENERS_PER_HELPER, count - first);
    const helper = await startJsonLine(process.execPath, [path.join(here, 'listeners.ts'), String(n), type, String(port), String(first)], (l) => typeof l.port === 'number');
    helpers.push(helper.child);
    port = helper.line.port as number;
    addresses.push(...(helper.line.addresses as string[]));
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-scale-'));
  const check = type === 'http' ? { annotations: { 'switchyard.io/health-check-path': '/health', 'switchyard.io/health-check-interval': '5s' } } : {};
  const docs: string[] = [];
  for (let i = 0; i < count / 2; i++) {
    const set = routeSet(i, port, [addresses[2 * i]!, addresses[2 * i + 1]!]);
    Object.assign((set.route as { metadata: object }).metadata, check);
    docs.push(yamlOf(set));
  }
  writeFileSync(path.join(dir, 'routes.yaml'), docs.join(''));
  const router = await startRouter(['--file', path.join(dir, 'routes.yaml')], dir, process.env.SCALE_NODE_ARGS?.split(' ').filter(Boolean) ?? [], 0);
  const switchyard = await cpuOver(() => [router.child.pid!, ...childPids(router.child.pid!)]);
  await stopRouter(router);
  const haproxy = process.env.SCALE_HEALTH_HAPROXY !== '0' && hasHaproxy() ? await haproxyHealth(port, addresses, type, dir) : null;
  for (const helper of helpers) helper.kill('SIGTERM');
  return { endpoints: count, type, intervalS: 5, switchyard, haproxy };
}

function hasHaproxy(): boolean {
  return spawnSync('haproxy', ['-v'], { stdio: 'ignore' }).status === 0;
}

// ---- main -----------------------------------------------------------------------------------

async function main(): Promise<void> {
  if (!existsSync(cli)) throw new Error(`${cli} missing: run npm run build`);
  const { port: backendPort, servers } = await startBackends();
  const results: SizeResult[] = [];
  for (const source of sources) {
    const empty = await emptyRouter(source);
    for (const n of sizes) {
      const r = await measure(source, n, backendPort, empty);
      results.push(r);
      console.error(`${source} ${n}: start ${r.startMs} ms (${r.startCpuS.toFixed(1)} CPU s), ${r.kbPerRoute.toFixed(1)} KB/route, propagation p99 ${r.propagationP99.toFixed(0)} ms (each: ${r.propagationMs.map((x) => x.toFixed(0)).join(' ')})`);
    }
  }
  const health = healthEndpoints > 0 ? await measureHealth(healthEndpoints, healthType) : null;
  for (const s of servers) s.close();
  agent.destroy();

  const f = (x: number, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '–');
  const shapeText = shape === 'pods'
    ? `pods shape (3 endpoints at addresses of their own, labels, uids, pod references, a timeout annotation; TCP checks every ${checkInterval}; served: one request per route before the memory is read)`
    : 'shared shape (every route\'s 3 endpoints are 127.0.0.1-3)';
  console.log(`\nnode ${process.version}; each route: Route + Service + EndpointSlice (3 endpoints), ${shapeText}; --workers ${workers}; ` +
    `${edits} host edits per size under a constant load of ${loadRate} req/s (autocannon --overallRate); loadavg at end ${(await import('node:os')).loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
  console.log('| source | routes | served | ready (ms) | CPU to ready (s) | RSS settled (MB) | KB/route above empty: settled / at first | of which V8 heap / native | 1 update (ms) | propagation p50 / p99 / max (ms) |');
  console.log('|--------|-------:|:------:|-----------:|-----------------:|---------:|---------------------:|----------------:|--------------:|---------------------------------:|');
  for (const r of results) {
    const a = r.aboveEmptyKbPerRoute;
    console.log(`| ${r.source} | ${r.routes} | ${r.served ? 'yes' : 'no'} | ${r.startMs} | ${f(r.startCpuS, 1)} | ${f(r.rssMb)} | ${f(r.kbPerRoute, 1)} / ${f(r.kbPerRouteFirst, 1)} | ${f(a.heapCommittedOld! + a.heapCommittedYoung!, 1)} / ${f(a.native!, 1)} | ${f(r.updateMs, 2)} | ${f(r.propagationP50)} / ${f(r.propagationP99)} / ${f(r.propagationMax)} |`);
  }
  console.log('\nready = spawn → "listening" (sources synced, table built, ports open); CPU to ready = the router\'s user+system CPU seconds at that moment (all threads: GC, compiler); empty router RSS: ' +
    [...new Set(results.map((r) => `${r.source} ${f(r.emptyRssMb)} MB`))].join(', ') +
    '; of which V8 heap / native = the settled RSS above the empty router\'s, split by the router\'s own process metrics (V8\'s heap as committed; native = RSS − heap − external: malloc, sockets, code); propagation = host edited (file rewritten, or object updated at the API server) → the new host is routed (file: includes the watcher\'s 50 ms debounce)');
  for (const r of results.filter((x) => x.heap)) {
    console.log(`\nheap after a full GC, ${r.source} ${r.routes} routes (bytes per route, by retaining object):`);
    for (const h of r.heap!) console.log(`  ${h.name.padEnd(40)} ${String(h.bytesPerRoute).padStart(7)}`);
  }
  if (health) {
    const line = (name: string, r: HealthRun) => `  ${name.padEnd(24)} ${r.cpuSeconds.toFixed(2)} CPU s over ${r.windowS.toFixed(0)} s = ${r.percentOfOneCore.toFixed(1)} % of one core (check connections in TIME_WAIT after: ${r.timeWaitAfter})`;
    console.log(`\nactive health checks: ${health.endpoints} endpoints (${health.type === 'http' ? 'HTTP GET /health' : 'TCP'}, every ${health.intervalS} s):`);
    console.log(line('switchyard', health.switchyard));
    console.log(health.haproxy ? line('HAProxy 1 thread', health.haproxy) : '  HAProxy: not installed (apt-get install -y haproxy) — no anchor');
  }
  mkdirSync(path.join(here, 'results'), { recursive: true });
  const out = path.join(here, 'results', `scale-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(out, JSON.stringify({ node: process.version, shape, checkInterval, workers, edits, loadRate, results, health }, null, 2));
  console.log(`\nJSON: ${path.relative(root, out)}`);
}

main().then(() => process.exit(0), (err: Error) => { console.error(err.stack ?? err.message); process.exit(1); });
