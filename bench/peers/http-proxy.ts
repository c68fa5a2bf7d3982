// Peer for `npm run bench`: node-http-proxy's web() behind node:http, with a keep-alive agent
// to the upstream, one process. Usage: node http-proxy.ts <upstream port>; prints {"port": P}.
import http from 'node:http';
import httpProxy from 'http-proxy';

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const proxy = httpProxy.createProxyServer({ target: `http://127.0.0.1:${process.argv[2]}`, agent });
proxy.on('error', (_err, _req, res) => { if ('writeHead' in res && !res.headersSent) { res.writeHead(502); res.end(); } });
const server = http.createServer((req, res) => proxy.web(req, res));
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
