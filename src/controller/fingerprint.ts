// A short, fixed-size stand-in for a compiled value, used to tell whether a recompiled host
// entry or admission result differs from the last one. Keeping the JSON itself cost more than
// the entry (kilobytes per route); a SHA-256 of it costs 44 characters. crypto.hash is the
// one-shot form (no Hash object per call: this runs once per host at start-up).

import { hash } from 'node:crypto';

export function fingerprintOf(value: unknown): string {
  return hash('sha256', JSON.stringify(value) ?? '', 'base64');
}
