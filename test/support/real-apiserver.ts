// A real Kubernetes control plane for tests, the way controller-runtime's envtest starts one: etcd
// and kube-apiserver on free loopback ports with RBAC authorization and per-run keys, and
// kube-controller-manager running the EndpointSlice, service-account(-token), garbage-collector
// and ClusterRole-aggregation controllers (with `workloadControllers`, also deployment,
// replicaset, daemonset and namespace). No kubelet and no scheduler: tests either create Pods with
// spec.nodeName and set their status themselves (see createPod), standing in for the kubelet, or
// start the test node (test/k8s/node/node.ts), which binds Pods and runs them as processes.
// The API server refuses loopback addresses in EndpointSlices: pods that only the router's table
// needs get IPs from 198.51.100.0/24 (TEST-NET-2), never connected to; pods that traffic must
// reach get addresses in a network namespace of the test's own (test/support/netns-hosts.ts).
//
// The binaries come from test/k8s/build-binaries.sh (cached under ~/.cache/switchyard, keyed by
// the versions pinned in test/k8s/tools/go.mod). One cluster per test file: start it in
// test.before, stop it in test.after.always; every process is also killed if the worker exits.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as yaml from 'js-yaml';
import { Agent, fetch } from 'undici';
import { freePort } from './ports.ts';
import { createClusterPki, kubeconfigYaml, type ClusterPki } from './real-apiserver-pki.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const TOOLS_GO_MOD = path.join(REPO, 'test/k8s/tools/go.mod');
/** User agent of the requests the harness makes (api(), must(), can()). */
export const TEST_USER_AGENT = 'switchyard-real-apiserver-test';
export const BINARIES = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kubectl'] as const;

/** Where build-binaries.sh caches the binaries for the versions go.mod pins (SWITCHYARD_K8S_BIN overrides). */
export function binaryDir(): string {
  if (process.env['SWITCHYARD_K8S_BIN']) return process.env['SWITCHYARD_K8S_BIN'];
  const goMod = readFileSync(TOOLS_GO_MOD, 'utf8');
  const version = (module: string) => {
    const line = goMod.split('\n').map((l) => l.replace(/^require\s+/, '').trim().split(/\s+/))
      .find((f) => f[0] === module && /^v/.test(f[1] ?? ''));
    if (!line) throw new Error(`${TOOLS_GO_MOD} pins no version of ${module}`);
    return line[1]!;
  };
  const root = process.env['SWITCHYARD_K8S_CACHE'] || path.join(homedir(), '.cache/switchyard');
  return path.join(root, `k8s-${version('k8s.io/kubernetes')}-etcd-${version('go.etcd.io/etcd/server/v3')}`);
}

/** Throws one line saying what is missing and how to get it; never a silent skip. */
export function requireBinaries(): string {
  const dir = binaryDir();
  const missing = BINARIES.filter((b) => !existsSync(path.join(dir, b)));
  if (missing.length > 0) {
    throw new Error(`real-apiserver suite: ${missing.join(', ')} missing in ${dir}; run \`bash test/k8s/build-binaries.sh\` (needs Go; .ci/run does it)`);
  }
  return dir;
}

/** Any Kubernetes object as YAML gives it. */
export type Manifest = Record<string, any> & { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } };

/** `kubectl kustomize <dir>` with the suite's kubectl (no cluster needed): the objects it builds. */
export function kubectlKustomize(dir: string): Manifest[] {
  const kubectl = path.join(requireBinaries(), 'kubectl');
  const r = spawnSync(kubectl, ['kustomize', dir], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`kubectl kustomize ${dir}: ${r.stderr || r.error?.message}`);
  return (yaml.loadAll(r.stdout) as Manifest[]).filter((d) => d !== null);
}

export interface ApiReply<T = any> { status: number; body: T }

export interface PodSpec {
  namespace: string;
  name: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** status.podIP; undefined leaves the pod Pending with no IP */
  ip?: string;
  ready?: boolean;
  hostNetwork?: boolean;
}

