// A node for the test control plane (test/support/real-apiserver.ts): a kubelet and a one-node
// scheduler in a few hundred lines, so that Deployments, DaemonSets, EndpointSlices and rollouts
// behave as on a cluster, with real processes behind real pod addresses.
//
// startNode() registers a Node (Ready, with the given labels and taints), binds every pending Pod
// that may run on it (pods/binding; nodeSelector, required node affinity, taints — scheduling.ts),
// and runs each Pod bound to it (pod-runtime.ts): its own network namespace with an address from
// 203.0.113.128/25 (pod-network.ts), or the node's address with `hostNetwork: true` (then the
// processes run in the host's namespace, as host-network pods do); Secret, ConfigMap, downward
// API and emptyDir volumes as directories (mapped, not mounted: pod-environment.ts); env with
// fieldRef/resourceFieldRef/secretKeyRef/configMapKeyRef/envFrom; init containers; startup,
// liveness and readiness probes (httpGet, tcpSocket, exec); restarts by restartPolicy; and a
// graceful deletion (SIGTERM, SIGKILL after the pod's grace period, then the Pod deleted). Which
// local program stands for which image is a table (images.ts): the conformance suite's
// echo-basic, the router image as this checkout's `node dist/cli.js` (with a kubeconfig for the
// pod's ServiceAccount in KUBECONFIG), coredns as the real CoreDNS (test/tools/coredns). Containers'
// output is kept as the kubelet keeps it (container-logs.ts); given the cluster's kubelet TLS
// (RealCluster.kubeletTls), the node serves it on a kubelet endpoint (kubelet-server.ts) that
// kube-apiserver proxies `kubectl logs` to (the Node's daemonEndpoints.kubeletEndpoint.Port).
//
// Use from a test (needs root and iproute2, as test/support/netns-hosts.ts):
//
//   const cluster = await startRealCluster({ workloadControllers: true });
//   const node = await startNode({ kubeconfig: cluster.adminKubeconfig });
//   // kubectl apply a Deployment …; pods come up Ready on node.name with reachable addresses
//   await node.stop();      // in test.after.always, before cluster.stop()
//
// Not modelled: resources and eviction, hostPort and port conflicts, preStop/postStart hooks,
// Service environment variables, the node lease and heartbeats (no node-lifecycle controller
// runs), container images (a table of local programs instead), mount namespaces (see
// pod-environment.ts), `kubectl exec`, attach and port-forward, and `kubectl logs --follow`.

import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir, cpus, totalmem } from 'node:os';
import path from 'node:path';
import { killAllContainers } from './container-process.ts';
import { readContainerLog } from './container-logs.ts';
import { startKubeletServer, type KubeletServer, type KubeletTls } from './kubelet-server.ts';
import { DEFAULT_IMAGES, type ImageEntry } from './images.ts';
import { kubeApiFromKubeconfig, type KubeApi } from './kube-api.ts';
import { checkPodNetworking, removeStalePodNetworks } from './pod-network.ts';
import { PodRuntime, type NodeContext } from './pod-runtime.ts';
import { unschedulableReason, type NodeIdentity } from './scheduling.ts';

