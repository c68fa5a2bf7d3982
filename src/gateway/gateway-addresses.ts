// Which address each Gateway of ours gets from the operator's pool (--gateway-addresses), kept
// stable: a Gateway keeps the address it has while it exists, and after a restart gets back the
// one its status already shows (what its clients were told) when that is still free. Older
// Gateways choose first (creationTimestamp, then namespace/name), so a conflict always costs the
// newer one.
//
// spec.addresses: an `IPAddress` (the default type) with a value asks for that address — it must
// be in the pool and not another Gateway's, else the Gateway is not Programmed
// (AddressNotUsable); one without a value asks for any address of the pool (GatewayAddressEmpty);
// any other type is not supported (Accepted=False UnsupportedAddress). With no spec.addresses the
// pool's first free address is assigned; none left is AddressNotAssigned.

import type { Gateway } from '../objects/gateway-types.ts';
import { creationMillis } from '../objects/types.ts';
import type { AddressPool } from './address-pool.ts';

export type AddressAssignment =
  | { ok: true; addresses: string[] }
  | { ok: false; accepted: boolean; reason: 'UnsupportedAddress' | 'AddressNotUsable' | 'AddressNotAssigned'; message: string };

const gatewayKey = (g: Gateway) => `${g.metadata.namespace ?? 'default'}/${g.metadata.name}`;

export class GatewayAddresses {
  readonly #pool: AddressPool;
  /** Pool-assigned address by Gateway key (not the ones a spec asked for). */
  #assigned = new Map<string, string>();

  constructor(pool: AddressPool) {
    this.#pool = pool;
  }

  /** Assign addresses to these Gateways (all of ours); forgets Gateways no longer given. */
  assign(gateways: readonly Gateway[]): Map<string, AddressAssignment> {
    const ordered = [...gateways].sort((a, b) => {
      const ta = creationMillis(a.metadata) ?? Number.MAX_SAFE_INTEGER;
      const tb = creationMillis(b.metadata) ?? Number.MAX_SAFE_INTEGER;
      if (ta !== tb) return ta - tb;
      const ka = gatewayKey(a);
      const kb = gatewayKey(b);
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    });
    const result = new Map<string, AddressAssignment>();
    const taken = new Set<string>();
    const wantsPool: Gateway[] = [];
    // Addresses asked for by value first, oldest Gateway first: they are not movable.
    for (const g of ordered) {
      const key = gatewayKey(g);
      const requested = g.spec?.addresses ?? [];
      const unsupported = requested.find((a) => (a.type ?? 'IPAddress') !== 'IPAddress');
      if (unsupported) {
        result.set(key, { ok: false, accepted: false, reason: 'UnsupportedAddress', message: `address type ${unsupported.type} is not supported (IPAddress is)` });
        continue;
      }
      const values = requested.map((a) => a.value ?? '').filter((v) => v !== '');
      if (values.length === 0) { wantsPool.push(g); continue; }
      const unusable = values.filter((v) => !this.#pool.has(v) || taken.has(v.toLowerCase()));
      if (unusable.length > 0) {
        result.set(key, {
          ok: false, accepted: true, reason: 'AddressNotUsable',
          message: `address ${unusable.join(', ')} is ${unusable.some((v) => !this.#pool.has(v)) ? `not in the router's gateway address pool (${this.#pool.text})` : 'used by another Gateway'}`,
        });
        continue;
      }
      for (const v of values) taken.add(v.toLowerCase());
      // An address without value beside ones with values: one more from the pool.
      const extra = requested.length - values.length;
      result.set(key, { ok: true, addresses: values });
      if (extra > 0) wantsPool.push(g);
    }
    // Keep what each pool Gateway had (this process, or its status after a restart) when still free.
    const next = new Map<string, string>();
    const needFresh: Gateway[] = [];
    for (const g of wantsPool) {
      const key = gatewayKey(g);
      const previous = this.#assigned.get(key) ?? g.status?.addresses?.find((a) => (a.type ?? 'IPAddress') === 'IPAddress')?.value;
      if (previous !== undefined && this.#pool.has(previous) && !taken.has(previous.toLowerCase())) {
        taken.add(previous.toLowerCase());
        next.set(key, previous);
      } else needFresh.push(g);
    }
    for (const g of needFresh) {
      const key = gatewayKey(g);
      let free: string | undefined;
      for (const candidate of this.#pool.addresses()) {
        if (!taken.has(candidate.toLowerCase())) { free = candidate; break; }
      }
      if (free === undefined) {
        if (!result.has(key)) result.set(key, { ok: false, accepted: true, reason: 'AddressNotAssigned', message: `the gateway address pool (${this.#pool.text}) has no free address` });
        continue;
      }
      taken.add(free.toLowerCase());
      next.set(key, free);
    }
    for (const [key, address] of next) {
      const given = result.get(key);
      result.set(key, { ok: true, addresses: given?.ok ? [...given.addresses, address] : [address] });
    }
    this.#assigned = next;
    return result;
  }
}
