// Reads the TLS ClientHello at the start of a connection without consuming it: the bytes are
// only inspected, so the caller can replay them to a TLS terminator or a passthrough backend.
// The parser is incremental-friendly (returns `incomplete` until the whole handshake message is
// buffered, across any number of TCP segments and TLS records) and never throws on bad input.

const RECORD_HEADER = 5;
const CONTENT_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
/** RFC 8446 §5.1: a plaintext record carries at most 2^14 bytes. */
const MAX_RECORD_PAYLOAD = 16384;
const EXT_SERVER_NAME = 0;
const EXT_ALPN = 16;

/** Largest ClientHello we buffer (a hello with post-quantum key shares is ~2 KB; 64 KB is generous). */
export const MAX_CLIENT_HELLO_BYTES = 65536;

export interface ClientHelloInfo {
  /** SNI host name, lower-cased, trailing dot stripped; null when absent or not a valid host name. */
  serverName: string | null;
  /** ALPN protocols offered by the client, in its order. */
  alpn: string[];
}

export type ClientHelloResult =
  | { status: 'ok'; hello: ClientHelloInfo }
  | { status: 'incomplete' }
  /** The stream is not TLS at all (e.g. plain HTTP sent to the HTTPS port). */
  | { status: 'not-tls' }
  /** TLS framing, but malformed, oversized or not a ClientHello. */
  | { status: 'invalid'; reason: string };

const INCOMPLETE: ClientHelloResult = Object.freeze({ status: 'incomplete' });
const NOT_TLS: ClientHelloResult = Object.freeze({ status: 'not-tls' });

function invalid(reason: string): ClientHelloResult {
  return { status: 'invalid', reason };
}

/**
 * Parse the ClientHello at the start of `data` (everything received so far).
 * `incomplete` means: wait for more bytes and call again with the longer buffer.
 */
export function parseClientHello(data: Buffer): ClientHelloResult {
  if (data.length === 0) return INCOMPLETE;
  if (data[0] !== CONTENT_HANDSHAKE) return NOT_TLS;
  if (data.length >= 2 && data[1] !== 3) return NOT_TLS;

  // Collect the handshake bytes from as many records as the message spans.
  const fragments: Buffer[] = [];
  let handshakeBytes = 0;
  let needed = -1; // total handshake message size, once its header is known
  let offset = 0;
  while (needed < 0 || handshakeBytes < needed) {
    if (data.length < offset + RECORD_HEADER) return INCOMPLETE;
    if (data[offset] !== CONTENT_HANDSHAKE) return invalid('ClientHello interrupted by a non-handshake record');
    if (data[offset + 1] !== 3) return invalid('unsupported record version');
    const length = data.readUInt16BE(offset + 3);
    if (length === 0) return invalid('empty handshake record');
    if (length > MAX_RECORD_PAYLOAD) return invalid(`record of ${length} bytes exceeds 16384`);
    const end = offset + RECORD_HEADER + length;
    if (end > MAX_CLIENT_HELLO_BYTES + RECORD_HEADER * 8) return invalid('ClientHello too large');
    if (data.length < end) return INCOMPLETE;
    fragments.push(data.subarray(offset + RECORD_HEADER, end));
    handshakeBytes += length;
    offset = end;
    if (needed < 0 && handshakeBytes >= 4) {
      const head = fragments.length === 1 ? fragments[0]! : Buffer.concat(fragments);
      if (head[0] !== HANDSHAKE_CLIENT_HELLO) return invalid('first handshake message is not a ClientHello');
      const bodyLength = head.readUIntBE(1, 3);
      if (bodyLength > MAX_CLIENT_HELLO_BYTES) return invalid('ClientHello too large');
      needed = 4 + bodyLength;
    }
  }
  const message = fragments.length === 1 ? fragments[0]! : Buffer.concat(fragments);
  return parseClientHelloBody(message.subarray(4, needed));
}

/** A bounds-checked cursor; every read returns -1/null past the end instead of throwing. */
class Cursor {
  readonly #buf: Buffer;
  #pos: number;
  readonly #end: number;

