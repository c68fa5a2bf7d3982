// A TCP proxy on 127.0.0.1 in front of a server (the API server, for one router): it counts the
// connections a client opens and the bytes each way, and can cut them all. TLS passes through
// untouched (the client verifies the server's certificate for 127.0.0.1 as before).

import net from 'node:net';
import { once } from 'node:events';

export interface TcpProxy {
  /** 127.0.0.1:<port> */
  readonly port: number;
  /** Connections accepted so far. */
  connections(): number;
  /** Connections open now. */
  open(): number;
  /** Bytes client→server and server→client so far. */
  bytes(): { up: number; down: number };
  /** Cut every open connection (both sides reset). */
  dropAll(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let accepted = 0;
  let up = 0;
  let down = 0;
  const sockets = new Set<net.Socket>();
  const clients = new Set<net.Socket>();
  const server = net.createServer((client) => {
    accepted++;
    clients.add(client);
    client.once('close', () => clients.delete(client));
    const upstream = net.connect(target.port, target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
      s.on('error', () => { client.destroy(); upstream.destroy(); });
    }
    client.on('data', (chunk: Buffer) => { up += chunk.length; });
    upstream.on('data', (chunk: Buffer) => { down += chunk.length; });
    client.pipe(upstream);
    upstream.pipe(client);
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => accepted,
    open: () => clients.size,
    bytes: () => ({ up, down }),
    dropAll: () => { for (const s of sockets) s.resetAndDestroy(); },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
