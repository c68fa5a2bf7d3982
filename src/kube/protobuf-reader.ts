// The protobuf wire format, read: enough of it for the Kubernetes API's messages (varints,
// length-delimited fields, fixed-width fields skipped). A message is read field by field; what a
// decoder does not name is skipped, as protobuf readers do with unknown fields, so a newer API
// server's additions cost nothing but their bytes.
//
// Why not a protobuf library: the router needs about twenty fields of five messages, turned into
// the shapes the API's JSON has (int-or-string ports, RFC 3339 times, omitted empty strings);
// a generated decoder would build its own message objects that would then be converted again.

/** Wire types (the low 3 bits of a field's tag). */
export const VARINT = 0;
export const FIXED64 = 1;
export const LENGTH_DELIMITED = 2;
export const FIXED32 = 5;

/** A protobuf message the reader could not read (truncated, or a wire type it does not know). */
export class ProtobufError extends Error {
  override name = 'ProtobufError';
}

export class ProtobufReader {
  readonly buffer: Buffer;
  #position: number;
  readonly #end: number;
  /** The low 32 bits of the last varint read (int32 values are read from these, exactly). */
  #low32 = 0;
  /** The field number and wire type of the last tag read by next(). */
  field = 0;
  wireType = 0;

  constructor(buffer: Buffer, start = 0, end = buffer.length) {
    this.buffer = buffer;
    this.#position = start;
    this.#end = end;
  }

  /** Move to the next field (its number in `field`, wire type in `wireType`); false at the message's end. */
  next(): boolean {
    if (this.#position >= this.#end) return false;
    const tag = this.#varint();
    this.field = tag >>> 3;
    this.wireType = tag & 7;
    if (this.field === 0) throw new ProtobufError('protobuf field number 0');
    return true;
  }

  /** An unsigned or non-negative varint field (int64 past 2^53, which no field read here has, loses precision). */
  uint(): number {
    this.#expect(VARINT);
    return this.#varint();
  }

  /** A signed int32 field (negative values are sent as ten-byte varints: their low 32 bits are the value). */
  int32(): number {
    this.#expect(VARINT);
    this.#varint();
    return this.#low32 | 0;
  }

  bool(): boolean {
    this.#expect(VARINT);
    return this.#varint() !== 0;
  }

  string(): string {
    const [start, end] = this.#span();
    return start === end ? '' : this.buffer.toString('utf8', start, end);
  }

  /** A length-delimited field's bytes, shared with the buffer (no copy). */
  bytes(): Buffer {
    const [start, end] = this.#span();
    return this.buffer.subarray(start, end);
  }

  /** A reader of an embedded message. */
  message(): ProtobufReader {
    const [start, end] = this.#span();
    return new ProtobufReader(this.buffer, start, end);
  }

  /** Skip the current field's value. */
  skip(): void {
    switch (this.wireType) {
      case VARINT: this.#varint(); break;
      case FIXED64: this.#advance(8); break;
      case LENGTH_DELIMITED: this.#span(); break;
      case FIXED32: this.#advance(4); break;
      default: throw new ProtobufError(`protobuf wire type ${this.wireType} is not supported`);
    }
  }

  #expect(wireType: number): void {
    if (this.wireType !== wireType) throw new ProtobufError(`protobuf field ${this.field} has wire type ${this.wireType}, expected ${wireType}`);
  }

  #varint(): number {
    const buffer = this.buffer;
    let result = 0;
    let low = 0;
    let multiplier = 1;
    for (let i = 0; i < 10; i++) {
      if (this.#position >= this.#end) throw new ProtobufError('protobuf varint runs past the message');
      const byte = buffer[this.#position++]!;
      if (i < 5) low |= (byte & 0x7f) << (7 * i);
      result += (byte & 0x7f) * multiplier;
      if (byte < 0x80) {
        this.#low32 = low;
        return result;
      }
      multiplier *= 128;
    }
    throw new ProtobufError('protobuf varint longer than 10 bytes');
  }

  /** The bounds of a length-delimited field's bytes, moving past them. */
  #span(): [number, number] {
    this.#expect(LENGTH_DELIMITED);
    const length = this.#varint();
    const start = this.#position;
    const end = start + length;
    if (end > this.#end) throw new ProtobufError('protobuf field runs past the message');
    this.#position = end;
    return [start, end];
  }

  #advance(bytes: number): void {
    if (this.#position + bytes > this.#end) throw new ProtobufError('protobuf field runs past the message');
    this.#position += bytes;
  }
}
