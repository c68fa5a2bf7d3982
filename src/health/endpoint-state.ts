// The live state of one backend endpoint (address:port), shared by every route that uses it:
// the balancers read it, the active health monitor and passive ejection write it, and the
// forwarder keeps its connection pool on it. One object per distinct endpoint and registry.
//
// The fields every thread must agree on (in-flight count, active verdict, passive ejection)
// live in a slot of shared memory (shared-memory/endpoint-slots.ts) when the state comes from a
// registry: every registry of the process (each proxy thread's, the health checks') sees the
// same values. A state made on its own (tests, tools) keeps them in memory of its own.

import type { Dispatcher } from 'undici';
import { ACTIVE, DOWN, EJECTED_AT, EJECTED_UNTIL, EJECTIONS, FAILURES, LOCK, STRIDE, type EndpointSlots } from '../shared-memory/endpoint-slots.ts';
import { lock, unlock } from '../shared-memory/spin-lock.ts';
import { readTime, writeTime } from '../shared-memory/shared-time.ts';
import { joined } from '../flat-string.ts';

function nameOf(address: string, port: number): string {
  return address.includes(':') ? joined(['[', address, ']:', port]) : joined([address, port], ':');
}

export class EndpointState {
  readonly id: string;
  readonly address: string;
  readonly port: number;
  /** name, made on first use: most endpoints are never logged, scraped by name nor proxied to (30,000 strings at 10k routes). */
  #name: string | null = null;
  /** HTTP/1.1 connection pool (proxy/endpoint-pool.ts), created lazily by the forwarder. */
  pool: (Pick<Dispatcher, 'dispatch'> & { close(): Promise<void>; destroy(): Promise<void> }) | null = null;
  /** Cleartext HTTP/1.1 connections of the native client (proxy/http1-connection-pool.ts), created lazily. */
  connections: { close(): Promise<void>; destroy(): Promise<void> } | null = null;
  /** Cleartext HTTP/2 pool (routes whose backend speaks HTTP/2), created lazily by the forwarder. */
  h2Pool: { close(): Promise<void>; destroy(): Promise<void> } | null = null;
  /** Routes referencing it in its registry; the registry disposes of it when this drops to 0. */
  refs = 0;
  /** The fields (shared slot, or own memory) and where this state's begin. */
  #words: Int32Array;
  #base: number;
  /** The shared table and slot, until detach(). */
  #slots: EndpointSlots | null;
  /** Requests in flight started through this object (its part of the shared count). */
  #started = 0;

  constructor(id: string, address: string, port: number, slots: EndpointSlots | null = null, slot = 0) {
    this.id = id;
    this.address = address;
    this.port = port;
    this.#slots = slots;
    this.#words = slots === null ? new Int32Array(STRIDE) : slots.words;
    this.#base = slots === null ? 0 : slot * STRIDE;
  }

  /** `address:port`, IPv6 bracketed — the metrics label and log name. */
  get name(): string {
    return this.#name ??= nameOf(this.address, this.port);
  }

  /**
   * The name for a caller that names every endpoint each time (a metrics scrape, the dashboard):
   * the kept one if made, else a fresh string that is not kept, so one scrape does not make every
   * endpoint hold its name from then on.
   */
  get label(): string {
    return this.#name ?? nameOf(this.address, this.port);
  }

  /** Can take new requests now: healthy by the active check and not passively ejected. */
  available(now: number): boolean {
    const words = this.#words;
    const base = this.#base;
    return words[base + DOWN] === 0 && readTime(words, base + EJECTED_UNTIL) <= now;
  }

  /** A request or tunnel to it begins (leastconn, power-of-two choices, the in-flight gauge). */
  started(): void {
    Atomics.add(this.#words, this.#base + ACTIVE, 1);
    this.#started++;
  }

  /** …and ends. */
  ended(): void {
    Atomics.sub(this.#words, this.#base + ACTIVE, 1);
    this.#started--;
  }

  /** In-flight requests and tunnels, over every thread. */
  get active(): number {
    return Atomics.load(this.#words, this.#base + ACTIVE);
  }

  /** Verdict of the active health check; true until a check says otherwise. */
  get activeUp(): boolean {
    return this.#words[this.#base + DOWN] === 0;
  }

  set activeUp(up: boolean) {
    Atomics.store(this.#words, this.#base + DOWN, up ? 0 : 1);
  }

  /** Passive ejection: not picked before this time (ms since epoch). 0 = not ejected. */
  get ejectedUntil(): number {
    return readTime(this.#words, this.#base + EJECTED_UNTIL);
  }

  set ejectedUntil(ms: number) {
    writeTime(this.#words, this.#base + EJECTED_UNTIL, ms);
  }

  /** When the latest passive ejection began (ms since epoch; 0 = never): only an active check started after it may end it early. */
  get ejectedAt(): number {
    return readTime(this.#words, this.#base + EJECTED_AT);
  }

  set ejectedAt(ms: number) {
    writeTime(this.#words, this.#base + EJECTED_AT, ms);
  }

  /** Consecutive failures seen by passive checking. */
  get consecutiveFailures(): number {
    return this.#words[this.#base + FAILURES]!;
  }

  set consecutiveFailures(n: number) {
    Atomics.store(this.#words, this.#base + FAILURES, n);
  }

  /** How many times in a row it has been ejected (grows the backoff). */
  get ejections(): number {
    return this.#words[this.#base + EJECTIONS]!;
  }

  set ejections(n: number) {
    Atomics.store(this.#words, this.#base + EJECTIONS, n);
  }

  /**
   * Run `update` with the passive-health fields to itself: threads that see failures of the
   * same endpoint at once count each of them, and one of them ejects it.
   */
  exclusive<T>(update: (state: EndpointState) => T): T {
    const words = this.#words;
    const at = this.#base + LOCK;
    lock(words, at);
    try {
      return update(this);
    } finally {
      unlock(words, at);
    }
  }

  /**
   * The registry no longer holds it (its routes were replaced or removed), but requests that
   * began on it may still be in flight: they go on counting in memory of this object's own, and
   * the shared slot, with this object's part of the in-flight count taken out, is given back.
   */
  detach(): void {
    const slots = this.#slots;
    if (slots === null) return;
    const shared = this.#words;
    const own = new Int32Array(STRIDE);
    for (const field of [DOWN, FAILURES, EJECTIONS, EJECTED_UNTIL, EJECTED_UNTIL + 1, EJECTED_AT, EJECTED_AT + 1]) own[field] = shared[this.#base + field]!;
    own[ACTIVE] = this.#started;
    Atomics.sub(shared, this.#base + ACTIVE, this.#started);
    const slot = this.#base / STRIDE;
    this.#words = own;
    this.#base = 0;
    this.#slots = null;
    slots.release(slot);
  }
}
