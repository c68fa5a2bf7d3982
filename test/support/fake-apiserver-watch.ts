// One open watch stream of the fake API server: newline-delimited JSON events, optional periodic
// BOOKMARKs, `timeoutSeconds`, and a stall switch that withholds everything (buffered, so
// nothing is lost when the stall ends while the connection is still open).

import type { ServerResponse } from 'node:http';
import type { Matcher } from './fake-apiserver-selectors.ts';
import type { ResourceSpec } from './fake-apiserver-resources.ts';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface StoredObject extends Record<string, unknown> {
  metadata: { name: string; namespace?: string; resourceVersion?: string; [field: string]: unknown };
}

/** A change as recorded in the server's history: the object before and after. */
export interface ChangeEvent {
  rv: number;
  plural: string;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  old: StoredObject | undefined;
  current: StoredObject;
}

export interface WatchOptions {
  resource: ResourceSpec;
  namespace: string | undefined;
  labels: Matcher;
  fields: Matcher;
  bookmarkIntervalMs: number | null;
  /** The client asked for bookmarks (allowWatchBookmarks=true). */
  allowBookmarks: boolean;
  timeoutMs: number | null;
  stalled: boolean;
  currentRv: () => number;
  onClose: (watch: WatchStream) => void;
}

export class WatchStream {
  readonly resource: ResourceSpec;
  #res: ServerResponse;
  #options: WatchOptions;
  #stalled: boolean;
  #buffer: string[] = [];
  #timers: NodeJS.Timeout[] = [];
  #closed = false;

  constructor(res: ServerResponse, options: WatchOptions) {
    this.resource = options.resource;
    this.#res = res;
    this.#options = options;
    this.#stalled = options.stalled;
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache' });
    // The client waits for the headers before it reads anything: send them now.
    res.flushHeaders();
    // A GET's request `close` fires as soon as its empty body is read; the response's does not.
    res.on('close', () => this.#cleanUp());
    if (options.bookmarkIntervalMs !== null) {
      const timer = setInterval(() => this.#bookmark(), options.bookmarkIntervalMs);
      this.#timers.push(timer);
    }
    if (options.timeoutMs !== null) {
      this.#timers.push(setTimeout(() => this.end(), options.timeoutMs));
    }
  }

  get closed(): boolean { return this.#closed; }

  matches(object: StoredObject | undefined): boolean {
    if (!object) return false;
    const ns = object.metadata.namespace;
    if (this.#options.namespace !== undefined && ns !== this.#options.namespace) return false;
    return this.#options.labels(object) && this.#options.fields(object);
  }

  /** Deliver a change, translated for this watch's selectors as the API server does. */
  deliver(event: ChangeEvent): void {
    const before = event.type === 'ADDED' ? false : this.matches(event.old);
    const after = this.matches(event.current);
    if (event.type === 'DELETED') {
      if (before || after) this.send('DELETED', event.current);
      return;
    }
    if (before && after) this.send('MODIFIED', event.current);
    else if (!before && after) this.send('ADDED', event.current);
    else if (before && !after) this.send('DELETED', event.current);
  }

  send(type: WatchEventType, object: unknown): void {
    if (this.#closed) return;
    const line = `${JSON.stringify({ type, object })}\n`;
    if (this.#stalled) this.#buffer.push(line);
    else this.#res.write(line);
  }

  stall(on: boolean): void {
    this.#stalled = on;
    if (!on && !this.#closed) {
      for (const line of this.#buffer) this.#res.write(line);
      this.#buffer = [];
    }
  }

  /** Send a 410 Gone ERROR event and end the stream. */
  expire(requestedRv: string): void {
    this.send('ERROR', {
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
      message: `too old resource version: ${requestedRv} (${this.#options.currentRv()})`,
      reason: 'Expired', code: 410,
    });
    this.end();
  }

  /** Clean end of the stream (what a server-side timeout looks like). */
  end(): void {
    if (this.#closed) return;
    if (this.#stalled) this.#buffer = [];
    this.#res.end();
    this.#cleanUp();
  }

  /** Abrupt end: the socket dies. */
  destroy(): void {
    if (this.#closed) return;
    this.#res.socket?.destroy();
    this.#res.destroy();
    this.#cleanUp();
  }

  /** Send a BOOKMARK now, if the client asked for them (a stalled stream sends nothing). */
  bookmark(): void {
    if (this.#options.allowBookmarks) this.#bookmark();
  }

  /** The bookmark that ends a watch-list's initial events (annotation k8s.io/initial-events-end). */
  initialEventsEnd(): void {
    const { resource } = this.#options;
    this.send('BOOKMARK', {
      kind: resource.kind,
      apiVersion: resource.group ? `${resource.group}/${resource.version}` : resource.version,
      metadata: { resourceVersion: String(this.#options.currentRv()), annotations: { 'k8s.io/initial-events-end': 'true' } },
    });
  }

  #bookmark(): void {
    const { resource } = this.#options;
    if (this.#stalled) return; // a stalled stream sends nothing, not even bookmarks
    this.send('BOOKMARK', {
      kind: resource.kind,
      apiVersion: resource.group ? `${resource.group}/${resource.version}` : resource.version,
      metadata: { resourceVersion: String(this.#options.currentRv()) },
    });
  }

  #cleanUp(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers = [];
    this.#buffer = [];
    this.#options.onClose(this);
  }
}
