// A raw HTTP/2 client for attack tests: writes frames byte by byte (HEADERS with literal HPACK
// fields, RST_STREAM, …) on a TLS connection that negotiated h2, and reads the server's frames
// back (type, flags, stream, payload) without decoding their headers — enough to see GOAWAY,
// RST_STREAM and which streams got a HEADERS answer. A Node http2 client cannot do this: it
// queues streams beyond the server's limit and never sends HEADERS + RST_STREAM back to back.

import net from 'node:net';
import tls from 'node:tls';

export const FrameType = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const ErrorCode = { NO_ERROR: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2, STREAM_CLOSED: 5, REFUSED_STREAM: 7, CANCEL: 8, ENHANCE_YOUR_CALM: 0xb } as const;
export const FLAG_END_STREAM = 0x1;
const FLAG_END_HEADERS = 0x4;
export const FLAG_ACK = 0x1;
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export interface Frame { type: number; flags: number; stream: number; payload: Buffer }

export interface GoAway { lastStream: number; code: number }

/** A frame header plus payload. */
export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** HPACK integer with an N-bit prefix (RFC 7541 §5.1); `first` holds the bits above the prefix. */
function hpackInteger(value: number, prefix: number, first: number): number[] {
  const max = (1 << prefix) - 1;
  if (value < max) return [first | value];
  const out = [first | max];
  value -= max;
  while (value >= 128) { out.push((value % 128) + 128); value = Math.floor(value / 128); }
  out.push(value);
  return out;
}

/** A header block of literal fields without indexing, new names, no Huffman (RFC 7541 §6.2.2). */
export function headerBlock(headers: ReadonlyArray<readonly [string, string]>): Buffer {
  const bytes: number[] = [];
  for (const [name, value] of headers) {
    bytes.push(0x00);
    const n = Buffer.from(name, 'latin1');
    const v = Buffer.from(value, 'latin1');
    bytes.push(...hpackInteger(n.length, 7, 0), ...n, ...hpackInteger(v.length, 7, 0), ...v);
  }
  return Buffer.from(bytes);
}

export function headersFrame(stream: number, headers: ReadonlyArray<readonly [string, string]>, endStream = true): Buffer {
  return frame(FrameType.HEADERS, FLAG_END_HEADERS | (endStream ? FLAG_END_STREAM : 0), stream, headerBlock(headers));
}

export function rstFrame(stream: number, code: number = ErrorCode.CANCEL): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(code);
  return frame(FrameType.RST_STREAM, 0, stream, payload);
}

export function dataFrame(stream: number, data: Buffer | string, endStream = true): Buffer {
  return frame(FrameType.DATA, endStream ? FLAG_END_STREAM : 0, stream, Buffer.from(data));
}

/** A PING (not an ACK) with 8 bytes of `opaque` data. */
export function pingFrame(opaque: string): Buffer {
  return frame(FrameType.PING, 0, 0, Buffer.from(opaque.padEnd(8, '\0').slice(0, 8), 'latin1'));
}

/** A GET for `path` on `authority`. */
export function getRequest(authority: string, path: string): Array<[string, string]> {
  return [[':method', 'GET'], [':scheme', 'https'], [':authority', authority], [':path', path]];
}

export class RawH2Connection {
  readonly socket: net.Socket;
  readonly frames: Frame[] = [];
  /** The first GOAWAY the server sent, once it has. */
  goaway: GoAway | null = null;
  closed = false;
  #buffer: Buffer = Buffer.alloc(0);
  #waiters: Array<{ until: () => boolean; resolve: () => void }> = [];

  /** `localAddress`: the client address the router sees (127.x). Rejects when the router refuses the connection. */
  static async open(options: { port: number; servername: string; ca: string; host?: string; localAddress?: string }): Promise<RawH2Connection> {
    const socket = tls.connect({
      host: options.host ?? '127.0.0.1', port: options.port, servername: options.servername, ca: options.ca, ALPNProtocols: ['h2'],
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', () => resolve());
      socket.once('error', reject);
      socket.once('close', () => reject(new Error('closed before the TLS handshake completed')));
    });
    if (socket.alpnProtocol !== 'h2') {
      socket.destroy();
      throw new Error(`the server did not negotiate h2 (got ${String(socket.alpnProtocol)})`);
    }
    return RawH2Connection.#start(socket);
  }

  /** The same by prior knowledge (h2c, no TLS) on the HTTP port. */
  static async openCleartext(options: { port: number; host?: string; localAddress?: string }): Promise<RawH2Connection> {
    const socket = net.connect({ host: options.host ?? '127.0.0.1', port: options.port, ...(options.localAddress ? { localAddress: options.localAddress } : {}) });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    return RawH2Connection.#start(socket);
  }

  static #start(socket: net.Socket): RawH2Connection {
    const connection = new RawH2Connection(socket);
    // Our SETTINGS (none changed) and a large connection window, then the server's SETTINGS is ACKed as it arrives.
    const window = Buffer.alloc(4);
    window.writeUInt32BE(1 << 30);
    socket.write(Buffer.concat([PREFACE, frame(FrameType.SETTINGS, 0, 0), frame(FrameType.WINDOW_UPDATE, 0, 0, window)]));
    return connection;
  }

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.#read(chunk));
    socket.on('error', () => {});
    socket.on('close', () => { this.closed = true; this.#wake(); });
  }

  write(bytes: Buffer): boolean {
    if (this.closed || this.socket.destroyed) return false;
    return this.socket.write(bytes);
  }

  /** Resolves when `until()` holds (checked as frames arrive) or the connection has closed. */
  wait(until: () => boolean): Promise<void> {
    if (until() || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ until, resolve }));
  }

  /** Streams the server answered with a HEADERS frame. */
  answeredStreams(): Set<number> {
    const out = new Set<number>();
    for (const f of this.frames) if (f.type === FrameType.HEADERS) out.add(f.stream);
    return out;
  }

  destroy(): void {
    this.socket.destroy();
  }

  #read(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    while (this.#buffer.length >= 9) {
      const length = this.#buffer.readUIntBE(0, 3);
      if (this.#buffer.length < 9 + length) break;
      const f: Frame = { type: this.#buffer[3]!, flags: this.#buffer[4]!, stream: this.#buffer.readUInt32BE(5) & 0x7fffffff, payload: this.#buffer.subarray(9, 9 + length) };
      this.#buffer = this.#buffer.subarray(9 + length);
      this.frames.push(f);
      if (f.type === FrameType.SETTINGS && (f.flags & FLAG_ACK) === 0) this.write(frame(FrameType.SETTINGS, FLAG_ACK, 0));
      if (f.type === FrameType.PING && (f.flags & FLAG_ACK) === 0) this.write(frame(FrameType.PING, FLAG_ACK, 0, f.payload));
      if (f.type === FrameType.GOAWAY && this.goaway === null) {
        this.goaway = { lastStream: f.payload.readUInt32BE(0) & 0x7fffffff, code: f.payload.readUInt32BE(4) };
      }
    }
    this.#wake();
  }

  #wake(): void {
    for (let i = this.#waiters.length - 1; i >= 0; i--) {
      const w = this.#waiters[i]!;
      if (this.closed || w.until()) { this.#waiters.splice(i, 1); w.resolve(); }
    }
  }
}
