// Node's own HTTP/1.1 parser (llhttp, the one `http.request` and `http.createServer` use), for the
// upstream HTTP/1.1 client (http1-connection.ts). It is not a public API: Node exposes it as
// `require('_http_common').HTTPParser`, present and silent (no deprecation warning) in the Node
// 24 this project pins. We use it rather than a parser of our own because a response parser is a
// security surface (framing, smuggling) and llhttp is the most exercised one Node has; and rather
// than undici's because undici runs llhttp in WebAssembly behind a JavaScript state machine whose
// per-request cost was the largest part of switchyard's own on the HTTPS and HTTP/2 paths.
// This module is the only place that touches it: when it is missing or changed shape, `HTTPParser`
// is null and every request goes through undici (http1-forwarder.ts) as before.

import { createRequire } from 'node:module';

/** What the parser's execute/finish return on a protocol error: `code` is llhttp's (HPE_…). */
export interface ParseError extends Error {
  code: string;
  reason?: string;
  bytesParsed?: number;
}

export interface NativeParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  /** Bytes parsed, or the error (a `ParseError`) — callbacks run inside. */
  execute(data: Buffer): number | ParseError;
  /** End of input (the connection closed): completes a close-delimited body, else an error. */
  finish(): undefined | ParseError;
  close(): void;
  [callback: number]: unknown;
}

export interface NativeParserClass {
  new (): NativeParser;
  readonly RESPONSE: number;
  readonly kOnMessageBegin: number;
  readonly kOnHeaders: number;
  readonly kOnHeadersComplete: number;
  readonly kOnBody: number;
  readonly kOnMessageComplete: number;
  readonly kLenientNone: number;
}

function load(): NativeParserClass | null {
  if (process.env.SWITCHYARD_UPSTREAM_CLIENT === 'undici') return null;
  try {
    const require = createRequire(import.meta.url);
    const parser = (require('_http_common') as { HTTPParser?: NativeParserClass }).HTTPParser;
    if (typeof parser !== 'function') return null;
    for (const k of ['RESPONSE', 'kOnMessageBegin', 'kOnHeaders', 'kOnHeadersComplete', 'kOnBody', 'kOnMessageComplete', 'kLenientNone'] as const) {
      if (typeof parser[k] !== 'number') return null;
    }
    const proto = parser.prototype as Partial<NativeParser>;
    if (typeof proto.initialize !== 'function' || typeof proto.execute !== 'function' || typeof proto.finish !== 'function' || typeof proto.close !== 'function') return null;
    return parser;
  } catch {
    return null;
  }
}

/** Node's HTTPParser, or null: the upstream client then is undici's. */
export const HTTPParser: NativeParserClass | null = load();
