// HTTP basic authentication for the admin port (STATS_USERNAME/STATS_PASSWORD). The scheme is
// case-insensitive (RFC 9110 §11.1: `basic` and `BASIC` are `Basic`); the credentials are compared
// as SHA-256 digests with timingSafeEqual, so neither their contents nor their length leaks
// through the time a wrong guess takes.

import { createHash, timingSafeEqual } from 'node:crypto';

export class BasicAuth {
  readonly #expected: Buffer;

  constructor(username: string, password: string) {
    this.#expected = digest(`${username}:${password}`);
  }

  /** true when `header` (an Authorization value) carries exactly the configured credentials. */
  check(header: string | undefined): boolean {
    if (header === undefined) return false;
    const match = /^\s*basic\s+([A-Za-z0-9+/=._~-]+)\s*$/i.exec(header);
    // Hash something even for a malformed header: the reply takes the same time either way.
    const given = digest(match === null ? '' : Buffer.from(match[1]!, 'base64').toString('utf8'));
    return timingSafeEqual(given, this.#expected) && match !== null;
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
