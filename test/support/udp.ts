// UDP for the tests: echo backends, client sockets, a closed port, and one datagram's round trip.
// Every socket a UdpSockets makes stays open until its close() (a file's test.after.always): a
// client's port is its session at the router, and a port the OS handed out again would be the
// session of an earlier client.
import dgram from 'node:dgram';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';

export interface UdpBackend {
  port: number;
  socket: dgram.Socket;
  /** The sender (`address:port`) of each datagram received, in order. */
  sources: string[];
}

/** An answer and where it came from (`address:port`). */
export interface Reply { text: string; from: string }

export class UdpSockets {
  readonly #open: dgram.Socket[] = [];

  /** A UDP echo backend on 127.0.0.1: answers each datagram with `<name>:<datagram>`. */
  async backend(name: string): Promise<UdpBackend> {
    const socket = await this.client();
    const sources: string[] = [];
    socket.on('message', (msg, rinfo) => {
      sources.push(`${rinfo.address}:${rinfo.port}`);
      socket.send(`${name}:${msg.toString()}`, rinfo.port, rinfo.address);
    });
    return { port: (socket.address() as AddressInfo).port, socket, sources };
  }

  /** A socket on `address` with a port of its own (a session of its own at the router). */
  async client(address = '127.0.0.1'): Promise<dgram.Socket> {
    const socket = dgram.createSocket('udp4');
    this.#open.push(socket);
    socket.bind(0, address);
    await once(socket, 'listening');
    return socket;
  }

  close(): void {
    for (const s of this.#open) try { s.close(); } catch { /* closed */ }
  }
}

/** A free UDP port (bound, then closed): a listener may take it; until one does, datagrams to it are refused (port unreachable). */
export async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as AddressInfo).port;
  s.close();
  return port;
}

/** Send one datagram and resolve with the next answer, and where it came from. */
export async function exchange(client: dgram.Socket, address: string, port: number, text: string): Promise<Reply> {
  const answer = once(client, 'message');
  client.send(text, port, address);
  const [msg, rinfo] = (await answer) as [Buffer, dgram.RemoteInfo];
  return { text: msg.toString(), from: `${rinfo.address}:${rinfo.port}` };
}

/** Send one datagram and resolve with the next answer's text. */
export async function ask(client: dgram.Socket, address: string, port: number, text: string): Promise<string> {
  return (await exchange(client, address, port, text)).text;
}
