// BackendTLSPolicy evaluation (src/gateway/backend-tls.ts) from a store: what a backendRef to a
// Service port gets, the conditions of each policy, and the precedence between policies.
import test from 'ava';
import { ObjectStore } from '../../src/store.ts';
import type { Kind, KubeObject } from '../../src/objects/types.ts';
import { BackendTlsPolicies } from '../../src/gateway/backend-tls.ts';
import { createCa } from '../support/certs.ts';

function policy(name: string, validation: Record<string, unknown>, created: string, target: Record<string, unknown> = { group: '', kind: 'Service', name: 'svc' }): KubeObject {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'BackendTLSPolicy',
    metadata: { name, namespace: 'ns', generation: 1, creationTimestamp: created },
    spec: { targetRefs: [target], validation },
  } as KubeObject;
}

function storeOf(objects: KubeObject[]): ObjectStore {
  const store = new ObjectStore();
  store.upsert('Service', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'svc', namespace: 'ns' }, spec: { ports: [{ name: 'https', port: 443 }, { name: 'alt', port: 8443 }] } } as KubeObject);
  for (const o of objects) store.upsert(o.kind as Kind, o);
  store.flush();
  return store;
}

/** The conditions of each policy, once a route through Gateway ns/gw uses the Service. */
function evaluate(objects: KubeObject[], port = 443) {
  const policies = new BackendTlsPolicies(storeOf(objects));
  const used = new Set<string>();
  const verdict = policies.forBackend('ns', 'svc', port, used);
  policies.addAncestors(used, ['ns/gw']);
  const statuses = policies.statuses();
  const conditions = (name: string) => statuses.get(`ns/${name}`)?.ancestors[0]?.conditions;
  return { verdict, conditions };
}

test('wellKnownCACertificates System: the system roots (ca null) and the hostname as server name', (t) => {
  const { verdict, conditions } = evaluate([policy('p', { wellKnownCACertificates: 'System', hostname: 'b.example' }, '2024-01-01T00:00:00Z')]);
  t.deepEqual(verdict, { tls: { policy: 'ns/p', ca: null, serverName: 'b.example', subjectAltNames: [] } });
  t.like(conditions('p'), [{ type: 'Accepted', status: 'True' }, { type: 'ResolvedRefs', status: 'True' }]);
});

test('a CA reference of another kind is InvalidKind; with one valid ConfigMap beside it the policy applies with that CA', async (t) => {
  const ca = await createCa('unit CA');
  const configMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ca', namespace: 'ns' }, data: { 'ca.crt': ca.cert } } as KubeObject;
  const both = evaluate([configMap, policy('p', { caCertificateRefs: [{ group: '', kind: 'Secret', name: 'x' }, { group: '', kind: 'ConfigMap', name: 'ca' }], hostname: 'b.example' }, '2024-01-01T00:00:00Z')]);
  t.like(both.conditions('p'), [{ status: 'True' }, { status: 'False', reason: 'InvalidKind' }]);
  t.true(both.verdict !== null && 'tls' in both.verdict && both.verdict.tls.ca!.includes('BEGIN CERTIFICATE'));
  const only = evaluate([policy('p', { caCertificateRefs: [{ group: '', kind: 'Secret', name: 'x' }], hostname: 'b.example' }, '2024-01-01T00:00:00Z')]);
  t.like(only.conditions('p'), [{ status: 'False', reason: 'NoValidCACertificate' }, { status: 'False', reason: 'InvalidKind' }]);
  t.like(only.verdict, { refused: 'BackendTLSPolicy ns/p is not usable: no valid CA certificate: caCertificateRef Secret x: only ConfigMaps are supported' });
});

test('precedence: the older wins, then namespace/name on a tie; a port\'s policy wins for that port only; an unknown well-known set is Invalid', (t) => {
  const tie = evaluate([
    policy('b', { wellKnownCACertificates: 'System', hostname: 'b.example' }, '2024-01-01T00:00:00Z'),
    policy('a', { wellKnownCACertificates: 'System', hostname: 'a.example' }, '2024-01-01T00:00:00Z'),
  ]);
  t.like(tie.verdict, { tls: { policy: 'ns/a' } });
  t.like(tie.conditions('b'), [{ status: 'False', reason: 'Conflicted' }]);
  const objects = [
    policy('whole', { wellKnownCACertificates: 'System', hostname: 'whole.example' }, '2024-01-01T00:00:00Z'),
    policy('port', { wellKnownCACertificates: 'Custom', hostname: 'port.example' }, '2024-06-01T00:00:00Z', { group: '', kind: 'Service', name: 'svc', sectionName: 'https' }),
  ];
  const https = evaluate(objects, 443);
  t.like(https.verdict, { refused: 'BackendTLSPolicy ns/port is not usable: wellKnownCACertificates "Custom" is not supported (only System)' });
  t.like(https.conditions('port'), [{ status: 'False', reason: 'Invalid' }]);
  t.like(https.conditions('whole'), [{ status: 'True', reason: 'Accepted' }]);
  t.like(evaluate(objects, 8443).verdict, { tls: { policy: 'ns/whole' } });
});

test('a Service no policy targets: cleartext (null), and no policy gets an ancestor', (t) => {
  const policies = new BackendTlsPolicies(storeOf([policy('p', { wellKnownCACertificates: 'System', hostname: 'b.example' }, '2024-01-01T00:00:00Z', { group: '', kind: 'Service', name: 'other' })]));
  const used = new Set<string>();
  t.is(policies.forBackend('ns', 'svc', 443, used), null);
  t.is(used.size, 0);
  t.is(policies.statuses().size, 0);
});
