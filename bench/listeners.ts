// Endpoints for bench:scale: N listening sockets, one per address (bench/addresses.ts: health
// check targets 127.2.x.y, or the pod-like endpoints 127.64.x.y; from index `first` on), all on
// one port. Mode `tcp`: accept and close (a TCP check needs nothing more). Mode `http`: answer
// every request with `200` and keep the connection (an HTTP check may reuse it). Prints
// {"port": P, "addresses": [...]} once all listen. Usage:
// listeners.ts <count> [tcp|http] [port (0 = pick one)] [first] [health|pods]. Several processes
// split a large count (each kept connection is a file descriptor here too).
import net from 'node:net';
import { benchAddress, type AddressScheme } from './addresses.ts';

const count = Number(process.argv[2] ?? 1000);
const mode = process.argv[3] === 'http' ? 'http' : 'tcp';
const fixedPort = Number(process.argv[4] ?? 0);
const first = Number(process.argv[5] ?? 0);
const scheme: AddressScheme = process.argv[6] === 'pods' ? 'pods' : 'health';
const addresses = Array.from({ length: count }, (_, k) => benchAddress(scheme, first + k));

const RESPONSE = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');

/** One response per request head in the chunk (checks are GETs without a body). */
function answerRequests(this: net.Socket, chunk: Buffer): void {
  for (let at = chunk.indexOf('\r\n\r\n'); at !== -1; at = chunk.indexOf('\r\n\r\n', at + 4)) this.write(RESPONSE);
}

function onConnection(socket: net.Socket): void {
  socket.on('error', () => {});
  if (mode === 'tcp') socket.end();
  else socket.on('data', answerRequests);
}

function listenAll(port: number): Promise<net.Server[]> {
  return Promise.all(addresses.map((address) => new Promise<net.Server>((resolve, reject) => {
    const server = net.createServer(onConnection);
    server.once('error', reject);
    server.listen(port, address, 511, () => resolve(server));
  })));
}

for (let attempt = 0; ; attempt++) {
  const port = fixedPort || 20000 + Math.floor(Math.random() * 10000);
  try {
    await listenAll(port);
    process.stdout.write(`${JSON.stringify({ port, addresses })}\n`);
    break;
  } catch (err) {
    if (attempt > 10 || fixedPort) throw err;
  }
}
process.on('SIGTERM', () => process.exit(0));
