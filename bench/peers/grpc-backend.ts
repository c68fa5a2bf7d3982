// The gRPC unary backend of `npm run bench:grpc`: a Node http2 server (stream API, h2c) that
// answers every call with one 5-byte-framed message and grpc-status 0 in the trailers — the
// cheapest correct gRPC answer, so the proxies are what is measured. Prints {"port":N}.

import http2 from 'node:http2';

const MESSAGE = Buffer.from([0, 0, 0, 0, 2, 0x08, 0x01]);
const server = http2.createServer({ settings: { maxConcurrentStreams: 1000 } });
server.on('stream', (stream) => {
  stream.on('error', () => {});
  stream.resume();
  stream.on('end', () => {
    if (stream.destroyed) return;
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(MESSAGE);
  });
});
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as import('node:net').AddressInfo).port })}\n`);
});
