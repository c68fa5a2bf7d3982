// The per-client HTTP/2 glitch budgets (glitch-budget.ts) in the router's shared limit table, so
// every worker thread spends from one budget per client address: a client resetting streams
// over connections that land on different threads runs out as fast as on one.

import type { Clock } from '../../clock.ts';
import { keyPrefix, type KeyPrefix } from '../../shared-memory/key-hash.ts';
import type { LimitTable } from '../../shared-memory/limit-table.ts';
import { GLITCH_PERIOD_MS, type ClientGlitchLedger } from './glitch-budget.ts';

export class SharedGlitchLedger implements ClientGlitchLedger {
  readonly #table: LimitTable;
  readonly #key: KeyPrefix;
  readonly #budget: number;
  readonly #clock: Pick<Clock, 'now'>;

  /** `name` tells ledgers apart in one table. */
  constructor(table: LimitTable, name: string, budget: number, clock: Pick<Clock, 'now'>) {
    this.#table = table;
    this.#key = keyPrefix(`http2-glitches\0${name}\0${budget}`);
    this.#budget = budget;
    this.#clock = clock;
  }

  spend(client: string): boolean {
    return this.#table.spendToken(this.#key, client, this.#budget, GLITCH_PERIOD_MS, this.#clock.now());
  }

  exhausted(client: string): boolean {
    return this.#table.tokensLow(this.#key, client, this.#budget, GLITCH_PERIOD_MS, this.#clock.now());
  }
}
