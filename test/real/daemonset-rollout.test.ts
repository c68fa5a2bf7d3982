// The router's own DaemonSet rolled by the real DaemonSet controller (kube-controller-manager),
// on the test node (test/k8s/node): manifests/ as shipped (maxSurge 1, maxUnavailable 0,
// minReadySeconds 10, exec probes over the admin socket, terminationGracePeriodSeconds) with the
// opt-in components/tcp-migrate-req (its privileged init container sets the node's
// net.ipv4.tcp_migrate_req=1), changed only in what a test must change: its own ports, the
// loopback address, one process. Host-network router pods run this checkout's CLI with the pod's
// args and env under the router's ServiceAccount token.
//
// While a load generator sends requests on new connections (HTTP and HTTPS) and on keep-alive
// connections (HTTP and HTTPS) to the node's ports, the pod template changes (an env var) and the
// controller rolls it, 5 times: no request may fail and no connection be reset; the old pod is
// deleted only once the new one has been ready for minReadySeconds, and it exits 0 (SIGTERM
// started its drain). Then a rollout whose new pod never becomes ready (a bad flag): the old pod
// keeps serving, with nothing failed, and rolling back leaves it in place.

import test from 'ava';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as yaml from 'js-yaml';
import { Client } from 'undici';
import { eventually, request } from '../support/http-client.ts';
import { freePort } from '../support/ports.ts';
import { startRealCluster, type RealCluster } from '../support/real-apiserver.ts';
import { DEFAULT_IMAGES } from '../k8s/node/images.ts';
import { kubeApiFromKubeconfig, type KubeApi } from '../k8s/node/kube-api.ts';
import { startNode, type TestNode } from '../k8s/node/node.ts';

const MANIFESTS = fileURLToPath(new URL('../../manifests/', import.meta.url));
const MIGRATE_REQ = '/proc/sys/net/ipv4/tcp_migrate_req';
const ROLLOUTS = 5;
const DAEMONSET = '/apis/apps/v1/namespaces/switchyard/daemonsets/switchyard-router';
/** A request not completed after this long counts as failed (a hung request must not hang its loop). */
const REQUEST_TIMEOUT_MS = 30_000;
/** Bounds on waits for the controller and the node: reaching one fails the test, it is no target. */
const ROLLOUT_BOUND_MS = 240_000;

// The backend pods' program.
const ECHO = `
const http = require('node:http');
const server = http.createServer((req, res) => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('ok ' + process.env.POD_NAME); });
server.keepAliveTimeout = 60_000;
server.listen(8080, '0.0.0.0');
process.on('SIGTERM', () => { server.close(); process.exit(0); });
`;
const IMAGES = [{ image: 'switchyard.test/echo', entrypoint: () => [process.execPath, '-e', ECHO] }, ...DEFAULT_IMAGES];

let cluster: RealCluster;
let node: TestNode | undefined;
let api: KubeApi | undefined;
let scratch: string;
const nodeLog: string[] = [];
let ports: { http: number; https: number; admin: number };

