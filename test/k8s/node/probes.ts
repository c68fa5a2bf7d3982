// Container probes as the kubelet runs them: httpGet (from the host namespace to the pod's
// address, 200-399 is success), tcpSocket (a connection is success), exec (the command inside the
// pod's network namespace with the container's environment; exit 0 is success), each bounded by
// timeoutSeconds, repeated every periodSeconds after initialDelaySeconds, with successThreshold
// and failureThreshold deciding when the result flips. gRPC probes are reported as failing, with
// a message: the node does not speak the gRPC health protocol.

import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface ProbeTarget {
  /** The pod's address (the node's for host-network pods). */
  address: string;
  /** Named container ports. */
  ports: Map<string, number>;
  /** Runs an exec probe's command in the container's context; resolves with its exit code. */
  exec(command: string[], timeoutMs: number): Promise<number | null>;
}

function port(target: ProbeTarget, value: number | string): number {
  if (typeof value === 'number') return value;
  if (/^\d+$/.test(value)) return Number(value);
  const named = target.ports.get(value);
  if (named === undefined) throw new Error(`no container port named ${value}`);
  return named;
}

/** One probe, once. Resolves true on success; never rejects. */
export async function probeOnce(probe: any, target: ProbeTarget): Promise<{ ok: boolean; message?: string }> {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  try {
    if (probe.httpGet) {
      const g = probe.httpGet;
      const https = (g.scheme ?? 'HTTP').toUpperCase() === 'HTTPS';
      const headers: Record<string, string> = { 'user-agent': 'kube-probe/1.36', accept: '*/*' };
      for (const h of g.httpHeaders ?? []) headers[h.name.toLowerCase()] = h.value;
      const status = await new Promise<number>((resolve, reject) => {
        const req = (https ? httpsRequest : httpRequest)({
          host: g.host || target.address, port: port(target, g.port), path: g.path ?? '/', method: 'GET', headers,
          rejectUnauthorized: false, timeout: timeoutMs, agent: false,
        }, (res) => { res.resume(); resolve(res.statusCode ?? 0); });
        req.once('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
        req.once('error', reject);
        req.end();
      });
      return status >= 200 && status < 400 ? { ok: true } : { ok: false, message: `HTTP probe failed with statuscode: ${status}` };
    }
    if (probe.tcpSocket) {
      await new Promise<void>((resolve, reject) => {
        const socket = connect({ host: probe.tcpSocket.host || target.address, port: port(target, probe.tcpSocket.port), timeout: timeoutMs });
        socket.once('connect', () => { socket.destroy(); resolve(); });
        socket.once('timeout', () => { socket.destroy(); reject(new Error(`timed out after ${timeoutMs} ms`)); });
        socket.once('error', reject);
      });
      return { ok: true };
    }
    if (probe.exec) {
      const code = await target.exec(probe.exec.command ?? [], timeoutMs);
      return code === 0 ? { ok: true } : { ok: false, message: `exec probe exited with ${code ?? 'a timeout'}` };
    }
    return { ok: false, message: 'probe type not supported by the test node (grpc)' };
  } catch (err) {
    return { ok: false, message: (err as Error).message };
  }
}

/** Run an exec probe's command: resolves with the exit code, or null when it timed out (then killed). */
export function runCommand(argv: string[], env: Record<string, string>, cwd: string, timeoutMs: number): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { env, cwd, stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', () => { clearTimeout(timer); resolve(127); });
    child.once('exit', (code) => { clearTimeout(timer); resolve(code); });
  });
}

/**
 * A probe repeated on its schedule: `onResult` is called whenever the thresholded result changes
 * (starting from `initial`), with the last message on failures.
 */
export class ProbeWorker {
  readonly #probe: any;
  readonly #target: ProbeTarget;
  readonly #onResult: (ok: boolean, message?: string) => void;
  #result: boolean;
  #successes = 0;
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(probe: any, target: ProbeTarget, initial: boolean, onResult: (ok: boolean, message?: string) => void) {
    this.#probe = probe;
    this.#target = target;
    this.#result = initial;
    this.#onResult = onResult;
    this.#schedule((probe.initialDelaySeconds ?? 0) * 1000);
  }

  get result(): boolean { return this.#result; }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#tick(), ms);
  }

  async #tick(): Promise<void> {
    const outcome = await probeOnce(this.#probe, this.#target);
    if (this.#stopped) return;
    if (outcome.ok) { this.#successes++; this.#failures = 0; } else { this.#failures++; this.#successes = 0; }
    if (!this.#result && outcome.ok && this.#successes >= (this.#probe.successThreshold ?? 1)) {
      this.#result = true;
      this.#onResult(true);
    } else if (this.#result && !outcome.ok && this.#failures >= (this.#probe.failureThreshold ?? 3)) {
      this.#result = false;
      this.#onResult(false, outcome.message);
    } else if (!this.#result && !outcome.ok && this.#failures === (this.#probe.failureThreshold ?? 3)) {
      this.#onResult(false, outcome.message); // reported once: a probe that never passed has failed
    }
    this.#schedule((this.#probe.periodSeconds ?? 10) * 1000);
  }
}
