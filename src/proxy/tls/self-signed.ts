// A self-signed certificate generated at start-up when no default certificate is configured
// (as OpenShift's router does). EC P-256 via node's webcrypto; @peculiar/x509 builds the DER.
// The library (and the global `Reflect` polyfill it needs, reflect-metadata) is loaded only
// here, when a certificate is generated: a program embedding the router, or a router given its
// default certificate, never loads either.

import { webcrypto } from 'node:crypto';

export interface PemPair {
  /** PEM certificate (chain) */
  cert: string;
  /** PEM PKCS#8 private key */
  key: string;
}

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const DAY = 86_400_000;

/** Self-signed server certificate for `names` (first = common name), valid from yesterday for `days`. */
export async function generateSelfSignedCertificate(names: readonly string[], days = 365): Promise<PemPair> {
  await import('reflect-metadata');
  const x509 = await import('@peculiar/x509');
  const crypto = webcrypto as unknown as Crypto;
  const keys = await crypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${names[0] ?? 'switchyard'}`,
    notBefore: new Date(now - DAY),
    notAfter: new Date(now + days * DAY),
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names.map((value) => ({ type: 'dns' as const, value }))),
    ],
  }, crypto);
  const pkcs8 = await crypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { cert: cert.toString('pem') + '\n', key: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') + '\n' };
}

function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = bytes[0]! & 0x7f; // positive
  return Buffer.from(bytes).toString('hex');
}
