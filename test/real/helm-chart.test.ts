// The Helm chart (charts/switchyard) against a real control plane: every documented variant,
// rendered by a real Helm (v4, test/tools/helm), passes `kubectl apply --server-side
// --validate=strict --dry-run=server`; then `helm install` with the default values, and the
// router it deploys runs for real: the DaemonSet controller makes its pod, the test node
// (test/k8s/node) runs it on the node's network as this checkout's CLI with the chart's
// ServiceAccount token, its exec probes pass over the admin socket, it proxies to a backend pod,
// and it writes Route status — with the chart's RBAC equal to manifests/ and no request of the
// router refused (the API server's audit log).

import test from 'ava';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as yaml from 'js-yaml';
import { eventually, request } from '../support/http-client.ts';
import { requireTool } from '../support/go-tools.ts';
import { freePort } from '../support/ports.ts';
import { kubectlKustomize, startRealCluster, type RealCluster } from '../support/real-apiserver.ts';
import { DEFAULT_IMAGES } from '../k8s/node/images.ts';
import { startNode, type TestNode } from '../k8s/node/node.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const CHART = path.join(REPO, 'charts/switchyard');
const HELM = requireTool('helm');
const PROMETHEUS_OPERATOR_CRDS = ['podmonitors', 'prometheusrules'].map((plural) => requireTool('prometheus-operator-crds', `monitoring.coreos.com_${plural}.yaml`));
const ROUTER_USER = 'system:serviceaccount:switchyard:switchyard-router';

// The backend pods' program: a small HTTP server naming its pod.
const ECHO = `
const http = require('node:http');
const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end('pod ' + process.env.POD_NAME + ' ' + req.headers.host + ' ' + req.url);
});
server.listen(8080, '0.0.0.0');
process.on('SIGTERM', () => { server.close(); process.exit(0); });
`;
const IMAGES = [
  { image: 'switchyard.test/echo', entrypoint: () => [process.execPath, '-e', ECHO] },
  ...DEFAULT_IMAGES,
];

let cluster: RealCluster;
let node: TestNode | undefined;
const nodeLog: string[] = [];

test.before(async (t) => {
  t.timeout(240_000);
  cluster = await startRealCluster({ workloadControllers: true, auditUsers: [ROUTER_USER] });
  // The namespace as the chart's README says to make it: Pod Security privileged (hostNetwork).
  await cluster.apply({ yaml: `
apiVersion: v1
kind: Namespace
metadata:
  name: switchyard
  labels: { pod-security.kubernetes.io/enforce: privileged, pod-security.kubernetes.io/warn: privileged }
` });
});
test.after.always(async () => {
  await node?.stop();
  await cluster?.stop();
});

function run(command: string, args: string[], input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, HELM_CACHE_HOME: path.join(tmpdir(), 'switchyard-helm-cache'), HELM_CONFIG_HOME: path.join(tmpdir(), 'switchyard-helm-config'), HELM_DATA_HOME: path.join(tmpdir(), 'switchyard-helm-data') },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c; });
    child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

const helm = (args: string[]) => run(HELM, ['--kubeconfig', cluster.adminKubeconfig, ...args]);

async function template(variant?: string): Promise<string> {
  const r = await helm(['template', 'switchyard', CHART, '--namespace', 'switchyard', '--include-crds', ...(variant ? ['--values', path.join(CHART, 'ci', variant)] : [])]);
  if (r.code !== 0) throw new Error(`helm template ${variant ?? ''}: ${r.stderr}`);
  return r.stdout;
}

