// Responses written on a raw socket (Upgrade requests have no ServerResponse): a plugin's answer,
// a backend's refusal of the upgrade relayed as is, or the backend's 101.

import { STATUS_CODES, type OutgoingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';

const UNSAFE_VALUE = /[\r\n\0]/;
const UNSAFE_NAME = /[^!#$%&'*+\-.^_`|~0-9A-Za-z]/;

/**
 * An HTTP/1.1 response head. Connection and Upgrade come from `connection` (never from
 * `headers`); a header a plugin or backend could use to split the response is left out.
 */
export function rawHead(status: number, reason: string | undefined, headers: OutgoingHttpHeaders | null, connection: string, extra = ''): string {
  let head = `HTTP/1.1 ${status} ${reason ?? STATUS_CODES[status] ?? ''}\r\n`;
  if (headers !== null) {
    for (const name in headers) {
      const value = headers[name];
      if (value === undefined) continue;
      const lower = name.toLowerCase();
      if (lower === 'connection' || lower === 'upgrade' || lower === 'transfer-encoding' || UNSAFE_NAME.test(name)) continue;
      for (const v of Array.isArray(value) ? value : [value]) {
        const text = String(v);
        if (UNSAFE_VALUE.test(text)) continue; // never let a plugin or backend split the response
        head += `${name}: ${text}\r\n`;
      }
    }
  }
  return `${head}${extra}Connection: ${connection}\r\n\r\n`;
}

/** A whole response, then the socket is ended (Connection: close). */
export function writeRawResponse(socket: Duplex, status: number, body: string | Buffer, headers: OutgoingHttpHeaders | null): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  let hasLength = false;
  if (headers !== null) for (const name in headers) if (name.toLowerCase() === 'content-length' && headers[name] !== undefined) hasLength = true;
  const head = rawHead(status, undefined, headers, 'close', hasLength ? '' : `Content-Length: ${Buffer.byteLength(body)}\r\n`);
  socket.end(Buffer.concat([Buffer.from(head, 'latin1'), typeof body === 'string' ? Buffer.from(body) : body]));
}
