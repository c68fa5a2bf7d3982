import test from 'ava';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { tlsProfile, TlsProfileError, INTERMEDIATE_CIPHERS } from '../../src/proxy/tls/tls-profile.ts';
import { loadDefaultCertificate, parseCertificateFile, DefaultCertificateError } from '../../src/proxy/tls/default-certificate.ts';
import { SecureContextCache } from '../../src/proxy/tls/secure-context-cache.ts';
import { silentLogger } from '../../src/log.ts';
import { createCa, issueCertificate, unrelatedKey } from '../support/certs.ts';

test('cipher profiles: intermediate, modern (TLS 1.3 only), custom OpenSSL strings, errors', (t) => {
  t.deepEqual(tlsProfile({ sslMinVersion: 'TLSv1.2', ciphers: 'intermediate' }), { minVersion: 'TLSv1.2', ciphers: INTERMEDIATE_CIPHERS, honorCipherOrder: true });
  t.is(tlsProfile({ sslMinVersion: 'TLSv1.2', ciphers: 'modern' }).minVersion, 'TLSv1.3');
  t.is(tlsProfile({ sslMinVersion: 'TLSv1.3', ciphers: 'intermediate' }).minVersion, 'TLSv1.3');
  t.is(tlsProfile({ sslMinVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' }).ciphers, 'ECDHE-RSA-AES128-GCM-SHA256');
  t.throws(() => tlsProfile({ sslMinVersion: 'TLSv1.2', ciphers: 'NOT-A-CIPHER' }), { instanceOf: TlsProfileError, message: /invalid cipher list "NOT-A-CIPHER"/ });
  t.throws(() => tlsProfile({ sslMinVersion: 'SSLv3', ciphers: 'intermediate' }), { instanceOf: TlsProfileError, message: /SSLv3/ });
});

test('default certificate file: chain + key parsed; missing or mismatched key refused', async (t) => {
  const ca = await createCa();
  const leaf = await issueCertificate(ca, ['router.test']);
  const pair = parseCertificateFile(leaf.cert + ca.cert + leaf.key, 'f.pem');
  t.is(pair.cert.match(/BEGIN CERTIFICATE/g)!.length, 2);
  t.regex(pair.key, /BEGIN PRIVATE KEY/);
  t.throws(() => parseCertificateFile(leaf.cert, 'f.pem'), { instanceOf: DefaultCertificateError, message: /f\.pem: no PRIVATE KEY/ });
  t.throws(() => parseCertificateFile(leaf.key, 'f.pem'), { instanceOf: DefaultCertificateError, message: /no CERTIFICATE/ });
  const stray = await unrelatedKey();
  t.throws(() => parseCertificateFile(leaf.cert + stray, 'f.pem'), { message: /does not match/ });
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-tls-'));
  const file = path.join(dir, 'default.pem');
  writeFileSync(file, leaf.cert + leaf.key);
  t.deepEqual(await loadDefaultCertificate(file, silentLogger), parseCertificateFile(leaf.cert + leaf.key, file));
  await t.throwsAsync(loadDefaultCertificate(path.join(dir, 'missing.pem'), silentLogger), { instanceOf: DefaultCertificateError, message: /cannot read default certificate/ });
});

test('secure contexts are cached by content: same material, one context; new material, a new one', async (t) => {
  const ca = await createCa();
  const [a, b] = await Promise.all([issueCertificate(ca, ['a.test']), issueCertificate(ca, ['a.test'])]);
  const cache = new SecureContextCache(tlsProfile({ sslMinVersion: 'TLSv1.2', ciphers: 'intermediate' }), silentLogger, 2);
  const first = cache.get({ cert: a.cert, key: a.key });
  t.truthy(first);
  t.is(cache.get({ cert: a.cert, key: a.key }), first, 'equal content, different object: same context');
  t.not(cache.get({ cert: b.cert, key: b.key }), first);
  t.is(cache.get({ cert: a.cert, key: b.key }), null, 'a key that does not match is unusable');
  t.is(cache.size, 2, 'bounded');
});
