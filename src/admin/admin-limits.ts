// Bounds of the admin port, so that it cannot be used to take the router down (descriptors and
// memory are shared with the proxy and the health checks):
// - admin connections: a quarter of the process's open-files limit, between 64 and 1,024 —
//   with the default 1,024 descriptors, 256; the rest stays for client and upstream connections
//   and health checks (without a bound, ~1,000 held admin connections made every check fail with
//   EMFILE and every endpoint went down);
// - dashboard event streams (long-lived responses): 32 in all, 4 per client address; past
//   either, 503 with Retry-After (the page falls back to its slow poll).

import { readFileSync } from 'node:fs';

export const EVENT_STREAMS_MAX = 32;
export const EVENT_STREAMS_PER_CLIENT = 4;

/** The soft open-files limit of this process (Linux /proc), or null when it cannot be read. */
export function openFilesLimit(limitsFile = '/proc/self/limits'): number | null {
  try {
    const match = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync(limitsFile, 'utf8'));
    if (match === null) return null;
    return match[1] === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(match[1]);
  } catch {
    return null;
  }
}

/** Admin connections allowed at once for an open-files limit (unknown: as for 1,024). */
export function adminConnectionLimit(openFiles: number | null): number {
  return Math.max(64, Math.min(1024, Math.floor((openFiles ?? 1024) / 4)));
}

/** Counts of something held per client address, with a total and a per-client bound. */
export class ClientSlots {
  readonly #total: number;
  readonly #perClient: number;
  readonly #held = new Map<string, number>();
  #count = 0;

  constructor(total: number, perClient: number) {
    this.#total = total;
    this.#perClient = perClient;
  }

  get size(): number {
    return this.#count;
  }

  /** Take a slot for `client`; false when the total or its share is used up. */
  take(client: string): boolean {
    const held = this.#held.get(client) ?? 0;
    if (this.#count >= this.#total || held >= this.#perClient) return false;
    this.#held.set(client, held + 1);
    this.#count++;
    return true;
  }

  release(client: string): void {
    const held = this.#held.get(client);
    if (held === undefined) return;
    if (held <= 1) this.#held.delete(client);
    else this.#held.set(client, held - 1);
    this.#count--;
  }
}
