// Records the picked ports on the pod itself: annotations AUTO_PORT0..N-1 (read by the router
// through a Route's `switchyard.io/target-port-annotation`) and the label
// `switchyard.io/autoport: "true"`. One JSON merge patch on the pod; retried with backoff until a
// deadline, after which the start fails: a pod whose ports nobody knows must not look healthy.

import { CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { PodReportError } from './autoport-errors.ts';
import { portVariables } from './port-variables.ts';

export const AUTOPORT_LABEL = 'switchyard.io/autoport';

export interface PodReportTarget {
  podName: string;
  podNamespace: string;
  /** kubeconfig path; empty means the in-cluster service account. */
  kubeconfig: string;
}

export interface ReportOptions {
  timeoutMs: number;
  /** First retry delay; doubles up to maxBackoffMs. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Called after each failed attempt (logging). */
  onRetry?: (attempt: number, error: Error, delayMs: number) => void;
}

/** The merge patch body: annotations and label only, nothing else on the pod is touched. */
export function podPortsPatch(ports: readonly number[]): { metadata: { annotations: Record<string, string>; labels: Record<string, string> } } {
  return { metadata: { annotations: portVariables(ports), labels: { [AUTOPORT_LABEL]: 'true' } } };
}

/** Loads the client config; `env` decides whether an in-cluster config exists. */
export function loadKubeConfig(kubeconfig: string, env: NodeJS.ProcessEnv): KubeConfig {
  const kc = new KubeConfig();
  if (kubeconfig !== '') {
    try {
      kc.loadFromFile(kubeconfig);
    } catch (err) {
      throw new PodReportError(`KUBECONFIG ${kubeconfig}: ${(err as Error).message}`);
    }
    return kc;
  }
  if (!env.KUBERNETES_SERVICE_HOST) {
    throw new PodReportError('cannot report ports: no KUBECONFIG and not in a cluster (KUBERNETES_SERVICE_HOST unset); pass --no-report to skip');
  }
  kc.loadFromCluster();
  return kc;
}

function describe(err: unknown): string {
  if (err && typeof err === 'object' && 'code' in err && typeof (err as { code: unknown }).code === 'number') {
    let body = (err as { body?: unknown }).body;
    if (typeof body === 'string') {
      try { body = JSON.parse(body); } catch { /* not a Status object: keep the text */ }
    }
    const detail = typeof body === 'string' ? body.slice(0, 200)
      : body && typeof body === 'object' && 'message' in body ? String((body as { message: unknown }).message) : '';
    return `HTTP ${(err as { code: number }).code}${detail ? `: ${detail}` : ''}`;
  }
  return err instanceof Error ? err.message : String(err);
}

const MIN_ATTEMPT_MS = 1000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Rejects when `ms` passes first: a request the API server never answers must not outlive the deadline. */
function withinMs<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Patches the pod, retrying until `timeoutMs` has passed; throws PodReportError with the last cause. */
export async function reportPortsToPod(kc: KubeConfig, target: PodReportTarget, ports: readonly number[], options: ReportOptions): Promise<void> {
  const api = kc.makeApiClient(CoreV1Api);
  // client-node 2.x picks `application/json-patch+json` for patches unless told otherwise:
  // the Content-Type header is overridden through a request middleware.
  const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  const body = podPortsPatch(ports);
  const deadline = Date.now() + options.timeoutMs;
  let delay = options.initialBackoffMs ?? 250;
  const maxDelay = options.maxBackoffMs ?? 4000;
  for (let attempt = 1; ; attempt++) {
    try {
      const patch = api.patchNamespacedPod({ name: target.podName, namespace: target.podNamespace, body }, mergePatch);
      // Every attempt gets at least a second, even the one near the deadline.
      await withinMs(patch, Math.max(MIN_ATTEMPT_MS, deadline - Date.now()));
      return;
    } catch (err) {
      const why = describe(err);
      // Retry only if the next attempt can start before the deadline.
      if (deadline - Date.now() <= delay) {
        throw new PodReportError(
          `cannot annotate pod ${target.podNamespace}/${target.podName} with its ports after ${attempt} attempt${attempt === 1 ? '' : 's'}: ${why}`,
        );
      }
      options.onRetry?.(attempt, new Error(why), delay);
      await sleep(delay);
      delay = Math.min(delay * 2, maxDelay);
    }
  }
}
