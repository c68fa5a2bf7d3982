// One SecureContext per distinct certificate, built on first use and kept in a bounded LRU.
// The key is a hash of the PEM content (cert + key + ca), so a route whose certificate changes
// gets a new context for its next handshake while open connections keep the one they have —
// no table hook, no invalidation. A certificate OpenSSL refuses is remembered as unusable
// (logged once) and the caller falls back to the default certificate. A cache may also hold the
// CA certificates client certificates are checked against (setClientCa: a Gateway port's
// spec.tls.frontend); they are part of every context it builds and of its key.

import { createHash } from 'node:crypto';
import tls from 'node:tls';
import { LRUCache } from 'lru-cache';
import type { Logger } from '../../log.ts';
import type { TlsProfile } from './tls-profile.ts';

export interface CertificateMaterial {
  /** PEM certificate, possibly followed by intermediates */
  cert: string;
  /** PEM private key */
  key: string;
  /** PEM CA chain appended to the served chain (a Route's caCertificate) */
  ca?: string;
}

/** Cached marker for material OpenSSL rejected. */
const UNUSABLE = Symbol('unusable certificate');

export class SecureContextCache {
  readonly #contexts: LRUCache<string, tls.SecureContext | typeof UNUSABLE>;
  readonly #profile: TlsProfile;
  readonly #logger: Logger;
  /** Material objects seen before: the table hands out the same object for every handshake. */
  readonly #keys = new WeakMap<CertificateMaterial, string>();
  /** PEM CAs for client certificates (null: none) and the suffix they add to the keys. */
  #clientCa: string | null = null;
  #clientCaKey = '';

  constructor(profile: TlsProfile, logger: Logger, max = 10_000) {
    this.#profile = profile;
    this.#logger = logger;
    this.#contexts = new LRUCache({ max });
  }

  get size(): number {
    return this.#contexts.size;
  }

  /** Contexts built from now on trust these CAs for client certificates (null: none). */
  setClientCa(ca: string | null): void {
    this.#clientCa = ca;
    this.#clientCaKey = ca === null ? '' : `|${createHash('sha256').update(ca).digest('hex')}`;
  }

  /** The context serving `material`, or null when the material cannot be used. */
  get(material: CertificateMaterial): tls.SecureContext | null {
    let key = this.#keys.get(material);
    if (key === undefined) {
      key = materialKey(material);
      this.#keys.set(material, key);
    }
    key += this.#clientCaKey;
    let context = this.#contexts.get(key);
    if (context === undefined) {
      context = this.#build(material, key);
      this.#contexts.set(key, context);
    }
    return context === UNUSABLE ? null : context;
  }

  #build(material: CertificateMaterial, key: string): tls.SecureContext | typeof UNUSABLE {
    try {
      return createServerContext(material, this.#profile, this.#clientCa);
    } catch (err) {
      // Never log the material itself: the key hash is enough to correlate.
      this.#logger.warn({ certificate: key.slice(0, 16), err: (err as Error).message }, 'route certificate unusable; serving the default certificate');
      return UNUSABLE;
    }
  }
}

/**
 * A server SecureContext: the served chain is the certificate followed by the CA chain (as
 * OpenShift does); `clientCa`: the CAs client certificates must chain to, if they are checked.
 */
export function createServerContext(material: CertificateMaterial, profile: TlsProfile, clientCa: string | null = null): tls.SecureContext {
  const chain = material.ca ? `${material.cert.trimEnd()}\n${material.ca.trim()}\n` : material.cert;
  return tls.createSecureContext({ ...profile, cert: chain, key: material.key, ...(clientCa !== null ? { ca: clientCa } : {}) });
}

export function materialKey(material: CertificateMaterial): string {
  return createHash('sha256').update(material.cert).update('\0').update(material.key).update('\0').update(material.ca ?? '').digest('hex');
}
