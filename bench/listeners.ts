// Health check targets for bench:scale: N listening sockets, one per address 127.2.x.y, all
// on one port, accepting and closing connections (a TCP check needs nothing more). Prints
// {"port": P, "addresses": [...]} once all listen.
import net from 'node:net';

const count = Number(process.argv[2] ?? 1000);
const addresses = Array.from({ length: count }, (_, i) => `127.2.${(i >> 8) & 255}.${i & 255}`);

function listenAll(port: number): Promise<net.Server[]> {
  return Promise.all(addresses.map((address) => new Promise<net.Server>((resolve, reject) => {
    const server = net.createServer((socket) => socket.on('error', () => {}).end());
    server.once('error', reject);
    server.listen(port, address, 511, () => resolve(server));
  })));
}

for (let attempt = 0; ; attempt++) {
  const port = 20000 + Math.floor(Math.random() * 10000);
  try {
    await listenAll(port);
    process.stdout.write(`${JSON.stringify({ port, addresses })}\n`);
    break;
  } catch (err) {
    if (attempt > 10) throw err;
  }
}
process.on('SIGTERM', () => process.exit(0));
