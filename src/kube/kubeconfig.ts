// Where the router and the autoport companion find their API server and credentials: a
// kubeconfig file (`--kubeconfig` / KUBECONFIG; with a list, the first file that exists), else
// the in-cluster service account. One loader, one set of errors, for both.

import { existsSync } from 'node:fs';
import { delimiter } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

/** No usable kubeconfig: the message says what was looked for. */
export class KubeConfigError extends Error {
  override name = 'KubeConfigError';
}

/** Throws KubeConfigError when neither a kubeconfig nor an in-cluster service account is available. */
export function loadKubeConfig(kubeconfig: string, env: NodeJS.ProcessEnv = process.env): KubeConfig {
  const kubeConfig = new KubeConfig();
  if (kubeconfig) {
    const files = kubeconfig.split(delimiter).filter((f) => f.length > 0);
    const file = files.find((f) => existsSync(f));
    if (!file) throw new KubeConfigError(`kubeconfig not found: ${kubeconfig}`);
    try {
      kubeConfig.loadFromFile(file);
    } catch (err) {
      throw new KubeConfigError(`kubeconfig ${file}: ${(err as Error).message}`);
    }
    if (!kubeConfig.getCurrentCluster()) throw new KubeConfigError(`kubeconfig ${file} has no current cluster`);
    return kubeConfig;
  }
  if (!env['KUBERNETES_SERVICE_HOST']) {
    throw new KubeConfigError('no kubeconfig given (--kubeconfig or KUBECONFIG) and not running in a cluster (KUBERNETES_SERVICE_HOST is unset)');
  }
  kubeConfig.loadFromCluster();
  return kubeConfig;
}
