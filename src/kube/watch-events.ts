// A watch response is a stream of JSON objects, one per line (`{"type":"ADDED","object":{...}}`),
// arriving in chunks that split lines anywhere. This turns the chunks back into events.

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: any;
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
  let event: WatchEvent;
  try {
    event = JSON.parse(line) as WatchEvent;
  } catch {
    throw new Error(`watch sent a line that is not JSON (${line.length} bytes)`);
  }
  if (typeof event !== 'object' || event === null || typeof event.type !== 'string') throw new Error('watch sent an object that is not an event');
  return event;
}
