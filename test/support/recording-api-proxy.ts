// A plain-HTTP reverse proxy on 127.0.0.1 in front of a real kube-apiserver (TLS), noting each
// request's Accept and each answer's Content-Type: what a client asked for and what the server
// sent, seen from outside the client (a router's own metrics are its own claim). A router reaches
// it with a kubeconfig of `http://` and insecure-skip-tls-verify (the only plain-HTTP server the
// client takes), carrying its own token, which is passed on as is.

import { createServer, type IncomingMessage, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

export interface ProxiedRequest {
  method: string;
  /** Path and query, as the client sent them. */
  url: string;
  accept: string;
  userAgent: string;
  status: number;
  contentType: string;
}

export interface RecordingApiProxy {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  /** Every request answered so far (its headers in: the body may still be streaming). */
  readonly requests: ProxiedRequest[];
  /** A kubeconfig (YAML) for this proxy with a bearer token. */
  kubeconfig(token: string): string;
  close(): Promise<void>;
}

export async function startRecordingApiProxy(server: string, caCert: string): Promise<RecordingApiProxy> {
  const requests: ProxiedRequest[] = [];
  const sockets = new Set<Socket>();
  const proxy: Server = createServer((req: IncomingMessage, res) => {
    const headers = { ...req.headers, host: new URL(server).host };
    const upstream = httpsRequest(new URL(req.url ?? '/', server), { method: req.method, headers, ca: caCert }, (answer) => {
      requests.push({
        method: req.method ?? '', url: req.url ?? '', accept: String(req.headers.accept ?? ''), userAgent: String(req.headers['user-agent'] ?? ''),
        status: answer.statusCode ?? 0, contentType: String(answer.headers['content-type'] ?? ''),
      });
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      res.flushHeaders(); // a watch's headers come before any event, which may be long in coming
      answer.pipe(res);
      res.on('close', () => answer.destroy());
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  proxy.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  return {
    url,
    requests,
    kubeconfig: (token) => [
      'apiVersion: v1', 'kind: Config', 'clusters:', '- name: proxy', '  cluster:', `    server: ${url}`, '    insecure-skip-tls-verify: true',
      'users:', '- name: proxy', '  user:', `    token: ${token}`, 'contexts:', '- name: proxy', '  context:', '    cluster: proxy', '    user: proxy',
      'current-context: proxy', '',
    ].join('\n'),
    close: () => new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      proxy.close(() => resolve());
    }),
  };
}