test.before(async (t) => {
  t.timeout(300_000);
  cluster = await startRealCluster({ workloadControllers: true });
  node = await startNode({ kubeconfig: cluster.adminKubeconfig, images: IMAGES, labels: { 'node-role.kubernetes.io/edge': '' }, log: (l) => nodeLog.push(l) });
  api = kubeApiFromKubeconfig(cluster.adminKubeconfig, 'daemonset-rollout-test');
  ports = { http: await freePort(), https: await freePort(), admin: await freePort() };
  scratch = mkdtempSync(path.join(tmpdir(), 'switchyard-rollout-'));
  // manifests/ + the sysctl component, patched only where a test on a shared machine must be.
  writeFileSync(path.join(scratch, 'kustomization.yaml'), yaml.dump({
    apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization',
    resources: [path.relative(scratch, MANIFESTS)],
    components: [path.relative(scratch, path.join(MANIFESTS, 'components/tcp-migrate-req'))],
    patches: [{
      target: { kind: 'DaemonSet', name: 'switchyard-router' },
      patch: yaml.dump({
        apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'switchyard-router', namespace: 'switchyard' },
        spec: { template: { spec: { containers: [{ name: 'router', env: [
          { name: 'ROUTER_SERVICE_HTTP_PORT', value: String(ports.http) },
          { name: 'ROUTER_SERVICE_HTTPS_PORT', value: String(ports.https) },
          { name: 'STATS_PORT', value: String(ports.admin) },
          { name: 'ROUTER_BIND_ADDRESS', value: '127.0.0.1' },
          // One process per router: two of them overlap in every rollout on a shared 2-core machine
          // (test/e2e/rollover.test.ts rolls --workers 2 routers).
          { name: 'ROUTER_THREADS', value: '0' },
        ] }] } } },
      }),
    }],
  }));
  await cluster.apply({ kustomization: scratch });
  await cluster.kubectl(['-n', 'switchyard', 'create', 'secret', 'generic', 'switchyard-stats', '--from-literal=username=stats', '--from-literal=password=rollout']);
  await cluster.waitEstablished('routes.route.openshift.io');
  await cluster.apply({ yaml: `
apiVersion: v1
kind: Namespace
metadata: { name: app }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: echo, namespace: app }
spec:
  replicas: 1
  selector: { matchLabels: { app: echo } }
  template:
    metadata: { labels: { app: echo } }
    spec:
      containers:
        - name: echo
          image: switchyard.test/echo:1
          ports: [{ name: http, containerPort: 8080 }]
          env: [{ name: POD_NAME, valueFrom: { fieldRef: { fieldPath: metadata.name } } }]
          readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 }
---
apiVersion: v1
kind: Service
metadata: { name: echo, namespace: app }
spec:
  selector: { app: echo }
  ports: [{ name: http, port: 80, targetPort: http }]
---
apiVersion: route.openshift.io/v1
kind: Route
metadata: { name: plain, namespace: app }
spec: { host: roll.test, to: { kind: Service, name: echo }, port: { targetPort: http } }
---
apiVersion: route.openshift.io/v1
kind: Route
metadata: { name: edge, namespace: app }
spec: { host: roll-tls.test, to: { kind: Service, name: echo }, port: { targetPort: http }, tls: { termination: edge } }
` });
});

test.after.always(async () => {
  await api?.close();
  await node?.stop();
  await cluster?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

const isReady = (pod: any) => pod.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True') === true;
const readySince = (pod: any) => Date.parse(pod.status.conditions.find((c: any) => c.type === 'Ready').lastTransitionTime);

async function routerPods(): Promise<any[]> {
  const list = await cluster.must<{ items: any[] }>('GET', '/api/v1/namespaces/switchyard/pods', undefined, { query: { labelSelector: 'app.kubernetes.io/name=switchyard' } });
  return list.items;
}

/** The DaemonSet done rolling: one pod, of the current template, ready, and no other pod left. */
async function rolledOut(): Promise<any> {
  const ds = await cluster.must<any>('GET', DAEMONSET);
  const pods = await routerPods();
  const s = ds.status;
  const done = s.observedGeneration === ds.metadata.generation && s.updatedNumberScheduled === 1 && s.numberAvailable === 1 && pods.length === 1 && isReady(pods[0]) && !pods[0].metadata.deletionTimestamp;
  if (!done) throw new Error(`not rolled out: ${JSON.stringify(s)}; pods ${JSON.stringify(pods.map((p) => [p.metadata.name, p.metadata.deletionTimestamp ?? null, p.status?.containerStatuses?.[0]?.state]))}\n${nodeLog.slice(-10).join('\n')}`);
  return pods[0];
}

/** What the pod watch saw, in the API server's order. */
interface PodHistory { readyAt?: number; deletedWhileOthersReady?: string[]; deletionAt?: number; terminated?: { exitCode: number; reason: string } }

function errorCode(err: unknown): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string } };
  return e.cause?.code ?? e.code ?? e.message ?? String(err);
}

function httpsGet(port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, servername: host, headers: { host }, agent: false, rejectUnauthorized: false, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'timeout' })));
    req.end();
  });
}

