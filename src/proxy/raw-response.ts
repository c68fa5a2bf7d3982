// A plugin's answer written on a raw socket (Upgrade requests have no ServerResponse).

import { STATUS_CODES, type OutgoingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';

export function writeRawResponse(socket: Duplex, status: number, body: string | Buffer, headers: OutgoingHttpHeaders | null): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n`;
  let hasLength = false;
  if (headers !== null) {
    for (const name in headers) {
      const value = headers[name];
      if (value === undefined) continue;
      if (name.toLowerCase() === 'content-length') { hasLength = true; }
      if (name.toLowerCase() === 'connection') continue;
      for (const v of Array.isArray(value) ? value : [value]) {
        const text = String(v);
        if (/[\r\n]/.test(text) || /[\r\n:]/.test(name)) continue; // never let a plugin split the response
        head += `${name}: ${text}\r\n`;
      }
    }
  }
  if (!hasLength) head += `Content-Length: ${Buffer.byteLength(body)}\r\n`;
  socket.end(Buffer.concat([Buffer.from(`${head}Connection: close\r\n\r\n`, 'latin1'), typeof body === 'string' ? Buffer.from(body) : body]));
}
