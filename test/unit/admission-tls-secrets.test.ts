// Extended validation of certificates that come from Secrets. A Route's
// spec.tls.externalCertificate must name an existing kubernetes.io/tls Secret whose certificate
// passes the checks inline certificates get, else the Route is rejected
// (ExtendedValidationFailed, naming the Secret) and re-admitted when the Secret is fixed. An
// Ingress spec.tls[].secretName never rejects: the host is served with the default certificate
// and the compiled route carries a note (as ingress-nginx does).
import test from 'ava';
import { checkSecretCertificate, secretsReadByAdmission } from '../../src/admission/extended-validation.ts';
import { routeCandidate } from '../../src/admission/candidates.ts';
import { silentLogger } from '../../src/log.ts';
import type { KubeObject, Route, Secret } from '../../src/objects/types.ts';
import { ObjectStore } from '../../src/store.ts';
import { Reconciler } from '../../src/controller/reconciler.ts';
import type { AdmissionResult, HostEntry, TableDelta } from '../../src/table/types.ts';
import { config, created, ingress, route, tlsSecret } from '../fixtures/table/builders.ts';
import {
  createCa, expiredCertificate, issueCertificate, selfSignedCertificate, unrelatedKey, type TestCertificate,
} from '../support/certs.ts';

let ca: TestCertificate;
let otherCa: TestCertificate;
let good: TestCertificate;
let rotated: TestCertificate;
let expired: TestCertificate;
let sha1: TestCertificate;
let strayKey: string;

test.before(async () => {
  ca = await createCa('secrets CA');
  otherCa = await createCa('other CA');
  [good, rotated, expired, sha1, strayKey] = await Promise.all([
    issueCertificate(ca, ['www.example.com']),
    selfSignedCertificate(['www.example.com']),
    expiredCertificate(ca, ['www.example.com']),
    issueCertificate(ca, ['www.example.com'], { hash: 'SHA-1' }),
    unrelatedKey(),
  ]);
});

function failure(result: ReturnType<typeof checkSecretCertificate>): string {
  if (result.ok) throw new Error('expected a failure');
  return `${result.reason}: ${result.message}`;
}

test('checkSecretCertificate: the same checks as an inline certificate, messages name the Secret', (t) => {
  t.true(checkSecretCertificate(tlsSecret('ns', 's', good.cert, good.key), 'ns/s').ok);
  t.true(checkSecretCertificate(tlsSecret('ns', 's', good.cert, good.key, 'stringData'), 'ns/s').ok);
  t.true(checkSecretCertificate(tlsSecret('ns', 's', good.cert, good.key), 'ns/s', ca.cert).ok);
  t.is(failure(checkSecretCertificate(undefined, 'ns/s')), 'ExtendedValidationFailed: secret ns/s not found');
  const opaque: Secret = { ...tlsSecret('ns', 's', good.cert, good.key), type: 'Opaque' };
  t.regex(failure(checkSecretCertificate(opaque, 'ns/s')), /secret ns\/s is of type Opaque, not kubernetes\.io\/tls/);
  const empty: Secret = { apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 's', namespace: 'ns' }, data: {} };
  t.regex(failure(checkSecretCertificate(empty, 'ns/s')), /secret ns\/s has no tls\.crt and tls\.key/);
  t.regex(failure(checkSecretCertificate(tlsSecret('ns', 's', 'garbage', good.key), 'ns/s')), /secret ns\/s is not a valid certificate: tls\.crt: no PEM certificate/);
  t.regex(failure(checkSecretCertificate(tlsSecret('ns', 's', good.cert, strayKey), 'ns/s')), /secret ns\/s .*tls\.key does not match tls\.crt/);
  t.regex(failure(checkSecretCertificate(tlsSecret('ns', 's', expired.cert, expired.key), 'ns/s')), /secret ns\/s .*tls\.crt expired on/);
  t.regex(failure(checkSecretCertificate(tlsSecret('ns', 's', sha1.cert, sha1.key), 'ns/s')), /secret ns\/s .*insecure algorithm/i);
  t.regex(failure(checkSecretCertificate(tlsSecret('ns', 's', good.cert, good.key), 'ns/s', otherCa.cert)), /tls\.crt does not verify against tls\.caCertificate/);
});

test('secretsReadByAdmission: only a Route externalCertificate, in the Route namespace', (t) => {
  const ext = routeCandidate(route('ns', 'r', { host: 'a.com', tls: { termination: 'edge', externalCertificate: { name: 'cert' } } }), config());
  t.deepEqual(secretsReadByAdmission(ext), ['ns/cert']);
  t.deepEqual(secretsReadByAdmission(routeCandidate(route('ns', 'r', { host: 'a.com', tls: { termination: 'edge' } }), config())), []);
});

function setup(initial: KubeObject[] = []) {
  const store = new ObjectStore();
  for (const o of initial) store.upsert(o.kind as 'Route', o);
  store.flush();
  const reconciler = new Reconciler(store, { config: config(), logger: silentLogger });
  const hosts = new Map<string, HostEntry>();
  let admissionEvents = 0;
  reconciler.on('delta', (delta: TableDelta) => {
    for (const key of delta.remove) hosts.delete(key);
    for (const entry of delta.upsert) hosts.set(entry.key, entry);
  });
  reconciler.on('admission', () => admissionEvents++);
  reconciler.start();
  const apply = (...objects: KubeObject[]) => {
    for (const o of objects) store.upsert(o.kind as 'Route', o);
    store.flush();
  };
  const remove = (kind: 'Route' | 'Secret', key: string) => {
    store.remove(kind, key);
    store.flush();
  };
  const result = (name: string): AdmissionResult => reconciler.admissionResults().find((r) => r.name === name)!;
  return { apply, remove, result, hosts, admissionEvents: () => admissionEvents };
}

