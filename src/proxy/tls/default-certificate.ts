// The certificate served when no route certificate applies (unknown or missing SNI, routes
// without their own certificate): `--default-certificate-dir` (tls.crt + tls.key of a mounted
// kubernetes.io/tls Secret, reloaded when it changes, so every node serves the same one),
// `--default-certificate` (one PEM file, chain + key) or, when none is configured, a
// self-signed certificate generated at start-up.

import { readFile } from 'node:fs/promises';
import { watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
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

/**
 * `--default-certificate-dir`: tls.crt and tls.key of a mounted kubernetes.io/tls Secret. null
 * when neither file exists (an optional Secret not created yet); throws when they are unreadable
 * or do not match.
 */
export async function readCertificateDir(dir: string): Promise<PemPair | null> {
  const read = (name: string) => readFile(join(dir, name), 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw new DefaultCertificateError(`cannot read ${join(dir, name)}: ${err.message}`);
  });
  const [cert, key] = await Promise.all([read('tls.crt'), read('tls.key')]);
  if (cert === null && key === null) return null;
  if (cert === null || key === null) throw new DefaultCertificateError(`${dir}: tls.crt and tls.key must both be present`);
  return parseCertificateFile(`${cert}\n${key}`, dir);
}

/** The default certificate to serve at start-up: the directory, the PEM file, or a generated one. */
export async function initialDefaultCertificate(options: { dir: string; path: string }, logger: Logger): Promise<PemPair> {
  if (options.dir !== '') {
    const pair = await readCertificateDir(options.dir);
    if (pair !== null) {
      logger.info({ dir: options.dir }, 'default certificate loaded');
      return pair;
    }
    logger.warn({ dir: options.dir }, 'no tls.crt/tls.key in the default certificate directory yet: serving a generated one until they appear');
  }
  return loadDefaultCertificate(options.dir !== '' ? '' : options.path, logger);
}

/**
 * Watches a mounted Secret's directory (the kubelet swaps a `..data` symlink when the Secret
 * changes) and calls `onChange` with each new, valid certificate; an invalid one is logged and
 * the current one stays.
 */
export class DefaultCertificateWatcher {
  readonly #dir: string;
  readonly #logger: Logger;
  readonly #onChange: (pair: PemPair) => void;
  readonly #watcher: FSWatcher;
  #current: string;
  #reading: Promise<void> = Promise.resolve();
  #again = false;

  constructor(dir: string, current: PemPair, onChange: (pair: PemPair) => void, logger: Logger) {
    this.#dir = dir;
    this.#logger = logger;
    this.#onChange = onChange;
    this.#current = current.cert + current.key;
    this.#watcher = watch(dir, () => this.#changed());
    this.#watcher.on('error', (err) => logger.error({ err: err.message, dir }, 'cannot watch the default certificate directory'));
  }

  /** Resolves once the reads started so far are done (tests). */
  settled(): Promise<void> {
    return this.#reading;
  }

  close(): void {
    this.#watcher.close();
  }

  #changed(): void {
    // One read at a time; a change during a read triggers one more read after it.
    if (this.#again) return;
    this.#again = true;
    this.#reading = this.#reading.then(() => { this.#again = false; return this.#reload(); });
  }

  async #reload(): Promise<void> {
    let pair: PemPair | null;
    try {
      pair = await readCertificateDir(this.#dir);
    } catch (err) {
      // Mid-update (new tls.crt, old tls.key) or a bad Secret: keep serving the current one.
      this.#logger.warn({ dir: this.#dir, err: (err as Error).message }, 'default certificate not reloaded');
      return;
    }
    if (pair === null || pair.cert + pair.key === this.#current) return;
    this.#current = pair.cert + pair.key;
    this.#logger.info({ dir: this.#dir, fingerprint: new X509Certificate(pair.cert).fingerprint256 }, 'default certificate reloaded');
    this.#onChange(pair);
  }
}
