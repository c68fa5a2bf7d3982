// The HTTP port serves HTTP/1.1 and h2c on one socket: the first bytes of a connection say
// which. A connection that opens with the HTTP/2 connection preface (RFC 9113 §3.4,
// `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`) goes to the h2c server, any other to the HTTP/1.1
// server. Most HTTP/1.1 requests differ at the first byte ('G', 'H', 'D', 'O'), the rest by
// the second ('PO', 'PU', 'PA'), so the decision costs one chunk; only a client that stops
// inside a prefix of the preface is waited for, up to the header timeout.

import type { Socket } from 'node:net';
import { ProxyErrors } from '../errors.ts';
import { writeRawError } from './error-response.ts';

export const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** Where a connection goes once its first bytes are known. */
export interface SniffTargets {
  http1(socket: Socket): void;
  h2c(socket: Socket): void;
}

/** 'h2c', 'http1', or 'more' while `data` is a strict prefix of the preface. */
export function classifyPreface(data: Buffer): 'h2c' | 'http1' | 'more' {
  const n = data.length < HTTP2_PREFACE.length ? data.length : HTTP2_PREFACE.length;
  for (let i = 0; i < n; i++) if (data[i] !== HTTP2_PREFACE[i]) return 'http1';
  return n === HTTP2_PREFACE.length ? 'h2c' : 'more';
}

const EMPTY = Buffer.alloc(0);

/** Reads a connection's first bytes, then hands it, bytes unread, to `targets`. */
export function sniffPreface(socket: Socket, targets: SniffTargets, timeoutMs: number): void {
  new PrefaceReader(socket, targets, timeoutMs);
}

class PrefaceReader {
  readonly #socket: Socket;
  readonly #targets: SniffTargets;
  readonly #timer: NodeJS.Timeout;
  #buffered: Buffer = EMPTY;
  readonly #onData = (chunk: Buffer): void => this.#read(chunk);
  readonly #onGone = (): void => this.#close();

  constructor(socket: Socket, targets: SniffTargets, timeoutMs: number) {
    this.#socket = socket;
    this.#targets = targets;
    // A silent connection gets the 408 the HTTP/1.1 server's header timeout would give it.
    this.#timer = setTimeout(onSniffTimeout, timeoutMs, this);
    socket.on('data', this.#onData);
    socket.on('end', this.#onGone);
    socket.on('error', this.#onGone);
  }

  #read(chunk: Buffer): void {
    this.#buffered = this.#buffered.length === 0 ? chunk : Buffer.concat([this.#buffered, chunk]);
    const verdict = classifyPreface(this.#buffered);
    if (verdict === 'more') return;
    this.#detach();
    const socket = this.#socket;
    socket.pause();
    socket.unshift(this.#buffered);
    this.#buffered = EMPTY;
    if (verdict === 'h2c') this.#targets.h2c(socket);
    else this.#targets.http1(socket);
    // The server reads with 'data' listeners of its own (or consumes the handle): let it flow.
    if (socket.listenerCount('data') > 0) socket.resume();
  }

  #detach(): void {
    clearTimeout(this.#timer);
    this.#socket.removeListener('data', this.#onData);
    this.#socket.removeListener('end', this.#onGone);
    this.#socket.removeListener('error', this.#onGone);
  }

  timeout(): void {
    this.#detach();
    this.#socket.on('error', ignore);
    writeRawError(this.#socket, ProxyErrors.REQUEST_TIMEOUT);
  }

  #close(): void {
    this.#detach();
    this.#socket.on('error', ignore);
    this.#socket.destroy();
  }
}

function onSniffTimeout(reader: PrefaceReader): void {
  reader.timeout();
}

function ignore(): void {}
