// `node bench/apiserver-cost.ts`: what one router's reads and status writes cost kube-apiserver,
// encoding by encoding, without a router process in the way (issue 25). A real kube-apiserver +
// etcd (profiling on) with R Services, EndpointSlices of 3 endpoints and Routes; then, in
// interleaved rounds, the reads a router's start makes (a watch-list of each kind, read to its
// end bookmark) as JSON and with Services and EndpointSlices as protobuf, and batches of Route
// status PATCHes answered as the whole object (JSON) or as metadata only (PartialObjectMetadata,
// protobuf). Prints kube-apiserver CPU seconds per start and per 1,000 writes; with
// COST_PROFILE=1 also takes a 10 s CPU profile of kube-apiserver during each kind of work and
// prints its top frames (`go tool pprof`, Go at /usr/local/go/bin).
//
// Env: COST_APISERVER_ARGS (more kube-apiserver flags), COST_ROUTES (5000), COST_ROUNDS (3), COST_WRITES (1000 per batch), COST_PARTS (reads,writes;
// paged: the same by paged lists; strategies: each kind read by watch-list, pages (COST_PAGES, default 500,5000), one list and one list at resourceVersion=0,
// gross and net of the idle rate, with where the lists were served from (COST_WINDOW_MS, COST_KINDS=routes,... to read only these, COST_JSON_TOO=1 adds JSON for built-ins); cbor: Routes as CBOR, with COST_APISERVER_ARGS=--feature-gates=CBORServingAndStorage=true (with strategies: also by CBOR pages);
// router: a router process's start to readiness, this build's dist/, once per COST_ROUTER_VARIANTS, ';'-separated
// router flags, default "default;--kube-protobuf=false;--watch-list=false"); fanout: status writes with 0 and with
// COST_WATCHERS (default 0,20) Route watchers reading every event, each also with fieldValidation=Ignore), COST_PROFILE.

