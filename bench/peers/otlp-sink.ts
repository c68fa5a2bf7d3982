// OTLP/HTTP collector stand-in for `npm run bench`'s tracing rows: accepts every export
// (POST /v1/traces, protobuf), reads the body and answers 200 with an empty
// ExportTraceServiceResponse (zero bytes), as a collector that keeps up would. Its own process,
// so its CPU is not counted as the router's. Usage: node otlp-sink.ts; prints {"port": P}.
// On SIGTERM prints {"exports": N, "bytes": B}.
import http from 'node:http';

let exports = 0;
let bytes = 0;
const server = http.createServer((req, res) => {
  req.on('data', (chunk: Buffer) => { bytes += chunk.length; });
  req.on('end', () => {
    exports++;
    res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': 0 });
    res.end();
  });
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`);
});
process.on('SIGTERM', () => {
  process.stdout.write(`${JSON.stringify({ exports, bytes })}\n`);
  process.exit(0);
});
