// Glitch budgets (HAProxy's word): what a misbehaving HTTP/2 client spends — a stream it resets
// before its response, the CVE-2023-44487 "rapid reset" pattern — is counted per connection and
// per client address. Each budget is a token bucket: a burst of `budget` glitches, regained at
// budget/10 per second (so about `budget` per 10 s, sustained). A connection that has spent its
// own budget, or whose client has spent the client budget, gets GOAWAY ENHANCE_YOUR_CALM
// (http2-guard.ts). A client that ran out is refused new HTTPS connections until it has regained
// half its budget (5 s): a token trickling back must not buy a new handshake each time.
//
// The per-client ledger is behind a small interface: LocalGlitchLedger below is one thread's; the
// proxy listeners use SharedGlitchLedger (shared-glitch-ledger.ts), which every worker thread shares.

import type { Clock } from '../../clock.ts';

/** Budgets regain their whole size over this period. */
export const GLITCH_PERIOD_MS = 10_000;

/** A token bucket: `spend()` takes one token if there is one. */
export class GlitchBucket {
  #tokens: number;
  #at: number;
  readonly #budget: number;

  constructor(budget: number, now: number) {
    this.#budget = budget;
    this.#tokens = budget;
    this.#at = now;
  }

  /** Take one token; false when none was left (nothing is taken then). */
  spend(now: number): boolean {
    this.#refill(now);
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** At least `tokens` left at `now`. */
  holds(tokens: number, now: number): boolean {
    this.#refill(now);
    return this.#tokens >= tokens;
  }

  /** Back to its whole budget at `now` (nothing to remember). */
  full(now: number): boolean {
    this.#refill(now);
    return this.#tokens >= this.#budget;
  }

  #refill(now: number): void {
    const elapsed = now - this.#at;
    if (elapsed <= 0) return;
    this.#at = now;
    this.#tokens = Math.min(this.#budget, this.#tokens + (elapsed * this.#budget) / GLITCH_PERIOD_MS);
  }
}

/** The per-client side: what the HTTP/2 guard and the HTTPS listener ask of it. */
export interface ClientGlitchLedger {
  /** Spend one glitch of `client`'s budget; false when it had none left. */
  spend(client: string): boolean;
  /** True from when `client` ran out until it has regained half its budget (its new connections are refused). */
  exhausted(client: string): boolean;
}

/** A client's bucket, and whether it ran out and has not yet regained half of it. */
class ClientBudget {
  readonly bucket: GlitchBucket;
  penalised = false;

  constructor(budget: number, now: number) {
    this.bucket = new GlitchBucket(budget, now);
  }
}

/** Clients tracked at once; past it a new client is not tracked (its connections' own budgets still hold). */
const MAX_CLIENTS = 65_536;

/** A ClientGlitchLedger in this process's memory. Only clients that glitched recently are kept. */
export class LocalGlitchLedger implements ClientGlitchLedger {
  readonly #budget: number;
  readonly #clock: Pick<Clock, 'now'>;
  readonly #clients = new Map<string, ClientBudget>();
  #sweptAt: number;

  constructor(budget: number, clock: Pick<Clock, 'now'>) {
    this.#budget = budget;
    this.#clock = clock;
    this.#sweptAt = clock.now();
  }

  /** Clients remembered now (those that glitched and have not regained their whole budget). */
  get size(): number {
    return this.#clients.size;
  }

  spend(client: string): boolean {
    const now = this.#clock.now();
    if (now - this.#sweptAt >= GLITCH_PERIOD_MS) this.#sweep(now);
    let entry = this.#clients.get(client);
    if (entry === undefined) {
      if (this.#clients.size >= MAX_CLIENTS) return true;
      entry = new ClientBudget(this.#budget, now);
      this.#clients.set(client, entry);
    }
    if (entry.bucket.spend(now)) return true;
    entry.penalised = true;
    return false;
  }

  exhausted(client: string): boolean {
    if (this.#clients.size === 0) return false;
    const entry = this.#clients.get(client);
    if (entry === undefined || !entry.penalised) return false;
    if (entry.bucket.holds(this.#budget / 2, this.#clock.now())) entry.penalised = false;
    return entry.penalised;
  }

  /** Forget clients whose budget is whole again: the map holds only recent offenders. */
  #sweep(now: number): void {
    this.#sweptAt = now;
    for (const [client, entry] of this.#clients) if (entry.bucket.full(now)) this.#clients.delete(client);
  }
}
