// The relay's read of one collection from the API server, as client-go's reflector reads it: one
// list at resourceVersion=0 (served whole from kube-apiserver's watch cache), then a watch from
// the list's resourceVersion with bookmarks, going on from the last version seen when it ends or
// breaks; after 410 Gone a list at the current version. Objects are read as JSON and kept whole
// (the router's informer, src/kube/informer.ts, narrows them for its own table and hands a store
// keyed upserts; the relay must hand every object on as the API server sent it, in order, with
// its resourceVersion).

import type { Logger } from '../log.ts';
import { KubeApiError, type KubeClient } from '../kube/client.ts';
import { JsonListDecoder } from '../kube/json-list-decoder.ts';
import { WatchEventDecoder, WatchStatusError } from '../kube/watch-events.ts';

export interface KubeListHead { kind?: string; apiVersion?: string; metadata?: { resourceVersion?: string } }

/** What the reflector tells its cache. */
export interface ReflectorSink {
  /** The whole state (the first list, or a re-list after 410 Gone). */
  replace(head: KubeListHead, items: Array<Record<string, any>>): void;
  event(type: 'ADDED' | 'MODIFIED' | 'DELETED', object: Record<string, any>): void;
  bookmark(resourceVersion: string): void;
  /** The first read failed in a way retrying does not mend (403, 404, 400): the relay proxies this collection instead. */
  failed(err: KubeApiError): void;
}

export interface UpstreamReflectorOptions {
  client: KubeClient;
  path: string;
  labelSelector: string;
  fieldSelector: string;
  sink: ReflectorSink;
  logger: Logger;
  /** Restart a watch that sent nothing (kube-apiserver bookmarks about every minute) for this long. */
  silenceMs?: number;
}

const BACKOFF_INITIAL_MS = 200;
const BACKOFF_MAX_MS = 30_000;

export class UpstreamReflector {
  readonly #options: UpstreamReflectorOptions;
  #stopped = false;
  #synced = false;
  #close: (() => void) | undefined;
  #sleep: { timer: NodeJS.Timeout; resolve: () => void } | undefined;
  /** The last resourceVersion taken (an event's or a bookmark's): a broken watch goes on from it. */
  #version = '';

  constructor(options: UpstreamReflectorOptions) {
    this.#options = options;
  }

  start(): void {
    void this.#loop();
  }

  stop(): void {
    this.#stopped = true;
    this.#close?.();
    if (this.#sleep) {
      clearTimeout(this.#sleep.timer);
      this.#sleep.resolve();
    }
  }

  async #loop(): Promise<void> {
    const log = this.#options.logger;
    let expired = false;
    let attempt = 0;
    while (!this.#stopped) {
      try {
        if (this.#version === '') {
          this.#version = await this.#list(expired ? undefined : '0');
          expired = false;
          this.#synced = true;
        }
        const started = Date.now();
        await this.#watch(this.#version);
        if (Date.now() - started > 30_000) attempt = 0;
      } catch (err) {
        if (this.#stopped) return;
        if ((err instanceof KubeApiError || err instanceof WatchStatusError) && err.statusCode === 410) {
          log.info('resourceVersion expired: listing again');
          this.#version = '';
          expired = true;
          continue;
        }
        if (!this.#synced && err instanceof KubeApiError && [400, 403, 404, 405, 406, 422].includes(err.statusCode)) {
          log.warn({ status: err.statusCode, reason: err.reason }, 'cannot read this collection: proxying it');
          this.#options.sink.failed(err);
          return;
        }
        const base = Math.min(BACKOFF_MAX_MS, BACKOFF_INITIAL_MS * 2 ** attempt);
        attempt = Math.min(attempt + 1, 20);
        const delay = Math.round(base / 2 + Math.random() * base / 2);
        log.warn({ reason: (err as Error).message, retryInMs: delay }, 'upstream read failed: retrying');
        await new Promise<void>((resolve) => { this.#sleep = { timer: setTimeout(resolve, delay), resolve }; });
        this.#sleep = undefined;
      }
    }
  }

  /** One unpaged list, items decoded as they arrive; the state's resourceVersion. */
  async #list(resourceVersion: string | undefined): Promise<string> {
    const { client, path, labelSelector, fieldSelector, sink } = this.#options;
    const answer = await client.getStreamed(path, { resourceVersion, labelSelector, fieldSelector }, { timeoutMs: 60_000 });
    if (answer.encoding !== 'json') throw new Error(`unreachable: a JSON list answered as ${answer.encoding}`); // never asked for
    const decoder = new JsonListDecoder();
    const items: Array<Record<string, any>> = [];
    for await (const chunk of answer.body) {
      if (this.#stopped) return '';
      for (const item of decoder.push(chunk)) items.push(item as Record<string, any>);
    }
    const head = decoder.end() as KubeListHead;
    const version = head.metadata?.resourceVersion ?? '';
    if (!/^\d+$/.test(version)) throw new Error(`list of ${path} has no numeric resourceVersion`);
    sink.replace(head, items);
    return version;
  }

  /** A watch from `resourceVersion` until it ends cleanly or breaks; each version taken moves #version. */
  async #watch(resourceVersion: string): Promise<void> {
    const { client, path, labelSelector, fieldSelector, sink } = this.#options;
    const stream = await client.stream(path, {
      watch: 'true', allowWatchBookmarks: 'true', resourceVersion, labelSelector, fieldSelector,
      timeoutSeconds: String(300 + Math.floor(Math.random() * 300)),
    });
    let last = Date.now();
    const silenceMs = this.#options.silenceMs ?? 5 * 60_000;
    const watchdog = setInterval(() => { if (Date.now() - last > silenceMs) stream.close(); }, Math.min(silenceMs, 10_000));
    watchdog.unref();
    this.#close = () => stream.close();
    const decoder = new WatchEventDecoder();
    const handle = (event: { type: string; object: any }) => {
      last = Date.now();
      if (event.type === 'ERROR') throw new WatchStatusError(event.object);
      const next = event.object?.metadata?.resourceVersion;
      if (event.type === 'BOOKMARK') {
        if (typeof next === 'string' && /^\d+$/.test(next)) {
          sink.bookmark(next);
          this.#version = next;
        }
        return;
      }
      if (typeof next !== 'string' || !/^\d+$/.test(next)) throw new Error(`watch of ${path} sent an object without a numeric resourceVersion`);
      sink.event(event.type as 'ADDED' | 'MODIFIED' | 'DELETED', event.object);
      this.#version = next;
    };
    try {
      for await (const chunk of stream.body) {
        if (this.#stopped) return;
        for (const event of decoder.push(chunk)) handle(event);
      }
      for (const event of decoder.end()) handle(event);
    } finally {
      clearInterval(watchdog);
      this.#close = undefined;
      stream.close();
    }
  }
}
