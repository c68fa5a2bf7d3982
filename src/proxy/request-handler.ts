// What a listener hands its requests to (the serving layer, ProxyListeners): plain requests and
// Upgrades. Declared on its own so the HTTP and TLS listeners share it without importing each other.

import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AnyRequest, AnyResponse } from './http-message.ts';

export interface RequestHandler {
  handleRequest(req: AnyRequest, res: AnyResponse): void;
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
}
