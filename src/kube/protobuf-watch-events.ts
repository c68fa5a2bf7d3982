// A protobuf watch response (`application/vnd.kubernetes.protobuf;stream=watch`) is a stream of
// frames, each a 4-byte big-endian length and a meta/v1 WatchEvent {type 1, object 2: a
// RawExtension {raw 1}} whose raw is the enveloped object. The frames arrive in chunks that split
// them anywhere; this turns the chunks back into the events the JSON decoder gives.

import type { Kind } from '../objects/types.ts';
import { decodeEventObject } from './protobuf-objects.ts';
import { ProtobufError, ProtobufReader } from './protobuf-reader.ts';
import { WATCH_EVENT_TYPES, type WatchEvent } from './watch-events.ts';

/** No object the router reads comes near this; a larger frame is a broken stream. */
const MAX_FRAME_BYTES = 64 * 2 ** 20;

export class ProtobufWatchEventDecoder {
  readonly #kind: Kind;
  /** Bytes received and not yet decoded, and their total. */
  #chunks: Buffer[] = [];
  #length = 0;
  /** Bytes needed before the next frame can be decoded (its length prefix, then the whole frame). */
  #needed = 4;

  constructor(kind: Kind) {
    this.#kind = kind;
  }

  /** The events completed by this chunk. */
  * push(chunk: Buffer): Generator<WatchEvent> {
    this.#chunks.push(chunk);
    this.#length += chunk.length;
    if (this.#length < this.#needed) return;
    // Joined once per frame boundary reached, not once per chunk: a large frame costs one copy.
    const buffer = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#length);
    let position = 0;
    for (;;) {
      const left = buffer.length - position;
      if (left < 4) { this.#needed = 4; break; }
      const size = buffer.readUInt32BE(position);
      if (size > MAX_FRAME_BYTES) throw new ProtobufError(`watch frame of ${size} bytes`);
      if (left < 4 + size) { this.#needed = 4 + size; break; }
      const frame = buffer.subarray(position + 4, position + 4 + size);
      position += 4 + size;
      yield this.#event(frame);
    }
    const rest = buffer.subarray(position);
    this.#chunks = rest.length > 0 ? [rest] : [];
    this.#length = rest.length;
  }

  /** The stream ended: a partial frame left over is a broken stream. */
  end(): void {
    if (this.#length > 0) throw new ProtobufError(`watch ended inside a frame (${this.#length} bytes)`);
  }

  #event(frame: Buffer): WatchEvent {
    const r = new ProtobufReader(frame);
    let type = '';
    let raw: Buffer | undefined;
    while (r.next()) {
      if (r.field === 1) type = r.string();
      else if (r.field === 2) {
        const extension = r.message();
        while (extension.next()) {
          if (extension.field === 1) raw = extension.bytes();
          else extension.skip();
        }
      } else r.skip();
    }
    if (!WATCH_EVENT_TYPES.has(type)) throw new ProtobufError(`watch event of type ${JSON.stringify(type)}`);
    if (raw === undefined) throw new ProtobufError(`${type} watch event without an object`);
    return { type: type as WatchEvent['type'], object: decodeEventObject(this.#kind, type, raw) };
  }
}
