// Regular-expression request conditions (GRPCRoute service, method and header matches with type
// RegularExpression, and an Exact method without a service, which no path prefix can say).
// Patterns are RE2 (re2js): matching time is linear in the input whatever the pattern, so a
// tenant's `(a+)+$` cannot stall the event loop on a crafted path — the reason for RE2 rather
// than the backtracking RegExp. A pattern must match the whole value (Envoy's and the Gateway
// API implementations' reading of "matches the regular expression"), case-sensitively.
//
// Compiled once per route when the table is applied (route-table.ts HostSlot), never per
// request; the table itself keeps the pattern text (plain data for the workers and /debug/routes).

import { RE2JS } from 're2js';
import type { MatchRequest } from './match.ts';
import type { RequestPatterns } from './types.ts';

/** A pattern's text RE2 cannot compile (or a syntax RE2 refuses, e.g. look-arounds), or null. */
export function patternError(pattern: string): string | null {
  try {
    RE2JS.compile(pattern);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/** An RE2 pattern matching exactly `text`. */
export function literalPattern(text: string): string {
  return RE2JS.quote(text);
}

function compileOrNever(pattern: string): RE2JS | null {
  // Admission refused invalid patterns (src/gateway/grpc-route-rules.ts); a table that still
  // carries one (a hand-made delta) matches nothing rather than everything.
  try {
    return RE2JS.compile(pattern);
  } catch {
    return null;
  }
}

export class CompiledRequestPatterns {
  readonly #service: RE2JS | null;
  readonly #method: RE2JS | null;
  readonly #headers: Array<[string, RE2JS | null]>;
  /** Some pattern did not compile: nothing matches. */
  readonly #never: boolean;

  constructor(patterns: RequestPatterns) {
    this.#service = patterns.service === null ? null : compileOrNever(patterns.service);
    this.#method = patterns.method === null ? null : compileOrNever(patterns.method);
    this.#headers = patterns.headers.map(([name, p]) => [name, compileOrNever(p)]);
    this.#never = (patterns.service !== null && this.#service === null) || (patterns.method !== null && this.#method === null)
      || this.#headers.some(([, p]) => p === null);
  }

  /** Does the request (path `target[0, end)`) meet every pattern? */
  matches(req: MatchRequest | undefined, target: string, end: number): boolean {
    if (this.#never) return false;
    if (this.#service !== null || this.#method !== null) {
      // gRPC paths are `/<service>/<method>`: the service ends at the second '/'.
      if (target.charCodeAt(0) !== 47) return false;
      let slash = target.indexOf('/', 1);
      if (slash === -1 || slash > end) slash = end;
      if (this.#service !== null && !this.#service.matches(target.slice(1, slash))) return false;
      if (this.#method !== null && !this.#method.matches(slash < end ? target.slice(slash + 1, end) : '')) return false;
    }
    const headers = this.#headers;
    for (let i = 0; i < headers.length; i++) {
      const [name, pattern] = headers[i]!;
      const actual = req?.headers[name];
      if (actual === undefined) return false;
      if (typeof actual === 'string' ? !pattern!.matches(actual) : !actual.some((v) => pattern!.matches(v))) return false;
    }
    return true;
  }
}
