// Reporting the picked ports on the pod, against the fake API server (real HTTP, real
// @kubernetes/client-node): merge patch of annotations and label, retries, failing the start.

import test from 'ava';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { FakeApiServer } from '../support/fake-apiserver.ts';
import { AUTOPORT_LABEL, openReportClient, podPortsPatch, reportPortsToPod } from '../../src/autoport/pod-reporter.ts';
import { KubeClient } from '../../src/kube/client.ts';
import { PodReportError } from '../../src/autoport/autoport-errors.ts';
import { freeBlock, listenOn } from '../support/ports.ts';

const MAIN = fileURLToPath(new URL('../../src/autoport/main.ts', import.meta.url));

interface PodLike { metadata: { name: string; namespace: string; labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: unknown }

function pod(name: string, namespace = 'shop'): PodLike & { apiVersion: string; kind: string } {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace, labels: { app: 'web' }, annotations: { 'team.example.com/owner': 'payments' } },
    spec: { hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet', containers: [{ name: 'web', image: 'web:1' }] },
  };
}

async function startApi(t: { teardown(fn: () => Promise<void>): void }): Promise<FakeApiServer> {
  const api = await FakeApiServer.start();
  t.teardown(() => api.close());
  return api;
}

function clientFor(api: { kubeconfigPath: string }): KubeClient {
  const kc = new KubeConfig();
  kc.loadFromFile(api.kubeconfigPath);
  return new KubeClient(kc);
}

/** An "API server" that answers every request with 500, counting them. */
async function startFailingServer(t: { teardown(fn: () => Promise<void>): void }): Promise<{ kubeconfigPath: string; requests: () => number }> {
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests++;
    req.resume();
    res.writeHead(500, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'etcd is having a bad day', reason: 'InternalError', code: 500 }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'autoport-500-'));
  const kubeconfigPath = path.join(dir, 'kubeconfig');
  const port = (server.address() as net.AddressInfo).port;
  await fs.writeFile(kubeconfigPath, [
    'apiVersion: v1', 'kind: Config',
    'clusters:', '- name: broken', '  cluster:', `    server: http://127.0.0.1:${port}`, '    insecure-skip-tls-verify: true',
    'users:', '- name: u', '  user:', '    token: t',
    'contexts:', '- name: c', '  context:', '    cluster: broken', '    user: u',
    'current-context: c', '',
  ].join('\n'));
  t.teardown(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await fs.rm(dir, { recursive: true, force: true });
  });
  return { kubeconfigPath, requests: () => requests };
}



/** Runs `switchyard autoport` to completion; the command writes its AUTO_PORTs into `marker`. */
async function runToExit(t: { teardown(fn: () => void): void }, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [MAIN, ...args], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c))); // after stderr is drained
  clearTimeout(timer);
  return { code, stderr };
}

test('the patch body carries only the annotations and the label', (t) => {
  t.deepEqual(podPortsPatch([20001, 20002]), {
    metadata: { annotations: { AUTO_PORT0: '20001', AUTO_PORT1: '20002' }, labels: { [AUTOPORT_LABEL]: 'true' } },
  });
});

test('reportPortsToPod merge-patches annotations and label, keeping what the pod had', async (t) => {
  const api = await startApi(t);
  api.create(pod('web-1'));
  await reportPortsToPod(clientFor(api), { podName: 'web-1', podNamespace: 'shop', kubeconfig: api.kubeconfigPath }, [20017, 20442], { timeoutMs: 5000 });
  const stored = api.get<PodLike>({ kind: 'Pod', namespace: 'shop', name: 'web-1' })!;
  t.deepEqual(stored.metadata.annotations, { 'team.example.com/owner': 'payments', AUTO_PORT0: '20017', AUTO_PORT1: '20442' });
  t.deepEqual(stored.metadata.labels, { app: 'web', 'switchyard.io/autoport': 'true' });
  t.is(api.writes({ kind: 'Pod', namespace: 'shop', name: 'web-1' }), 1);
});

test('a pod that is not there yet is retried until it appears', async (t) => {
  const api = await startApi(t);
  const retries: string[] = [];
  await reportPortsToPod(clientFor(api), { podName: 'late', podNamespace: 'shop', kubeconfig: '' }, [20005], {
    timeoutMs: 20_000, initialBackoffMs: 50, maxBackoffMs: 200,
    onRetry: (attempt, error) => {
      retries.push(error.message);
      if (attempt === 2) api.create(pod('late'));
    },
  });
  t.is(retries.length, 2);
  t.regex(retries[0]!, /HTTP 404/);
  t.is(api.get<PodLike>({ kind: 'Pod', namespace: 'shop', name: 'late' })!.metadata.annotations?.AUTO_PORT0, '20005');
});

