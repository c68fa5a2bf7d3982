// What several benchmarks set up the same way: the ECDSA P-256 certificate every TLS peer
// serves, the nginx `return 200` backend, and the routes file's Service, EndpointSlice and
// edge Route for that backend.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { children, waitForPort } from './processes.ts';
import { freePort } from '../test/support/ports.ts';
import { LARGE_JSON } from './large-json.ts';

export interface BenchCertificate {
  /** PEM files: the certificate, its key, and both in one (for --default-certificate and HAProxy). */
  cert: string;
  key: string;
  combined: string;
}

/** A self-signed ECDSA P-256 certificate for `host`, written under `dir`. */
export function benchCertificate(dir: string, host: string): BenchCertificate {
  const key = path.join(dir, 'tls.key');
  const cert = path.join(dir, 'tls.crt');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert,
    '-days', '2', '-subj', `/CN=${host}`, '-addext', `subjectAltName=DNS:${host}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl req failed: ${r.stderr}`);
  const combined = path.join(dir, 'combined.pem');
  writeFileSync(combined, readFileSync(cert, 'utf8') + readFileSync(key, 'utf8'));
  return { cert, key, combined };
}

/**
 * An nginx prefix directory of its own (one worker, in the foreground, no access log, every temp
 * path inside the prefix, keep-alive without a request cap) with `http` inside its http block.
 */
export function writeNginxConfig(prefix: string, http: string): void {
  mkdirSync(path.join(prefix, 'logs'), { recursive: true });
  writeFileSync(path.join(prefix, 'nginx.conf'), `worker_processes 1; daemon off; pid ${prefix}/nginx.pid; error_log ${prefix}/logs/error.log;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path ${prefix}/body; proxy_temp_path ${prefix}/proxy; fastcgi_temp_path ${prefix}/fcgi;
  uwsgi_temp_path ${prefix}/uwsgi; scgi_temp_path ${prefix}/scgi; keepalive_requests 1000000;
  ${http} }
`);
}

/** nginx started on a prefix written by writeNginxConfig. */
export function spawnNginx(prefix: string): ChildProcess {
  return spawn('nginx', ['-p', prefix, '-c', path.join(prefix, 'nginx.conf')], { stdio: 'ignore' });
}

/** nginx (one worker) answering `200 ok`, and /large.json with bench/large-json.ts's document. */
export async function startNginxBackend(dir: string): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort();
  const prefix = path.join(dir, 'nginx-backend');
  writeNginxConfig(prefix, `server { listen 127.0.0.1:${port}; location / { return 200 "ok"; }
    location = /large.json { root ${prefix}; default_type application/json; } }`);
  writeFileSync(path.join(prefix, 'large.json'), LARGE_JSON);
  const child = spawnNginx(prefix);
  children.push(child);
  await waitForPort(port);
  return { port, child };
}

/** Service `bench` and its EndpointSlice: one endpoint, 127.0.0.1:`backend`. */
export function benchServiceYaml(backend: number): string {
  return `apiVersion: v1
kind: Service
metadata: { name: bench }
spec: { ports: [{ name: http, port: 80 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: bench-1, labels: { kubernetes.io/service-name: bench } }
addressType: IPv4
ports: [{ name: http, port: ${backend} }]
endpoints: [{ addresses: ["127.0.0.1"], conditions: { ready: true } }]
`;
}

/** Route `bench` on `host`: edge TLS with the certificate's PEMs inline, no sticky cookie. */
export function benchEdgeRouteYaml(host: string, tls: Pick<BenchCertificate, 'cert' | 'key'>, insecureEdgeTerminationPolicy?: 'Allow'): string {
  const indent = (pem: string) => readFileSync(pem, 'utf8').trim().split('\n').map((l) => `      ${l}`).join('\n');
  return `apiVersion: route.openshift.io/v1
kind: Route
metadata: { name: bench, annotations: { haproxy.router.openshift.io/disable_cookies: "true" } }
spec:
  host: ${host}
  to: { kind: Service, name: bench }
  tls:
    termination: edge
${insecureEdgeTerminationPolicy ? `    insecureEdgeTerminationPolicy: ${insecureEdgeTerminationPolicy}\n` : ''}    certificate: |
${indent(tls.cert)}
    key: |
${indent(tls.key)}
`;
}

/** Host of the route with three trivial plugins (bench/plugins/): a plugin chain's cost per request. */
export const BENCH_PLUGINS_HOST = 'bench-plugins.local';

/** Route `bench-plugins` on BENCH_PLUGINS_HOST and its three Middlewares, as YAML documents each beginning with `---`. */
export function benchPluginsYaml(): string {
  const middlewares = [['set', 'bench-set-header'], ['check', 'bench-check-header'], ['log', 'bench-log']];
  return `---
apiVersion: route.openshift.io/v1
kind: Route
metadata:
  name: bench-plugins
  annotations: { haproxy.router.openshift.io/disable_cookies: "true", switchyard.io/middlewares: "set, check, log" }
spec: { host: ${BENCH_PLUGINS_HOST}, to: { kind: Service, name: bench } }
${middlewares.map(([name, plugin]) => `---
apiVersion: switchyard.io/v1alpha1
kind: Middleware
metadata: { name: ${name} }
spec: { plugin: ${plugin} }
`).join('')}`;
}

/** The router's `--plugin` flags that load the plugins benchPluginsYaml's Middlewares name. */
export function benchPluginArgs(): string[] {
  const plugins = path.join(path.dirname(fileURLToPath(import.meta.url)), 'plugins');
  return ['set-header', 'check-header', 'log-phase'].flatMap((p) => ['--plugin', path.join(plugins, `${p}.ts`)]);
}
