// A CBOR watch response (`application/cbor-seq`, RFC 8742: what kube-apiserver answers a watch
// that accepts `application/cbor` behind its CBORServingAndStorage gate) is a sequence of CBOR
// data items with nothing between them, each a meta/v1 WatchEvent `{type, object}` (self-described:
// tag 55799 first, on the event and on its object). The items arrive in chunks that split them
// anywhere; this turns the chunks back into the events the JSON decoder gives.
//
// A CBOR item says where it ends only through its structure, so each chunk is scanned once, head
// by head, with the scan's state (the items still to come in each open array or map, the bytes
// left of a string) kept across chunks; a complete item is then decoded by decodeCbor, the
// decoder of lists. Only the bytes of the event in progress are held.

import { CborError, decodeCbor, MAX_DEPTH } from './cbor-objects.ts';
import { toWatchEvent, type WatchEvent } from './watch-events.ts';

/** No object the router reads comes near this; a larger event is a broken stream. */
const MAX_EVENT_BYTES = 64 * 2 ** 20;

export class CborWatchEventDecoder {
  /** Bytes of the event in progress before the current chunk. */
  #parts: Buffer[] = [];
  #partsLength = 0;
  /** The start of a head that the last chunk cut (at most 8 bytes): goes before the next chunk. */
  #carry: Buffer | undefined;
  /**
   * Items still to complete, per open container, outermost first: the event itself (1), then each
   * array (its length), map (twice its length) or indefinite-length item (Infinity: until a break).
   */
  #open: number[] = [1];
  /** Bytes of a string's content still to come. */
  #skip = 0;

  /** The events completed by this chunk. */
  * push(chunk: Buffer): Generator<WatchEvent> {
    const data = this.#carry ? Buffer.concat([this.#carry, chunk]) : chunk;
    this.#carry = undefined;
    let start = 0; // where the event in progress begins in `data` (0 if it began in an earlier chunk)
    let position = 0;
    while (position < data.length) {
      let complete: boolean;
      if (this.#skip > 0) {
        const take = Math.min(this.#skip, data.length - position);
        position += take;
        this.#skip -= take;
        if (this.#skip > 0) break;
        complete = this.#completed();
      } else {
        const head = headLength(data[position]!);
        if (position + head > data.length) {
          this.#carry = data.subarray(position);
          break;
        }
        complete = this.#head(data, position, head);
        position += head;
      }
      if (!complete) continue;
      const item = this.#parts.length === 0 ? data.subarray(start, position) : Buffer.concat([...this.#parts, data.subarray(start, position)]);
      this.#parts = [];
      this.#partsLength = 0;
      start = position;
      yield toWatchEvent(decodeCbor(item), 'CBOR');
    }
    // The carried head is not part of `data[start, end)`: it comes again before the next chunk.
    const end = this.#carry ? data.length - this.#carry.length : data.length;
    if (end > start) {
      this.#parts.push(data.subarray(start, end));
      this.#partsLength += end - start;
    }
    if (this.#partsLength > MAX_EVENT_BYTES) throw new CborError(`watch event of more than ${MAX_EVENT_BYTES} bytes`);
  }

  /** The stream ended: a partial event left over is a broken stream. */
  end(): void {
    const left = this.#partsLength + (this.#carry?.length ?? 0);
    if (left > 0) throw new CborError(`watch ended inside an event (${left} bytes)`);
  }

  /** Take the head at `data[position]` (`length` bytes, all there); whether it completed the event. */
  #head(data: Buffer, position: number, length: number): boolean {
    const initial = data[position]!;
    const major = initial >> 5;
    const info = initial & 0x1f;
    if (info === 31) {
      if (major === 7) { // a break: ends the innermost indefinite-length item
        if (this.#open.at(-1) !== Infinity) throw new CborError('a break outside an indefinite-length item');
        this.#open.pop();
        return this.#completed();
      }
      if (major === 0 || major === 1 || major === 6) throw new CborError(`indefinite length on major type ${major}`);
      this.#enter(Infinity);
      return false;
    }
    const argument = length === 1 ? info : readArgument(data, position + 1, length - 1);
    switch (major) {
      case 2: case 3:
        if (argument > MAX_EVENT_BYTES) throw new CborError(`a string of ${argument} bytes in a watch event`);
        if (argument === 0) return this.#completed();
        this.#skip = argument;
        return false;
      case 4: case 5: {
        const items = major === 5 ? argument * 2 : argument;
        if (items === 0) return this.#completed();
        if (items > MAX_EVENT_BYTES) throw new CborError(`a container of ${argument} items in a watch event`);
        this.#enter(items);
        return false;
      }
      case 6: return false; // a tag: the item after it is its content
      default: return this.#completed(); // integers, simple values, floats
    }
  }

  #enter(items: number): void {
    if (this.#open.length > MAX_DEPTH) throw new CborError('nested too deeply');
    this.#open.push(items);
  }

  /** An item ended: count it in its container, closing each container it completes; whether the event is complete. */
  #completed(): boolean {
    const open = this.#open;
    for (;;) {
      const top = open.length - 1;
      if (--open[top]! > 0) return false; // Infinity stays Infinity
      open.pop();
      if (open.length === 0) {
        open.push(1);
        return true;
      }
    }
  }
}

/** The bytes of the head that starts with `initial`: 1, or 1 + its argument's size. */
function headLength(initial: number): number {
  const info = initial & 0x1f;
  if (info < 24 || info === 31) return 1;
  if (info <= 27) return 1 + 2 ** (info - 24);
  throw new CborError(`reserved additional information ${info}`);
}

function readArgument(data: Buffer, offset: number, size: number): number {
  switch (size) {
    case 1: return data[offset]!;
    case 2: return data.readUInt16BE(offset);
    case 4: return data.readUInt32BE(offset);
    default: return Number(data.readBigUInt64BE(offset));
  }
}