test('an API server that keeps failing is retried with backoff, then the report fails naming the pod and cause', async (t) => {
  const failing = await startFailingServer(t);
  const delays: number[] = [];
  const err = await t.throwsAsync(
    reportPortsToPod(clientFor(failing), { podName: 'web-1', podNamespace: 'shop', kubeconfig: failing.kubeconfigPath }, [20001], {
      timeoutMs: 1000, initialBackoffMs: 50, maxBackoffMs: 400, onRetry: (_a, _e, delayMs) => delays.push(delayMs),
    }),
    { instanceOf: PodReportError },
  );
  t.regex(err!.message, /cannot annotate pod shop\/web-1 with its ports after \d+ attempts: HTTP 500: etcd is having a bad day/);
  t.true(failing.requests() >= 3, `requests: ${failing.requests()}`);
  t.is(failing.requests(), delays.length + 1);
  t.true(delays[1]! > delays[0]!, `backoff grows: ${delays.join(',')}`);
});

test('no KUBECONFIG outside a cluster is a clear error', (t) => {
  const target = { podName: 'web-1', podNamespace: 'shop' };
  t.throws(() => openReportClient({ ...target, kubeconfig: '' }, {}), { instanceOf: PodReportError, message: /^cannot report ports: no kubeconfig given .* not running in a cluster .*--no-report/ });
  t.throws(() => openReportClient({ ...target, kubeconfig: '/nonexistent/kubeconfig' }, {}), { instanceOf: PodReportError, message: /kubeconfig not found: \/nonexistent\/kubeconfig/ });
});

test('the command annotates its pod before starting the app, whose env holds the same ports', async (t) => {
  const api = await startApi(t);
  api.create(pod('web-7'));
  const base = await freeBlock(4);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'autoport-int-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const marker = path.join(dir, 'marker');
  const { code, stderr } = await runToExit(t,
    ['--count', '2', '--range', `${base}-${base + 4}`, '--bind-host', '127.0.0.1', '--', 'sh', '-c', `echo "$AUTO_PORT0 $AUTO_PORT1" > ${marker}`],
    { KUBECONFIG: api.kubeconfigPath, POD_NAME: 'web-7', POD_NAMESPACE: 'shop' });
  t.is(code, 0, stderr);
  const [p0, p1] = (await fs.readFile(marker, 'utf8')).trim().split(' ');
  const stored = api.get<PodLike>({ kind: 'Pod', namespace: 'shop', name: 'web-7' })!;
  t.is(stored.metadata.annotations?.AUTO_PORT0, p0);
  t.is(stored.metadata.annotations?.AUTO_PORT1, p1);
  t.is(stored.metadata.labels?.['switchyard.io/autoport'], 'true');
  t.regex(stderr, /annotated pod with its ports/);
});

test('a report that keeps failing fails the start: exit 1, the app never runs, ports are released', async (t) => {
  const failing = await startFailingServer(t);
  const base = await freeBlock(2);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'autoport-int-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const marker = path.join(dir, 'marker');
  const { code, stderr } = await runToExit(t,
    ['--range', `${base}-${base + 2}`, '--bind-host', '127.0.0.1', '--report-timeout', '1500ms', '--', 'sh', '-c', `touch ${marker}`],
    { KUBECONFIG: failing.kubeconfigPath, POD_NAME: 'web-1', POD_NAMESPACE: 'shop' });
  t.is(code, 1);
  t.true(failing.requests() >= 2, `requests: ${failing.requests()}`);
  t.regex(stderr, /retrying/);
  t.regex(stderr, /cannot annotate pod shop\/web-1/);
  await t.throwsAsync(fs.access(marker), undefined, 'the app must not start');
  for (const p of [base, base + 1]) {
    const s = await listenOn(p);
    t.not(s, null, `port ${p} released`);
    await new Promise((r) => s?.close(r));
  }
});

test('missing POD_NAME with reporting on: exit 2 naming it', async (t) => {
  const { code, stderr } = await runToExit(t, ['--', 'true'], { POD_NAMESPACE: 'shop' });
  t.is(code, 2);
  t.regex(stderr, /^switchyard autoport: POD_NAME: not set/);
});
