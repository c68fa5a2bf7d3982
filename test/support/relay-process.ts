// `switchyard kube-relay` (dist/cli.js) as a child process on 127.0.0.1 with ephemeral ports, its
// serving certificate issued by a CA of the test's own (for 127.0.0.1), and kubeconfigs that point
// a router at it with a bearer token.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCa, issueCertificate, type TestCertificate } from './certs.ts';
import { kubeconfigYaml } from './real-apiserver-pki.ts';
import { followLogs } from './logged-process.ts';
import { CLI } from './router-process.ts';

const EXIT_WITH_PARENT = fileURLToPath(new URL('./exit-with-parent.ts', import.meta.url));

export interface RelayProcess {
  child: ChildProcess;
  /** https://127.0.0.1:<port> */
  server: string;
  adminUrl: string;
  ca: string;
  logs: Array<Record<string, unknown>>;
  /** A kubeconfig file for this relay, with `token` as the user. */
  kubeconfig(token: string): string;
  /** The relay's /metrics as text. */
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

export interface RelayTls { ca: TestCertificate; cert: string; key: string; dir: string }

/** A CA and a serving certificate for 127.0.0.1 (reused across restarts of one relay). */
export async function relayTls(): Promise<RelayTls> {
  const ca = await createCa('kube relay test CA');
  const leaf = await issueCertificate(ca, ['localhost'], { ips: ['127.0.0.1'] });
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-relay-'));
  writeFileSync(path.join(dir, 'tls.crt'), leaf.cert);
  writeFileSync(path.join(dir, 'tls.key'), leaf.key);
  return { ca, cert: leaf.cert, key: leaf.key, dir };
}

export async function startRelay(options: { kubeconfig: string; tls: RelayTls; port?: number; args?: string[]; cli?: string }): Promise<RelayProcess> {
  const { tls } = options;
  const child = spawn(process.execPath, ['--import', EXIT_WITH_PARENT, options.cli ?? CLI, 'kube-relay',
    '--kubeconfig', options.kubeconfig, '--bind', '127.0.0.1', '--port', String(options.port ?? 0), '--admin-port', '0',
    '--tls-cert-file', path.join(tls.dir, 'tls.crt'), '--tls-key-file', path.join(tls.dir, 'tls.key'), ...(options.args ?? [])], {
    stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, RELAY_LOG_LEVEL: process.env['RELAY_LOG_LEVEL'] ?? 'info' },
  });
  const proc = followLogs(child, 'kube-relay');
  // A relay that never got ready is killed here: the caller has no handle to stop it with.
  const line = await proc.waitForLog((l) => l['msg'] === 'listening', 180_000).catch((err: Error) => {
    child.kill('SIGKILL');
    throw err;
  });
  const server = `https://127.0.0.1:${line['port'] as number}`;
  const adminUrl = `http://127.0.0.1:${line['admin'] as number}`;
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-relay-kubeconfig-'));
  let n = 0;
  return {
    child, server, adminUrl, ca: tls.ca.cert, logs: proc.logs,
    kubeconfig(token) {
      const file = path.join(dir, `kubeconfig-${n++}`);
      writeFileSync(file, kubeconfigYaml(server, tls.ca.cert, { token }));
      return file;
    },
    async metrics() {
      return (await fetch(`${adminUrl}/metrics`)).text();
    },
    async stop() {
      await proc.stop();
    },
  };
}