test.serial('helm template of the default values and of every variant passes kubectl apply --server-side --validate=strict --dry-run=server', async (t) => {
  // The monitoring variant's kinds come from the Prometheus Operator's own CRDs (pinned release).
  await cluster.apply({ files: PROMETHEUS_OPERATOR_CRDS });
  await cluster.waitEstablished('podmonitors.monitoring.coreos.com', 'prometheusrules.monitoring.coreos.com');
  for (const variant of [undefined, 'openshift-values.yaml', 'shard-b-values.yaml', 'tcp-migrate-req-values.yaml', 'monitoring-values.yaml']) {
    const rendered = await template(variant);
    const objects = (yaml.loadAll(rendered) as unknown[]).filter((o) => o !== null);
    const r = await cluster.kubectl(['apply', '--server-side', '--validate=strict', '--dry-run=server', '--field-manager=helm-chart-test', '-f', '-'], { input: rendered });
    t.is(r.code, 0, `${variant ?? 'defaults'}: ${r.stderr}`);
    t.is(r.stdout.trim().split('\n').filter((l) => /serverside-applied \(server dry run\)$/.test(l)).length, objects.length, `${variant ?? 'defaults'}: every object\n${r.stdout}`);
  }
});

test.serial('helm install: the chart\'s router runs on the node under the chart\'s RBAC, serves a Route, writes its status, and nothing it asks is refused', async (t) => {
  t.timeout(600_000);
  const [http, https, admin] = [await freePort(), await freePort(), await freePort()];
  node = await startNode({ kubeconfig: cluster.adminKubeconfig, images: IMAGES, labels: { 'node-role.kubernetes.io/edge': '' }, log: (line) => nodeLog.push(line) });
  await cluster.kubectl(['-n', 'switchyard', 'create', 'secret', 'generic', 'switchyard-stats', '--from-literal=username=stats', '--from-literal=password=chart-test']);
  const install = await helm([
    'install', 'switchyard', CHART, '--namespace', 'switchyard',
    // Ports of the test's own, on the loopback address only (the node's address is 127.0.0.1).
    '--set', `ports.http=${http}`, '--set', `ports.https=${https}`, '--set', `ports.admin=${admin}`,
    '--set', 'router.extraEnv[0].name=ROUTER_BIND_ADDRESS', '--set', 'router.extraEnv[0].value=127.0.0.1',
    // One process: the machine is shared (ROUTER_THREADS 2 is exercised by test/e2e/workers.test.ts).
    '--set', 'router.threads=0',
    '--set', 'router.canonicalHostname=router.chart.test',
  ]);
  t.is(install.code, 0, install.stderr);
  t.regex(install.stdout, /STATUS: deployed/);

  // The RBAC Helm installed is manifests/'s, rule for rule.
  const manifests = kubectlKustomize(path.join(REPO, 'manifests'));
  for (const [kind, resource] of [['ClusterRole', '/apis/rbac.authorization.k8s.io/v1/clusterroles/switchyard-router'], ['Role', '/apis/rbac.authorization.k8s.io/v1/namespaces/switchyard/roles/switchyard-router-leader-election']] as const) {
    const installed = await cluster.must<{ rules: unknown[] }>('GET', resource);
    const expected = manifests.find((o) => o.kind === kind && o.metadata.name === resource.split('/').at(-1))!;
    t.deepEqual(installed.rules, expected.rules, kind);
  }

  // An application: a Deployment of the echo program, its Service, and a Route to it.
  await cluster.apply({ yaml: `
apiVersion: v1
kind: Namespace
metadata: { name: shop }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: shop }
spec:
  replicas: 1
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      containers:
        - name: web
          image: switchyard.test/echo:1
          ports: [{ name: http, containerPort: 8080 }]
          env: [{ name: POD_NAME, valueFrom: { fieldRef: { fieldPath: metadata.name } } }]
          readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec:
  selector: { app: web }
  ports: [{ name: http, port: 80, targetPort: http }]
---
apiVersion: route.openshift.io/v1
kind: Route
metadata: { name: web, namespace: shop }
spec:
  host: shop.chart.test
  to: { kind: Service, name: web }
  port: { targetPort: http }
` });

  // The DaemonSet's pod comes up ready: its startup and readiness probes (exec, over the admin socket) pass.
  const routerPod = await eventually(async () => {
    const pods = await cluster.must<{ items: any[] }>('GET', '/api/v1/namespaces/switchyard/pods', undefined, { query: { labelSelector: 'app.kubernetes.io/name=switchyard' } });
    const ready = pods.items.find((p) => p.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'));
    if (!ready) {
      const ds = await cluster.api('GET', '/apis/apps/v1/namespaces/switchyard/daemonsets/switchyard-router');
      const events = await cluster.api<{ items: any[] }>('GET', '/api/v1/namespaces/switchyard/events');
      throw new Error(`router pod not ready: ${JSON.stringify(pods.items.map((p) => p.status))}\n${pods.items.map((p) => node!.podLog('switchyard', p.metadata.name).slice(-3000)).join('\n')}\nDaemonSet status: ${JSON.stringify(ds.body.status)}\nevents: ${JSON.stringify(events.body.items?.map((e) => `${e.reason}: ${e.message}`))}\nnode: ${nodeLog.slice(-20).join('\n')}`);
    }
    return ready;
  }, 240_000, 500);
  t.is(routerPod.spec.serviceAccountName, 'switchyard-router');
  t.true(routerPod.spec.hostNetwork);
  t.is(routerPod.status.podIP, node.address);

  // Traffic through the router's HTTP port on the node to the backend pod.
  const reply = await eventually(async () => {
    const r = await request(http, { host: 'shop.chart.test', path: '/hello' });
    if (r.status !== 200) throw new Error(`status ${r.status}: ${r.body}`);
    return r;
  }, 60_000, 250);
  t.regex(reply.body, /^pod web-[a-z0-9-]+ shop\.chart\.test \/hello$/);

  // The router's status entry, written with its own token.
  const status = await eventually(async () => {
    const route = await cluster.must<any>('GET', '/apis/route.openshift.io/v1/namespaces/shop/routes/web');
    const entry = route.status?.ingress?.find((i: any) => i.routerName === 'default');
    if (!entry?.conditions?.some((c: any) => c.type === 'Admitted' && c.status === 'True')) throw new Error(`no Admitted entry yet: ${JSON.stringify(route.status)}`);
    return entry;
  }, 60_000, 250);
  t.is(status.routerCanonicalHostname, 'router.chart.test');

  // Nothing the router asked for was refused.
  const events = cluster.auditEvents().filter((e) => e.user.username === ROUTER_USER);
  t.true(events.some((e) => e.objectRef?.resource === 'routes' && e.objectRef.subresource === 'status' && e.verb === 'patch'), 'the router wrote Route status');
  const refused = events.filter((e) => e.responseStatus?.code === 403);
  t.deepEqual(refused.map((e) => `${e.verb} ${e.requestURI}`), []);

  const uninstall = await helm(['uninstall', 'switchyard', '--namespace', 'switchyard', '--wait']);
  t.is(uninstall.code, 0, uninstall.stderr);
  // The Route CRD stays (helm.sh/resource-policy: keep): the cluster's Routes are not deleted with the chart.
  t.is((await cluster.api('GET', '/apis/route.openshift.io/v1/namespaces/shop/routes/web')).status, 200);
});

test.serial('helm install into a namespace without Pod Security "privileged" warns, naming the command that fixes it', async (t) => {
  await cluster.apply({ yaml: 'apiVersion: v1\nkind: Namespace\nmetadata: { name: plain, labels: { pod-security.kubernetes.io/enforce: baseline } }\n' });
  const r = await helm(['install', 'switchyard-plain', CHART, '--namespace', 'plain', '--dry-run=server', '--set', 'rbac.create=false', '--set', 'routeAPI.install=false']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /WARNING: namespace plain is not labelled pod-security\.kubernetes\.io\/enforce=privileged\s+\(it enforces "baseline"\)/);
  t.regex(r.stdout, /kubectl label namespace plain pod-security\.kubernetes\.io\/enforce=privileged --overwrite/);
  const labelled = await helm(['install', 'switchyard-ok', CHART, '--namespace', 'switchyard', '--dry-run=server', '--set', 'rbac.create=false', '--set', 'routeAPI.install=false', '--set', 'serviceAccount.create=false']);
  t.is(labelled.code, 0, labelled.stderr);
  t.notRegex(labelled.stdout, /WARNING: namespace/);
});
