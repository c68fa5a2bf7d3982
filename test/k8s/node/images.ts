// Which local program stands for which container image on the test node. An image is matched by
// repository (the tag is ignored): its entry says what the image's ENTRYPOINT and CMD are as a
// local command line, what a `command` word means here (`node` → this Node binary), and whether
// the container gets a kubeconfig for its pod's ServiceAccount. An image that is not in the table
// is not run: its pod stays Pending with a message naming the image (never a silent success),
// unless the entry says `readyWithoutRunning` (a pod no test sends traffic to).
//
// Tests pass their own table to startNode({ images }) — usually `[...myEntries, ...DEFAULT_IMAGES]`.

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireTool } from '../../support/go-tools.ts';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));

export interface ImageEntry {
  /** Repository, e.g. `registry.k8s.io/gateway-api/echo-basic` (any tag), or a RegExp on the whole image. */
  image: string | RegExp;
  /** The image's ENTRYPOINT as a local command line (a function: it may need a built tool). */
  entrypoint?: () => string[];
  /** The image's CMD: the args when the container gives neither command nor args. */
  cmd?: string[];
  /** First words of a container's `command` (or an exec probe's) and what runs instead. */
  commands?: Record<string, () => string>;
  /** The image's ENV. */
  env?: Record<string, string>;
  /**
   * Write a kubeconfig with a token for the pod's ServiceAccount (TokenRequest bound to the pod)
   * and set KUBECONFIG: the stand-in for the in-cluster service account mount.
   */
  serviceAccountKubeconfig?: boolean;
  /** Do not run the container; report it running and ready. Say why no traffic needs it. */
  readyWithoutRunning?: string;
}

export function findImage(table: readonly ImageEntry[], image: string): ImageEntry | undefined {
  const repository = image.replace(/@sha256:[0-9a-f]+$/, '').replace(/:[^:/]+$/, '');
  return table.find((e) => (typeof e.image === 'string' ? e.image === repository : e.image.test(image)));
}

/** The images of the Gateway API conformance suite's base manifests and of switchyard's own DaemonSet. */
export const DEFAULT_IMAGES: readonly ImageEntry[] = [
  {
    // The suite's echo backend, built from the pinned module (test/tools/gateway-conformance).
    image: 'registry.k8s.io/gateway-api/echo-basic',
    entrypoint: () => [requireTool('gateway-conformance', 'echo-basic')],
  },
  {
    // The conformance base manifests' DNS server (the UDPRoute test queries foo.bar.com through a
    // Gateway): the real CoreDNS, built from its pinned module (test/tools/coredns), run with the
    // ConfigMap's Corefile (`-conf` in the container's args). Its `forward . 8.8.8.8` block never
    // dials at start (forward's health checks run only after a failed query) and the suite asks
    // only for foo.bar.com, which `whoami` answers: nothing leaves the machine.
    image: 'registry.k8s.io/coredns/coredns',
    entrypoint: () => [requireTool('coredns', 'coredns')],
  },
  {
    // The router image (Dockerfile): ENTRYPOINT ["node", "dist/cli.js"], CMD ["run"], from this checkout.
    image: 'ghcr.io/switchyard/switchyard',
    entrypoint: () => [process.execPath, path.join(REPO, 'dist/cli.js')],
    cmd: ['run'],
    commands: { node: () => process.execPath },
    serviceAccountKubeconfig: true,
  },
];
