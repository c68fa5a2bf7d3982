// The test node (test/k8s/node) on a real control plane with the deployment, replicaset and
// EndpointSlice controllers: a Deployment's pods are bound, run as processes in their own network
// namespaces and come up Ready with addresses that answer; the pod's env (fieldRef) and Secret
// volume reach the process; a ready pod becomes an EndpointSlice endpoint the real way; deleting a
// pod ends its process (SIGTERM, or SIGKILL once the grace period is over) and the ReplicaSet
// replaces it; a failing readiness probe keeps a pod NotReady until it passes; a host-network pod
// runs on the node's address with an exec probe; a pod whose Secret is missing waits for it
// (then a tcpSocket probe says when it listens); an image without a stand-in is not run; a pod's
// log is read through the API server (pods/log → the node's kubelet endpoint), with sinceTime,
// timestamps and tailLines.
//
// The pods' program is a small Node HTTP server (the image `switchyard.test/echo` in this file's
// image table), so this file needs no Go-built tool.

import test from 'ava';
import { get } from 'node:http';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { eventually } from '../support/http-client.ts';
import { freePort } from '../support/ports.ts';
import { startRealCluster, type RealCluster } from '../support/real-apiserver.ts';
import { DEFAULT_IMAGES } from '../k8s/node/images.ts';
import { startNode, type TestNode } from '../k8s/node/node.ts';

// Answers GET / with who it is; GET /ready with 200 when READY_FILE exists (or is unset), else 503,
// logging each probe; logs SIGTERM and exits on it unless IGNORE_SIGTERM is set.
const ECHO = `
const http = require('node:http');
const fs = require('node:fs');
let probes = 0;
const server = http.createServer((req, res) => {
  if (req.url === '/ready') {
    probes++;
    const ok = !process.env.READY_FILE || fs.existsSync(process.env.READY_FILE);
    console.log('probe ' + probes + ' ' + (ok ? 'ok' : 'failing'));
    res.writeHead(ok ? 200 : 503);
    res.end();
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({
    pod: process.env.POD_NAME, namespace: process.env.NAMESPACE, node: process.env.NODE_NAME,
    greeting: process.env.GREETING_FILE ? fs.readFileSync(process.env.GREETING_FILE, 'utf8') : null,
    local: req.socket.localAddress,
  }));
});
server.listen(Number(process.env.PORT || 8080), process.env.LISTEN_ADDRESS || '0.0.0.0', () => console.log('listening'));
process.on('SIGTERM', () => {
  console.log('SIGTERM received');
  if (process.env.IGNORE_SIGTERM) return;
  server.close();
  process.exit(0);
});
`;

const IMAGES = [
  { image: 'switchyard.test/echo', entrypoint: () => [process.execPath, '-e', ECHO], commands: { node: () => process.execPath } },
  ...DEFAULT_IMAGES,
];

let cluster: RealCluster;
let node: TestNode;

test.before(async (t) => {
  t.timeout(240_000);
  cluster = await startRealCluster({ workloadControllers: true });
  node = await startNode({ kubeconfig: cluster.adminKubeconfig, images: IMAGES, labels: { 'node-role.kubernetes.io/edge': '' }, kubeletTls: cluster.kubeletTls });
  await cluster.apply({ yaml: 'apiVersion: v1\nkind: Namespace\nmetadata: { name: demo }\n' });
});

test.after.always(async () => {
  await node?.stop();
  await cluster?.stop();
});

function httpGet(address: string, port: number, urlPath = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get({ host: address, port, path: urlPath, agent: false, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => { body += c; }).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.once('timeout', () => req.destroy(new Error('timed out')));
    req.once('error', reject);
  });
}

async function pods(selector: string): Promise<any[]> {
  const list = await cluster.must<{ items: any[] }>('GET', '/api/v1/namespaces/demo/pods', undefined, { query: { labelSelector: selector } });
  return list.items;
}

const isReady = (pod: any) => pod.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True') === true;
const inPodRange = (address: string) => /^203\.0\.113\.(1[3-9]\d|2[0-4]\d|25[0-4])$/.test(address);

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