export interface NodeOptions {
  /** Kubeconfig the node acts with (the test cluster's admin: RealCluster.adminKubeconfig). */
  kubeconfig: string;
  name?: string;
  /** The node's address: status.hostIP of every pod, podIP of host-network pods. Default 127.0.0.1. */
  address?: string;
  labels?: Record<string, string>;
  taints?: { key: string; value?: string; effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute' }[];
  /** Image → local program table (default DEFAULT_IMAGES). */
  images?: readonly ImageEntry[];
  /** Log lines (default: none). */
  log?: (line: string) => void;
  /**
   * Serve containers' logs to kube-apiserver (`kubectl logs`) on a kubelet endpoint with this TLS
   * (RealCluster.kubeletTls: its serving certificate names 127.0.0.1, the default address).
   */
  kubeletTls?: KubeletTls;
}

export interface TestNode {
  name: string;
  address: string;
  /** The node's working directory (a temp dir): one directory per pod with its volumes and logs. */
  dir: string;
  /** The runtime of a running pod (`namespace/name`), if this node runs it. */
  pod(namespace: string, name: string): { address: string; directory: string; pids: number[] } | undefined;
  /** The kubelet endpoint's port (kubeletTls given), else undefined. */
  kubeletPort: number | undefined;
  /** A container's output so far. */
  podLog(namespace: string, name: string, container?: string): string;
  stop(): Promise<void>;
}

const nodes = new Set<() => void>();
const cleanupAll = () => { killAllContainers(); for (const n of [...nodes]) n(); };
process.on('exit', cleanupAll);
// Stopped by a signal: clean up, then die of it. The listener stays while cleaning up, so a
// second signal arriving meanwhile is swallowed instead of killing the process half-way.
let signalled = false;
const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
const handlers = new Map<NodeJS.Signals, () => void>();
for (const signal of SIGNALS) {
  handlers.set(signal, () => {
    if (signalled) return;
    signalled = true;
    cleanupAll();
    for (const [s, h] of handlers) process.removeListener(s, h);
    process.kill(process.pid, signal);
  });
  process.on(signal, handlers.get(signal)!);
}

export async function startNode(options: NodeOptions): Promise<TestNode> {
  checkPodNetworking();
  removeStalePodNetworks();
  const api: KubeApi = kubeApiFromKubeconfig(options.kubeconfig);
  const name = options.name ?? 'switchyard-test-node';
  const address = options.address ?? '127.0.0.1';
  const log = options.log ?? (() => {});
  // Short (see PodRuntime's directory): /tmp/sy-node-XXXXXX.
  const dir = mkdtempSync(path.join(tmpdir(), 'sy-node-'));
  const identity: NodeIdentity = {
    name,
    labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': process.arch === 'x64' ? 'amd64' : process.arch, ...options.labels },
    taints: options.taints ?? [],
  };
  const secrets = new Map<string, any>();
  const configMaps = new Map<string, any>();
  const runtimes = new Map<string, PodRuntime>(); // by uid
  const deleting = new Set<string>();
  const binding = new Set<string>();
  let stopped = false;

  const ctx: NodeContext = {
    api, nodeName: name, nodeAddress: address, images: options.images ?? DEFAULT_IMAGES, dir, log,
    objects: {
      secret: (ns, n) => secrets.get(`${ns}/${n}`),
      configMap: (ns, n) => configMaps.get(`${ns}/${n}`),
    },
  };

  // The Node object, Ready, with the machine's capacity.
  const node = {
    apiVersion: 'v1', kind: 'Node',
    metadata: { name, labels: identity.labels },
    spec: { taints: identity.taints },
  };
  const created = await api.request('POST', '/api/v1/nodes', node);
  if (created.status === 409) await api.must('PATCH', `/api/v1/nodes/${name}`, { metadata: { labels: identity.labels }, spec: { taints: identity.taints } }, 'application/merge-patch+json');
  else if (created.status !== 201) throw new Error(`test node: register ${name}: ${created.status} ${JSON.stringify(created.body)}`);
  const logFile = (namespace: string, podName: string, container: string): string | undefined => {
    for (const r of runtimes.values()) {
      if (r.pod.metadata.namespace !== namespace || r.pod.metadata.name !== podName) continue;
      const names = [...r.pod.spec.containers, ...(r.pod.spec.initContainers ?? [])].map((c: any) => c.name as string);
      return names.includes(container) ? path.join(r.directory, `${container}.log`) : undefined;
    }
    return undefined;
  };
  let kubelet: KubeletServer | undefined;
  if (options.kubeletTls !== undefined) kubelet = await startKubeletServer(address, options.kubeletTls, logFile);
  const now = new Date().toISOString();
  const resources = { cpu: String(cpus().length), memory: `${Math.floor(totalmem() / 1024)}Ki`, pods: '110' };
  await api.must('PATCH', `/api/v1/nodes/${name}/status`, {
    status: {
      capacity: resources, allocatable: resources,
      addresses: [{ type: 'InternalIP', address }, { type: 'Hostname', address: name }],
      ...(kubelet !== undefined ? { daemonEndpoints: { kubeletEndpoint: { Port: kubelet.port } } } : {}),
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'switchyard test node', lastHeartbeatTime: now, lastTransitionTime: now }],
      nodeInfo: {
        machineID: '', systemUUID: '', bootID: '', kernelVersion: '', osImage: `switchyard test node on ${hostname()}`,
        containerRuntimeVersion: 'local-process://1', kubeletVersion: 'v1.36.3', kubeProxyVersion: '', operatingSystem: 'linux', architecture: identity.labels['kubernetes.io/arch']!,
      },
    },
  }, 'application/merge-patch+json');
  // The API server's TaintNodesByCondition admission gives a new Node the taint
  // node.kubernetes.io/not-ready:NoSchedule; on a cluster the node lifecycle controller lifts it
  // once the node reports Ready. No such controller runs here, and the DaemonSet controller
  // (unlike this node's scheduler) heeds the taint: lift it, leaving the node's own taints.
  await api.must('PATCH', `/api/v1/nodes/${name}`, { spec: { taints: identity.taints } }, 'application/merge-patch+json');

  function objectsChanged(namespace: string): void {
    for (const r of runtimes.values()) if (r.pod.metadata.namespace === namespace) void r.objectsChanged();
  }

  async function bind(pod: any): Promise<void> {
    const uid = pod.metadata.uid as string;
    if (binding.has(uid)) return;
    binding.add(uid);
    const r = await api.request('POST', `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}/binding`, {
      apiVersion: 'v1', kind: 'Binding', metadata: { name: pod.metadata.name, uid }, target: { apiVersion: 'v1', kind: 'Node', name },
    }).catch((err: Error) => ({ status: 0, body: err.message }));
    if (r.status !== 201 && r.status !== 409 && r.status !== 404) {
      log(`bind ${pod.metadata.namespace}/${pod.metadata.name}: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
      binding.delete(uid); // tried again on its next event
    }
  }

  async function finishDeletion(runtime: PodRuntime, uid: string): Promise<void> {
    const pod = runtime.pod;
    const grace = Number(pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30);
    await runtime.terminate(grace);
    runtimes.delete(uid);
    // The kubelet's last word: delete the object now that nothing runs (only this incarnation).
    await api.request('DELETE', `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}`, {
      apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0, preconditions: { uid },
    }).catch(() => undefined);
    log(`${runtime.key}: deleted`);
  }

  function onPod(type: 'ADDED' | 'MODIFIED' | 'DELETED', pod: any): void {
    if (stopped) return;
    const uid = pod.metadata.uid as string;
    const runtime = runtimes.get(uid);
    if (type === 'DELETED') {
      binding.delete(uid);
      if (runtime && !deleting.has(uid)) { runtime.cleanup(); runtimes.delete(uid); } // force-deleted
      deleting.delete(uid);
      return;
    }
    if (!pod.spec.nodeName) {
      if (pod.metadata.deletionTimestamp) return;
      const why = unschedulableReason(pod, identity);
      if (why === undefined) void bind(pod);
      return;
    }
    if (pod.spec.nodeName !== name) return;
    if (!runtime) {
      if (pod.metadata.deletionTimestamp || pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') {
        // Bound here but never started (or finished by an earlier node process): nothing to stop.
        if (pod.metadata.deletionTimestamp && !deleting.has(uid)) {
          deleting.add(uid);
          void api.request('DELETE', `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}`, { gracePeriodSeconds: 0, preconditions: { uid } }).catch(() => undefined);
        }
        return;
      }
      const r = new PodRuntime(pod, ctx);
      runtimes.set(uid, r);
      log(`${r.key}: starting`);
      r.start().catch((err: Error) => log(`${r.key}: start failed: ${err.stack ?? err.message}`));
      return;
    }
    runtime.update(pod);
    if (pod.metadata.deletionTimestamp && !deleting.has(uid)) {
      deleting.add(uid);
      void finishDeletion(runtime, uid).catch((err: Error) => log(`${runtime.key}: deletion failed: ${err.message}`));
    }
  }

  const watches = [
    api.watch('/api/v1/secrets', (type, s) => {
      const key = `${s.metadata.namespace}/${s.metadata.name}`;
      if (type === 'DELETED') secrets.delete(key); else secrets.set(key, s);
      objectsChanged(s.metadata.namespace);
    }),
    api.watch('/api/v1/configmaps', (type, c) => {
      const key = `${c.metadata.namespace}/${c.metadata.name}`;
      if (type === 'DELETED') configMaps.delete(key); else configMaps.set(key, c);
      objectsChanged(c.metadata.namespace);
    }),
  ];
  await Promise.all(watches.map((w) => w.synced));
  const podWatch = api.watch('/api/v1/pods', onPod);
  watches.push(podWatch);
  await podWatch.synced;

  const cleanupNow = () => {
    for (const r of runtimes.values()) r.cleanup();
    runtimes.clear();
    rmSync(dir, { recursive: true, force: true });
  };
  nodes.add(cleanupNow);

  return {
    name, address, dir, kubeletPort: kubelet?.port,
    pod(namespace, podName) {
      for (const r of runtimes.values()) {
        if (r.pod.metadata.namespace === namespace && r.pod.metadata.name === podName) {
          return { address: r.address, directory: r.directory, pids: r.pids() };
        }
      }
      return undefined;
    },
    podLog(namespace, podName, container) {
      for (const r of runtimes.values()) {
        if (r.pod.metadata.namespace === namespace && r.pod.metadata.name === podName) {
          return readContainerLog(path.join(r.directory, `${container ?? r.pod.spec.containers[0].name}.log`));
        }
      }
      return '';
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const w of watches) w.stop();
      await kubelet?.close();
      // Containers get a short grace on a node stop: the test is over, nothing drains.
      await Promise.all([...runtimes.values()].map((r) => r.terminate(2)));
      cleanupNow();
      nodes.delete(cleanupNow);
      await api.close();
    },
  };
}
