// The node's kubelet endpoint, as far as kube-apiserver proxies to it: GET
// /containerLogs/{namespace}/{pod}/{container} (`kubectl logs`, pods/log), with sinceTime,
// sinceSeconds, timestamps, tailLines and limitBytes (container-logs.ts). HTTPS on the node's
// address with a serving certificate of the cluster's CA (kube-apiserver verifies it with
// --kubelet-certificate-authority), and only clients with a certificate of that CA (kube-apiserver's
// --kubelet-client-certificate) are served — the real kubelet asks the API server to authorize
// them instead. `follow` and `previous` are refused (400): a container's restarts share one file
// here, and nothing in the tests streams logs.

import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { readContainerLog, type LogOptions } from './container-logs.ts';

export interface KubeletTls {
  /** PEM serving certificate (for the node's address) and key, and the CA that signs clients. */
  cert: string;
  key: string;
  ca: string;
}

/** The log file of a container of a pod this node runs, or undefined. */
export type LogFileLookup = (namespace: string, pod: string, container: string) => string | undefined;

export interface KubeletServer {
  port: number;
  close(): Promise<void>;
}

function logOptions(query: URLSearchParams): LogOptions | string {
  const options: LogOptions = {};
  for (const flag of ['follow', 'previous']) if (query.get(flag) === 'true') return `${flag} is not supported by the test node`;
  const sinceTime = query.get('sinceTime');
  const sinceSeconds = query.get('sinceSeconds');
  if (sinceTime !== null) {
    const t = new Date(sinceTime);
    if (Number.isNaN(t.getTime())) return `invalid sinceTime ${sinceTime}`;
    options.since = t;
  } else if (sinceSeconds !== null) {
    const s = Number(sinceSeconds);
    if (!Number.isInteger(s) || s < 1) return `invalid sinceSeconds ${sinceSeconds}`;
    options.since = new Date(Date.now() - s * 1000);
  }
  if (query.get('timestamps') === 'true') options.timestamps = true;
  for (const [name, key] of [['tailLines', 'tailLines'], ['limitBytes', 'limitBytes']] as const) {
    const v = query.get(name);
    if (v === null) continue;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) return `invalid ${name} ${v}`;
    options[key] = n;
  }
  return options;
}

export async function startKubeletServer(address: string, tls: KubeletTls, lookup: LogFileLookup): Promise<KubeletServer> {
  const server = https.createServer({ cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://node');
    const parts = url.pathname.split('/').slice(1).map(decodeURIComponent);
    const reply = (status: number, text: string) => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    if (req.method !== 'GET' || parts[0] !== 'containerLogs' || parts.length !== 4) {
      reply(404, `${req.method} ${url.pathname}: not served by the test node\n`);
      return;
    }
    const [, namespace, pod, container] = parts as [string, string, string, string];
    const file = lookup(namespace, pod, container);
    if (file === undefined) {
      reply(404, `container ${container} of pod ${namespace}/${pod} is not running on this node\n`);
      return;
    }
    const options = logOptions(url.searchParams);
    if (typeof options === 'string') {
      reply(400, `${options}\n`);
      return;
    }
    reply(200, readContainerLog(file, options));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, address, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