import { execFile, execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { KubeClient } from '../src/kube/client.ts';
import { loadKubeConfig } from '../src/kube/kubeconfig.ts';
import { decodeCbor } from '../src/kube/cbor-objects.ts';
import { decodeList, decodePartialObjectMetadata, PARTIAL_METADATA_ACCEPT } from '../src/kube/protobuf-objects.ts';
import { binaryDir, startRealCluster } from '../test/support/real-apiserver.ts';
import { childByName } from './fleet-measure.ts';
import { createRouteObjects } from './fleet-objects.ts';
import { cpuSeconds } from './proc.ts';
import { startRouter } from '../test/support/router-process.ts';

const ROUTES = Number(process.env.COST_ROUTES ?? 5000);
const ROUNDS = Number(process.env.COST_ROUNDS ?? 3);
const WRITES = Number(process.env.COST_WRITES ?? 1000);
const PROFILE = process.env.COST_PROFILE === '1';
const uptime = () => loadavg().map((l) => l.toFixed(1)).join(' ');
const KINDS = ['/apis/route.openshift.io/v1/routes', '/api/v1/services', '/apis/discovery.k8s.io/v1/endpointslices'];

const cluster = await startRealCluster({ apiServerArgs: ['--profiling=true', ...(process.env.COST_APISERVER_ARGS ?? '').split(/\s+/).filter(Boolean)] });
const apiPid = childByName('kube-apiserver');
const client = new KubeClient(loadKubeConfig(cluster.adminKubeconfig), { userAgent: 'switchyard-bench' });

/** Read a watch-list of every kind (or of `only`) to its end bookmark; bytes received. */
async function start(protobuf: boolean, only?: string, accept?: string): Promise<number> {
  let bytes = 0;
  await Promise.all(KINDS.filter((k) => only === undefined || k.endsWith(only)).map(async (kind) => {
    const stream = await client.watch(kind, { watch: 'true', allowWatchBookmarks: 'true', sendInitialEvents: 'true', resourceVersionMatch: 'NotOlderThan' },
      { protobuf: protobuf && !kind.includes('route.openshift.io'), accept });
    const marker = stream.encoding !== 'json' ? Buffer.from('k8s.io/initial-events-end') : 'k8s.io/initial-events-end';
    let tail: string | Buffer = stream.encoding !== 'json' ? Buffer.alloc(0) : '';
    try {
      for await (const chunk of stream.body as AsyncIterable<string | Buffer>) {
        bytes += chunk.length;
        const window = typeof chunk === 'string' ? (tail as string) + chunk : Buffer.concat([tail as Buffer, chunk]);
        if (window.includes(marker as never)) break;
        tail = window.slice(-64);
      }
    } finally {
      stream.close();
    }
  }));
  return bytes;
}

/** Read every kind (or `only`) by paged lists of 500, as a router with --watch-list=false; bytes received. */
async function pagedLists(protobuf: boolean, only?: string): Promise<number> {
  let bytes = 0;
  await Promise.all(KINDS.filter((k) => only === undefined || k.endsWith(only)).map(async (kind) => {
    const kindName = kind.endsWith('/services') ? 'Service' : kind.endsWith('/endpointslices') ? 'EndpointSlice' : undefined;
    let continueToken: string | undefined;
    do {
      const page = await client.request<{ metadata: { continue?: string }; items: unknown[] }>({
        method: 'GET', path: kind, query: { limit: '500', continue: continueToken },
        ...(protobuf && kindName ? { protobuf: (body: Buffer) => { bytes += body.length; return decodeList(kindName, body); } } : {}),
      });
      if (!(protobuf && kindName)) bytes += JSON.stringify(page).length;
      continueToken = page.metadata.continue;
    } while (continueToken);
  }));
  return bytes;
}

/** Read one kind (`only`) by pages of `limit` (0: one unpaged list), `resourceVersion` as given; bytes received. */
async function listed(kind: string, limit: number, protobuf: boolean, resourceVersion?: string, cbor = false): Promise<number> {
  const kindName = kind.endsWith('/services') ? 'Service' : kind.endsWith('/endpointslices') ? 'EndpointSlice' : undefined;
  let bytes = 0;
  let continueToken: string | undefined;
  do {
    const page = await client.request<{ metadata: { continue?: string }; items: unknown[] }>({
      method: 'GET', path: kind, query: { limit: limit > 0 ? String(limit) : undefined, continue: continueToken, resourceVersion: continueToken ? undefined : resourceVersion },
      timeoutMs: 300_000,
      ...(protobuf && kindName ? { protobuf: (body: Buffer) => { bytes += body.length; return decodeList(kindName, body); } } : {}),
      ...(cbor ? { cbor: (body: Buffer) => { bytes += body.length; return decodeCbor(body); } } : {}),
    });
    if (!(protobuf && kindName) && !cbor) bytes += JSON.stringify(page).length;
    continueToken = page.metadata.continue || undefined;
  } while (continueToken);
  return bytes;
}

/** kube-apiserver's counters of lists served from its watch cache and from etcd, by resource (summed over label sets). */
async function listCounters(): Promise<Map<string, number>> {
  const text = String((await cluster.api<string>('GET', '/metrics')).body);
  const counters = new Map<string, number>();
  const wanted = /^(apiserver_cache_list_total|apiserver_cache_list_fetched_objects_total|apiserver_cache_list_returned_objects_total|apiserver_storage_list_total|apiserver_storage_list_fetched_objects_total|etcd_requests_total)\{([^}]*)\} (\S+)$/;
  for (const line of text.split('\n')) {
    const m = wanted.exec(line);
    if (!m) continue;
    const resource = /resource(?:_prefix)?="([^"]*)"/.exec(m[2]!)?.[1] ?? /type="([^"]*)"/.exec(m[2]!)?.[1] ?? '';
    const operation = /operation="([^"]*)"/.exec(m[2]!)?.[1];
    const key = `${m[1]}${operation ? `:${operation}` : ''}{${resource}}`;
    counters.set(key, (counters.get(key) ?? 0) + Number(m[3]));
  }
  return counters;
}

