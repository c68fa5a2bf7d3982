// The server-side TLS settings every secure context shares: minimum version and cipher list.
// `intermediate` and `modern` are Mozilla's server-side TLS profiles (v5.7); anything else is an
// OpenSSL cipher string, checked once at start-up so a typo stops the router with a clear error.

import tls from 'node:tls';

/** Mozilla "intermediate": TLS 1.3 suites plus forward-secret AEAD suites for TLS 1.2. */
export const INTERMEDIATE_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'DHE-RSA-AES128-GCM-SHA256',
  'DHE-RSA-AES256-GCM-SHA384',
  'DHE-RSA-CHACHA20-POLY1305',
].join(':');

/** Mozilla "modern": TLS 1.3 only (its suites need no configuration). */
export const MODERN_CIPHERS = 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256';

export interface TlsProfile {
  minVersion: tls.SecureVersion;
  ciphers: string;
  /** Let the server, not the client, choose among the shared ciphers. */
  honorCipherOrder: boolean;
}

export class TlsProfileError extends Error {
  override name = 'TlsProfileError';
}

/** Resolve `--ssl-min-version` and `--ciphers` into context options; throws TlsProfileError when invalid. */
export function tlsProfile(options: { sslMinVersion: string; ciphers: string }): TlsProfile {
  const requested = options.ciphers.trim();
  let minVersion = options.sslMinVersion as tls.SecureVersion;
  if (minVersion !== 'TLSv1.2' && minVersion !== 'TLSv1.3') {
    throw new TlsProfileError(`unsupported minimum TLS version "${options.sslMinVersion}" (use TLSv1.2 or TLSv1.3)`);
  }
  let ciphers: string;
  if (requested === '' || requested === 'intermediate') ciphers = INTERMEDIATE_CIPHERS;
  else if (requested === 'modern') {
    ciphers = MODERN_CIPHERS;
    minVersion = 'TLSv1.3';
  } else ciphers = requested;
  const profile: TlsProfile = { minVersion, ciphers, honorCipherOrder: true };
  try {
    tls.createSecureContext(profile);
  } catch (err) {
    throw new TlsProfileError(`invalid cipher list "${options.ciphers}": ${(err as Error).message}`);
  }
  return Object.freeze(profile);
}
