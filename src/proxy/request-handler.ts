// What a listener hands its requests to (the serving layer, ProxyListeners): HTTP/1.1 requests
// and Upgrades, and HTTP/2 streams (core API, http2-exchange.ts). Declared on its own so the
// HTTP and TLS listeners share it without importing each other.

import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';

export interface RequestHandler {
  handleRequest(req: IncomingMessage, res: ServerResponse): void;
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
}

/** Where HTTP/2 requests go (h2 on the HTTPS port, h2c on the HTTP port): the stream, its headers and raw header list. */
export interface StreamHandler {
  handleStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: string[]): void;
}