/** kube-apiserver's Go runtime: bytes allocated so far, and garbage collections so far. */
async function goRuntime(): Promise<{ allocated: number; collections: number }> {
  const text = String((await cluster.api<string>('GET', '/metrics')).body);
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { allocated: value('go_memstats_alloc_bytes_total'), collections: value('go_gc_duration_seconds_count') };
}

/** Counter deltas that moved, for the kind read (its resource name in the key). */
function moved(before: Map<string, number>, after: Map<string, number>, resource: string): string {
  const parts: string[] = [];
  for (const [key, value] of after) {
    const delta = value - (before.get(key) ?? 0);
    if (delta !== 0 && key.includes(resource)) parts.push(`${key.replace(/\{.*\}/, '')} ${delta}`);
  }
  return parts.join(', ') || 'none';
}

/**
 * CPU of kube-apiserver over a window of at least `windowMs` that begins with `work` (the GC its
 * allocations cause mostly lands inside), and the window's length in seconds.
 */
async function windowed(windowMs: number, work: () => Promise<unknown>): Promise<{ cpu: number; seconds: number }> {
  const cpu0 = cpuSeconds(apiPid);
  const started = performance.now();
  await work();
  const left = windowMs - (performance.now() - started);
  if (left > 0) await new Promise((resolve) => setTimeout(resolve, left));
  return { cpu: cpuSeconds(apiPid) - cpu0, seconds: (performance.now() - started) / 1000 };
}

let statusVersion = 0;
/** WRITES Route status PATCHes, 64 at a time (`query`: e.g. fieldValidation). */
async function writes(metadataOnly: boolean, from = 0, query?: Record<string, string>): Promise<void> {
  statusVersion++;
  let next = 0;
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (next < WRITES) {
      const i = (from + next++) % ROUTES;
      await client.request({
        method: 'PATCH', path: `/apis/route.openshift.io/v1/namespaces/app/routes/r${i}/status`, contentType: 'application/merge-patch+json', query,
        body: { status: { ingress: [{ host: `r${i}.apps.example.com`, routerName: 'default', routerCanonicalHostname: `v${statusVersion}.example.com`, wildcardPolicy: 'None',
          conditions: [{ type: 'Admitted', status: 'True', lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }] }] } },
        ...(metadataOnly ? { protobuf: decodePartialObjectMetadata, accept: PARTIAL_METADATA_ACCEPT } : {}),
      });
    }
  }));
}

