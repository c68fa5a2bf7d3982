import test from 'ava';
import { validateRouteTls, validateRouteTlsCached, admitExtendedValidation } from '../../src/admission/extended-validation.ts';
import type { RouteTLSConfig } from '../../src/objects/types.ts';
import type { AdmissionContext, RouteCandidate } from '../../src/admission/types.ts';
import {
  createCa, expiredCertificate, issueCertificate, selfSignedCertificate, unrelatedKey, type TestCertificate,
} from '../support/certs.ts';

let ca: TestCertificate;
let otherCa: TestCertificate;
let leaf: TestCertificate;
let wildcard: TestCertificate;
let intermediate: TestCertificate;
let viaIntermediate: TestCertificate;
let expired: TestCertificate;
let future: TestCertificate;
let sha1Leaf: TestCertificate;
let sha1SelfSigned: TestCertificate;
let selfSigned: TestCertificate;
let strayKey: string;

test.before(async () => {
  ca = await createCa('validation CA');
  otherCa = await createCa('other CA');
  intermediate = await issueCertificate(ca, ['intermediate CA'], { ca: true });
  const now = Date.now();
  [leaf, wildcard, viaIntermediate, expired, future, sha1Leaf, sha1SelfSigned, selfSigned, strayKey] = await Promise.all([
    issueCertificate(ca, ['www.example.com']),
    issueCertificate(ca, ['*.example.com']),
    issueCertificate(intermediate, ['deep.example.com']),
    expiredCertificate(ca, ['old.example.com']),
    issueCertificate(ca, ['later.example.com'], { notBefore: new Date(now + 86_400_000), notAfter: new Date(now + 2 * 86_400_000) }),
    issueCertificate(ca, ['sha1.example.com'], { hash: 'SHA-1' }),
    selfSignedCertificate(['sha1-self.example.com'], { hash: 'SHA-1' }),
    selfSignedCertificate(['self.example.com']),
    unrelatedKey(),
  ]);
});

function edge(cert: TestCertificate, extra: Partial<RouteTLSConfig> = {}): RouteTLSConfig {
  return { termination: 'edge', certificate: cert.cert, key: cert.key, ...extra };
}

function rejected(t: { false: (v: boolean, m?: string) => void; regex: (s: string, r: RegExp) => void; is: (a: unknown, b: unknown) => void }, tls: RouteTLSConfig, message: RegExp): void {
  const result = validateRouteTls(tls);
  t.false(result.ok, `expected rejection matching ${message}`);
  if (!result.ok) {
    t.is(result.reason, 'ExtendedValidationFailed');
    t.regex(result.message, message);
  }
}

test('valid certificates pass: CA-issued with its CA, wildcard, via an intermediate, self-signed', (t) => {
  t.true(validateRouteTls(edge(leaf, { caCertificate: ca.cert })).ok);
  t.true(validateRouteTls(edge(wildcard)).ok);
  t.true(validateRouteTls({ termination: 'edge', certificate: viaIntermediate.cert + intermediate.cert, key: viaIntermediate.key, caCertificate: ca.cert }).ok);
  t.true(validateRouteTls({ termination: 'edge', certificate: viaIntermediate.cert, key: viaIntermediate.key, caCertificate: intermediate.cert + ca.cert }).ok);
  t.true(validateRouteTls(edge(selfSigned)).ok);
  t.true(validateRouteTls(edge(sha1SelfSigned)).ok, 'a self-signed SHA-1 leaf is excepted, as in OpenShift');
  t.true(validateRouteTls({ termination: 'reencrypt', certificate: leaf.cert, key: leaf.key, destinationCACertificate: otherCa.cert }).ok);
  t.true(validateRouteTls({ termination: 'passthrough', insecureEdgeTerminationPolicy: 'Redirect' }).ok);
  t.true(validateRouteTls({ termination: 'edge' }).ok, 'no certificate: the default one is served');
  t.true(validateRouteTls(null).ok);
});

