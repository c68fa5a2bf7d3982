// Custom resources (Routes, Middlewares, Gateway API kinds) as CBOR (RFC 8949), where
// kube-apiserver serves it (KEP-4222: `CBORServingAndStorage`, alpha and off by default in
// v1.36). kube-apiserver encodes a custom resource (an `Unstructured`) as CBOR for about half the
// CPU of JSON: no map keys sorted, no second scan of the encoded bytes. A list is asked for as
// `application/cbor` with JSON accepted too, so a server without CBOR answers JSON as before
// (content negotiation, as with protobuf for built-in kinds: protobuf-objects.ts).
//
// The decoder yields the JSON's shapes. kube-apiserver writes Go strings as CBOR byte strings
// (major type 2: no UTF-8 validation on its side), so byte strings are read as UTF-8 text; the
// only other byte data, a `[]byte` field, would come tagged with its JSON encoding (tags 21–23:
// base64url, base64, base16) and is read as that text. Tag 55799 (self-described CBOR), which
// kube-apiserver puts first, is skipped; other tags yield their content. Integers beyond 2^53
// lose precision as they would in JSON.parse.

import type { Kind } from '../objects/types.ts';

/** The kinds the router reads that are custom resources: the ones kube-apiserver can serve as CBOR. */
export const CBOR_KINDS: ReadonlySet<Kind> = new Set<Kind>(['Route', 'Middleware', 'GatewayClass', 'Gateway', 'HTTPRoute', 'GRPCRoute', 'TLSRoute', 'TCPRoute', 'UDPRoute', 'ReferenceGrant', 'BackendTLSPolicy', 'ListenerSet']);

/**
 * The Accept header of a list or a watch that prefers CBOR and takes JSON. kube-apiserver
 * negotiates a watch's encoding among the same media types as a list's (`application/cbor`, not
 * `application/cbor-seq`) and answers it as `application/cbor-seq` (cbor-watch-events.ts).
 */
export const CBOR_ACCEPT = 'application/cbor, application/json';
export const CBOR_CONTENT_TYPE = 'application/cbor';
/** RFC 8742: CBOR data items one after another, nothing between them (a watch's events). */
export const CBOR_SEQUENCE_CONTENT_TYPE = 'application/cbor-seq';

/** Whether a response's Content-Type is CBOR: one data item, or a sequence of them (a watch). */
export function isCbor(contentType: string | string[] | undefined): boolean {
  const value = Array.isArray(contentType) ? contentType[0] : contentType;
  if (value === undefined) return false;
  const type = value.split(';')[0]!.trim().toLowerCase();
  return type === CBOR_CONTENT_TYPE || type === CBOR_SEQUENCE_CONTENT_TYPE;
}

/** Deeper than any API object; a bound so that hostile input cannot exhaust the stack. */
export const MAX_DEPTH = 1000;

export class CborError extends Error {
  override name = 'CborError';
}

