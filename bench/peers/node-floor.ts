// Peer for `npm run bench`: the Node floor — servers that answer `200 ok` themselves, proxying
// nothing, in one process. A Node proxy does at least this much work per request (parse, route to
// a handler, write an answer) and more (the upstream exchange), so its ratio to this row is the
// share of Node's own ceiling it reaches. Three listeners, as the router has: HTTP/1.1 (node:http),
// HTTPS/1.1 (node:https, keep-alive) and HTTP/2 over TLS (node:http2, the core `stream` API:
// respond + end, no compat request/response objects). Usage: node node-floor.ts <tls.crt>
// <tls.key>; prints {"http": P, "https": P, "h2": P}.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import type { AddressInfo, Server } from 'node:net';

const [certFile, keyFile] = process.argv.slice(2);
const cert = readFileSync(certFile!);
const key = readFileSync(keyFile!);
const BODY = Buffer.from('ok');

const answer = (_req: http.IncomingMessage, res: http.ServerResponse): void => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': BODY.length });
  res.end(BODY);
};
const plain = http.createServer({ keepAliveTimeout: 65_000 }, answer);
const secure = https.createServer({ cert, key, minVersion: 'TLSv1.3', keepAliveTimeout: 65_000 }, answer);
const h2 = http2.createSecureServer({ cert, key, minVersion: 'TLSv1.3' });
h2.on('stream', (stream) => {
  stream.respond({ ':status': 200, 'content-type': 'text/plain', 'content-length': BODY.length });
  stream.end(BODY);
});

const listen = (server: Server): Promise<number> => new Promise((resolve) => {
  server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
});
const ports = { http: await listen(plain), https: await listen(secure), h2: await listen(h2) };
process.stdout.write(`${JSON.stringify(ports)}\n`);
process.on('SIGTERM', () => process.exit(0));