test.serial(`${ROLLOUTS} rollouts by the DaemonSet controller under load: 0 failed requests, the old pod deleted only after the new one is ready; a stuck rollout keeps the old pod serving`, async (t) => {
  t.timeout(1_500_000);
  const first = await eventually(rolledOut, ROLLOUT_BOUND_MS, 500);
  // The opt-in init container ran before the router: the node's sysctl is set.
  t.is(readFileSync(MIGRATE_REQ, 'utf8').trim(), '1');
  t.is(first.status.initContainerStatuses[0].state.terminated.exitCode, 0);
  await eventually(async () => {
    const [plain, edge] = [await request(ports.http, { host: 'roll.test' }), await httpsGet(ports.https, 'roll-tls.test')];
    if (plain.status !== 200 || edge !== 200) throw new Error(`${plain.status} ${edge}`);
    return true;
  }, 60_000, 250);

  // The pods as the API server reports them, in order.
  const history = new Map<string, PodHistory>();
  const current = new Map<string, any>();
  const watch = api!.watch('/api/v1/namespaces/switchyard/pods?labelSelector=app.kubernetes.io%2Fname%3Dswitchyard', (type, pod) => {
    const name = pod.metadata.name as string;
    const h = history.get(name) ?? {};
    history.set(name, h);
    if (type === 'DELETED') { current.delete(name); return; }
    current.set(name, pod);
    if (isReady(pod) && h.readyAt === undefined) h.readyAt = readySince(pod);
    if (pod.metadata.deletionTimestamp && h.deletionAt === undefined) {
      h.deletionAt = Date.parse(pod.metadata.deletionTimestamp) - 1000 * Number(pod.metadata.deletionGracePeriodSeconds ?? 0);
      // Which other pods were ready when this one was told to stop.
      h.deletedWhileOthersReady = [...current.values()].filter((p) => p.metadata.name !== name && !p.metadata.deletionTimestamp && isReady(p)).map((p) => p.metadata.name);
    }
    const terminated = pod.status?.containerStatuses?.find((c: any) => c.name === 'router')?.state?.terminated;
    if (terminated && pod.metadata.deletionTimestamp) h.terminated = { exitCode: terminated.exitCode, reason: terminated.reason };
  });
  t.teardown(() => watch.stop());
  await watch.synced;

  // The load: new connections (HTTP, HTTPS) and keep-alive connections (HTTP, HTTPS).
  const tally = { ok: 0, failed: 0, resets: 0, reasons: new Map<string, number>() };
  const note = (reason: string) => tally.reasons.set(reason, (tally.reasons.get(reason) ?? 0) + 1);
  let running = true;
  const loop = async (send: () => Promise<number>) => {
    while (running) {
      try {
        const status = await send();
        if (status === 200) tally.ok++; else { tally.failed++; note(`status ${status}`); }
      } catch (err) {
        const code = errorCode(err);
        if (code === 'ECONNRESET') tally.resets++; else tally.failed++;
        note(code);
      }
    }
  };
  // Keep-alive clients honour the router's Keep-Alive timeout hint (minus 500 ms).
  const options = { keepAliveTimeoutThreshold: 500, pipelining: 1, headersTimeout: REQUEST_TIMEOUT_MS, bodyTimeout: REQUEST_TIMEOUT_MS };
  const keepAlive = [new Client(`http://127.0.0.1:${ports.http}`, options), new Client(`http://127.0.0.1:${ports.http}`, options)];
  const tlsKeepAlive = new Client(`https://127.0.0.1:${ports.https}`, { ...options, connect: { rejectUnauthorized: false, servername: 'roll-tls.test' } });
  t.teardown(() => Promise.all([...keepAlive, tlsKeepAlive].map((c) => c.close())));
  const loops = [
    ...[1, 2].map(() => loop(async () => (await request(ports.http, { host: 'roll.test', timeoutMs: REQUEST_TIMEOUT_MS })).status)),
    loop(() => httpsGet(ports.https, 'roll-tls.test')),
    ...[...keepAlive, tlsKeepAlive].map((client) => loop(async () => {
      const res = await client.request({ path: '/', method: 'GET', headers: { host: client === tlsKeepAlive ? 'roll-tls.test' : 'roll.test' } });
      await res.body.dump();
      return res.statusCode;
    })),
  ];
  const stopLoad = async () => { running = false; await Promise.all(loops); };
  t.teardown(stopLoad);
  const patchEnv = (env: Array<{ name: string; value: string }>) => cluster.must('PATCH', DAEMONSET,
    { spec: { template: { spec: { containers: [{ name: 'router', env }] } } } }, { contentType: 'application/strategic-merge-patch+json' });
  const minReadySeconds = (await cluster.must<any>('GET', DAEMONSET)).spec.minReadySeconds as number;
  t.true(minReadySeconds > 0);

  const perRollout: number[] = [];
  let previous = first.metadata.name as string;
  for (let i = 1; i <= ROLLOUTS; i++) {
    const before = tally.ok;
    await patchEnv([{ name: 'ROLLOUT', value: String(i) }]);
    const next = await eventually(async () => {
      const pod = await rolledOut();
      if (pod.metadata.name === previous) throw new Error('the controller has not replaced the pod yet');
      // The old pod's object is gone: its router stopped and the node deleted it.
      if (!history.get(previous)?.terminated) throw new Error(`old pod ${previous} not terminated yet`);
      return pod;
    }, ROLLOUT_BOUND_MS, 500);
    t.is(next.spec.containers[0].env.find((e: any) => e.name === 'ROLLOUT')?.value, String(i));
    const old = history.get(previous)!;
    const fresh = history.get(next.metadata.name)!;
    t.deepEqual(old.deletedWhileOthersReady, [next.metadata.name], `rollout ${i}: the old pod was told to stop only with the new one ready`);
    t.true(old.deletionAt! - fresh.readyAt! >= (minReadySeconds - 1) * 1000, `rollout ${i}: the new pod was ready ${(old.deletionAt! - fresh.readyAt!) / 1000}s before the old one was deleted (minReadySeconds ${minReadySeconds})`);
    t.deepEqual(old.terminated, { exitCode: 0, reason: 'Completed' }, `rollout ${i}: the old router exits 0 after its drain`);
    perRollout.push(tally.ok - before);
    previous = next.metadata.name;
  }

  // A rollout that never becomes ready: an unknown flag, the new router exits 2 at start.
  const serving = previous;
  const okBeforeStuck = tally.ok;
  await cluster.must('PATCH', DAEMONSET, { spec: { template: { spec: { containers: [{ name: 'router', args: ['run', '--no-such-flag'] }] } } } }, { contentType: 'application/strategic-merge-patch+json' });
  const crashing = await eventually(async () => {
    const pods = await routerPods();
    const fresh = pods.find((p) => p.metadata.name !== serving && (p.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 2);
    if (!fresh) throw new Error(`no crash-looping new pod yet: ${JSON.stringify(pods.map((p) => [p.metadata.name, p.status?.containerStatuses?.[0]?.state]))}`);
    return fresh;
  }, ROLLOUT_BOUND_MS, 500);
  t.is(crashing.status.containerStatuses[0].lastState.terminated.exitCode, 2);
  t.false(isReady(crashing));
  const ds = await cluster.must<any>('GET', DAEMONSET);
  t.like(ds.status, { numberAvailable: 1, numberUnavailable: undefined });
  t.is(history.get(serving)!.deletionAt, undefined, 'the old pod was not told to stop');
  const servedWhileStuck = tally.ok - okBeforeStuck;
  // Back to the last good template: the crash-looping pod goes, the serving pod stays.
  await cluster.must('PATCH', DAEMONSET, { spec: { template: { spec: { containers: [{ name: 'router', args: ['run'] }] } } } }, { contentType: 'application/strategic-merge-patch+json' });
  const after = await eventually(async () => {
    const pod = await rolledOut();
    if (pod.metadata.name !== serving) throw new Error(`${pod.metadata.name} serves, not ${serving}`);
    return pod;
  }, ROLLOUT_BOUND_MS, 500);
  t.is(after.metadata.name, serving);
  t.is(history.get(serving)!.deletionAt, undefined);

  // Some requests on the last router alone, then stop the load.
  const last = tally.ok;
  await eventually(() => tally.ok >= last + 50 || tally.failed + tally.resets > 0, REQUEST_TIMEOUT_MS, 20);
  await stopLoad();
  t.log(`requests ok ${tally.ok}, failed ${tally.failed}, reset ${tally.resets}; per rollout ${perRollout.join(' ')}; during the stuck rollout ${servedWhileStuck}`);
  if (tally.reasons.size > 0) t.log(`errors: ${[...tally.reasons].map(([k, v]) => `${k}×${v}`).join(', ')}`);
  t.is(tally.failed, 0, 'failed requests');
  t.is(tally.resets, 0, 'reset connections');
  t.true(perRollout.every((n) => n > 0), 'traffic flowed during every rollout');
  t.true(servedWhileStuck > 0, 'the old pod served during the stuck rollout');
});
