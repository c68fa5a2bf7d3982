// A short, fixed-size stand-in for a compiled value, used to tell whether a recompiled host
// entry or admission result differs from the last one. Keeping the JSON itself cost more than
// the entry (kilobytes per route); a SHA-256 of it costs 44 characters.

import { createHash } from 'node:crypto';

export function fingerprintOf(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value) ?? '').digest('base64');
}
