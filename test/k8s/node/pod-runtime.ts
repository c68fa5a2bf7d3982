// One pod on the test node, from binding to deletion, as the kubelet runs it: its network (its own
// namespace and address, or the node's for host-network pods), its volumes and environment (held
// back, Pending with a reason, while a Secret or ConfigMap it needs is missing), init containers
// in order, then its containers with startup, liveness and readiness probes and restarts by
// restartPolicy (back-off 10 s doubling to 5 min), and its status (phase, podIP(s), hostIP,
// conditions, containerStatuses) patched as it changes. terminate() is a graceful deletion:
// SIGTERM, SIGKILL after the grace period, the namespace and directory removed.

import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ContainerProcess, inPodNamespace } from './container-process.ts';
import { findImage, type ImageEntry } from './images.ts';
import type { KubeApi } from './kube-api.ts';
import { containerEnv, expand, MissingReference, PathMap, type ObjectLookup } from './pod-environment.ts';
import { createPodNetwork, type PodNetwork } from './pod-network.ts';
import { writeVolumes } from './pod-volumes.ts';
import { ProbeWorker, runCommand, type ProbeTarget } from './probes.ts';

export interface NodeContext {
  api: KubeApi;
  nodeName: string;
  nodeAddress: string;
  images: readonly ImageEntry[];
  objects: ObjectLookup;
  /** The node's directory; each pod gets `<dir>/<first 8 characters of its uid>`. */
  dir: string;
  log(line: string): void;
}

interface ContainerState {
  spec: any;
  init: boolean;
  process: ContainerProcess | undefined;
  restartCount: number;
  lastTermination: { exitCode: number; startedAt: string; finishedAt: string; reason: string } | undefined;
  waiting: { reason: string; message?: string } | undefined;
  started: boolean;
  ready: boolean;
  probes: ProbeWorker[];
  backoffMs: number;
  restartTimer: NodeJS.Timeout | undefined;
  /** Ready without a process (images.ts readyWithoutRunning). */
  stub: boolean;
  stubStartedAt?: string;
}

const INITIAL_BACKOFF_MS = 10_000;
const MAX_BACKOFF_MS = 300_000;

export class PodRuntime {
  pod: any;
  readonly #ctx: NodeContext;
  readonly #dir: string;
  #network: PodNetwork | undefined;
  #address = '';
  #containers: ContainerState[] = [];
  #phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed' = 'Pending';
  #initialized = false;
  #pendingReason: { reason: string; message: string } | undefined;
  #terminating = false;
  #stopped = false;
  #startedAt = new Date().toISOString();
  #transitions = new Map<string, { status: string; time: string }>();
  #patching: Promise<void> = Promise.resolve();
  #patchQueued = false;

  constructor(pod: any, ctx: NodeContext) {
    this.pod = pod;
    this.#ctx = ctx;
    // Short: a Unix socket in a volume (the router's admin socket in its /tmp emptyDir) must fit
    // sockaddr_un's 107 bytes once mapped here. The pod's namespace/name are in its key and logs.
    this.#dir = path.join(ctx.dir, String(pod.metadata.uid).slice(0, 8));
  }

  get address(): string { return this.#address; }
  get directory(): string { return this.#dir; }
  get key(): string { return `${this.pod.metadata.namespace}/${this.pod.metadata.name}`; }
  /** Process ids of the containers running now. */
  pids(): number[] {
    return this.#containers.flatMap((c) => (c.process?.running && c.process.pid !== undefined ? [c.process.pid] : []));
  }

  /** Network, then volumes and containers (retried by objectsChanged() while references are missing). */
  async start(): Promise<void> {
    mkdirSync(this.#dir, { recursive: true });
    if (this.pod.spec.hostNetwork) this.#address = this.#ctx.nodeAddress;
    else {
      this.#network = createPodNetwork();
      this.#address = this.#network.address;
    }
    const all = [...(this.pod.spec.initContainers ?? []).map((c: any) => ({ c, init: true })), ...this.pod.spec.containers.map((c: any) => ({ c, init: false }))];
    this.#containers = all.map(({ c, init }) => ({
      spec: c, init, process: undefined, restartCount: 0, lastTermination: undefined,
      waiting: { reason: init ? 'PodInitializing' : 'ContainerCreating' }, started: false, ready: false, probes: [], backoffMs: INITIAL_BACKOFF_MS,
      restartTimer: undefined, stub: false,
    }));
    this.#patchStatus();
    await this.#tryStart();
  }