const external = (name: string, secret: string, extra: Partial<NonNullable<Route['spec']['tls']>> = {}): Route =>
  route('ns', name, { host: `${name}.example.com`, tls: { termination: 'edge', externalCertificate: { name: secret }, ...extra } }, created(1));

test('externalCertificate: missing Secret rejects; the Secret appearing admits and serves it', (t) => {
  const s = setup([external('r', 'cert')]);
  t.false(s.result('r').admitted);
  t.is(s.result('r').reason, 'ExtendedValidationFailed');
  t.is(s.result('r').message, 'secret ns/cert not found');
  t.false(s.hosts.has('r.example.com'), 'a rejected Route serves nothing');
  s.apply(tlsSecret('ns', 'cert', good.cert, good.key));
  t.true(s.result('r').admitted);
  t.deepEqual(s.hosts.get('r.example.com')!.routes[0]!.tls!.certificate, { cert: good.cert, key: good.key });
});

test('externalCertificate rotation: a bad certificate rejects, fixing it re-admits, deleting the Secret rejects', (t) => {
  const s = setup([external('r', 'cert'), tlsSecret('ns', 'cert', good.cert, good.key)]);
  t.true(s.result('r').admitted);
  s.apply(tlsSecret('ns', 'cert', expired.cert, expired.key));
  t.is(s.result('r').reason, 'ExtendedValidationFailed');
  t.regex(s.result('r').message!, /^secret ns\/cert is not a valid certificate: tls\.crt expired on/);
  t.false(s.hosts.has('r.example.com'));
  s.apply(tlsSecret('ns', 'cert', good.cert, strayKey));
  t.regex(s.result('r').message!, /secret ns\/cert .*tls\.key does not match tls\.crt/);
  s.apply(tlsSecret('ns', 'cert', rotated.cert, rotated.key));
  t.true(s.result('r').admitted);
  t.deepEqual(s.hosts.get('r.example.com')!.routes[0]!.tls!.certificate, { cert: rotated.cert, key: rotated.key });
  s.remove('Secret', 'ns/cert');
  t.is(s.result('r').message, 'secret ns/cert not found');
  t.false(s.hosts.has('r.example.com'));
});

test('externalCertificate verifies against the Route caCertificate', (t) => {
  const s = setup([
    external('trusted', 'cert', { caCertificate: ca.cert }),
    external('untrusted', 'cert', { caCertificate: otherCa.cert }),
    tlsSecret('ns', 'cert', good.cert, good.key),
  ]);
  t.true(s.result('trusted').admitted);
  t.deepEqual(s.hosts.get('trusted.example.com')!.routes[0]!.tls!.certificate, { cert: good.cert, key: good.key, ca: ca.cert });
  t.is(s.result('untrusted').reason, 'ExtendedValidationFailed');
  t.regex(s.result('untrusted').message!, /secret ns\/cert .*does not verify against tls\.caCertificate/);
});

test('externalCertificate is refused with passthrough termination', (t) => {
  const s = setup([external('p', 'cert', { termination: 'passthrough' }), tlsSecret('ns', 'cert', good.cert, good.key)]);
  t.is(s.result('p').reason, 'ExtendedValidationFailed');
  t.regex(s.result('p').message!, /passthrough termination does not support tls\.externalCertificate/);
});

test('a deleted Route is no longer re-admitted by its Secret; unrelated Secrets do nothing', (t) => {
  const s = setup([external('r', 'cert')]);
  s.remove('Route', 'ns/r');
  const before = s.admissionEvents();
  s.apply(tlsSecret('ns', 'cert', good.cert, good.key), tlsSecret('ns', 'other', good.cert, good.key));
  t.is(s.admissionEvents(), before);
  t.is(s.hosts.size, 0);
});

test('Ingress secretName: a missing or invalid Secret keeps the host served with the default certificate and a note', (t) => {
  const ing = ingress('ns', 'i', {
    tls: [{ hosts: ['i.example.com'], secretName: 'i-tls' }],
    rules: [{ host: 'i.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 's', port: { number: 80 } } } }] } }],
  }, created(1));
  const s = setup([ing]);
  const served = () => s.hosts.get('i.example.com')!.routes[0]!;
  t.true(s.result('i').admitted, 'an Ingress certificate problem never rejects');
  t.is(served().tls!.certificate, null);
  t.regex(served().notes!.join('\n'), /secret ns\/i-tls not found; serving the default certificate/);
  s.apply(tlsSecret('ns', 'i-tls', sha1.cert, sha1.key));
  t.true(s.result('i').admitted);
  t.is(served().tls!.certificate, null);
  t.regex(served().notes!.join('\n'), /secret ns\/i-tls is not a valid certificate: .*insecure algorithm.*; serving the default certificate/i);
  s.apply(tlsSecret('ns', 'i-tls', good.cert, good.key));
  t.deepEqual(served().tls!.certificate, { cert: good.cert, key: good.key });
  t.is(served().notes, undefined);
});
