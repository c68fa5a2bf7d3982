// The node's connection to the API server: requests and list+watch loops over undici, with the
// identity of a kubeconfig file (client certificate or token; the test clusters' admin). Small on
// purpose: the node needs a handful of verbs, and a watch that re-lists after any error.

import { readFileSync } from 'node:fs';
import * as yaml from 'js-yaml';
import { Agent, fetch } from 'undici';

export interface KubeApi {
  server: string;
  /** The cluster's CA certificate (PEM), for kubeconfigs the node writes for pods. */
  caCert: string;
  /** A request; resolves with the status and the parsed JSON body (never throws on a status). */
  request<T = any>(method: string, path: string, body?: unknown, contentType?: string): Promise<{ status: number; body: T }>;
  /** Like request() but throws unless the status is 2xx. */
  must<T = any>(method: string, path: string, body?: unknown, contentType?: string): Promise<T>;
  /**
   * List then watch `path` (a collection URL, query allowed) until stop(): `onEvent` gets every
   * object of the list as ADDED, then each watch event in order. A dropped or expired watch lists
   * again (objects gone meanwhile arrive as DELETED), so the consumer only ever sees a consistent
   * sequence.
   */
  watch(path: string, onEvent: (type: 'ADDED' | 'MODIFIED' | 'DELETED', object: any) => void): { stop(): void; synced: Promise<void> };
  close(): Promise<void>;
}

interface KubeconfigFile {
  clusters: { name: string; cluster: { server: string; 'certificate-authority-data'?: string } }[];
  users: { name: string; user: { token?: string; 'client-certificate-data'?: string; 'client-key-data'?: string } }[];
  contexts: { name: string; context: { cluster: string; user: string } }[];
  'current-context': string;
}

const b64 = (s: string | undefined) => (s === undefined ? undefined : Buffer.from(s, 'base64').toString('utf8'));

export function kubeApiFromKubeconfig(file: string, userAgent = 'switchyard-test-node'): KubeApi {
  const config = yaml.load(readFileSync(file, 'utf8')) as KubeconfigFile;
  const context = config.contexts.find((c) => c.name === config['current-context'])?.context;
  const cluster = config.clusters.find((c) => c.name === context?.cluster)?.cluster;
  const user = config.users.find((u) => u.name === context?.user)?.user;
  if (!cluster || !user) throw new Error(`test node: ${file} has no current context with a cluster and a user`);
  const agent = new Agent({
    connect: { ca: b64(cluster['certificate-authority-data']), cert: b64(user['client-certificate-data']), key: b64(user['client-key-data']) },
    keepAliveTimeout: 4_000,
  });
  const server = cluster.server;
  const headers = (contentType?: string): Record<string, string> => ({
    accept: 'application/json', 'user-agent': userAgent,
    ...(user.token ? { authorization: `Bearer ${user.token}` } : {}),
    ...(contentType ? { 'content-type': contentType } : {}),
  });

  async function request<T>(method: string, path: string, body?: unknown, contentType = 'application/json') {
    const res = await fetch(server + path, {
      method, headers: headers(body === undefined ? undefined : contentType), dispatcher: agent,
      body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try { parsed = JSON.parse(text); } catch { /* not JSON */ }
    return { status: res.status, body: parsed as T };
  }
  async function must<T>(method: string, path: string, body?: unknown, contentType?: string): Promise<T> {
    const r = await request<T>(method, path, body, contentType);
    if (r.status < 200 || r.status > 299) {
      throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify((r.body as { message?: string })?.message ?? r.body)}`);
    }
    return r.body;
  }

  function watch(path: string, onEvent: (type: 'ADDED' | 'MODIFIED' | 'DELETED', object: any) => void) {
    let stopped = false;
    let abort = new AbortController();
    let markSynced!: () => void;
    const synced = new Promise<void>((resolve) => { markSynced = resolve; });
    const known = new Map<string, any>(); // uid → last object seen, to report deletions missed while re-listing
    const sep = path.includes('?') ? '&' : '?';

    async function loop(): Promise<void> {
      while (!stopped) {
        try {
          const list = await must<{ metadata: { resourceVersion: string }; items: any[] }>('GET', path);
          const seen = new Set<string>();
          for (const item of list.items) {
            seen.add(item.metadata.uid);
            onEvent(known.has(item.metadata.uid) ? 'MODIFIED' : 'ADDED', item);
            known.set(item.metadata.uid, item);
          }
          for (const [uid, object] of known) if (!seen.has(uid)) { known.delete(uid); onEvent('DELETED', object); }
          markSynced();
          let rv = list.metadata.resourceVersion;
          for (;;) {
            abort = new AbortController();
            const res = await fetch(`${server}${path}${sep}watch=1&allowWatchBookmarks=true&resourceVersion=${rv}&timeoutSeconds=240`, {
              headers: headers(), dispatcher: agent, signal: abort.signal,
            });
            if (res.status !== 200) { await res.body?.cancel(); throw new Error(`watch ${path}: ${res.status}`); }
            let buffered = '';
            let expired = false;
            for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
              buffered += Buffer.from(chunk).toString('utf8');
              let nl: number;
              while ((nl = buffered.indexOf('\n')) >= 0) {
                const line = buffered.slice(0, nl);
                buffered = buffered.slice(nl + 1);
                if (line.trim() === '') continue;
                const event = JSON.parse(line) as { type: string; object: any };
                if (event.type === 'ERROR') { expired = true; break; }
                rv = event.object?.metadata?.resourceVersion ?? rv;
                if (event.type === 'BOOKMARK') continue;
                const uid = event.object.metadata.uid as string;
                if (event.type === 'DELETED') known.delete(uid); else known.set(uid, event.object);
                onEvent(event.type as 'ADDED' | 'MODIFIED' | 'DELETED', event.object);
              }
              if (expired) break;
            }
            if (expired || stopped) break; // 410 Gone and the like: list again
          }
        } catch (err) {
          if (stopped) return;
          void err; // the API server restarting, a dropped connection: list again shortly
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    }
    void loop();
    return { stop() { stopped = true; abort.abort(); }, synced };
  }

  return { server, caCert: b64(cluster['certificate-authority-data']) ?? '', request, must, watch, close: () => agent.close() };
}
