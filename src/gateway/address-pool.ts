// The addresses an operator lets the router give Gateways (--gateway-addresses): single IPv4 or
// IPv6 addresses, IPv4 CIDR blocks (`192.0.2.0/28`: every address of the block, network and
// broadcast included, since these are addresses the node holds, not a subnet to route) and IPv4
// ranges (`192.0.2.10-192.0.2.20`). Parsed once; membership and the n-th address are computed,
// so a /16 costs no memory.

import { isIP, isIPv4 } from 'node:net';

interface Span { first: number; last: number }

function v4ToNumber(address: string): number {
  const octets = address.split('.').map(Number);
  return ((octets[0]! << 24) | (octets[1]! << 16) | (octets[2]! << 8) | octets[3]!) >>> 0;
}

function numberToV4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export class AddressPoolError extends Error {}

export class AddressPool {
  readonly #spans: Span[] = [];
  readonly #singles: string[] = [];
  readonly #singleSet = new Set<string>();
  /** The pool as written (for logs and status messages). */
  readonly text: string;

  constructor(items: readonly string[]) {
    this.text = items.join(',');
    for (const raw of items) {
      const item = raw.trim();
      if (item === '') continue;
      const cidr = /^([0-9.]+)\/(\d{1,2})$/.exec(item);
      const range = /^([0-9.]+)\s*-\s*([0-9.]+)$/.exec(item);
      if (cidr && isIPv4(cidr[1]!) && Number(cidr[2]) <= 32) {
        const bits = Number(cidr[2]);
        const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
        const first = (v4ToNumber(cidr[1]!) & mask) >>> 0;
        this.#spans.push({ first, last: (first + 2 ** (32 - bits) - 1) >>> 0 });
      } else if (range && isIPv4(range[1]!) && isIPv4(range[2]!)) {
        const first = v4ToNumber(range[1]!);
        const last = v4ToNumber(range[2]!);
        if (last < first) throw new AddressPoolError(`gateway address range ${item} ends before it starts`);
        this.#spans.push({ first, last });
      } else if (isIP(item) !== 0) {
        const normal = item.toLowerCase();
        if (!this.#singleSet.has(normal)) { this.#singles.push(normal); this.#singleSet.add(normal); }
      } else {
        throw new AddressPoolError(`gateway address ${JSON.stringify(item)} is not an IP address, an IPv4 CIDR block or an IPv4 range (a-b)`);
      }
    }
  }

  get empty(): boolean { return this.#spans.length === 0 && this.#singles.length === 0; }

  has(address: string): boolean {
    if (isIPv4(address)) {
      const n = v4ToNumber(address);
      if (this.#spans.some((s) => n >= s.first && n <= s.last)) return true;
    }
    return this.#singleSet.has(address.toLowerCase());
  }

  /** Addresses in pool order (blocks and ranges as written, then the single addresses), lazily. */
  *addresses(): IterableIterator<string> {
    for (const s of this.#spans) for (let n = s.first; n <= s.last; n++) yield numberToV4(n);
    yield* this.#singles;
  }
}
