// One client's watch on the relay: its response stream, written event by event. The initial
// events (a watch from version 0, or sendInitialEvents) are written in pieces as the client takes
// them, while later events wait in a queue, so that nothing is missed or sent twice between the
// state's snapshot and the live events. A client that stops reading is dropped (it watches again
// from its last version), as kube-apiserver drops a watcher that falls behind.

import { expired } from './status.ts';
import type { RelayResponse } from './status.ts';

/** Bytes a watcher may leave unread on top of what it is being sent before it is dropped. */
const MAX_UNREAD_BYTES = 64 * 1024 * 1024;
/** Events queued behind a watcher's initial events before it is dropped. */
const MAX_QUEUED_EVENTS = 200_000;
/** Initial events are written in pieces of about this many characters. */
const PIECE_CHARS = 256 * 1024;

export interface WatcherOptions {
  /** The client asked for bookmarks (allowWatchBookmarks). */
  bookmarks: boolean;
  /** Told once when the watch ends, whatever ends it. */
  onEnd: (watcher: Watcher) => void;
  /** End the watch after this long (the client's timeoutSeconds, else the relay's). */
  timeoutMs: number;
}

export class Watcher {
  readonly bookmarks: boolean;
  readonly #res: RelayResponse;
  readonly #onEnd: (watcher: Watcher) => void;
  /** Events that came while the initial ones were being written; null once live. */
  #queue: string[] | null = [];
  #ended = false;
  readonly #timer: NodeJS.Timeout;

  constructor(res: RelayResponse, options: WatcherOptions) {
    this.#res = res;
    this.bookmarks = options.bookmarks;
    this.#onEnd = options.onEnd;
    this.#timer = setTimeout(() => this.end(), options.timeoutMs);
    this.#timer.unref();
    res.once('close', () => this.#finish());
  }

  get ended(): boolean { return this.#ended; }

  /** One event line (a live event or a bookmark). */
  send(line: string): void {
    if (this.#ended) return;
    if (this.#queue !== null) {
      if (this.#queue.length >= MAX_QUEUED_EVENTS) this.end();
      else this.#queue.push(line);
      return;
    }
    this.#res.write(line);
    if (unread(this.#res) > MAX_UNREAD_BYTES) this.end();
  }

  /**
   * Write the initial lines (object JSON made into `ADDED` events, then `after`: replayed events
   * or the end bookmark), each piece once the client took the last; then the queued events, and
   * live from there on.
   */
  async begin(objects: readonly string[], after: readonly string[]): Promise<void> {
    let piece = '';
    for (const json of objects) {
      if (this.#ended) return;
      piece += `{"type":"ADDED","object":${json}}\n`;
      if (piece.length >= PIECE_CHARS) {
        const flowing = this.#res.write(piece);
        piece = '';
        if (!flowing) await this.#drained();
      }
    }
    for (const line of after) piece += line;
    if (this.#ended) return;
    if (piece !== '') this.#res.write(piece);
    const queued = this.#queue ?? [];
    this.#queue = null;
    if (queued.length > 0) this.#res.write(queued.join(''));
  }

  /** The version the client watched from is no longer held (the relay listed again): 410 Gone, as an ERROR event. */
  expire(current: number): void {
    if (this.#ended) return;
    this.#queue = null;
    this.#res.write(`${JSON.stringify({ type: 'ERROR', object: expired('', current) })}\n`);
    this.end();
  }

  end(): void {
    if (this.#ended) return;
    this.#res.end();
    this.#finish();
  }

  #finish(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#queue = null;
    clearTimeout(this.#timer);
    this.#onEnd(this);
  }

  #drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.#res.off('drain', done);
        this.#res.off('close', done);
        resolve();
      };
      this.#res.once('drain', done);
      this.#res.once('close', done);
    });
  }
}

/** Bytes written to a response that the client has not taken yet (HTTP/2 stream or HTTP/1.1 socket). */
function unread(res: RelayResponse): number {
  const stream = (res as { stream?: { writableLength?: number } }).stream;
  return stream?.writableLength ?? (res as { writableLength?: number }).writableLength ?? 0;
}
