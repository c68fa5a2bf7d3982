// A watch response is a stream of JSON objects, one per line (`{"type":"ADDED","object":{...}}`),
// arriving in chunks that split lines anywhere. This turns the chunks back into events.

// The same events come as protobuf frames (protobuf-watch-events.ts) and as a CBOR sequence
// (cbor-watch-events.ts); their types are WATCH_EVENT_TYPES whatever the encoding.

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: any;
}

export const WATCH_EVENT_TYPES: ReadonlySet<string> = new Set(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR']);

/** A decoded value as a watch event, or an error naming the stream's `encoding` if it is not one. */
export function toWatchEvent(value: unknown, encoding: string): WatchEvent {
  const event = value as WatchEvent | null;
  if (typeof event !== 'object' || event === null || typeof event.type !== 'string') throw new Error(`${encoding} watch sent an item that is not an event`);
  if (!WATCH_EVENT_TYPES.has(event.type)) throw new Error(`${encoding} watch event of type ${JSON.stringify(event.type.slice(0, 40))}`);
  return event;
}

/** A watch ERROR event (a `Status`), as an error: code 410 means the resourceVersion is gone. */
export class WatchStatusError extends Error {
  override name = 'WatchStatusError';
  readonly statusCode: number;
  readonly reason: string;
  constructor(status: { code?: number; reason?: string; message?: string } | undefined) {
    super(`watch error: ${status?.code ?? '?'} ${status?.message ?? status?.reason ?? ''}`.trim());
    this.statusCode = status?.code ?? 0;
    this.reason = status?.reason ?? 'Unknown';
  }
}

export class WatchEventDecoder {
  #rest = '';

  /** The events completed by this chunk (text decoded as UTF-8 across chunks by the caller). */
  * push(chunk: string): Generator<WatchEvent> {
    let text = this.#rest === '' ? chunk : this.#rest + chunk;
    let start = 0;
    for (let end = text.indexOf('\n', start); end !== -1; end = text.indexOf('\n', start)) {
      const line = text.slice(start, end);
      start = end + 1;
      if (line.trim() === '') continue;
      yield parse(line);
    }
    text = text.slice(start);
    this.#rest = text;
  }

  /** The stream ended: a last line without its newline still counts. */
  * end(): Generator<WatchEvent> {
    const line = this.#rest;
    this.#rest = '';
    if (line.trim() !== '') yield parse(line);
  }
}

function parse(line: string): WatchEvent {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new Error(`watch sent a line that is not JSON (${line.length} bytes)`);
  }
  return toWatchEvent(value, 'JSON');
}
