// The router in front of autoport pods: it proxies to podIP:<pod annotation> (Route annotation
// switchyard.io/target-port-annotation: AUTO_PORT0), skips pods without it, and a real app
// started by `switchyard autoport` — which annotates its pod through the fake API server — is
// reachable through the router. All pods share 127.0.0.1, as host-network pods share a node IP.

import test from 'ava';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FakeApiServer } from '../support/fake-apiserver.ts';
import { startBackend, type Backend } from '../support/backends.ts';
import { eventually, request } from '../support/http-client.ts';
import { CLI, startRouter, writeTempFile } from '../support/router-process.ts';
import { freeBlock } from '../support/ports.ts';

const ANNOTATION = { 'switchyard.io/target-port-annotation': 'AUTO_PORT0', 'haproxy.router.openshift.io/balance': 'roundrobin' };

function pod(name: string, annotations: Record<string, string>) {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { namespace: 'default', name, labels: { app: 'auto', 'switchyard.io/autoport': 'true' }, annotations },
    spec: { hostNetwork: true, containers: [{ name: 'app', image: 'app:1' }] },
    status: { podIP: '127.0.0.1' },
  };
}

function service(name: string) {
  return { apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'default', name }, spec: { clusterIP: 'None', selector: { app: 'auto' } } };
}

/** The slice the EndpointSlice controller would write for host-network pods: one address, many pods. */
function slice(serviceName: string, pods: string[]) {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { namespace: 'default', name: `${serviceName}-x1`, labels: { 'kubernetes.io/service-name': serviceName } },
    addressType: 'IPv4',
    endpoints: pods.map((name) => ({ addresses: ['127.0.0.1'], conditions: { ready: true }, targetRef: { kind: 'Pod', namespace: 'default', name } })),
  };
}

function route(name: string, host: string, serviceName: string) {
  return {
    apiVersion: 'route.openshift.io/v1', kind: 'Route',
    metadata: { namespace: 'default', name, annotations: ANNOTATION },
    spec: { host, to: { kind: 'Service', name: serviceName } },
  };
}

const toYaml = (objects: object[]): string => objects.map((o) => JSON.stringify(o)).join('\n---\n');

test('file source: three pods on one IP with different AUTO_PORT0 all get traffic; a pod without it is skipped', async (t) => {
  const backends: Backend[] = await Promise.all(['a', 'b', 'c'].map((n) => startBackend(n)));
  t.teardown(() => Promise.all(backends.map((b) => b.close())));
  const file = writeTempFile(toYaml([
    service('auto'),
    slice('auto', ['pod-a', 'pod-b', 'pod-c', 'pod-unreported']),
    ...backends.map((b) => pod(`pod-${b.name}`, { AUTO_PORT0: String(b.port) })),
    pod('pod-unreported', {}),
    route('auto', 'auto.apps.example.com', 'auto'),
  ]));
  const router = await startRouter({ args: ['--file', file] });
  t.teardown(() => router.stop());

  const seen = new Map<string, number>();
  for (let i = 0; i < 12; i++) {
    const reply = await request(router.http, { host: 'auto.apps.example.com', path: '/' });
    t.is(reply.status, 200, `request ${i}: ${reply.body}`);
    const name = String(reply.headers['x-backend']);
    seen.set(name, (seen.get(name) ?? 0) + 1);
  }
  // round robin over exactly the three annotated pods: 4 each, nothing sent to the unreported one
  t.deepEqual(Object.fromEntries(seen), { a: 4, b: 4, c: 4 });
});

/** An app like a real one: serves on $AUTO_PORT0 (127.0.0.1), its port in the rendered config. */
const APP = `
import http from 'node:http';
import { readFileSync } from 'node:fs';
const conf = readFileSync('app.conf', 'utf8');
const port = Number(/listen (\\d+)/.exec(conf)[1]);
const server = http.createServer((req, res) => { res.setHeader('x-app-port', String(port)); res.end('hello from ' + process.env.POD_NAME); });
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => { server.close(); process.exit(0); });
`;



test('a real app started by `switchyard autoport` annotates its pod and is reachable through the router', async (t) => {
  const api = await FakeApiServer.start();
  t.teardown(() => api.close());
  api.create(service('web'));
  api.create(slice('web', ['web-0']));
  // The pod exists before its ports are known: no annotation, no autoport label yet.
  api.create({ ...pod('web-0', {}), metadata: { namespace: 'default', name: 'web-0', labels: { app: 'auto' } } });
  api.create(route('web', 'web.apps.example.com', 'web'));
  const router = await startRouter({ args: ['--kubeconfig', api.kubeconfigPath, '--update-status=false', '--watch-timeout', '30s'] });
  t.teardown(() => router.stop());
  // not reported yet: nothing to route to
  t.not((await request(router.http, { host: 'web.apps.example.com', path: '/' })).status, 200);

  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'autoport-route-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  await fs.writeFile(path.join(dir, 'app.mjs'), APP);
  await fs.writeFile(path.join(dir, 'app.conf.tmpl'), 'listen ${AUTO_PORT0}\n');
  const base = await freeBlock(5);
  const app = spawn(process.execPath, [CLI, 'autoport', '--range', `${base}-${base + 5}`, '--bind-host', '127.0.0.1', '--template', 'app.conf.tmpl:app.conf', '--', process.execPath, 'app.mjs'], {
    cwd: dir,
    env: { PATH: process.env.PATH, KUBECONFIG: api.kubeconfigPath, POD_NAME: 'web-0', POD_NAMESPACE: 'default' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  app.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
  const exited = new Promise<number | null>((resolve) => app.once('exit', (code) => resolve(code)));
  t.teardown(() => { if (app.exitCode === null && app.signalCode === null) app.kill('SIGKILL'); });

  const annotated = await eventually(() => api.get<any>({ kind: 'Pod', namespace: 'default', name: 'web-0' })?.metadata?.annotations?.AUTO_PORT0, 15_000, 50);
  const port = Number(annotated);
  t.true(port >= base && port < base + 5, `${annotated}`);
  t.is(api.get<any>({ kind: 'Pod', namespace: 'default', name: 'web-0' }).metadata.labels['switchyard.io/autoport'], 'true');

  const reply = await eventually(async () => {
    const r = await request(router.http, { host: 'web.apps.example.com', path: '/' });
    return r.status === 200 ? r : undefined;
  }, 15_000, 100);
  t.is(reply!.body, 'hello from web-0', stderr);
  t.is(reply!.headers['x-app-port'], String(port));

  app.kill('SIGTERM');
  t.is(await exited, 0);
});
