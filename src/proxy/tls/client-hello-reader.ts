// Buffers a connection's first bytes until its ClientHello is complete, invalid or late, then
// hands the verdict to its dispatcher (the HTTPS port, a Gateway's TLS listener) with the bytes
// unconsumed. Slow or silent clients are cut at the timeout; a dispatcher that throws costs one
// connection, never the process.

import type net from 'node:net';
import type { Logger } from '../../log.ts';
import { MAX_CLIENT_HELLO_BYTES, parseClientHello } from './client-hello.ts';

const EMPTY = Buffer.alloc(0);

export type ClientHelloVerdict = ReturnType<typeof parseClientHello> | 'timeout' | 'too-large';

export interface ClientHelloDispatcher {
  readonly logger: Logger;
  /** Called once with the connection's buffered first bytes (paused, not consumed). */
  dispatch(socket: net.Socket, buffered: Buffer, verdict: ClientHelloVerdict): void;
}

/** Buffers a connection's first bytes until the ClientHello is complete, invalid or late. */
export class ClientHelloReader {
  readonly #listener: ClientHelloDispatcher;
  readonly #socket: net.Socket;
  readonly #timer: NodeJS.Timeout;
  #buffered: Buffer = EMPTY;
  readonly #onData = (chunk: Buffer): void => this.#read(chunk);
  readonly #onEnd = (): void => this.#finish(null);
  readonly #onError = (): void => this.#finish(null);

  constructor(listener: ClientHelloDispatcher, socket: net.Socket, timeoutMs: number) {
    this.#listener = listener;
    this.#socket = socket;
    this.#timer = setTimeout(onHelloTimeout, timeoutMs, this);
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('error', this.#onError);
  }

  #read(chunk: Buffer): void {
    this.#buffered = this.#buffered.length === 0 ? chunk : Buffer.concat([this.#buffered, chunk]);
    const verdict = parseClientHello(this.#buffered);
    if (verdict.status !== 'incomplete') this.#finish(verdict);
    else if (this.#buffered.length > MAX_CLIENT_HELLO_BYTES) this.#finish('too-large');
  }

  timeout(): void {
    this.#finish('timeout');
  }

  #finish(verdict: ClientHelloVerdict | null): void {
    clearTimeout(this.#timer);
    const socket = this.#socket;
    socket.removeListener('data', this.#onData);
    socket.removeListener('end', this.#onEnd);
    socket.removeListener('error', this.#onError);
    socket.pause();
    // From here on errors are the tunnel's or the TLS socket's; this keeps a late one from throwing.
    socket.on('error', ignoreError);
    if (verdict === null) {
      socket.destroy();
      return;
    }
    try {
      this.#listener.dispatch(socket, this.#buffered, verdict);
    } catch (err) {
      // A bug here must cost one connection, not the process.
      this.#listener.logger.error({ err }, 'TLS connection dispatch failed');
      socket.destroy();
    }
  }
}

function onHelloTimeout(reader: ClientHelloReader): void {
  reader.timeout();
}

function ignoreError(): void {}
