// WebSocket frames (RFC 6455 §5) for tests that speak WebSocket on something `ws` cannot drive:
// an HTTP/2 stream opened by extended CONNECT (RFC 8441). Client frames are masked; server frames
// are read whole from a stream's data.

import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';

export const Opcode = { TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 } as const;

export interface WsFrame { opcode: number; payload: Buffer }

/** One final, masked client frame. */
export function clientFrame(opcode: number, payload: string | Buffer): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const mask = randomBytes(4);
  const length = data.length;
  const head = length < 126 ? Buffer.from([0x80 | opcode, 0x80 | length])
    : length < 65536 ? Buffer.from([0x80 | opcode, 0x80 | 126, length >> 8, length & 0xff])
      : (() => { const h = Buffer.alloc(10); h[0] = 0x80 | opcode; h[1] = 0x80 | 127; h.writeBigUInt64BE(BigInt(length), 2); return h; })();
  const masked = Buffer.alloc(length);
  for (let i = 0; i < length; i++) masked[i] = data[i]! ^ mask[i % 4]!;
  return Buffer.concat([head, mask, masked]);
}

/** Reads the server's (unmasked) frames from `stream`, in order. */
export class FrameReader {
  #buffer = Buffer.alloc(0);
  readonly #frames: WsFrame[] = [];
  readonly #waiters: Array<(f: WsFrame) => void> = [];

  constructor(stream: Duplex) {
    stream.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      this.#parse();
    });
  }

  /** The next frame (resolves as soon as it is whole). */
  next(): Promise<WsFrame> {
    const f = this.#frames.shift();
    if (f !== undefined) return Promise.resolve(f);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  #parse(): void {
    for (;;) {
      const b = this.#buffer;
      if (b.length < 2) return;
      let length = b[1]! & 0x7f;
      let offset = 2;
      if (length === 126) { if (b.length < 4) return; length = b.readUInt16BE(2); offset = 4; }
      else if (length === 127) { if (b.length < 10) return; length = Number(b.readBigUInt64BE(2)); offset = 10; }
      if (b.length < offset + length) return;
      const frame = { opcode: b[0]! & 0x0f, payload: b.subarray(offset, offset + length) };
      this.#buffer = b.subarray(offset + length);
      const waiter = this.#waiters.shift();
      if (waiter !== undefined) waiter(frame);
      else this.#frames.push(frame);
    }
  }
}
