// The request and response objects a way in hands the proxy: Node's HTTP/1.1 or HTTP/2
// (compatibility API) ones. Types only, for every module of the proxy to share.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';

export type AnyRequest = IncomingMessage | Http2ServerRequest;
export type AnyResponse = ServerResponse | Http2ServerResponse;
