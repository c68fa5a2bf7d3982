// A raw HTTP/2 backend (h2c) for tests that need frames a Node http2 server will not send: it
// answers each request stream with what `answer` returns — frames for that stream, written as
// is (HEADERS, DATA, RST_STREAM…). Node's server, for one, turns close(CANCEL) on a stream the
// client has half-closed into a clean END_STREAM, so it cannot reset a response mid-way.
// Request header blocks are not decoded: `answer` gets the stream id and the count so far.

import net from 'node:net';
import { FrameType, frame } from './h2-frames.ts';

const PREFACE_LENGTH = 24;
const FLAG_ACK = 0x1;

export interface RawH2Backend {
  port: number;
  /** Request streams opened so far. */
  streams: number;
  close(): Promise<void>;
}

export async function startRawH2Backend(answer: (stream: number, index: number) => Buffer[]): Promise<RawH2Backend> {
  const sockets = new Set<net.Socket>();
  const backend: RawH2Backend = { port: 0, streams: 0, close: async () => {} };
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffer = Buffer.alloc(0);
    let prefaceSeen = false;
    socket.write(frame(FrameType.SETTINGS, 0, 0));
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (!prefaceSeen) {
        if (buffer.length < PREFACE_LENGTH) return;
        buffer = buffer.subarray(PREFACE_LENGTH);
        prefaceSeen = true;
      }
      while (buffer.length >= 9) {
        const length = buffer.readUIntBE(0, 3);
        if (buffer.length < 9 + length) return;
        const type = buffer[3]!;
        const flags = buffer[4]!;
        const stream = buffer.readUInt32BE(5) & 0x7fffffff;
        buffer = buffer.subarray(9 + length);
        if (type === FrameType.SETTINGS && (flags & FLAG_ACK) === 0) socket.write(frame(FrameType.SETTINGS, FLAG_ACK, 0));
        else if (type === FrameType.HEADERS) socket.write(Buffer.concat(answer(stream, backend.streams++)));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  backend.port = (server.address() as net.AddressInfo).port;
  backend.close = () => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); });
  return backend;
}