  constructor(buf: Buffer, start = 0, end = buf.length) {
    this.#buf = buf;
    this.#pos = start;
    this.#end = end;
  }

  get remaining(): number { return this.#end - this.#pos; }

  u8(): number {
    if (this.#pos + 1 > this.#end) return -1;
    return this.#buf[this.#pos++]!;
  }

  u16(): number {
    if (this.#pos + 2 > this.#end) return -1;
    const v = this.#buf.readUInt16BE(this.#pos);
    this.#pos += 2;
    return v;
  }

  /** A sub-cursor over the next `n` bytes (which this cursor skips), or null when short. */
  take(n: number): Cursor | null {
    if (n < 0 || this.#pos + n > this.#end) return null;
    const sub = new Cursor(this.#buf, this.#pos, this.#pos + n);
    this.#pos += n;
    return sub;
  }

  bytes(n: number): Buffer | null {
    if (n < 0 || this.#pos + n > this.#end) return null;
    const b = this.#buf.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return b;
  }
}

const HOST_NAME = /^[a-z0-9_](?:[a-z0-9_.-]{0,251}[a-z0-9_])?$/;

/** Normalise an SNI (or Host) name as the route table keys it: lower-case, no trailing dot. */
export function normalizeServerName(name: string): string | null {
  let n = name.toLowerCase();
  if (n.endsWith('.')) n = n.slice(0, -1);
  return HOST_NAME.test(n) ? n : null;
}

function parseClientHelloBody(body: Buffer): ClientHelloResult {
  const c = new Cursor(body);
  if (c.u16() < 0 || !c.bytes(32)) return invalid('truncated ClientHello');
  const sessionIdLength = c.u8();
  if (sessionIdLength < 0 || sessionIdLength > 32 || !c.bytes(sessionIdLength)) return invalid('bad session id');
  const suitesLength = c.u16();
  if (suitesLength < 2 || suitesLength % 2 !== 0 || !c.bytes(suitesLength)) return invalid('bad cipher suites');
  const compressionLength = c.u8();
  if (compressionLength < 1 || !c.bytes(compressionLength)) return invalid('bad compression methods');
  const hello: ClientHelloInfo = { serverName: null, alpn: [] };
  if (c.remaining === 0) return { status: 'ok', hello }; // no extensions at all
  const extensionsLength = c.u16();
  const extensions = c.take(extensionsLength);
  if (!extensions) return invalid('truncated extensions');
  while (extensions.remaining > 0) {
    const type = extensions.u16();
    const length = extensions.u16();
    const ext = length < 0 ? null : extensions.take(length);
    if (type < 0 || !ext) return invalid('truncated extension');
    if (type === EXT_SERVER_NAME) {
      const list = ext.take(ext.u16());
      if (!list) return invalid('bad server_name extension');
      while (list.remaining > 0) {
        const nameType = list.u8();
        const name = list.bytes(list.u16());
        if (nameType < 0 || !name) return invalid('bad server_name entry');
        if (nameType === 0 && hello.serverName === null) hello.serverName = normalizeServerName(name.toString('latin1'));
      }
    } else if (type === EXT_ALPN) {
      const list = ext.take(ext.u16());
      if (!list) return invalid('bad ALPN extension');
      while (list.remaining > 0) {
        const proto = list.bytes(list.u8());
        if (!proto || proto.length === 0) return invalid('bad ALPN protocol');
        hello.alpn.push(proto.toString('latin1'));
      }
    }
  }
  return { status: 'ok', hello };
}

/** True when a non-TLS stream looks like a plain HTTP request (worth a 400 answer before closing). */
export function looksLikeHttp(data: Buffer): boolean {
  if (data.length < 4) return false;
  for (let i = 0; i < 3; i++) {
    const ch = data[i]!;
    if (ch < 0x41 || ch > 0x5a) return false; // an upper-case method: GET, POST, PUT, ...
  }
  return true;
}
