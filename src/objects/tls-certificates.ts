// The checks OpenShift's extended validation makes of TLS material, on a Route's inline fields
// and on a kubernetes.io/tls Secret alike: the certificate and key must parse, the key must match
// the certificate, the chain must verify against caCertificate when one is given, certificates
// issued by a CA must not be signed with SHA-1 or MD5 (a self-signed leaf is excepted, as in
// OpenShift), expired or not-yet-valid certificates are refused, and each termination carries
// only the fields it uses. Verdicts are cached by content. Used by admission (a Route's TLS,
// its externalCertificate), by compilation (an Ingress's secretName) and by the Gateway API
// listeners (certificateRefs) — one place for what a valid certificate is.

import { X509Certificate, createHash, createPrivateKey, type KeyObject } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { RouteTLSConfig, Secret } from './types.ts';

export type TlsValidation = { ok: true } | { ok: false; reason: 'ExtendedValidationFailed'; message: string };

const OK: TlsValidation = Object.freeze({ ok: true });
const WEAK_SIGNATURE = /(^|[^a-z])(sha1|md5|md2|md4)/i;
const MAX_CHAIN = 10;

class Invalid extends Error {}

/** How a message names the certificate, key and CA fields: a Route's spec.tls or a Secret's keys. */
interface FieldNames { cert: string; key: string; ca: string }
const ROUTE_FIELDS: FieldNames = { cert: 'tls.certificate', key: 'tls.key', ca: 'tls.caCertificate' };
const SECRET_FIELDS: FieldNames = { cert: 'tls.crt', key: 'tls.key', ca: 'tls.caCertificate' };

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

function pemBlocks(text: string): Array<{ label: string; text: string }> {
  return [...text.matchAll(PEM_BLOCK)].map((m) => ({ label: m[1]!, text: m[0] }));
}

function pemCertificates(text: string): string[] {
  return pemBlocks(text).filter((b) => b.label === 'CERTIFICATE').map((b) => b.text);
}

function pemPrivateKey(text: string): { label: string; text: string } | null {
  return pemBlocks(text).find((b) => b.label.endsWith('PRIVATE KEY')) ?? null;
}

function fail(message: string): never {
  throw new Invalid(message);
}

function parseCertificates(pem: string, field: string): X509Certificate[] {
  const blocks = pemCertificates(pem);
  if (blocks.length === 0) fail(`${field}: no PEM certificate found`);
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (err) {
      return fail(`${field}: certificate ${i + 1} does not parse: ${(err as Error).message}`);
    }
  });
}

function parseKey(pem: string, field: string): KeyObject {
  const block = pemPrivateKey(pem);
  if (block === null) fail(`${field}: no PEM private key found`);
  if (block.label.startsWith('ENCRYPTED') || /Proc-Type: *4,ENCRYPTED/.test(block.text)) fail(`${field}: the private key must not be encrypted`);
  try {
    return createPrivateKey(block.text);
  } catch (err) {
    return fail(`${field}: the private key does not parse: ${(err as Error).message}`);
  }
}

function isSelfSigned(cert: X509Certificate): boolean {
  return cert.checkIssued(cert) && cert.verify(cert.publicKey);
}

function checkValidity(cert: X509Certificate, what: string, now: number): void {
  if (now > cert.validToDate.getTime()) fail(`${what} expired on ${cert.validToDate.toISOString()}`);
  if (now < cert.validFromDate.getTime()) fail(`${what} is not valid before ${cert.validFromDate.toISOString()}`);
}

/** Walk leaf → issuer through the given chain and CA bundle, checking signatures, algorithms and validity. */
function checkChain(chain: X509Certificate[], cas: X509Certificate[], now: number, fields: FieldNames): void {
  const leaf = chain[0]!;
  const pool = [...chain.slice(1), ...cas];
  const trusted = new Set(cas.map((c) => c.fingerprint256));
  let current = leaf;
  let verified = trusted.has(leaf.fingerprint256);
  for (let depth = 0; depth < MAX_CHAIN && !verified; depth++) {
    if (isSelfSigned(current)) break;
    if (WEAK_SIGNATURE.test(current.signatureAlgorithm ?? '')) {
      fail(`${depth === 0 ? fields.cert : 'an intermediate certificate'} (${current.subject.replace(/\n/g, ', ')}) is signed with the insecure algorithm ${current.signatureAlgorithm}`);
    }
    const issuer = pool.find((candidate) => candidate !== current && current.checkIssued(candidate) && current.verify(candidate.publicKey));
    if (issuer === undefined) break;
    if (issuer !== leaf) checkValidity(issuer, `issuer certificate (${issuer.subject.replace(/\n/g, ', ')})`, now);
    verified = trusted.has(issuer.fingerprint256);
    current = issuer;
  }
  if (cas.length > 0 && !verified) fail(`${fields.cert} does not verify against ${fields.ca}`);
}

