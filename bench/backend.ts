// Benchmark backend: the smallest useful HTTP server (fixed 2-byte body), in its own process;
// `/large.json` is the 100 KB JSON document of bench/large-json.ts.
import http from 'node:http';
import { LARGE_JSON } from './large-json.ts';

const port = Number(process.argv[2] ?? 0);
const body = Buffer.from('ok');
const json = Buffer.from(LARGE_JSON);
const server = http.createServer((req, res) => {
  if (req.url === '/large.json') {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': json.length });
    res.end(json);
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 65_000;
server.listen(port, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof address === 'object' && address ? address.port : port })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
