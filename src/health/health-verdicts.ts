// Applying the health service's verdicts to a proxy's endpoint states — the same code in the
// in-process proxy and in every worker. A verdict may arrive before the proxy has the endpoint
// (or the endpoint may be recreated by a later table change), so endpoints held down are
// remembered and applied again after each table change.

import type { EndpointRegistry } from './endpoint-registry.ts';
import { endEjectionAfterActivePass } from './passive.ts';

export class HealthVerdicts {
  readonly #registry: EndpointRegistry;
  readonly #down = new Set<string>();

  constructor(registry: EndpointRegistry) {
    this.#registry = registry;
  }

  verdict(id: string, up: boolean): void {
    if (up) this.#down.delete(id); else this.#down.add(id);
    const state = this.#registry.get(id);
    if (state === undefined) return;
    state.activeUp = up;
    // Healthy again by the active check: a passive ejection ends with it.
    if (up) { state.ejectedUntil = 0; state.consecutiveFailures = 0; }
  }

  probePassed(id: string, startedAt: number): void {
    const state = this.#registry.get(id);
    if (state !== undefined) endEjectionAfterActivePass(state, startedAt, Date.now());
  }

  /** After the proxy applied a table change: endpoints held down stay down in new states too. */
  afterTable(): void {
    for (const id of this.#down) {
      const state = this.#registry.get(id);
      if (state !== undefined) state.activeUp = false;
    }
  }
}