function validate(tls: RouteTLSConfig, now: number): void {
  const termination = tls.termination as string;
  if (termination !== 'edge' && termination !== 'passthrough' && termination !== 'reencrypt') {
    fail(`tls.termination must be edge, passthrough or reencrypt, got "${termination}"`);
  }
  const insecure = tls.insecureEdgeTerminationPolicy ?? '';
  if (!['', 'None', 'Allow', 'Redirect'].includes(insecure)) fail(`tls.insecureEdgeTerminationPolicy must be None, Allow or Redirect, got "${insecure}"`);
  if (termination === 'passthrough') {
    if (insecure === 'Allow') fail('tls.insecureEdgeTerminationPolicy must be None or Redirect for passthrough termination');
    for (const field of ['certificate', 'key', 'caCertificate', 'destinationCACertificate'] as const) {
      if (tls[field]) fail(`passthrough termination does not support tls.${field}`);
    }
    if (tls.externalCertificate) fail('passthrough termination does not support tls.externalCertificate');
    return;
  }
  if (tls.externalCertificate && (tls.certificate || tls.key)) fail('tls.externalCertificate and tls.certificate/tls.key are mutually exclusive');
  if (termination === 'edge' && tls.destinationCACertificate) fail('edge termination does not support tls.destinationCACertificate');
  if (Boolean(tls.certificate) !== Boolean(tls.key)) fail('tls.certificate and tls.key must be given together');
  const cas = tls.caCertificate ? parseCertificates(tls.caCertificate, 'tls.caCertificate') : [];
  if (tls.destinationCACertificate) parseCertificates(tls.destinationCACertificate, 'tls.destinationCACertificate');
  if (!tls.certificate || !tls.key) return;
  validateKeyPair(tls.certificate, tls.key, cas, now, ROUTE_FIELDS);
}

/** The checks every served certificate gets, wherever it comes from. */
function validateKeyPair(certPem: string, keyPem: string, cas: X509Certificate[], now: number, fields: FieldNames): void {
  const chain = parseCertificates(certPem, fields.cert);
  const key = parseKey(keyPem, fields.key);
  const leaf = chain[0]!;
  if (!leaf.checkPrivateKey(key)) fail(`${fields.key} does not match ${fields.cert}`);
  checkValidity(leaf, fields.cert, now);
  checkChain(chain, cas, now, fields);
}

/** Extended validation of a Route's spec.tls (absent = nothing to check). */
export function validateRouteTls(tls: RouteTLSConfig | null | undefined, now = Date.now()): TlsValidation {
  if (!tls) return OK;
  try {
    validate(tls, now);
    return OK;
  } catch (err) {
    const message = err instanceof Invalid ? err.message : `tls: ${(err as Error).message}`;
    return { ok: false, reason: 'ExtendedValidationFailed', message };
  }
}

// Reconciles revisit the same Routes often; a verdict is cached by content for a minute so an
// expiring certificate is still noticed soon after it expires.
const VERDICT_TTL_MS = 60_000;
const verdicts = new LRUCache<string, { result: TlsValidation; at: number }>({ max: 10_000 });

function tlsKey(tls: RouteTLSConfig): string {
  const h = createHash('sha256');
  for (const value of [tls.termination, tls.insecureEdgeTerminationPolicy, tls.certificate, tls.key, tls.caCertificate, tls.destinationCACertificate, tls.externalCertificate?.name]) {
    h.update(String(value ?? '')).update('\0');
  }
  return h.digest('hex');
}

/** validateRouteTls with a content-keyed cache (the admission step's path). */
export function validateRouteTlsCached(tls: RouteTLSConfig | null | undefined, now = Date.now()): TlsValidation {
  if (!tls) return OK;
  const key = tlsKey(tls);
  const cached = verdicts.get(key);
  if (cached && now - cached.at < VERDICT_TTL_MS && now >= cached.at) return cached.result;
  const result = validateRouteTls(tls, now);
  verdicts.set(key, { result, at: now });
  return result;
}

const SECRET_TYPE_TLS = 'kubernetes.io/tls';

/** tls.crt / tls.key of a Secret: base64 `data` as the API serves it, or `stringData` from files. */
export function secretKeyPair(secret: Secret): { cert: string; key: string } | null {
  const read = (name: string): string | undefined => {
    const b64 = secret.data?.[name];
    if (b64 !== undefined) return Buffer.from(b64, 'base64').toString('utf8');
    return secret.stringData?.[name];
  };
  const cert = read('tls.crt');
  const key = read('tls.key');
  return cert && key ? { cert, key } : null;
}

/**
 * Extended validation of the certificate a Secret holds (`secretKey` is `ns/name`): it must
 * exist, be of type kubernetes.io/tls when a type is given (files may leave it out), hold
 * tls.crt and tls.key, and pass the checks an inline certificate gets, the chain verified
 * against `caCertificate` when one is given. Verdicts are cached by content like a Route's.
 */
export function checkSecretCertificate(secret: Secret | undefined, secretKey: string, caCertificate?: string, now = Date.now()): TlsValidation {
  const failed = (message: string): TlsValidation => ({ ok: false, reason: 'ExtendedValidationFailed', message: `secret ${secretKey} ${message}` });
  if (!secret) return failed('not found');
  if (secret.type !== undefined && secret.type !== SECRET_TYPE_TLS) return failed(`is of type ${secret.type}, not ${SECRET_TYPE_TLS}`);
  const pair = secretKeyPair(secret);
  if (!pair) return failed('has no tls.crt and tls.key');
  // Cached by content only: the same certificate may sit in several Secrets, so the verdict
  // is stored without the Secret's name and the message is built after.
  const key = createHash('sha256').update('secret\0').update(pair.cert).update('\0').update(pair.key).update('\0').update(caCertificate ?? '').digest('hex');
  const cached = verdicts.get(key);
  let result = cached && now - cached.at < VERDICT_TTL_MS && now >= cached.at ? cached.result : null;
  if (result === null) {
    result = OK;
    try {
      const cas = caCertificate ? parseCertificates(caCertificate, 'tls.caCertificate') : [];
      validateKeyPair(pair.cert, pair.key, cas, now, SECRET_FIELDS);
    } catch (err) {
      result = { ok: false, reason: 'ExtendedValidationFailed', message: err instanceof Invalid ? err.message : (err as Error).message };
    }
    verdicts.set(key, { result, at: now });
  }
  return result.ok ? OK : failed(`is not a valid certificate: ${result.message}`);
}