export interface RealCluster {
  /** https://127.0.0.1:<port> */
  server: string;
  dir: string;
  caCert: string;
  /** Kubeconfig of the admin (system:masters). */
  adminKubeconfig: string;
  /** What the test node's kubelet endpoint serves with (startNode({ kubeletTls })): kube-apiserver trusts it. */
  kubeletTls: { cert: string; key: string; ca: string };
  etcdUrl: string;
  /** A request as the admin, or with `token` as that identity. Never throws on a non-2xx status. */
  api<T = any>(method: string, apiPath: string, body?: unknown, options?: { token?: string; contentType?: string; query?: Record<string, string> }): Promise<ApiReply<T>>;
  /** Like api() but throws unless the status is 2xx. */
  must<T = any>(method: string, apiPath: string, body?: unknown, options?: { token?: string; contentType?: string; query?: Record<string, string> }): Promise<T>;
  /** Run kubectl (built with the server, test/k8s/build-binaries.sh) as the admin (or with another kubeconfig). */
  kubectl(args: string[], options?: { input?: string; kubeconfig?: string }): Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** `kubectl apply --server-side` of YAML text or files, as the admin; throws with kubectl's stderr. */
  apply(source: { yaml: string } | { files: string[] } | { kustomization: string }): Promise<string>;
  /** Wait until these CRDs (`<plural>.<group>`) are Established, i.e. their kinds are served. */
  waitEstablished(...crds: string[]): Promise<void>;
  /** A TokenRequest token for a ServiceAccount and a kubeconfig file that uses it. */
  serviceAccountKubeconfig(namespace: string, name: string): Promise<{ token: string; kubeconfig: string }>;
  /** May `token` do this? Asked with SelfSubjectAccessReview, as that identity. */
  can(token: string, attributes: { verb: string; group?: string; resource: string; subresource?: string; namespace?: string; name?: string }): Promise<boolean>;
  /** A Node object (no kubelet behind it) for spec.nodeName. */
  ensureNode(name: string): Promise<void>;
  /** Create a Pod bound to node `edge-1` and set its status as a kubelet would. */
  createPod(pod: PodSpec): Promise<void>;
  setPodReady(namespace: string, name: string, ready: boolean): Promise<void>;
  /** SIGKILL kube-apiserver; startApiServer brings it back on the same port. */
  killApiServer(): Promise<void>;
  startApiServer(): Promise<void>;
  /** etcd's current revision, and a compaction of every revision before `revision`. */
  etcdRevision(): Promise<number>;
  etcdCompact(revision: number): Promise<void>;
  etcdPut(key: string, value: string): Promise<void>;
  etcdDelete(key: string): Promise<void>;
  /** The audit log so far (startRealCluster's auditUsers). */
  auditEvents(): AuditEvent[];
  stop(): Promise<void>;
}

interface Managed { name: string; child: ChildProcess; exited: Promise<void>; log: string }

const running = new Set<ChildProcess>();
const killAll = () => { for (const child of running) child.kill('SIGKILL'); };
process.on('exit', killAll);
// A test worker stopped by a signal (a timed-out or interrupted run) runs no 'exit' handlers:
// take the control plane down too, then die of the signal as before.
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  process.once(signal, () => { killAll(); process.kill(process.pid, signal); });
}

function startProcess(name: string, binary: string, args: string[], logFile: string): Managed {
  const fd = openSync(logFile, 'a');
  const child = spawn(binary, args, { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  running.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => { running.delete(child); resolve(); }));
  return { name, child, exited, log: logFile };
}

async function stopProcess(p: Managed | undefined, signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill(signal);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
  await p.exited;
  clearTimeout(timer);
}

function tail(file: string, chars = 3000): string {
  try { return readFileSync(file, 'utf8').slice(-chars); } catch { return ''; }
}