/** `count` Route watches from now on, each on its own connection, counting the events they read. */
async function routeWatchers(count: number): Promise<{ received(events: number): Promise<void>; close(): void }> {
  const list = await client.request<{ metadata: { resourceVersion: string } }>({ method: 'GET', path: KINDS[0]!, query: { limit: '1' } });
  const watchers = await Promise.all(Array.from({ length: count }, async () => {
    const own = new KubeClient(loadKubeConfig(cluster.adminKubeconfig), { userAgent: 'switchyard-bench-watcher' });
    const stream = await own.watch(KINDS[0]!, { watch: 'true', allowWatchBookmarks: 'true', resourceVersion: list.metadata.resourceVersion });
    const state = { events: 0, done: false };
    void (async () => {
      try {
        for await (const chunk of stream.body as AsyncIterable<string>) for (let i = chunk.indexOf('\n'); i !== -1; i = chunk.indexOf('\n', i + 1)) state.events++; // one line an event
      } catch { /* closed */ }
    })();
    return { state, close: () => { stream.close(); void own.close(); } };
  }));
  return {
    async received(events: number) {
      const deadline = Date.now() + 60_000;
      while (watchers.some((w) => w.state.events < events) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    },
    close() { for (const w of watchers) w.close(); },
  };
}

async function measured(work: () => Promise<unknown>): Promise<number> {
  const cpu0 = cpuSeconds(apiPid);
  await work();
  return cpuSeconds(apiPid) - cpu0;
}

await cluster.apply({ kustomization: path.join(path.dirname(fileURLToPath(import.meta.url)), '../manifests/') });
await cluster.waitEstablished('routes.route.openshift.io');
process.stderr.write(`apiserver-cost: creating ${ROUTES} Routes, Services and EndpointSlices (load ${uptime()})\n`);
await createRouteObjects(cluster, ROUTES, ['203.0.113.1', '203.0.113.2', '203.0.113.3']);
const PARTS = new Set((process.env.COST_PARTS ?? 'reads,writes').split(','));
for (let i = 0; i < ROUTES; i += WRITES) await writes(false, i); // every Route with a status, as after a first pass
const results: Record<string, number[]> = {};
const bytes: Record<string, number> = {};
const record = (name: string, value: number) => (results[name] ??= []).push(value);
const STRATEGY_WINDOW_MS = Number(process.env.COST_WINDOW_MS ?? 4000);
const strategy: Record<string, Array<{ gross: number; seconds: number; idleRate: number; bytes: number; allocatedMB: number; collections: number }>> = {};
const cacheNotes: Record<string, string> = {};
/** The reads a router can make of each kind, each as the encoding it would use (protobuf for built-ins). */
function strategyPlans(): Array<{ name: string; resource: string; read: () => Promise<number> }> {
  const plans: Array<{ name: string; resource: string; read: () => Promise<number> }> = [];
  const only = (process.env.COST_KINDS ?? '').split(',').filter(Boolean);
  for (const kind of KINDS) {
    const resource = kind.slice(kind.lastIndexOf('/') + 1);
    if (only.length > 0 && !only.includes(resource)) continue;
    const protobuf = !kind.includes('route.openshift.io');
    const encoding = protobuf ? 'protobuf' : 'JSON';
    plans.push({ name: `${resource} ${encoding}: watch-list`, resource, read: () => start(protobuf, `/${resource}`) });
    for (const limit of (process.env.COST_PAGES ?? '500,5000').split(',').map(Number)) {
      plans.push({ name: `${resource} ${encoding}: pages of ${limit}`, resource, read: () => listed(kind, limit, protobuf) });
    }
    plans.push({ name: `${resource} ${encoding}: one list`, resource, read: () => listed(kind, 0, protobuf) });
    // As client-go's reflector lists classically: resourceVersion=0, any version the watch cache holds (no etcd read).
    plans.push({ name: `${resource} ${encoding}: one list, RV=0`, resource, read: () => listed(kind, 0, protobuf, '0') });
    if (PARTS.has('cbor') && !protobuf) {
      for (const limit of (process.env.COST_PAGES ?? '500,5000').split(',').map(Number)) {
        plans.push({ name: `${resource} CBOR: pages of ${limit}`, resource, read: () => listed(kind, limit, false, undefined, true) });
      }
    }
    if (process.env.COST_JSON_TOO === '1' && protobuf) {
      plans.push({ name: `${resource} JSON: watch-list`, resource, read: () => start(false, `/${resource}`) });
      plans.push({ name: `${resource} JSON: pages of 500`, resource, read: () => listed(kind, 500, false) });
    }
  }
  return plans;
}
for (let round = 0; round < ROUNDS; round++) {
  for (const protobuf of PARTS.has('reads') ? [false, true] : []) {
    const name = protobuf ? 'start, protobuf' : 'start, JSON';
    record(name, await measured(async () => { bytes[name] = await start(protobuf); }));
    for (const only of ['/routes', '/services', '/endpointslices']) {
      if (only === '/routes' && protobuf) continue;
      const kindName = `  ${only.slice(1)}, ${protobuf ? 'protobuf' : 'JSON'}`;
      record(kindName, await measured(async () => { bytes[kindName] = await start(protobuf, only); }));
    }
  }
  if (PARTS.has('cbor')) {
    // Routes as CBOR (KEP-4222; kube-apiserver needs --feature-gates=CBORServingAndStorage=true, alpha in v1.36).
    record('  routes, CBOR', await measured(async () => { bytes['  routes, CBOR'] = await start(false, '/routes', 'application/cbor'); }));
  }
  for (const protobuf of PARTS.has('paged') ? [false, true] : []) {
    for (const only of ['/routes', '/services', '/endpointslices']) {
      if (only === '/routes' && protobuf) continue;
      const kindName = `  ${only.slice(1)}, paged lists, ${protobuf ? 'protobuf' : 'JSON'}`;
      record(kindName, await measured(async () => { bytes[kindName] = await pagedLists(protobuf, only); }));
    }
  }
  if (PARTS.has('strategies')) {
    // Each read of one kind in a window of STRATEGY_WINDOW_MS, each followed by an idle window as
    // long: gross CPU, and the idle rate to take off (net). Kinds and strategies in a rotating order.
    const plans = strategyPlans();
    const order = plans.map((_, i) => plans[(i + round * 5) % plans.length]!);
    for (const plan of order) {
      const before = round === 0 ? await listCounters() : undefined;
      let got = 0;
      const runtime0 = await goRuntime();
      const gross = await windowed(STRATEGY_WINDOW_MS, async () => { got = await plan.read(); });
      const runtime1 = await goRuntime();
      if (before) cacheNotes[plan.name] = moved(before, await listCounters(), plan.resource);
      const idle = await windowed(gross.seconds * 1000, async () => {});
      (strategy[plan.name] ??= []).push({ gross: gross.cpu, seconds: gross.seconds, idleRate: idle.cpu / idle.seconds, bytes: got,
        allocatedMB: (runtime1.allocated - runtime0.allocated) / 2 ** 20, collections: runtime1.collections - runtime0.collections });
    }
  }
  if (PARTS.has('router')) {
    // A router process's start to readiness, as the fleet benchmark's rolling restart (this build, dist/).
    for (const variant of (process.env.COST_ROUTER_VARIANTS ?? 'default;--kube-protobuf=false;--watch-list=false').split(';')) {
      const args = variant === 'default' ? [] : variant.split(/\s+/).filter(Boolean);
      record(`router start, ${variant}`, await measured(async () => {
        const router = await startRouter({ args: ['--kubeconfig', cluster.adminKubeconfig, '--update-status=false', ...args], env: { POD_NAMESPACE: 'default', NODE_NAME: 'cost' }, timeoutMs: 300_000 });
        await router.stop();
      }));
      await new Promise((resolve) => setTimeout(resolve, 3000));
    }
  }
  if (PARTS.has('fanout')) {
    // Status writes as a leader sends them (metadata-only answers), with 0 and with COST_WATCHERS
    // Route watchers (each its own connection, reading every event, as routers do): what a status
    // event costs the API server per watcher. Also with fieldValidation=Ignore.
    for (const watchers of (process.env.COST_WATCHERS ?? '0,20').split(',').map(Number)) {
      for (const ignore of [false, true]) {
        const open = await routeWatchers(watchers);
        const name = `status writes, ${watchers} watchers${ignore ? ', fieldValidation=Ignore' : ''}`;
        record(name, await measured(async () => {
          await writes(true, 0, ignore ? { fieldValidation: 'Ignore' } : undefined);
          await open.received(WRITES);
        }) * 1000 / WRITES);
        open.close();
      }
    }
  }
  for (const metadataOnly of PARTS.has('writes') ? [false, true] : []) {
    record(metadataOnly ? 'status writes, metadata only' : 'status writes, whole object', await measured(() => writes(metadataOnly)) * 1000 / WRITES);
  }
  process.stderr.write(`round ${round + 1}: ${JSON.stringify(results)} ${Object.entries(strategy).map(([name, runs]) => `${name} ${runs.at(-1)!.gross.toFixed(2)}`).join('; ')} (load ${uptime()})\n`);
}
console.log(`\nkube-apiserver CPU seconds, ${ROUTES} Routes + Services + EndpointSlices, ${ROUNDS} interleaved rounds (load average at the end ${uptime()}):`);
for (const [name, values] of Object.entries(results)) {
  const unit = !name.includes('status writes') ? `per start${bytes[name] ? ` (${(bytes[name]! / 2 ** 20).toFixed(1)} MB)` : ''}` : 'per 1,000 writes';
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const median = [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  console.log(`  ${name.padEnd(30)} mean ${mean.toFixed(2)}, median ${median.toFixed(2)}: ${values.map((v) => v.toFixed(2)).join('  ')}  ${unit}`);
}

if (Object.keys(strategy).length > 0) {
  const median = (values: number[]) => { const v = [...values].sort((a, b) => a - b); return v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2; };
  console.log(`\nkube-apiserver CPU seconds per read of one kind, ${ROUTES} objects of each, ${ROUNDS} rounds in rotating order, windows of ≥ ${STRATEGY_WINDOW_MS / 1000} s`);
  console.log('(gross: the window; net: gross − the idle rate of an equal window right after × the window. kube-apiserver\'s garbage');
  console.log('collection of its ~1 GB heap lands in some windows and not others: the mean carries it, the median mostly not; the MB');
  console.log('it allocated (go_memstats_alloc_bytes_total, what its collections cost is proportional to) does not depend on where they land):');
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  const rows = Object.entries(strategy).map(([name, runs]) => ({
    name, gross: median(runs.map((r) => r.gross)), net: median(runs.map((r) => r.gross - r.idleRate * r.seconds)), netMean: mean(runs.map((r) => r.gross - r.idleRate * r.seconds)),
    idle: median(runs.map((r) => r.idleRate)), mb: runs[0]!.bytes / 2 ** 20, alloc: median(runs.map((r) => r.allocatedMB)),
    collections: runs.reduce((n, r) => n + r.collections, 0), all: runs.map((r) => (r.gross - r.idleRate * r.seconds).toFixed(2)).join(' '),
  }));
  const width = Math.max(...rows.map((r) => r.name.length));
  for (const r of rows) {
    console.log(`  ${r.name.padEnd(width)}  net median ${r.net.toFixed(2)} mean ${r.netMean.toFixed(2)}  gross median ${r.gross.toFixed(2)}  allocated ${r.alloc.toFixed(0)} MB  (idle ${r.idle.toFixed(3)} CPU-s/s; ${r.mb.toFixed(1)} MB sent; ${r.collections} GCs in ${ROUNDS} windows; net by round: ${r.all})`);
  }
  console.log('Lists served (first round, counter deltas for the kind: cache_* = the watch cache, storage_*/etcd_* = etcd):');
  for (const [name, note] of Object.entries(cacheNotes)) console.log(`  ${name.padEnd(width)}  ${note}`);
}

if (PROFILE) {
  for (const [name, work] of [['start-json', () => start(false)], ['start-protobuf', () => start(true)], ['writes-whole', () => writes(false)], ['writes-metadata', () => writes(true)]] as const) {
    let running = true;
    const loop = (async () => { while (running) await work(); })();
    const raw = await new Promise<Buffer>((resolve, reject) => execFile(path.join(binaryDir(), 'kubectl'),
      ['--kubeconfig', cluster.adminKubeconfig, 'get', '--raw', '/debug/pprof/profile?seconds=10'], { encoding: 'buffer', maxBuffer: 64 * 2 ** 20 },
      (err, stdout) => (err ? reject(err) : resolve(stdout))));
    running = false;
    await loop;
    const file = path.join(process.env.COST_PROFILE_DIR ?? cluster.dir, `${name}.pprof`);
    writeFileSync(file, raw);
    const top = execFileSync('/usr/local/go/bin/go', ['tool', 'pprof', '-top', '-nodecount=25', file], { encoding: 'utf8' });
    console.log(`\n--- ${name}: kube-apiserver CPU profile, top frames\n${top}`);
  }
}
await client.close();
await cluster.stop();
