// A watch on one named object (a Lease): its current state once (a list narrowed to its name,
// which also says when it does not exist), then its changes, kept going as the informer's are:
// a watch that ends goes on from its last resourceVersion, 410 Gone reads the state again,
// failures retry after a capped jittered backoff, and a watch silent (not even a bookmark) past
// the watchdog is restarted. One stream instead of one GET per retry period.

import { systemClock, type Clock, type TimerHandle } from '../clock.ts';
import type { Logger } from '../log.ts';
import { KubeApiError, type KubeClient, type KubeStream } from './client.ts';
import { WatchEventDecoder, WatchStatusError } from './watch-events.ts';

export interface WatchedObject { metadata: { name: string; resourceVersion?: string } }

export interface ObjectWatchOptions<T extends WatchedObject> {
  client: KubeClient;
  /** Collection path, e.g. `/apis/coordination.k8s.io/v1/namespaces/ns/leases`. */
  path: string;
  name: string;
  logger: Logger;
  /** The object as it is now (undefined: it does not exist). Called on every change, and once the first state is read. */
  onChange: (object: T | undefined) => void;
  /** Restart a watch silent for this long. Default 5 minutes (bookmarks come about every minute). */
  watchTimeoutMs?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  clock?: Clock;
}

export class ObjectWatch<T extends WatchedObject> {
  #options: ObjectWatchOptions<T>;
  #clock: Clock;
  #generation = 0;
  #resourceVersion = '';
  #stream: KubeStream | undefined;
  #timer: TimerHandle | undefined;
  #watchdog: TimerHandle | undefined;
  #lastActivity = 0;
  #attempt = 0;
  #running = false;
  #synced = false;

  constructor(options: ObjectWatchOptions<T>) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
  }

  /** Whether the object's state has been read at least once. */
  get synced(): boolean { return this.#synced; }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#run();
    this.#armWatchdog();
  }

  stop(): void {
    this.#running = false;
    this.#generation++;
    this.#clock.clearTimeout(this.#timer);
    this.#clock.clearTimeout(this.#watchdog);
    this.#stream?.close();
    this.#stream = undefined;
  }

  #run(): void {
    const generation = ++this.#generation;
    const current = () => generation === this.#generation && this.#running;
    this.#session(current).then(
      () => { if (current()) this.#run(); },
      (err: unknown) => {
        if (!current()) return;
        this.#stream?.close();
        this.#stream = undefined;
        if ((err instanceof KubeApiError || err instanceof WatchStatusError) && err.statusCode === 410) {
          this.#resourceVersion = '';
          this.#run();
          return;
        }
        this.#retry(err);
      });
  }

  async #session(current: () => boolean): Promise<void> {
    const { client, path, name } = this.#options;
    const fieldSelector = `metadata.name=${name}`;
    if (this.#resourceVersion === '') {
      const list = await client.request<{ metadata?: { resourceVersion?: string }; items?: T[] }>({ method: 'GET', path, query: { fieldSelector } });
      if (!current()) return;
      this.#resourceVersion = list.metadata?.resourceVersion ?? '';
      this.#synced = true;
      this.#options.onChange(list.items?.[0]);
    }
    const stream = await client.stream(path, {
      watch: 'true', allowWatchBookmarks: 'true', fieldSelector, resourceVersion: this.#resourceVersion,
      timeoutSeconds: String(300 + Math.floor(Math.random() * 300)),
    });
    if (!current()) {
      stream.close();
      return;
    }
    this.#stream = stream;
    this.#lastActivity = this.#clock.now();
    const decoder = new WatchEventDecoder();
    for await (const chunk of stream.body) {
      if (!current()) return;
      for (const event of decoder.push(chunk)) {
        this.#lastActivity = this.#clock.now();
        this.#attempt = 0;
        if (event.type === 'ERROR') throw new WatchStatusError(event.object);
        const resourceVersion: string | undefined = event.object?.metadata?.resourceVersion;
        if (resourceVersion) this.#resourceVersion = resourceVersion;
        if (event.type === 'ADDED' || event.type === 'MODIFIED') this.#options.onChange(event.object as T);
        else if (event.type === 'DELETED') this.#options.onChange(undefined);
      }
    }
    if (current()) this.#stream = undefined;
  }

  #retry(err: unknown): void {
    const initial = this.#options.backoffInitialMs ?? 200;
    const max = this.#options.backoffMaxMs ?? 30_000;
    const base = Math.min(max, initial * 2 ** this.#attempt);
    this.#attempt = Math.min(this.#attempt + 1, 30);
    const delay = Math.round(base / 2 + Math.random() * base / 2);
    this.#options.logger.warn({ error: (err as Error).message, retryInMs: delay }, `watch of ${this.#options.name} failed; retrying`);
    this.#generation++;
    this.#timer = this.#clock.setTimeout(() => { if (this.#running) this.#run(); }, delay);
  }

  #armWatchdog(): void {
    const timeout = this.#options.watchTimeoutMs ?? 300_000;
    this.#watchdog = this.#clock.setTimeout(() => {
      if (!this.#running) return;
      this.#armWatchdog();
      if (this.#stream && this.#clock.now() - this.#lastActivity > timeout) {
        this.#stream.close();
        this.#stream = undefined;
        this.#retry(new Error(`watch sent nothing for ${Math.round(timeout / 1000)}s`));
      }
    }, Math.max(50, Math.min(1000, Math.floor(timeout / 4))));
    (this.#watchdog as { unref?: () => void }).unref?.();
  }
}
