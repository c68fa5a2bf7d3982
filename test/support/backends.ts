// Real HTTP backends for tests, on 127.0.0.1 ephemeral ports: an echo server that names
// itself, optional delay/status per request, WebSocket echo (ws), and connection counting.

import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer } from 'ws';

export interface Backend {
  name: string;
  port: number;
  server: http.Server;
  /** Requests received, in order. */
  requests: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders }>;
  /** Open TCP connections right now. */
  openConnections(): number;
  /** TCP connections accepted so far (health-check probes included). */
  acceptedConnections(): number;
  /** Destroy the sockets of upgraded (WebSocket) connections. */
  dropUpgraded(): void;
  /** Stop listening and drop every connection. */
  close(): Promise<void>;
}

export interface BackendOptions {
  /** Override the response: return true when handled. */
  handler?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean | void;
  websocket?: boolean;
  port?: number;
}

const open = new Set<Backend>();

export async function startBackend(name: string, options: BackendOptions = {}): Promise<Backend> {
  const requests: Backend['requests'] = [];
  const sockets = new Set<Socket>();
  const upgraded = new Set<import('node:stream').Duplex>();
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    if (options.handler?.(req, res)) return;
    const url = new URL(req.url ?? '/', 'http://x');
    const delay = Number(url.searchParams.get('delay') ?? 0);
    const status = Number(url.searchParams.get('status') ?? 200);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const respond = () => {
        const body = JSON.stringify({ backend: name, method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() });
        res.writeHead(status, { 'content-type': 'application/json', 'x-backend': name });
        res.end(body);
      };
      if (delay > 0) setTimeout(respond, delay); else respond();
    });
  });
  let accepted = 0;
  server.on('connection', (s: Socket) => { accepted++; sockets.add(s); s.once('close', () => sockets.delete(s)); });
  if (options.websocket) {
    const wss = new WebSocketServer({ noServer: true });
    server.on('upgrade', (req, socket, head) => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
      upgraded.add(socket);
      socket.once('close', () => upgraded.delete(socket));
      if (String(req.headers.upgrade).toLowerCase() !== 'websocket') {
        // Any other protocol: switch, then echo raw bytes prefixed with the backend name.
        socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${req.headers.upgrade}\r\nConnection: Upgrade\r\n\r\n`);
        socket.on('data', (chunk: Buffer) => socket.write(`${name}:${chunk.toString()}`));
        socket.on('end', () => socket.end());
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        ws.on('message', (data, isBinary) => ws.send(isBinary ? data : `${name}:${data.toString()}`));
      });
    });
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const backend: Backend = {
    name,
    port: (server.address() as AddressInfo).port,
    server,
    requests,
    openConnections: () => sockets.size,
    acceptedConnections: () => accepted,
    dropUpgraded: () => { for (const s of upgraded) s.destroy(); },
    close: () => new Promise<void>((resolve) => {
      open.delete(backend);
      for (const s of sockets) s.destroy();
      for (const s of upgraded) s.destroy();
      server.close(() => resolve());
    }),
  };
  open.add(backend);
  return backend;
}

export async function closeAllBackends(): Promise<void> {
  await Promise.all([...open].map((b) => b.close()));
}

/** YAML for a Service + EndpointSlice pointing at 127.0.0.1 ports. */
export function serviceYaml(name: string, ports: number[], options: { namespace?: string; portName?: string; notReady?: number[]; appProtocol?: string } = {}): string {
  const ns = options.namespace ?? 'default';
  const portName = options.portName ?? 'http';
  // The EndpointSlice controller copies the Service port's appProtocol onto the slice port.
  const app = options.appProtocol !== undefined ? `, appProtocol: ${JSON.stringify(options.appProtocol)}` : '';
  // One slice per port, since each endpoint here differs only by port (all on 127.0.0.1).
  return [
    `apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: ${ns} }
spec:
  ports: [{ name: ${portName}, port: 80${app} }]`,
    ...ports.map((port, i) => `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ${name}-${i}
  namespace: ${ns}
  labels: { kubernetes.io/service-name: ${name} }
addressType: IPv4
ports: [{ name: ${portName}, port: ${port}${app} }]
endpoints:
  - addresses: ["127.0.0.1"]
    conditions: { ready: ${!(options.notReady ?? []).includes(port)} }`),
  ].join('\n---\n');
}

export function routeYaml(name: string, host: string, service: string, extra: { namespace?: string; path?: string; annotations?: Record<string, string>; spec?: string } = {}): string {
  const ns = extra.namespace ?? 'default';
  const annotations = extra.annotations
    ? `\n  annotations:\n${Object.entries(extra.annotations).map(([k, v]) => `    ${k}: ${JSON.stringify(v)}`).join('\n')}`
    : '';
  return `apiVersion: route.openshift.io/v1
kind: Route
metadata:
  name: ${name}
  namespace: ${ns}${annotations}
spec:
  host: ${host}${extra.path ? `\n  path: ${extra.path}` : ''}
  to: { kind: Service, name: ${service} }${extra.spec ? `\n${extra.spec}` : ''}`;
}
