// Certificates for tests, generated in-process (EC P-256, @peculiar/x509 over node's webcrypto):
// a CA, leaf certificates for hosts (wildcards too), expired or not-yet-valid ones, SHA-1-signed
// ones, and unrelated keys. Everything is PEM so it goes straight into Route objects and
// tls.connect({ ca }).

import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

const crypto = webcrypto as unknown as Crypto;
x509.cryptoProvider.set(crypto);

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const DAY = 86_400_000;

export type Hash = 'SHA-1' | 'SHA-256' | 'SHA-384';

export interface TestCertificate {
  /** PEM certificate */
  cert: string;
  /** PEM PKCS#8 private key */
  key: string;
  /** subject common name */
  name: string;
  keys: CryptoKeyPair;
  x509: x509.X509Certificate;
}

export interface CertOptions {
  notBefore?: Date;
  notAfter?: Date;
  /** signature hash (SHA-1 to produce a certificate extended validation must refuse) */
  hash?: Hash;
  /** An RSA-2048 key (RSASSA-PKCS1-v1_5) instead of EC P-256. */
  rsa?: boolean;
}

let serial = 1;
function nextSerial(): string {
  return (0x1000 + serial++).toString(16) + Buffer.from(crypto.getRandomValues(new Uint8Array(8))).toString('hex');
}

const RSA_2048 = { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' } as const;

/** How `signer` (a private key) signs: ECDSA, or PKCS#1 v1.5 for an RSA key. */
function signingAlgorithm(signer: CryptoKey, hash: Hash = 'SHA-256'): { name: string; hash: Hash } {
  return { name: signer.algorithm.name === 'RSASSA-PKCS1-v1_5' ? 'RSASSA-PKCS1-v1_5' : 'ECDSA', hash };
}

async function newKeys(rsa = false): Promise<CryptoKeyPair> {
  if (rsa) return crypto.subtle.generateKey(RSA_2048, true, ['sign', 'verify']) as Promise<CryptoKeyPair>;
  return crypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']);
}

async function pemKey(keys: CryptoKeyPair): Promise<string> {
  return x509.PemConverter.encode(await crypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY') + '\n';
}

function validity(options: CertOptions): { notBefore: Date; notAfter: Date } {
  const now = Date.now();
  return { notBefore: options.notBefore ?? new Date(now - DAY), notAfter: options.notAfter ?? new Date(now + 30 * DAY) };
}

/** A self-signed CA certificate. */
export async function createCa(name = 'switchyard test CA', options: CertOptions = {}): Promise<TestCertificate> {
  const keys = await newKeys(options.rsa);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: nextSerial(),
    name: `CN=${name}`,
    ...validity(options),
    keys,
    signingAlgorithm: signingAlgorithm(keys.privateKey, options.hash),
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: cert.toString('pem') + '\n', key: await pemKey(keys), name, keys, x509: cert };
}

/**
 * A server certificate for `hosts` (DNS SANs; the first is the CN; `uris`: URI SANs too) issued by
 * `issuer`; with `client`, a client certificate (extended key usage clientAuth) instead.
 */
export async function issueCertificate(issuer: TestCertificate, hosts: readonly string[], options: CertOptions & { ca?: boolean; client?: boolean; uris?: readonly string[]; ips?: readonly string[] } = {}): Promise<TestCertificate> {
  const keys = await newKeys(options.rsa);
  const name = hosts[0] ?? 'leaf';
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: nextSerial(),
    subject: `CN=${name}`,
    issuer: issuer.x509.subject,
    ...validity(options),
    publicKey: keys.publicKey,
    signingKey: issuer.keys.privateKey,
    signingAlgorithm: signingAlgorithm(issuer.keys.privateKey, options.hash),
    extensions: [
      new x509.BasicConstraintsExtension(options.ca === true, undefined, true),
      new x509.KeyUsagesExtension(
        options.ca === true ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.digitalSignature : x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      ...(options.ca === true ? [] : [
        new x509.ExtendedKeyUsageExtension([options.client === true ? x509.ExtendedKeyUsage.clientAuth : x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension([
          ...hosts.map((value) => ({ type: 'dns' as const, value })),
          ...(options.uris ?? []).map((value) => ({ type: 'url' as const, value })),
          ...(options.ips ?? []).map((value) => ({ type: 'ip' as const, value })),
        ]),
      ]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey),
    ],
  });
  return { cert: cert.toString('pem') + '\n', key: await pemKey(keys), name, keys, x509: cert };
}

/** A self-signed server certificate for `hosts`. */
export async function selfSignedCertificate(hosts: readonly string[], options: CertOptions = {}): Promise<TestCertificate> {
  const keys = await newKeys();
  const name = hosts[0] ?? 'self-signed';
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: nextSerial(),
    name: `CN=${name}`,
    ...validity(options),
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: options.hash ?? 'SHA-256' },
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.SubjectAlternativeNameExtension(hosts.map((value) => ({ type: 'dns' as const, value }))),
    ],
  });
  return { cert: cert.toString('pem') + '\n', key: await pemKey(keys), name, keys, x509: cert };
}

/** A PEM private key that belongs to no certificate (for key-mismatch cases). */
export async function unrelatedKey(): Promise<string> {
  return pemKey(await newKeys());
}

/** An expired certificate for `hosts` issued by `issuer` (valid 60 to 30 days ago). */
export function expiredCertificate(issuer: TestCertificate, hosts: readonly string[]): Promise<TestCertificate> {
  const now = Date.now();
  return issueCertificate(issuer, hosts, { notBefore: new Date(now - 60 * DAY), notAfter: new Date(now - 30 * DAY) });
}
