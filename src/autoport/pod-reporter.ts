// Records the picked ports on the pod itself: annotations AUTO_PORT0..N-1 (read by the router
// through a Route's `switchyard.io/target-port-annotation`) and the label
// `switchyard.io/autoport: "true"`. One JSON merge patch on the pod; retried with backoff until a
// deadline, after which the start fails: a pod whose ports nobody knows must not look healthy.

import { KubeApiError, KubeClient } from '../kube/client.ts';
import { KubeConfigError, loadKubeConfig } from '../kube/kubeconfig.ts';
import { objectPath } from '../kube/resources.ts';
import { userAgent } from '../kube/user-agent.ts';
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

/** The API client of the pod's companion (User-Agent `switchyard-autoport/<version> (<namespace>/<pod>; <node>)`). */
export function openReportClient(target: PodReportTarget, env: NodeJS.ProcessEnv): KubeClient {
  try {
    const kubeConfig = loadKubeConfig(target.kubeconfig, env);
    return new KubeClient(kubeConfig, { userAgent: userAgent('switchyard-autoport', `${target.podNamespace}/${target.podName}`, env['NODE_NAME']) });
  } catch (err) {
    if (err instanceof KubeConfigError) throw new PodReportError(`cannot report ports: ${err.message}; pass --no-report to skip`);
    throw err;
  }
}

function describe(err: unknown): string {
  if (err instanceof KubeApiError) return `HTTP ${err.statusCode}${err.detail ? `: ${err.detail.slice(0, 200)}` : ''}`;
  return err instanceof Error ? err.message : String(err);
}

const MIN_ATTEMPT_MS = 1000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Patches the pod, retrying until `timeoutMs` has passed; throws PodReportError with the last cause. */
export async function reportPortsToPod(client: KubeClient, target: PodReportTarget, ports: readonly number[], options: ReportOptions): Promise<void> {
  const path = objectPath('Pod', target.podNamespace, target.podName);
  const body = podPortsPatch(ports);
  const deadline = Date.now() + options.timeoutMs;
  let delay = options.initialBackoffMs ?? 250;
  const maxDelay = options.maxBackoffMs ?? 4000;
  for (let attempt = 1; ; attempt++) {
    try {
      // Every attempt gets at least a second, even the one near the deadline: a request the API
      // server never answers must not outlive the deadline by more.
      await client.request({
        method: 'PATCH', path, body, contentType: 'application/merge-patch+json',
        timeoutMs: Math.max(MIN_ATTEMPT_MS, deadline - Date.now()),
      });
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
