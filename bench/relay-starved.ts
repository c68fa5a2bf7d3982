// Where a cached read's time goes in a CPU-starved kube relay (README, "Kube relay", the fleet
// runs' 30 s header timeouts): the real kube-apiserver with OBJECTS Routes, Services and
// EndpointSlices; one relay, put in a cgroup of its own (RELAY_CGROUP: a cgroup v1 cpu directory
// whose cpu.cfs_quota_us the caller set, e.g. 5000 of 100000 for 5 % of a core; root needed);
// CLIENTS clients (each its own ServiceAccount token and HTTP/2 connection, as routers) ask at
// once for the 6 collections a router reads by watch-list, retry a 429 after its Retry-After (1 s)
// as a router does, and read each to its initial-events-end bookmark. Prints each read's time to
// headers per attempt and the relay's `slow cached read` lines (review and sync times).
// RELAY_CLI: another build's CLI for the relay (e.g. an older commit's src/cli.ts).
//
//   mkdir /sys/fs/cgroup/cpu/relay && echo 5000 > /sys/fs/cgroup/cpu/relay/cpu.cfs_quota_us
//   RELAY_CGROUP=/sys/fs/cgroup/cpu/relay OBJECTS=10000 CLIENTS=20 node bench/relay-starved.ts

import { writeFileSync } from 'node:fs';
import { connect } from 'node:http2';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { startRealCluster } from '../test/support/real-apiserver.ts';
import { relayTls, startRelay } from '../test/support/relay-process.ts';
import { createRouteObjects, routerAccounts } from './fleet-objects.ts';

const MANIFESTS = fileURLToPath(new URL('../manifests/', import.meta.url));
const OBJECTS = Number(process.env.OBJECTS ?? 3000);
const CLIENTS = Number(process.env.CLIENTS ?? 10);
const CGROUP = process.env.RELAY_CGROUP ?? '';
const PATHS = ['/apis/route.openshift.io/v1/routes', '/api/v1/services', '/apis/discovery.k8s.io/v1/endpointslices',
  '/apis/networking.k8s.io/v1/ingresses', '/apis/networking.k8s.io/v1/ingressclasses', '/apis/switchyard.io/v1alpha1/middlewares'];

console.log(`${new Date().toISOString()} load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
const cluster = await startRealCluster({});
try {
  await cluster.apply({ kustomization: MANIFESTS });
  await cluster.apply({ kustomization: `${MANIFESTS}kube-relay` });
  await cluster.waitEstablished('routes.route.openshift.io');
  const users = await routerAccounts(cluster, CLIENTS);
  const t0 = Date.now();
  await createRouteObjects(cluster, OBJECTS, ['198.51.100.7', '198.51.100.8', '198.51.100.9']);
  console.log(`${OBJECTS * 3} objects in ${Date.now() - t0} ms`);
  const tokens = await Promise.all(users.map(async (u) => (await cluster.serviceAccountKubeconfig('switchyard', u)).token));
  const { kubeconfig } = await cluster.serviceAccountKubeconfig('switchyard', 'switchyard-kube-relay');
  const tls = await relayTls();
  const relay = await startRelay({ kubeconfig, tls, cli: process.env['RELAY_CLI'] });
  if (CGROUP) writeFileSync(`${CGROUP}/tasks`, String(relay.child.pid));
  try {
    const start = performance.now();
    const results: Array<{ client: number; path: string; attempts: string; doneMs: number; status: number; bytes: number }> = [];
    await Promise.all(tokens.map(async (token, client) => {
      const session = connect(relay.server, { ca: tls.ca.cert });
      session.on('error', () => {});
      await Promise.all(PATHS.map(async (path) => {
        const first = performance.now();
        const attempts: number[] = [];
        for (;;) {
          const r = await new Promise<{ headersMs: number; status: number; doneMs: number; bytes: number }>((resolve) => {
            const sent = performance.now();
            const req = session.request({ ':path': `${path}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true`, authorization: `Bearer ${token}` });
            let headersMs = NaN; let status = 0; let bytes = 0; let text = '';
            const done = () => resolve({ headersMs, status, doneMs: performance.now() - first, bytes });
            req.on('response', (h) => { headersMs = performance.now() - sent; status = Number(h[':status']); });
            req.setEncoding('utf8');
            req.on('data', (chunk: string) => {
              bytes += chunk.length;
              text = (text + chunk).slice(-4096);
              if (text.includes('k8s.io/initial-events-end')) { req.close(); done(); }
            });
            req.on('close', done);
          });
          attempts.push(Math.round(r.headersMs));
          if (r.status === 429) { await new Promise((resolve) => setTimeout(resolve, 1000)); continue; }
          results.push({ client, path, doneMs: r.doneMs, status: r.status, bytes: r.bytes, attempts: attempts.join('+') });
          break;
        }
      }));
      session.close();
    }));
    console.log(`${new Date().toISOString()} load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    console.log(`all done in ${Math.round(performance.now() - start)} ms`);
    for (const r of results.sort((a, b) => a.doneMs - b.doneMs)) console.log(`client ${r.client} ${r.path.split('/').pop()} status ${r.status} headers (each attempt) ${r.attempts} ms, done ${Math.round(r.doneMs)} ms after the first, ${r.bytes} chars`);
    for (const l of relay.logs.filter((l) => l['msg'] === 'slow cached read')) console.log(JSON.stringify(l));
    const cpu = (await relay.metrics()).match(/^process_cpu_seconds_total (\S+)$/m)?.[1];
    console.log(`relay CPU s ${cpu}`);
  } finally {
    await relay.stop();
  }
} finally {
  await cluster.stop();
}
