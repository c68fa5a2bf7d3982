// The certificate served when no route certificate applies (unknown or missing SNI, routes
// without their own certificate): `--default-certificate` (one PEM file, chain + key) or, when
// none is configured, a self-signed certificate generated at start-up.

import { readFile } from 'node:fs/promises';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import type { Logger } from '../../log.ts';
import { pemCertificates, pemPrivateKey } from './pem.ts';
import { generateSelfSignedCertificate, type PemPair } from './self-signed.ts';

export class DefaultCertificateError extends Error {
  override name = 'DefaultCertificateError';
}

/** Split a PEM text holding a certificate chain and its private key; throws DefaultCertificateError. */
export function parseCertificateFile(text: string, source: string): PemPair {
  const certs = pemCertificates(text);
  if (certs.length === 0) throw new DefaultCertificateError(`${source}: no CERTIFICATE block`);
  const key = pemPrivateKey(text);
  if (key === null) throw new DefaultCertificateError(`${source}: no PRIVATE KEY block`);
  try {
    const leaf = new X509Certificate(certs[0]!);
    if (!leaf.checkPrivateKey(createPrivateKey(key.text))) {
      throw new DefaultCertificateError(`${source}: the private key does not match the first certificate`);
    }
  } catch (err) {
    if (err instanceof DefaultCertificateError) throw err;
    throw new DefaultCertificateError(`${source}: ${(err as Error).message}`);
  }
  return { cert: certs.join('\n') + '\n', key: key.text + '\n' };
}

/** Load `path`, or generate a self-signed certificate (and say so) when `path` is empty. */
export async function loadDefaultCertificate(path: string, logger: Logger): Promise<PemPair> {
  if (path !== '') {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      throw new DefaultCertificateError(`cannot read default certificate ${path}: ${(err as Error).message}`);
    }
    const pair = parseCertificateFile(text, path);
    logger.info({ path }, 'default certificate loaded');
    return pair;
  }
  const pair = await generateSelfSignedCertificate(['switchyard.invalid', '*.switchyard.invalid']);
  logger.info('no --default-certificate configured: generated a self-signed default certificate (EC P-256)');
  return pair;
}