test.serial("a Deployment's pods come up Ready on the node, with reachable addresses, their env and their Secret volume", async (t) => {
  t.timeout(120_000);
  await cluster.apply({ yaml: `
apiVersion: v1
kind: Secret
metadata: { name: greeting, namespace: demo }
stringData: { text: hello from a secret }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: demo }
spec:
  selector: { app: web }
  ports: [{ name: http, port: 80, targetPort: 8080 }]
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: demo }
spec:
  replicas: 2
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      terminationGracePeriodSeconds: 30
      containers:
        - name: web
          image: switchyard.test/echo:1
          ports: [{ name: http, containerPort: 8080 }]
          env:
            - { name: POD_NAME, valueFrom: { fieldRef: { fieldPath: metadata.name } } }
            - { name: NAMESPACE, valueFrom: { fieldRef: { fieldPath: metadata.namespace } } }
            - { name: NODE_NAME, valueFrom: { fieldRef: { fieldPath: spec.nodeName } } }
            - { name: GREETING_FILE, value: /etc/greeting/message }
          readinessProbe: { httpGet: { path: /ready, port: http }, periodSeconds: 1 }
          volumeMounts: [{ name: greeting, mountPath: /etc/greeting }]
      volumes:
        - name: greeting
          secret: { secretName: greeting, items: [{ key: text, path: message }] }
` });
  const ready = await eventually(async (): Promise<any[] | false> => {
    const list = await pods('app=web');
    return list.length === 2 && list.every(isReady) ? list : false;
  }, 60_000, 250) as any[];
  const addresses = ready.map((p) => p.status.podIP as string);
  t.true(addresses.every(inPodRange), addresses.join(', '));
  t.not(addresses[0], addresses[1]);
  for (const pod of ready) {
    t.is(pod.spec.nodeName, node.name);
    t.is(pod.status.hostIP, node.address);
    const reply = await httpGet(pod.status.podIP, 8080);
    t.is(reply.status, 200);
    t.deepEqual(JSON.parse(reply.body), {
      pod: pod.metadata.name, namespace: 'demo', node: node.name, greeting: 'hello from a secret', local: pod.status.podIP,
    });
  }
  // The real EndpointSlice controller sees them ready.
  const endpoints = await eventually(async () => {
    const slices = await cluster.must<{ items: any[] }>('GET', '/apis/discovery.k8s.io/v1/namespaces/demo/endpointslices', undefined, { query: { labelSelector: 'kubernetes.io/service-name=web' } });
    const ready = slices.items.flatMap((s) => s.endpoints ?? []).filter((e: any) => e.conditions?.ready).flatMap((e: any) => e.addresses);
    return ready.length === 2 ? ready.sort() : undefined;
  }, 30_000, 250);
  t.deepEqual(endpoints, [...addresses].sort());
});

test.serial('deleting a pod ends its process after SIGTERM; the ReplicaSet replaces it', async (t) => {
  t.timeout(120_000);
  const [victim] = await pods('app=web');
  const running = node.pod('demo', victim.metadata.name);
  t.truthy(running);
  const [pid] = running!.pids;
  t.true(alive(pid!));
  await cluster.must('DELETE', `/api/v1/namespaces/demo/pods/${victim.metadata.name}`);
  await eventually(async () => (await cluster.api('GET', `/api/v1/namespaces/demo/pods/${victim.metadata.name}`)).status === 404, 60_000, 250);
  t.false(alive(pid!), 'the process is gone once the pod object is');
  t.is(node.pod('demo', victim.metadata.name), undefined);
  const replaced = await eventually(async (): Promise<any[] | false> => {
    const list = await pods('app=web');
    return list.length === 2 && list.every(isReady) && !list.some((p) => p.metadata.name === victim.metadata.name) ? list : false;
  }, 60_000, 250) as any[];
  t.is(replaced.length, 2);
});

