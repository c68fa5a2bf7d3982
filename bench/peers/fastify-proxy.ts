// Peer for `npm run bench`: fastify with @fastify/http-proxy (undici keep-alive pool to the
// upstream), one process. Usage: node fastify-proxy.ts <upstream port>; prints {"port": P}.
import Fastify from 'fastify';
import proxy from '@fastify/http-proxy';

const app = Fastify({ logger: false });
await app.register(proxy, { upstream: `http://127.0.0.1:${process.argv[2]}` });
const address = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`${JSON.stringify({ port: Number(new URL(address).port) })}\n`);
process.on('SIGTERM', () => process.exit(0));