test('unparseable PEM and mismatched keys are rejected', (t) => {
  rejected(t, { termination: 'edge', certificate: 'not a certificate', key: leaf.key }, /tls\.certificate: no PEM certificate/);
  rejected(t, { termination: 'edge', certificate: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', key: leaf.key }, /does not parse/);
  rejected(t, { termination: 'edge', certificate: leaf.cert, key: 'garbage' }, /tls\.key: no PEM private key/);
  rejected(t, edge(leaf, { key: strayKey }), /tls\.key does not match tls\.certificate/);
  rejected(t, { termination: 'edge', certificate: leaf.cert }, /must be given together/);
  rejected(t, edge(leaf, { caCertificate: 'nope' }), /tls\.caCertificate: no PEM certificate/);
  rejected(t, { termination: 'reencrypt', destinationCACertificate: 'nope' }, /tls\.destinationCACertificate/);
});

test('a chain that does not verify against the given CA is rejected', (t) => {
  rejected(t, edge(leaf, { caCertificate: otherCa.cert }), /does not verify against tls\.caCertificate/);
  rejected(t, edge(selfSigned, { caCertificate: ca.cert }), /does not verify/);
  // intermediate missing from both the chain and the CA bundle
  rejected(t, { termination: 'edge', certificate: viaIntermediate.cert, key: viaIntermediate.key, caCertificate: ca.cert }, /does not verify/);
});

test('expired and not-yet-valid certificates are rejected, saying so', (t) => {
  rejected(t, edge(expired), /expired on \d{4}-\d\d-\d\d/);
  rejected(t, edge(future), /not valid before/);
});

test('SHA-1 signatures by a CA are rejected', (t) => {
  rejected(t, edge(sha1Leaf), /insecure algorithm ecdsa-with-SHA1/);
  rejected(t, edge(sha1Leaf, { caCertificate: ca.cert }), /insecure algorithm/);
});

test('each termination carries only its own fields', (t) => {
  rejected(t, { termination: 'passthrough', certificate: leaf.cert, key: leaf.key }, /passthrough termination does not support tls\.certificate/);
  rejected(t, { termination: 'passthrough', caCertificate: ca.cert }, /tls\.caCertificate/);
  rejected(t, { termination: 'passthrough', destinationCACertificate: ca.cert }, /tls\.destinationCACertificate/);
  rejected(t, { termination: 'passthrough', insecureEdgeTerminationPolicy: 'Allow' }, /None or Redirect/);
  rejected(t, edge(leaf, { destinationCACertificate: ca.cert }), /edge termination does not support tls\.destinationCACertificate/);
  rejected(t, { termination: 'bogus' as 'edge' }, /tls\.termination/);
  rejected(t, { termination: 'edge', insecureEdgeTerminationPolicy: 'Sometimes' as 'Allow' }, /insecureEdgeTerminationPolicy/);
});

test('the admission step rejects with ExtendedValidationFailed; the cache returns the same verdict', (t) => {
  const candidate = { kind: 'Route', routeTls: edge(leaf, { key: strayKey }) } as unknown as RouteCandidate;
  const verdict = admitExtendedValidation(candidate, {} as AdmissionContext);
  t.false(verdict.admitted);
  if (!verdict.admitted) {
    t.is(verdict.reason, 'ExtendedValidationFailed');
    t.regex(verdict.message, /does not match/);
  }
  t.true(admitExtendedValidation({ kind: 'Route', routeTls: edge(leaf) } as unknown as RouteCandidate, {} as AdmissionContext).admitted);
  t.true(admitExtendedValidation({ kind: 'Ingress', routeTls: null } as unknown as RouteCandidate, {} as AdmissionContext).admitted);
  const tls = edge(expired);
  t.deepEqual(validateRouteTlsCached(tls), validateRouteTls(tls));
  t.false(validateRouteTlsCached(tls).ok);
});