test.serial('a container that ignores SIGTERM is killed when the grace period is over', async (t) => {
  t.timeout(60_000);
  await cluster.apply({ yaml: `
apiVersion: v1
kind: Pod
metadata: { name: stubborn, namespace: demo, labels: { app: stubborn } }
spec:
  terminationGracePeriodSeconds: 2
  containers:
    - name: app
      image: switchyard.test/echo:1
      env: [{ name: IGNORE_SIGTERM, value: "1" }]
` });
  const pod = await eventually(async () => (await pods('app=stubborn')).find(isReady), 30_000, 250);
  const [pid] = node.pod('demo', pod.metadata.name)!.pids;
  await eventually(() => node.podLog('demo', 'stubborn').includes('listening'), 10_000);
  await cluster.must('DELETE', '/api/v1/namespaces/demo/pods/stubborn');
  await eventually(async () => (await cluster.api('GET', '/api/v1/namespaces/demo/pods/stubborn')).status === 404, 30_000, 250);
  t.false(alive(pid!));
});

test.serial('a failing readiness probe keeps the pod NotReady until it passes', async (t) => {
  t.timeout(90_000);
  await cluster.apply({ yaml: `
apiVersion: v1
kind: Pod
metadata: { name: picky, namespace: demo, labels: { app: picky } }
spec:
  containers:
    - name: app
      image: switchyard.test/echo:1
      env: [{ name: READY_FILE, value: /scratch/ready }]
      readinessProbe: { httpGet: { path: /ready, port: 8080 }, periodSeconds: 1, failureThreshold: 1 }
      volumeMounts: [{ name: scratch, mountPath: /scratch }]
  volumes: [{ name: scratch, emptyDir: {} }]
` });
  // Three failed probes seen by the server itself, then the pod's status: still not Ready.
  await eventually(() => (node.podLog('demo', 'picky').match(/failing/g)?.length ?? 0) >= 3, 30_000, 100);
  const [pod] = await pods('app=picky');
  t.is(pod.status.phase, 'Running');
  t.true(inPodRange(pod.status.podIP));
  t.false(isReady(pod));
  t.is(pod.status.containerStatuses[0].ready, false);
  // The emptyDir is the directory the container's /scratch stands for.
  writeFileSync(path.join(node.pod('demo', 'picky')!.directory, 'volumes/scratch/ready'), '');
  await eventually(async () => isReady((await pods('app=picky'))[0]), 30_000, 250);
  t.pass();
});

test.serial('a host-network pod runs on the node address with an exec readiness probe', async (t) => {
  t.timeout(60_000);
  const port = await freePort();
  await cluster.apply({ yaml: `
apiVersion: v1
kind: Pod
metadata: { name: on-host, namespace: demo, labels: { app: on-host } }
spec:
  hostNetwork: true
  nodeSelector: { node-role.kubernetes.io/edge: "" }
  containers:
    - name: app
      image: switchyard.test/echo:1
      env:
        - { name: PORT, value: "${port}" }
        - { name: LISTEN_ADDRESS, value: "127.0.0.1" }
        - { name: POD_NAME, valueFrom: { fieldRef: { fieldPath: metadata.name } } }
      readinessProbe:
        exec:
          command:
            - node
            - -e
            - "if (process.env.POD_NAME !== 'on-host') process.exit(2); require('http').get('http://127.0.0.1:${port}/ready', (r) => process.exit(r.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1))"
        periodSeconds: 1
` });
  const pod = await eventually(async () => (await pods('app=on-host')).find(isReady), 30_000, 250);
  t.is(pod.status.podIP, node.address);
  const reply = await httpGet('127.0.0.1', port);
  t.is(JSON.parse(reply.body).pod, 'on-host');
  t.true(node.podLog('demo', 'on-host').includes('probe 1 ok'), 'the exec probe reached the server in the host namespace');
  await cluster.must('DELETE', '/api/v1/namespaces/demo/pods/on-host');
});

