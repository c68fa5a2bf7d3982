// Benchmark backend: the smallest useful HTTP server (fixed 2-byte body), in its own process.
import http from 'node:http';

const port = Number(process.argv[2] ?? 0);
const body = Buffer.from('ok');
const server = http.createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 65_000;
server.listen(port, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof address === 'object' && address ? address.port : port })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
