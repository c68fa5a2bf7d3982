// A backend that speaks raw bytes: it records everything each connection sends (to check that
// the router forwarded exactly the request the client meant) and answers each request head with
// bytes chosen by the test from the request line — so tests can send what node:http never would
// (interim responses, invalid status lines).

import net from 'node:net';

export interface RawBackend {
  port: number;
  /** Bytes received, one entry per accepted connection (latin1). */
  connections: string[];
  /** Every request head received so far (request line + headers, without the body). */
  heads(): string[];
  close(): Promise<void>;
}

/** `answer(requestLine)` returns the raw response bytes (null: reset the connection); default: 200 echoing the request line. */
export async function startRawBackend(answer: (requestLine: string) => string | null = okAnswer, options: { allowHalfOpen?: boolean } = {}): Promise<RawBackend> {
  const connections: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: options.allowHalfOpen ?? false }, (socket) => {
    const index = connections.push('') - 1;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let pending = '';
    socket.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1');
      connections[index] += text;
      pending += text;
      // Answer each complete head; bodies are consumed by Content-Length or chunked framing.
      for (;;) {
        const end = pending.indexOf('\r\n\r\n');
        if (end === -1) return;
        const head = pending.slice(0, end);
        const bodyLength = framedBodyLength(head, pending.slice(end + 4));
        if (bodyLength === -1) return; // wait for the rest of the body
        pending = pending.slice(end + 4 + bodyLength);
        const line = head.slice(0, head.indexOf('\r\n') === -1 ? head.length : head.indexOf('\r\n'));
        const reply = answer(line);
        if (reply === null) { socket.resetAndDestroy(); return; }
        if (!socket.destroyed) socket.write(reply);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections,
    heads: () => connections.flatMap((c) => c.split('\r\n\r\n').filter((p) => /^[A-Z]+ \S+ HTTP\/1\.[01]\r\n/.test(p))),
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

/** Length of the framed body at the start of `rest`, or -1 while incomplete. */
function framedBodyLength(head: string, rest: string): number {
  const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
    const end = rest.indexOf('\r\n0\r\n\r\n');
    if (rest.startsWith('0\r\n\r\n')) return 5;
    return end === -1 ? -1 : end + 7;
  }
  if (cl) {
    const n = Number(cl[1]);
    return rest.length >= n ? n : -1;
  }
  return 0;
}

export function okAnswer(requestLine: string): string {
  const body = `${requestLine}\n`;
  return `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
}