test.serial('a pod whose Secret is missing waits for it, then starts', async (t) => {
  t.timeout(60_000);
  await cluster.apply({ yaml: `
apiVersion: v1
kind: Pod
metadata: { name: patient, namespace: demo, labels: { app: patient } }
spec:
  containers:
    - name: app
      image: switchyard.test/echo:1
      env: [{ name: GREETING_FILE, value: /etc/late/text }]
      readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 }
      volumeMounts: [{ name: late, mountPath: /etc/late }]
  volumes: [{ name: late, secret: { secretName: late } }]
` });
  const waiting = await eventually(async () => {
    const [pod] = await pods('app=patient');
    return pod?.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CreateContainerConfigError' ? pod : undefined;
  }, 30_000, 250);
  t.regex(waiting.status.containerStatuses[0].state.waiting.message, /secret "late" not found/);
  t.false(isReady(waiting));
  await cluster.apply({ yaml: 'apiVersion: v1\nkind: Secret\nmetadata: { name: late, namespace: demo }\nstringData: { text: at last }\n' });
  const pod = await eventually(async () => (await pods('app=patient')).find(isReady), 30_000, 250);
  t.is(JSON.parse((await httpGet(pod.status.podIP, 8080)).body).greeting, 'at last');
});

test.serial('an image without a local stand-in is not run: the pod stays Pending and says why', async (t) => {
  await cluster.apply({ yaml: `
apiVersion: v1
kind: Pod
metadata: { name: unknown-image, namespace: demo, labels: { app: unknown-image } }
spec:
  containers: [{ name: app, image: registry.invalid/nothing:1 }]
` });
  const pod = await eventually(async () => {
    const [p] = await pods('app=unknown-image');
    return p?.status?.containerStatuses?.[0]?.state?.waiting?.message ? p : undefined;
  }, 30_000, 250);
  t.regex(pod.status.containerStatuses[0].state.waiting.message, /registry\.invalid\/nothing:1 has no local stand-in/);
  t.is(pod.status.phase, 'Pending');
  t.false(isReady(pod));
});

test('a pod\'s log is read through the API server: all of it, since a time, with timestamps, its last lines', async (t) => {
  t.timeout(90_000);
  await cluster.apply({ yaml: `
apiVersion: v1
kind: Pod
metadata: { name: talker, namespace: demo, labels: { app: talker } }
spec:
  terminationGracePeriodSeconds: 2
  containers:
    - name: app
      image: switchyard.test/echo:1
      ports: [{ name: http, containerPort: 8080 }]
      readinessProbe: { httpGet: { path: /ready, port: http }, periodSeconds: 1 }
` });
  await eventually(async () => (await pods('app=talker')).find(isReady), 30_000, 250);
  const log = (query: Record<string, string> = {}) => cluster.api<string>('GET', '/api/v1/namespaces/demo/pods/talker/log', undefined, { query: { container: 'app', ...query } });
  const all = await log();
  t.is(all.status, 200);
  t.regex(all.body, /^listening\nprobe 1 ok\n/);
  // The next whole second: 'listening' was written before it, the probes go on after it.
  const since = new Date(Math.ceil((Date.now() + 1) / 1000) * 1000);
  const sinceTime = since.toISOString().replace(/\.\d+Z$/, 'Z');
  const later = await eventually(async () => {
    const r = await log({ sinceTime, timestamps: 'true' });
    return r.status === 200 && r.body.split('\n').filter(Boolean).length >= 2 ? r.body : false;
  }, 20_000, 250) as string;
  const lines = later.split('\n').filter(Boolean);
  for (const line of lines) {
    const [time, ...text] = line.split(' ');
    t.true(new Date(time!).getTime() >= since.getTime(), `${line} is not before ${sinceTime}`);
    t.regex(text.join(' '), /^probe \d+ ok$/);
  }
  const tail = await log({ tailLines: '1' });
  t.is(tail.body.split('\n').filter(Boolean).length, 1);
  t.regex(tail.body, /^probe \d+ ok\n$/);
  // kubectl logs goes the same way.
  const kubectl = await cluster.kubectl(['logs', '-n', 'demo', 'talker', '--tail', '1']);
  t.is(kubectl.code, 0, kubectl.stderr);
  t.regex(kubectl.stdout, /^probe \d+ ok\n$/);
  // A container the pod does not have: the API server refuses it before asking the node.
  t.is((await log({ container: 'nope' })).status, 400);
});
