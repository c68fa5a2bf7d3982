// A backend that speaks raw bytes: it records everything each connection sends and parses it
// into requests (head, decoded body) — to check that the router forwarded exactly the requests
// the client meant — and answers each request with bytes chosen by the test from the request
// line, so tests can send what node:http never would (interim responses, invalid status lines).

import net from 'node:net';

export interface RecordedRequest {
  method: string;
  target: string;
  /** Lower-case names, values in order. */
  headers: Map<string, string[]>;
  /** Decoded body (chunked framing removed), latin1. */
  body: string;
  connection: number;
}

export interface RawBackend {
  port: number;
  /** Bytes received, one entry per accepted connection (latin1). */
  connections: string[];
  /** Every request received so far, in arrival order. */
  requests: RecordedRequest[];
  /** Every request head received so far (request line + headers). */
  heads(): string[];
  close(): Promise<void>;
}

export type RawAnswer = (requestLine: string, request: RecordedRequest) => string | null;

/** `answer` returns the raw response bytes (null: reset the connection); default: 200 echoing the request line. */
export async function startRawBackend(answer: RawAnswer = okAnswer, options: { allowHalfOpen?: boolean } = {}): Promise<RawBackend> {
  const connections: string[] = [];
  const requests: RecordedRequest[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: options.allowHalfOpen ?? false }, (socket) => {
    const index = connections.push('') - 1;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let pending = '';
    let upgraded = false;
    socket.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1');
      connections[index] += text;
      if (upgraded) return;
      pending += text;
      for (;;) {
        const parsed = parseRequest(pending, index);
        if (parsed === null) return;
        pending = pending.slice(parsed.consumed);
        requests.push(parsed.request);
        const reply = answer(`${parsed.request.method} ${parsed.request.target} HTTP/1.1`, parsed.request);
        if (reply === null) { socket.resetAndDestroy(); return; }
        if (!socket.destroyed) socket.write(reply);
        if (reply.startsWith('HTTP/1.1 101')) { upgraded = true; return; }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections,
    requests,
    heads: () => connections.flatMap((c) => c.split('\r\n\r\n').filter((p) => /^[A-Z]+ \S+ HTTP\/1\.[01]\r\n/.test(p))),
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

/** One complete request at the start of `text`, or null while incomplete. */
function parseRequest(text: string, connection: number): { request: RecordedRequest; consumed: number } | null {
  const end = text.indexOf('\r\n\r\n');
  if (end === -1) return null;
  const lines = text.slice(0, end).split('\r\n');
  const [method = '', target = ''] = lines[0]!.split(' ');
  const headers = new Map<string, string[]>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()]);
  }
  let offset = end + 4;
  let body = '';
  const te = (headers.get('transfer-encoding') ?? []).join(',').toLowerCase();
  if (te.includes('chunked')) {
    for (;;) {
      const lineEnd = text.indexOf('\r\n', offset);
      if (lineEnd === -1) return null;
      const size = parseInt(text.slice(offset, lineEnd).split(';')[0]!, 16);
      offset = lineEnd + 2;
      if (size === 0) {
        const trailerEnd = text.indexOf('\r\n\r\n', offset - 2);
        if (trailerEnd === -1) return null;
        offset = trailerEnd + 4;
        break;
      }
      if (text.length < offset + size + 2) return null;
      body += text.slice(offset, offset + size);
      offset += size + 2;
    }
  } else {
    const length = Number(headers.get('content-length')?.[0] ?? 0);
    if (text.length < offset + length) return null;
    body = text.slice(offset, offset + length);
    offset += length;
  }
  return { request: { method, target, headers, body, connection }, consumed: offset };
}

export function okAnswer(requestLine: string): string {
  const body = `${requestLine}\n`;
  return `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
}