  /** A Secret or ConfigMap of the pod's namespace changed: start if waiting on it, refresh volumes if running. */
  async objectsChanged(): Promise<void> {
    if (this.#stopped || this.#terminating) return;
    if (this.#pendingReason) { await this.#tryStart(); return; }
    try { writeVolumes(this.pod, this.#dir, this.#ctx.objects); } catch { /* a removed optional object: keep the files */ }
  }

  async #tryStart(): Promise<void> {
    try {
      writeVolumes(this.pod, this.#dir, this.#ctx.objects);
      for (const c of this.#containers) this.#launchSpec(c); // resolve every env now: fail before starting anything
    } catch (err) {
      if (!(err instanceof MissingReference)) throw err;
      const reason = { reason: 'CreateContainerConfigError', message: err.message };
      if (this.#pendingReason?.message !== reason.message) this.#ctx.log(`${this.key}: waiting: ${err.message}`);
      this.#pendingReason = reason;
      for (const c of this.#containers) c.waiting = reason;
      this.#patchStatus();
      return;
    }
    this.#pendingReason = undefined;
    const wantsToken = this.#containers.some((c) => findImage(this.#ctx.images, c.spec.image)?.serviceAccountKubeconfig);
    if (wantsToken && this.pod.spec.automountServiceAccountToken !== false) {
      await this.#writeServiceAccountKubeconfig(path.join(this.#dir, 'serviceaccount.kubeconfig'));
    }
    await this.#runInitContainers();
  }

  async #runInitContainers(): Promise<void> {
    for (const c of this.#containers.filter((x) => x.init)) {
      for (;;) {
        if (this.#terminating || this.#stopped) return;
        this.#startContainer(c);
        if (c.stub) break;
        if (!c.process) return; // could not be started: its status says why
        await c.process.exited;
        const code = c.process.exitCode ?? 0;
        c.lastTermination = {
          exitCode: code, startedAt: c.process.startedAt.toISOString(), finishedAt: new Date().toISOString(),
          reason: code === 0 ? 'Completed' : 'Error',
        };
        if (code === 0) break;
        const policy = this.pod.spec.restartPolicy ?? 'Always';
        if (policy === 'Never') { this.#phase = 'Failed'; this.#patchStatus(); return; }
        await new Promise((r) => { c.restartTimer = setTimeout(r, c.backoffMs); });
        c.backoffMs = Math.min(c.backoffMs * 2, MAX_BACKOFF_MS);
        c.restartCount++;
      }
    }
    this.#initialized = true;
    this.#phase = 'Running';
    for (const c of this.#containers.filter((x) => !x.init)) this.#startContainer(c);
    this.#patchStatus();
  }

  #launchSpec(c: ContainerState): { argv: string[]; env: Record<string, string>; cwd: string; entry: ImageEntry } {
    const entry = findImage(this.#ctx.images, c.spec.image);
    if (!entry) throw new MissingReference(`image ${c.spec.image} has no local stand-in in the test node's image table (test/k8s/node/images.ts)`);
    const mounts = this.#mounts(c.spec);
    const paths = new PathMap(mounts);
    const vars = containerEnv({ ...this.pod, status: { ...this.pod.status, podIP: this.#address, podIPs: [{ ip: this.#address }], hostIP: this.#ctx.nodeAddress } }, c.spec, this.#ctx.objects);
    const env: Record<string, string> = {
      PATH: process.env['PATH'] ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      HOSTNAME: this.pod.spec.hostNetwork ? this.#ctx.nodeName : this.pod.metadata.name,
      HOME: this.#dir,
      ...entry.env,
    };
    for (const [k, v] of vars) env[k] = paths.map(v);
    if (entry.serviceAccountKubeconfig && this.pod.spec.automountServiceAccountToken !== false) env['KUBECONFIG'] = path.join(this.#dir, 'serviceaccount.kubeconfig');
    if (entry.readyWithoutRunning) return { argv: [], env, cwd: this.#dir, entry };
    const command: string[] = (c.spec.command ?? []).map((w: string) => paths.map(expand(w, vars)));
    const args: string[] = (c.spec.args ?? (c.spec.command ? [] : entry.cmd ?? [])).map((w: string) => paths.map(expand(w, vars)));
    let argv: string[];
    if (command.length > 0) {
      const replacement = entry.commands?.[command[0]!];
      argv = [replacement ? replacement() : command[0]!, ...command.slice(1), ...args];
    } else {
      if (!entry.entrypoint) throw new MissingReference(`image ${c.spec.image}: the image table gives no entrypoint and the container no command`);
      argv = [...entry.entrypoint(), ...args];
    }
    const cwd = c.spec.workingDir ? paths.map(c.spec.workingDir) : this.#dir;
    return { argv, env, cwd, entry };
  }

  #mounts(container: any): { mountPath: string; directory: string }[] {
    return (container.volumeMounts ?? []).map((m: any) => ({
      mountPath: m.mountPath,
      directory: path.join(this.#dir, 'volumes', m.name, m.subPath ?? ''),
    }));
  }

  #startContainer(c: ContainerState): void {
    let spec;
    try { spec = this.#launchSpec(c); } catch (err) {
      c.waiting = { reason: 'CreateContainerConfigError', message: (err as Error).message };
      this.#patchStatus();
      return;
    }
    c.waiting = undefined;
    if (spec.entry.readyWithoutRunning) {
      c.stub = true;
      c.stubStartedAt = new Date().toISOString();
      c.started = true;
      c.ready = true;
      return;
    }
    c.process = new ContainerProcess({
      argv: spec.argv, env: spec.env, cwd: spec.cwd, logFile: path.join(this.#dir, `${c.spec.name}.log`),
      netns: this.#network?.namespace,
    });
    this.#ctx.log(`${this.key}: started ${c.init ? 'init container' : 'container'} ${c.spec.name} (pid ${c.process.pid}) on ${this.#address}: ${spec.argv.join(' ')}`);
    if (c.init) return;
    const proc = c.process;
    void proc.exited.then(() => this.#containerExited(c, proc));
    this.#startProbes(c, spec);
  }

  #startProbes(c: ContainerState, spec: { env: Record<string, string>; cwd: string; entry: ImageEntry }): void {
    const paths = new PathMap(this.#mounts(c.spec));
    const ports = new Map<string, number>();
    for (const p of c.spec.ports ?? []) if (p.name) ports.set(p.name, p.containerPort);
    const target: ProbeTarget = {
      address: this.#address, ports,
      exec: (command, timeoutMs) => {
        const words = command.map((w) => paths.map(w));
        const replacement = spec.entry.commands?.[words[0] ?? ''];
        if (replacement) words[0] = replacement();
        const argv = inPodNamespace(words, this.#network?.namespace);
        return runCommand(argv, spec.env, spec.cwd, timeoutMs);
      },
    };
    const s = c.spec;
    const afterStartup = () => {
      c.started = true;
      if (s.readinessProbe) {
        c.probes.push(new ProbeWorker(s.readinessProbe, target, false, (ok) => { c.ready = ok; this.#patchStatus(); }));
      } else c.ready = true;
      if (s.livenessProbe) {
        c.probes.push(new ProbeWorker(s.livenessProbe, target, true, (ok, message) => {
          if (!ok) this.#restartUnhealthy(c, `Liveness probe failed: ${message ?? ''}`);
        }));
      }
      this.#patchStatus();
    };
    if (s.startupProbe) {
      const startup = new ProbeWorker(s.startupProbe, target, false, (ok, message) => {
        if (ok) { startup.stop(); afterStartup(); } else this.#restartUnhealthy(c, `Startup probe failed: ${message ?? ''}`);
      });
      c.probes.push(startup);
    } else afterStartup();
  }

  #restartUnhealthy(c: ContainerState, why: string): void {
    this.#ctx.log(`${this.key}: ${c.spec.name}: ${why}; restarting`);
    const grace = (this.pod.spec.terminationGracePeriodSeconds ?? 30) * 1000;
    void c.process?.stop(grace);
  }

  #containerExited(c: ContainerState, proc: ContainerProcess): void {
    for (const p of c.probes) p.stop();
    c.probes = [];
    c.ready = false;
    c.started = false;
    const exitCode = proc.exitCode ?? 0;
    c.lastTermination = {
      exitCode, startedAt: proc.startedAt.toISOString(), finishedAt: new Date().toISOString(),
      reason: exitCode === 0 ? 'Completed' : 'Error',
    };
    if (this.#terminating || this.#stopped) return;
    this.#ctx.log(`${this.key}: container ${c.spec.name} exited with ${exitCode}`);
    const policy = this.pod.spec.restartPolicy ?? 'Always';
    if (policy === 'Always' || (policy === 'OnFailure' && exitCode !== 0)) {
      // Back-off resets after 10 minutes of running, as the kubelet's does.
      if (Date.now() - proc.startedAt.getTime() > 600_000) c.backoffMs = INITIAL_BACKOFF_MS;
      c.waiting = { reason: 'CrashLoopBackOff', message: `back-off ${c.backoffMs / 1000}s restarting failed container=${c.spec.name}` };
      c.restartTimer = setTimeout(() => {
        if (this.#terminating || this.#stopped) return;
        c.restartCount++;
        this.#startContainer(c);
        this.#patchStatus();
      }, c.backoffMs);
      c.backoffMs = Math.min(c.backoffMs * 2, MAX_BACKOFF_MS);
    } else {
      c.process = proc; // stays terminated
      const regular = this.#containers.filter((x) => !x.init);
      if (regular.every((x) => x.process && !x.process.running)) {
        this.#phase = regular.every((x) => x.process!.exitCode === 0) ? 'Succeeded' : 'Failed';
      }
    }
    this.#patchStatus();
  }

  /** The pod was updated (labels, a deletionTimestamp…). */
  update(pod: any): void { this.pod = pod; }

  /** Graceful stop: SIGTERM to every container, SIGKILL after `graceSeconds`, then cleanup. */
  async terminate(graceSeconds: number): Promise<void> {
    if (this.#terminating) return;
    this.#terminating = true;
    for (const c of this.#containers) { for (const p of c.probes) p.stop(); clearTimeout(c.restartTimer); c.ready = false; }
    this.#patchStatus();
    await Promise.all(this.#containers.map((c) => c.process?.stop(graceSeconds * 1000)));
    this.#ctx.log(`${this.key}: containers stopped`);
    // As the kubelet does before the pod object goes: the containers' terminated states (exit
    // code 0 after a clean shutdown on SIGTERM, 137 when the grace period ran out).
    this.#patchStatus();
    await this.#patching;
    this.cleanup();
  }

  /** Kill everything at once and remove the namespace and directory (force deletion, node stop). */
  cleanup(): void {
    this.#stopped = true;
    for (const c of this.#containers) { for (const p of c.probes) p.stop(); clearTimeout(c.restartTimer); c.process?.kill(); }
    this.#network?.close();
    this.#network = undefined;
    rmSync(this.#dir, { recursive: true, force: true });
  }

  async #writeServiceAccountKubeconfig(file: string): Promise<void> {
    const ns = this.pod.metadata.namespace;
    const sa = this.pod.spec.serviceAccountName ?? 'default';
    try {
      const reply = await this.#ctx.api.must<{ status: { token: string } }>('POST', `/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`, {
        apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest',
        spec: { expirationSeconds: 3600, boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: this.pod.metadata.name, uid: this.pod.metadata.uid } },
      });
      const b64 = (s: string) => Buffer.from(s).toString('base64');
      writeFileSync(file, [
        'apiVersion: v1', 'kind: Config',
        'clusters:', '- name: cluster', '  cluster:', `    server: ${this.#ctx.api.server}`, `    certificate-authority-data: ${b64(this.#ctx.api.caCert)}`,
        'users:', '- name: sa', '  user:', `    token: ${reply.status.token}`,
        'contexts:', '- name: sa', '  context: {cluster: cluster, user: sa, namespace: ' + ns + '}', 'current-context: sa', '',
      ].join('\n'), { mode: 0o600 });
    } catch (err) {
      this.#ctx.log(`${this.key}: no token for serviceaccount ${ns}/${sa}: ${(err as Error).message}`);
    }
  }

  #condition(type: string, status: boolean, now: string): { type: string; status: string; lastTransitionTime: string; lastProbeTime: null } {
    const s = status ? 'True' : 'False';
    const previous = this.#transitions.get(type);
    if (!previous || previous.status !== s) this.#transitions.set(type, { status: s, time: now });
    return { type, status: s, lastTransitionTime: this.#transitions.get(type)!.time, lastProbeTime: null };
  }

  #containerStatus(c: ContainerState): any {
    let state: any;
    if (c.stub) state = { running: { startedAt: c.stubStartedAt } };
    else if (c.waiting) state = { waiting: c.waiting };
    else if (c.process?.running) state = { running: { startedAt: c.process.startedAt.toISOString() } };
    else if (c.lastTermination) state = { terminated: c.lastTermination };
    else state = { waiting: { reason: 'ContainerCreating' } };
    return {
      name: c.spec.name, image: c.spec.image, imageID: '', restartCount: c.restartCount,
      ready: c.ready, started: c.started, state,
      ...(c.lastTermination && !state.terminated ? { lastState: { terminated: c.lastTermination } } : {}),
    };
  }

  /** Patch the pod's status with the current state; coalesced, one request at a time. */
  #patchStatus(): void {
    if (this.#stopped) return;
    if (this.#patchQueued) return;
    this.#patchQueued = true;
    this.#patching = this.#patching.then(async () => {
      this.#patchQueued = false;
      if (this.#stopped) return;
      const now = new Date().toISOString();
      const regular = this.#containers.filter((c) => !c.init);
      const containersReady = !this.#terminating && regular.length > 0 && regular.every((c) => c.ready);
      const status = {
        phase: this.#phase,
        hostIP: this.#ctx.nodeAddress, hostIPs: [{ ip: this.#ctx.nodeAddress }],
        podIP: this.#address, podIPs: [{ ip: this.#address }],
        startTime: this.#startedAt,
        // No qosClass: the API server sets it when the pod is created, from its resources, and
        // refuses any change (a constant here failed every status patch of a Burstable pod).
        conditions: [
          this.#condition('PodReadyToStartContainers', true, now),
          this.#condition('Initialized', this.#initialized, now),
          this.#condition('Ready', containersReady, now),
          this.#condition('ContainersReady', containersReady, now),
          this.#condition('PodScheduled', true, now),
        ],
        initContainerStatuses: this.#containers.filter((c) => c.init).map((c) => this.#containerStatus(c)),
        containerStatuses: regular.map((c) => this.#containerStatus(c)),
      };
      const r = await this.#ctx.api.request('PATCH', `/api/v1/namespaces/${this.pod.metadata.namespace}/pods/${this.pod.metadata.name}/status`,
        { status }, 'application/merge-patch+json').catch((err: Error) => ({ status: 0, body: err.message }));
      if (r.status === 404) return; // deleted meanwhile
      if (r.status < 200 || r.status > 299) this.#ctx.log(`${this.key}: status patch failed: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
    });
  }
}