async function waitUntil(what: string, p: Managed, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (p.child.exitCode !== null || p.child.signalCode !== null) {
      throw new Error(`${p.name} exited while waiting for ${what}:\n${tail(p.log)}`);
    }
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${tail(p.log)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export interface RealClusterOptions {
  /** Extra kube-apiserver flags. */
  apiServerArgs?: string[];
  /** Record every request of these users (audit level Metadata); read them with auditEvents(). */
  auditUsers?: string[];
  /**
   * Also run the controllers that turn workloads into Pods and clean up after them — deployment,
   * replicaset, daemonset, namespace (deleting a namespace's contents) — for tests that run Pods
   * on the test node (test/k8s/node/node.ts).
   */
  workloadControllers?: boolean;
}

/** One audit log entry (level Metadata): who asked for what, and the answer. */
export interface AuditEvent {
  verb: string;
  requestURI: string;
  user: { username: string };
  userAgent?: string;
  objectRef?: { resource?: string; subresource?: string; namespace?: string; name?: string; apiGroup?: string };
  responseStatus?: { code: number };
  stage: string;
}

export async function startRealCluster(options: RealClusterOptions = {}): Promise<RealCluster> {
  const bin = requireBinaries();
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-k8s-'));
  const pki: ClusterPki = createClusterPki(dir);
  const [etcdPort, etcdPeerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const etcdUrl = `http://127.0.0.1:${etcdPort}`;
  const server = `https://127.0.0.1:${apiPort}`;
  const adminKubeconfig = path.join(dir, 'admin.kubeconfig');
  writeFileSync(adminKubeconfig, kubeconfigYaml(server, pki.caCert, { cert: pki.adminCert, key: pki.adminKey }));
  const admin = new Agent({ connect: { ca: pki.caCert, cert: pki.adminCert, key: pki.adminKey }, keepAliveTimeout: 2_000 });
  const tokenAgent = new Agent({ connect: { ca: pki.caCert }, keepAliveTimeout: 2_000 });
  const processes: Managed[] = [];
  let apiServer: Managed | undefined;

  const etcd = startProcess('etcd', path.join(bin, 'etcd'), [
    '--name', 'test', '--data-dir', path.join(dir, 'etcd'),
    '--listen-client-urls', etcdUrl, '--advertise-client-urls', etcdUrl,
    '--listen-peer-urls', `http://127.0.0.1:${etcdPeerPort}`,
    '--initial-advertise-peer-urls', `http://127.0.0.1:${etcdPeerPort}`,
    '--initial-cluster', `test=http://127.0.0.1:${etcdPeerPort}`,
    // A test cluster's data is thrown away: no fsync, and no automatic compaction (tests compact).
    '--unsafe-no-fsync', '--log-level', 'warn',
  ], path.join(dir, 'etcd.log'));
  processes.push(etcd);

  const auditLog = path.join(dir, 'audit.log');
  const auditArgs: string[] = [];
  if (options.auditUsers?.length) {
    const policy = path.join(dir, 'audit-policy.yaml');
    writeFileSync(policy, `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    users: ${JSON.stringify(options.auditUsers)}
  - level: None
`);
    auditArgs.push('--audit-policy-file', policy, '--audit-log-path', auditLog, '--audit-log-mode', 'blocking');
  }
  const apiServerArgs = [
    '--etcd-servers', etcdUrl,
    '--bind-address', '127.0.0.1', '--advertise-address', '127.0.0.1', '--secure-port', String(apiPort),
    '--tls-cert-file', pki.serverCertFile, '--tls-private-key-file', pki.serverKeyFile,
    '--client-ca-file', pki.caCertFile,
    '--authorization-mode', 'RBAC',
    // As kubeadm and every managed cluster: privileged pods are a matter of admission policy
    // (Pod Security), not the API server's default refusal (false). The router needs none; the
    // opt-in manifests/components/tcp-migrate-req does (test/real/manifests.test.ts runs with false).
    '--allow-privileged=true',
    '--service-account-issuer', 'https://kubernetes.default.svc.cluster.local',
    '--service-account-key-file', pki.serviceAccountPubFile,
    '--service-account-signing-key-file', pki.serviceAccountKeyFile,
    '--service-cluster-ip-range', '10.96.0.0/24',
    // No kubelets: Pods are created by tests, which need no default ServiceAccount to exist first.
    '--disable-admission-plugins', 'ServiceAccount',
    // pods/log and the other node proxies go to the test node's kubelet endpoint
    // (test/k8s/node/kubelet-server.ts) at its InternalIP (its Hostname resolves nowhere), both
    // sides verified with the cluster's CA.
    '--kubelet-preferred-address-types', 'InternalIP',
    '--kubelet-certificate-authority', pki.caCertFile,
    '--kubelet-client-certificate', pki.kubeletClientCertFile, '--kubelet-client-key', pki.kubeletClientKeyFile,
    '--profiling=false', '--v', '1',
    ...auditArgs,
    ...(options.apiServerArgs ?? []),
  ];
  const stop = async () => {
    for (const p of [...processes].reverse()) await stopProcess(p);
    await admin.close();
    await tokenAgent.close();
    rmSync(dir, { recursive: true, force: true });
  };

  async function api<T>(method: string, apiPath: string, body?: unknown, opts: { token?: string; contentType?: string; query?: Record<string, string> } = {}): Promise<ApiReply<T>> {
    const url = new URL(server + apiPath);
    for (const [k, v] of Object.entries(opts.query ?? {})) url.searchParams.set(k, v);
    // The audit log tells the test's own calls from the router's by this user agent.
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': TEST_USER_AGENT };
    if (opts.token) headers['authorization'] = `Bearer ${opts.token}`;
    if (body !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
    const res = await fetch(url, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      dispatcher: opts.token ? tokenAgent : admin, signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try { parsed = JSON.parse(text); } catch { /* not JSON: keep the text */ }
    return { status: res.status, body: parsed as T };
  }
  async function must<T>(method: string, apiPath: string, body?: unknown, opts?: { token?: string; contentType?: string; query?: Record<string, string> }): Promise<T> {
    const reply = await api<T>(method, apiPath, body, opts);
    if (reply.status < 200 || reply.status > 299) {
      throw new Error(`${method} ${apiPath}: ${reply.status} ${JSON.stringify((reply.body as { message?: string })?.message ?? reply.body)}`);
    }
    return reply.body;
  }

  async function startApiServer(): Promise<void> {
    apiServer = startProcess('kube-apiserver', path.join(bin, 'kube-apiserver'), apiServerArgs, path.join(dir, 'kube-apiserver.log'));
    processes.splice(1, 0, apiServer);
    await waitUntil('kube-apiserver /readyz', apiServer, async () => (await api('GET', '/readyz')).status === 200, 120_000);
  }

  try {
    await waitUntil('etcd /health', etcd, async () => {
      const res = await fetch(`${etcdUrl}/health`, { signal: AbortSignal.timeout(2_000) });
      return res.ok && ((await res.json()) as { health?: string }).health === 'true';
    }, 60_000);
    await startApiServer();
    const kcm = startProcess('kube-controller-manager', path.join(bin, 'kube-controller-manager'), [
      '--kubeconfig', adminKubeconfig,
      '--controllers', [
        'endpointslice-controller', 'serviceaccount-controller', 'serviceaccount-token-controller',
        'garbage-collector-controller', 'clusterrole-aggregation-controller',
        ...(options.workloadControllers ? ['deployment-controller', 'replicaset-controller', 'daemonset-controller', 'namespace-controller'] : []),
      ].join(','),
      '--leader-elect=false', '--secure-port', '0',
      '--service-account-private-key-file', pki.serviceAccountKeyFile,
      '--root-ca-file', pki.caCertFile,
      '--use-service-account-credentials=false',
      '--v', '1',
    ], path.join(dir, 'kube-controller-manager.log'));
    processes.push(kcm);
  } catch (err) {
    await stop();
    throw err;
  }

  function runKubectl(args: string[], opts: { input?: string; kubeconfig?: string } = {}) {
    return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(path.join(bin, 'kubectl'), ['--kubeconfig', opts.kubeconfig ?? adminKubeconfig, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c; });
      child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, stdout, stderr }));
      child.stdin.end(opts.input ?? '');
    });
  }

  const cluster: RealCluster = {
    server, dir, caCert: pki.caCert, adminKubeconfig, etcdUrl,
    kubeletTls: { cert: pki.kubeletServingCert, key: pki.kubeletServingKey, ca: pki.caCert },
    api, must,
    kubectl: runKubectl,
    async apply(source) {
      const args = ['apply', '--server-side', '--validate=strict', '--field-manager=switchyard-test'];
      let input: string | undefined;
      if ('yaml' in source) { args.push('-f', '-'); input = source.yaml; }
      else if ('files' in source) for (const f of source.files) args.push('-f', f);
      else args.push('-k', source.kustomization);
      const r = await runKubectl(args, { input });
      if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr.trim()}`);
      return r.stdout;
    },
    async waitEstablished(...crds) {
      const r = await runKubectl(['wait', '--for=condition=Established', '--timeout=60s', ...crds.map((c) => `crd/${c}`)]);
      if (r.code !== 0) throw new Error(`CRDs not established: ${r.stderr.trim()}`);
    },
    async serviceAccountKubeconfig(namespace, name) {
      const reply = await must<{ status: { token: string } }>('POST',
        `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`,
        { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } });
      const file = path.join(dir, `${namespace}-${name}.kubeconfig`);
      writeFileSync(file, kubeconfigYaml(server, pki.caCert, { token: reply.status.token }), { mode: 0o600 });
      return { token: reply.status.token, kubeconfig: file };
    },
    async can(token, a) {
      const review = await must<{ status: { allowed: boolean } }>('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
        apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview',
        spec: { resourceAttributes: { verb: a.verb, group: a.group ?? '', resource: a.resource, subresource: a.subresource, namespace: a.namespace, name: a.name } },
      }, { token });
      return review.status.allowed;
    },
    async ensureNode(name) {
      const reply = await api('POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name } });
      if (reply.status !== 201 && reply.status !== 409) throw new Error(`create node ${name}: ${reply.status}`);
    },
    async createPod(pod) {
      await cluster.ensureNode('edge-1');
      await must('POST', `/api/v1/namespaces/${pod.namespace}/pods`, {
        apiVersion: 'v1', kind: 'Pod',
        metadata: { name: pod.name, namespace: pod.namespace, labels: pod.labels ?? {}, annotations: pod.annotations ?? {} },
        spec: {
          nodeName: 'edge-1', hostNetwork: pod.hostNetwork ?? false, automountServiceAccountToken: false,
          containers: [{ name: 'app', image: 'registry.invalid/none:0' }],
        },
      });
      if (pod.ip !== undefined) await setStatus(pod.namespace, pod.name, pod.ip, pod.ready ?? true);
    },
    async setPodReady(namespace, name, ready) {
      const current = await must<{ status: { podIP: string } }>('GET', `/api/v1/namespaces/${namespace}/pods/${name}`);
      await setStatus(namespace, name, current.status.podIP, ready);
    },
    async killApiServer() {
      const p = apiServer;
      if (!p) return;
      processes.splice(processes.indexOf(p), 1);
      apiServer = undefined;
      await stopProcess(p, 'SIGKILL');
    },
    startApiServer,
    async etcdRevision() {
      const res = await fetch(`${etcdUrl}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('/').toString('base64') }) });
      const body = (await res.json()) as { header: { revision: string } };
      return Number(body.header.revision);
    },
    async etcdCompact(revision) {
      const res = await fetch(`${etcdUrl}/v3/kv/compaction`, { method: 'POST', body: JSON.stringify({ revision: String(revision), physical: true }) });
      if (!res.ok) throw new Error(`etcd compaction at ${revision}: ${res.status} ${await res.text()}`);
    },
    async etcdPut(key, value) {
      const res = await fetch(`${etcdUrl}/v3/kv/put`, {
        method: 'POST',
        body: JSON.stringify({ key: Buffer.from(key).toString('base64'), value: Buffer.from(value).toString('base64') }),
      });
      if (!res.ok) throw new Error(`etcd put ${key}: ${res.status} ${await res.text()}`);
    },
    async etcdDelete(key) {
      const res = await fetch(`${etcdUrl}/v3/kv/deleterange`, { method: 'POST', body: JSON.stringify({ key: Buffer.from(key).toString('base64') }) });
      if (!res.ok) throw new Error(`etcd delete ${key}: ${res.status} ${await res.text()}`);
    },
    auditEvents() {
      if (!existsSync(auditLog)) return [];
      return readFileSync(auditLog, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as AuditEvent);
    },
    stop,
  };

  async function setStatus(namespace: string, name: string, ip: string, ready: boolean): Promise<void> {
    const now = new Date().toISOString();
    await must('PATCH', `/api/v1/namespaces/${namespace}/pods/${name}/status`, {
      status: {
        phase: 'Running', podIP: ip, podIPs: [{ ip }], hostIP: ip, startTime: now,
        conditions: [
          { type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: now },
          { type: 'ContainersReady', status: ready ? 'True' : 'False', lastTransitionTime: now },
        ],
      },
    }, { contentType: 'application/strategic-merge-patch+json' });
  }

  return cluster;
}
