// The relay's serving certificate and key, read from files (a kubernetes.io/tls Secret volume),
// and read again when they change: the kubelet swaps a Secret volume's files atomically (a
// symlink), which a watch of their directory sees; a poll every minute catches what a watch
// misses. A pair that does not load (half-written, a key that does not match) is logged and the
// current one kept.

import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createSecureContext } from 'node:tls';
import type { Logger } from '../log.ts';

export interface ServingPair { cert: Buffer; key: Buffer }

const POLL_MS = 60_000;

export class TlsFiles {
  readonly #certFile: string;
  readonly #keyFile: string;
  readonly #log: Logger;
  #current: ServingPair | undefined;
  #watchers: FSWatcher[] = [];
  #timer: NodeJS.Timeout | undefined;
  #reading = false;
  /** A change came while the files were being read: read them again after. */
  #again = false;

  constructor(certFile: string, keyFile: string, logger: Logger) {
    this.#certFile = certFile;
    this.#keyFile = keyFile;
    this.#log = logger;
  }

  /** The pair as it is now; throws when it cannot be read or does not load. */
  async load(): Promise<ServingPair> {
    const pair = { cert: await readFile(this.#certFile), key: await readFile(this.#keyFile) };
    createSecureContext(pair); // throws on a bad pair
    this.#current = pair;
    return pair;
  }

  /** Call `onChange` with each new pair that loads. */
  follow(onChange: (pair: ServingPair) => void): void {
    const check = () => void this.#check(onChange);
    for (const dir of new Set([dirname(this.#certFile), dirname(this.#keyFile)])) {
      try {
        const watcher = watch(dir, check);
        watcher.on('error', () => {});
        this.#watchers.push(watcher);
      } catch { /* the poll remains */ }
    }
    this.#timer = setInterval(check, POLL_MS);
    this.#timer.unref();
  }

  stop(): void {
    for (const watcher of this.#watchers) watcher.close();
    this.#watchers = [];
    clearInterval(this.#timer);
  }

  async #check(onChange: (pair: ServingPair) => void): Promise<void> {
    if (this.#reading) {
      this.#again = true;
      return;
    }
    this.#reading = true;
    try {
      do {
        this.#again = false;
        await this.#read(onChange);
      } while (this.#again);
    } finally {
      this.#reading = false;
    }
  }

  async #read(onChange: (pair: ServingPair) => void): Promise<void> {
    const before = this.#current;
    let pair: ServingPair;
    try {
      pair = { cert: await readFile(this.#certFile), key: await readFile(this.#keyFile) };
    } catch {
      return; // mid-swap: the next event or poll reads it
    }
    if (before && pair.cert.equals(before.cert) && pair.key.equals(before.key)) return;
    try {
      createSecureContext(pair);
    } catch (err) {
      // Also between the two files of an update that are not swapped at once: the next event has both.
      this.#log.warn({ reason: (err as Error).message }, 'serving certificate and key do not load: keeping the current ones');
      return;
    }
    this.#current = pair;
    onChange(pair);
    this.#log.info('serving certificate reloaded');
  }
}
