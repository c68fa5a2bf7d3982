// The request and response objects of Node's HTTP/1.1 server, and of its HTTP/2 compatibility API
// (used only for extended CONNECT tunnels, h2-tunnel-exchange.ts). Types only.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';

export type AnyRequest = IncomingMessage | Http2ServerRequest;
export type AnyResponse = ServerResponse | Http2ServerResponse;
