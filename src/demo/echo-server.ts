// A tiny echo backend for the demo and the benchmark: answers every request with a JSON
// description of what it received (its own name, method, URL, headers), and echoes
// WebSocket-less bodies back for POSTs.

import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface EchoServer { name: string; port: number; server: http.Server; close(): Promise<void> }

export function startEchoServer(name: string, port: number, host = '127.0.0.1'): Promise<EchoServer> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.stringify({
        backend: name,
        method: req.method,
        url: req.url,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      }, null, 2);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) + 1, 'x-backend': name });
      res.end(`${body}\n`);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const actual = (server.address() as AddressInfo).port;
      resolve({
        name, port: actual, server,
        close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
      });
    });
  });
}