/** Decode one CBOR data item filling `bytes` (a list, an object) into JSON values. */
export function decodeCbor(bytes: Uint8Array): unknown {
  const reader = new CborReader(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  const value = reader.item(0);
  if (reader.offset !== bytes.length) throw new CborError(`${bytes.length - reader.offset} bytes after the data item`);
  return value;
}

class CborReader {
  readonly #buf: Buffer;
  offset = 0;

  constructor(buf: Buffer) {
    this.#buf = buf;
  }

  item(depth: number): unknown {
    if (depth > MAX_DEPTH) throw new CborError('nested too deeply');
    const initial = this.#byte();
    const major = initial >> 5;
    const info = initial & 0x1f;
    switch (major) {
      case 0: return this.#argument(info);
      case 1: return -1 - this.#argument(info);
      case 2: return info === 31 ? Buffer.concat(this.#chunks(2)).toString('utf8') : this.#string(this.#length(info));
      case 3: return info === 31 ? Buffer.concat(this.#chunks(3)).toString('utf8') : this.#string(this.#length(info));
      case 4: {
        const array: unknown[] = [];
        if (info === 31) {
          while (!this.#atBreak()) array.push(this.item(depth + 1));
        } else {
          const length = this.#length(info);
          for (let i = 0; i < length; i++) array.push(this.item(depth + 1));
        }
        return array;
      }
      case 5: {
        const object: Record<string, unknown> = {};
        const length = info === 31 ? -1 : this.#length(info);
        for (let i = 0; length < 0 ? !this.#atBreak() : i < length; i++) {
          const key = this.item(depth + 1);
          if (typeof key !== 'string') throw new CborError(`a map key of type ${typeof key}`);
          const value = this.item(depth + 1);
          // As JSON.parse: `__proto__` is an own property, never the object's prototype.
          if (key === '__proto__') Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
          else object[key] = value;
        }
        return object;
      }
      case 6: {
        const tag = this.#argument(info);
        // A []byte with its expected JSON encoding (tags 21–23): that text, as JSON would carry it.
        if ((tag === 21 || tag === 22 || tag === 23) && this.offset < this.#buf.length && this.#buf[this.offset]! >> 5 === 2) {
          const bytes = this.#bytes(this.#byte() & 0x1f);
          return bytes.toString(tag === 21 ? 'base64url' : tag === 22 ? 'base64' : 'hex');
        }
        return this.item(depth + 1);
      }
      default: return this.#simple(info);
    }
  }

  #byte(): number {
    if (this.offset >= this.#buf.length) throw new CborError('truncated');
    return this.#buf[this.offset++]!;
  }

  #need(n: number): void {
    if (this.offset + n > this.#buf.length) throw new CborError('truncated');
  }

  /** The unsigned argument of a head (its value, or a length). */
  #argument(info: number): number {
    const buf = this.#buf;
    if (info < 24) return info;
    if (info === 24) return this.#byte();
    if (info === 25) { this.#need(2); const v = buf.readUInt16BE(this.offset); this.offset += 2; return v; }
    if (info === 26) { this.#need(4); const v = buf.readUInt32BE(this.offset); this.offset += 4; return v; }
    if (info === 27) { this.#need(8); const v = Number(buf.readBigUInt64BE(this.offset)); this.offset += 8; return v; }
    throw new CborError(`reserved or indefinite additional information ${info}`);
  }

  #length(info: number): number {
    const length = this.#argument(info);
    // Each element takes at least a byte: a length beyond what is left is malformed, not a big allocation.
    if (length > this.#buf.length - this.offset) throw new CborError('truncated');
    return length;
  }

  #bytes(info: number): Buffer {
    if (info === 31) return Buffer.concat(this.#chunks(2));
    const length = this.#length(info);
    const start = this.offset;
    this.offset += length;
    return this.#buf.subarray(start, start + length);
  }

  /**
   * `length` bytes of UTF-8 as a string. Most strings of an API object are short ASCII (keys,
   * names, hosts): those are built directly, which is several times faster than a Buffer decode
   * per string.
   */
  #string(length: number): string {
    const buf = this.#buf;
    const start = this.offset;
    const end = start + length;
    this.offset = end;
    if (length <= 24) {
      let ascii = true;
      for (let i = start; i < end; i++) if (buf[i]! > 0x7f) { ascii = false; break; }
      if (ascii) {
        let text = '';
        for (let i = start; i < end; i++) text += String.fromCharCode(buf[i]!);
        return text;
      }
    }
    return buf.toString('utf8', start, end);
  }

  /** The definite-length chunks of an indefinite-length byte or text string, up to its break. */
  #chunks(major: number): Buffer[] {
    const chunks: Buffer[] = [];
    while (!this.#atBreak()) {
      const initial = this.#byte();
      if (initial >> 5 !== major || (initial & 0x1f) === 31) throw new CborError('a bad chunk in an indefinite-length string');
      const length = this.#length(initial & 0x1f);
      chunks.push(this.#buf.subarray(this.offset, this.offset + length));
      this.offset += length;
    }
    return chunks;
  }

  #atBreak(): boolean {
    if (this.offset >= this.#buf.length) throw new CborError('truncated');
    if (this.#buf[this.offset] !== 0xff) return false;
    this.offset++;
    return true;
  }

  #simple(info: number): unknown {
    const buf = this.#buf;
    switch (info) {
      case 20: return false;
      case 21: return true;
      case 22: case 23: return null; // null, undefined
      case 25: { this.#need(2); const v = halfFloat(buf.readUInt16BE(this.offset)); this.offset += 2; return v; }
      case 26: { this.#need(4); const v = buf.readFloatBE(this.offset); this.offset += 4; return v; }
      case 27: { this.#need(8); const v = buf.readDoubleBE(this.offset); this.offset += 8; return v; }
      default: throw new CborError(`unexpected simple value ${info}`);
    }
  }
}

function halfFloat(half: number): number {
  const exponent = (half >> 10) & 0x1f;
  const mantissa = half & 0x3ff;
  const sign = half & 0x8000 ? -1 : 1;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 31) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}
