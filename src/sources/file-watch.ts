// Notices that one file may have changed and calls back, debounced. Three signals, because
// none is reliable alone: editors and ConfigMap volumes replace files by rename (a watch on
// the file then follows the old inode, so the containing directory is watched too); some
// filesystems (network, overlay) deliver no fs.watch events at all, so the stat signature
// (inode, size, mtime) is also polled. A spurious callback is harmless: the reader compares
// the file's text with what it read last time.

import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Logger } from '../log.ts';

export interface FileWatchOptions {
  debounceMs: number;
  pollMs: number;
  logger: Logger;
}

/** `inode:size:mtime`, or undefined when the file does not exist (or cannot be stat'ed). */
export async function statSignature(path: string): Promise<string | undefined> {
  try {
    const s = await stat(path);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return undefined;
  }
}

export class FileWatch {
  #path: string;
  #dir: string;
  #base: string;
  #onChange: () => void;
  #options: FileWatchOptions;
  #signature: string | undefined;
  #dirWatcher: FSWatcher | undefined;
  #fileWatcher: FSWatcher | undefined;
  #fileWatcherSignature: string | undefined;
  #poll: NodeJS.Timeout;
  #polling = false;
  #debounce: NodeJS.Timeout | undefined;
  #firstEventAt = 0;
  #closed = false;
  /** Called after the next stat poll that found nothing new and had no change pending. */
  #quietWaiters: Array<() => void> = [];

  /** `signature` is the stat signature of the version already read. */
  constructor(path: string, signature: string | undefined, onChange: () => void, options: FileWatchOptions) {
    this.#path = path;
    this.#dir = dirname(path);
    this.#base = basename(path);
    this.#onChange = onChange;
    this.#options = options;
    this.#signature = signature;
    this.#armDirectory();
    this.#armFile(signature);
    this.#poll = setInterval(() => void this.#checkStat(), options.pollMs);
  }

  /** Resolves after the next stat poll that found the file unchanged with no change pending. */
  nextQuietPoll(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#quietWaiters.push(resolve));
  }

  close(): void {
    this.#closed = true;
    for (const resolve of this.#quietWaiters.splice(0)) resolve();
    clearInterval(this.#poll);
    clearTimeout(this.#debounce);
    this.#debounce = undefined;
    this.#dirWatcher?.close();
    this.#fileWatcher?.close();
    this.#dirWatcher = this.#fileWatcher = undefined;
  }

  #armDirectory(): void {
    try {
      const watcher = watch(this.#dir, (_event, filename) => {
        // Our file, or Kubernetes' atomic-writer links (`..data`) that a ConfigMap file points through.
        if (filename === null || filename === this.#base || filename.startsWith('..')) this.#schedule();
      });
      watcher.on('error', (err) => {
        this.#options.logger.debug({ file: this.#path, err: err.message }, 'directory watch failed; polling until it can be re-armed');
        watcher.close();
        if (this.#dirWatcher === watcher) this.#dirWatcher = undefined;
      });
      this.#dirWatcher = watcher;
    } catch (err) {
      this.#options.logger.debug({ file: this.#path, err: (err as Error).message }, 'cannot watch directory; polling');
    }
  }

  #armFile(signature: string | undefined): void {
    this.#fileWatcher?.close();
    this.#fileWatcher = undefined;
    this.#fileWatcherSignature = signature;
    if (signature === undefined) return;
    try {
      const watcher = watch(this.#path, (event) => {
        this.#schedule();
        // After a rename the watch follows the old inode; the next poll re-arms it on the new one.
        if (event === 'rename' && this.#fileWatcher === watcher) {
          watcher.close();
          this.#fileWatcher = undefined;
        }
      });
      watcher.on('error', () => {
        watcher.close();
        if (this.#fileWatcher === watcher) this.#fileWatcher = undefined;
      });
      this.#fileWatcher = watcher;
    } catch {
      // Missing or unwatchable: the directory watch and the poll still see it come back.
    }
  }

  async #checkStat(): Promise<void> {
    if (this.#polling) return;
    this.#polling = true;
    try {
      const signature = await statSignature(this.#path);
      if (this.#closed) return;
      if (!this.#dirWatcher) this.#armDirectory();
      const inode = signature?.split(':')[0];
      if (!this.#fileWatcher || inode !== this.#fileWatcherSignature?.split(':')[0]) this.#armFile(signature);
      if (signature !== this.#signature) {
        this.#signature = signature;
        // Usually the change an fs.watch event already scheduled: pushing that reload back by
        // another debounce would only delay it (the reload reads whatever the file holds then).
        if (this.#debounce === undefined) this.#schedule();
      } else if (this.#debounce === undefined) {
        for (const resolve of this.#quietWaiters.splice(0)) resolve();
      }
    } finally {
      this.#polling = false;
    }
  }

  /** Debounce bursts (an editor's write + chmod + rename), but fire at least every 5 × debounce. */
  #schedule(): void {
    if (this.#closed) return;
    const now = Date.now();
    if (this.#debounce) {
      if (now - this.#firstEventAt >= this.#options.debounceMs * 5) return;
      clearTimeout(this.#debounce);
    } else {
      this.#firstEventAt = now;
    }
    this.#debounce = setTimeout(() => {
      this.#debounce = undefined;
      if (!this.#closed) this.#onChange();
    }, this.#options.debounceMs);
  }
}
