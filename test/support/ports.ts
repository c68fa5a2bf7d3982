// Free TCP ports on 127.0.0.1 for tests that need a known range (autoport picks from one).

import net from 'node:net';

/**
 * Listen on 127.0.0.1:port, or null when it is taken. It only holds the port: a connection is
 * closed at once, and a stranger's reset (another test's router probing what was its endpoint's
 * port, with a TCP check that ends in RST) is not an uncaught ECONNRESET in the test process.
 */
export function listenOn(port: number): Promise<net.Server | null> {
  return new Promise((resolve) => {
    const s = net.createServer(closeAtOnce);
    s.once('error', () => resolve(null));
    s.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve(s));
  });
}

function closeAtOnce(socket: net.Socket): void {
  socket.on('error', () => {});
  socket.destroy();
}

/**
 * Start of `size` consecutive ports that were free on 127.0.0.1 a moment ago. Chosen below
 * Linux's ephemeral range (32768–60999): there, the local ports of the many outgoing test
 * connections (and their TIME_WAIT) made whole blocks unavailable under load.
 */
export async function freeBlock(size: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 10000 + Math.floor(Math.random() * (32000 - 10000 - size));
    const held: net.Server[] = [];
    for (let p = base; p < base + size; p++) {
      const s = await listenOn(p);
      if (s === null) break;
      held.push(s);
    }
    await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
    if (held.length === size) return base;
  }
  throw new Error('no free block of ports');
}

/**
 * A port that was free on 127.0.0.1 a moment ago, for a server the router binds later (a Gateway
 * listener's port) or a backend that must refuse connections. From freeBlock's range, not port 0:
 * a port the kernel handed out for port 0 goes back to the ephemeral range when closed, where the
 * next listen(0) of a concurrent test or an outgoing connection's local port can take it before
 * the router binds it (EADDRINUSE in a full run); below that range only explicit binds happen.
 */
export function freePort(): Promise<number> {
  return freeBlock(1);
}
