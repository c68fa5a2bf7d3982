// Durations as options and annotations write them (HAProxy's syntax). Imports nothing, so the
// option table and the route annotations can share it.

/**
 * Longest duration anything accepts: Node's timers hold at most 2^31−1 ms (about 24.8 days) and
 * fire after 1 ms when given more — a 30-day interval would probe continuously.
 */
export const MAX_DURATION_MS = 2 ** 31 - 1;

const UNIT: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PART = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)/;

/** `5s`, `300ms`, `1h`, `2m`, `1m30s`, or a bare number of milliseconds. Throws a plain Error naming the text. */
export function parseDurationText(text: string): number {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) {
    const ms = Number(trimmed);
    if (ms > MAX_DURATION_MS) throw new Error(`duration "${trimmed}" is too long: at most ${MAX_DURATION_MS} ms (24d20h31m23s)`);
    return ms;
  }
  let total = 0;
  let rest = trimmed;
  if (rest === '') throw new Error('empty duration');
  while (rest.length > 0) {
    const m = PART.exec(rest);
    if (!m) throw new Error(`invalid duration "${text}" (use e.g. 500ms, 5s, 1m, 1h)`);
    total += Number(m[1]) * UNIT[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  const ms = Math.round(total);
  if (ms > MAX_DURATION_MS) throw new Error(`duration "${trimmed}" is too long: at most ${MAX_DURATION_MS} ms (24d20h31m23s)`);
  return ms;
}
