import test from 'ava';
import { evaluateListeners, type ListenerInputs } from '../../src/gateway/listeners.ts';
import { referenceAllowed } from '../../src/gateway/reference-grant.ts';
import type { Gateway, Listener, ReferenceGrant } from '../../src/objects/gateway-types.ts';
import type { Secret } from '../../src/objects/types.ts';
import { selfSignedCertificate } from '../support/certs.ts';

const GW = 'gateway.networking.k8s.io';

function gateway(listeners: Listener[], namespace = 'infra'): Gateway {
  return { apiVersion: `${GW}/v1`, kind: 'Gateway', metadata: { name: 'gw', namespace }, spec: { gatewayClassName: 'c', listeners } };
}

function grant(namespace: string, from: ReferenceGrant['spec']['from'], to: ReferenceGrant['spec']['to']): ReferenceGrant {
  return { apiVersion: `${GW}/v1beta1`, kind: 'ReferenceGrant', metadata: { name: 'g', namespace }, spec: { from, to } };
}

function inputs(secrets: Record<string, Secret> = {}, grants: ReferenceGrant[] = []): ListenerInputs {
  return {
    ports: { http: 80, https: 443 },
    grants: { grantsIn: (ns) => grants.filter((g) => g.metadata.namespace === ns) },
    secret: (key) => secrets[key],
    configMap: () => undefined,
  };
}

function conditionOf(states: ReturnType<typeof evaluateListeners>, name: string, type: string) {
  return states.find((s) => s.name === name)!.conditions.find((c) => c.type === type)!;
}

async function tlsSecret(namespace: string, name: string): Promise<Secret> {
  const cert = await selfSignedCertificate(['secure.test']);
  return {
    apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name, namespace },
    data: { 'tls.crt': Buffer.from(cert.cert).toString('base64'), 'tls.key': Buffer.from(cert.key).toString('base64') },
  };
}

test('HTTP on the router HTTP port is accepted and programmed; another port is PortUnavailable', (t) => {
  const states = evaluateListeners(gateway([
    { name: 'ok', protocol: 'HTTP', port: 80 },
    { name: 'elsewhere', protocol: 'HTTP', port: 8080, hostname: 'x.test' },
    { name: 'https-elsewhere', protocol: 'HTTPS', port: 8443, hostname: 'y.test', tls: { certificateRefs: [{ name: 's' }] } },
  ]), inputs());
  t.like(conditionOf(states, 'ok', 'Accepted'), { status: 'True', reason: 'Accepted' });
  t.like(conditionOf(states, 'ok', 'Programmed'), { status: 'True' });
  t.true(states[0]!.usable);
  t.like(conditionOf(states, 'elsewhere', 'Accepted'), { status: 'False', reason: 'PortUnavailable' });
  t.like(conditionOf(states, 'elsewhere', 'Programmed'), { status: 'False', reason: 'Invalid' });
  t.false(states[1]!.usable);
  t.like(conditionOf(states, 'https-elsewhere', 'Accepted'), { status: 'False', reason: 'PortUnavailable' });
});

test('unsupported protocols are UnsupportedProtocol', (t) => {
  const states = evaluateListeners(gateway([{ name: 'tcp', protocol: 'TCP', port: 80 }]), inputs());
  t.like(conditionOf(states, 'tcp', 'Accepted'), { status: 'False', reason: 'UnsupportedProtocol' });
  t.deepEqual(states[0]!.supportedKinds, []);
});

test('listeners that are not distinct are all Conflicted: same port/protocol/hostname, or same port with another protocol', (t) => {
  const states = evaluateListeners(gateway([
    { name: 'a', protocol: 'HTTP', port: 80, hostname: 'same.test' },
    { name: 'b', protocol: 'HTTP', port: 80, hostname: 'same.test' },
    { name: 'c', protocol: 'HTTP', port: 80, hostname: 'other.test' },
  ]), inputs());
  t.like(conditionOf(states, 'a', 'Conflicted'), { status: 'True', reason: 'HostnameConflict' });
  t.like(conditionOf(states, 'b', 'Conflicted'), { status: 'True', reason: 'HostnameConflict' });
  t.like(conditionOf(states, 'a', 'Accepted'), { status: 'False' });
  t.like(conditionOf(states, 'c', 'Conflicted'), { status: 'False', reason: 'NoConflicts' });
  t.true(states[2]!.usable);
  const mixed = evaluateListeners(gateway([
    { name: 'h', protocol: 'HTTP', port: 443 },
    { name: 's', protocol: 'HTTPS', port: 443, hostname: 's.test', tls: { certificateRefs: [{ name: 'x' }] } },
  ]), inputs());
  t.like(conditionOf(mixed, 's', 'Conflicted'), { status: 'True', reason: 'ProtocolConflict' });
  t.like(conditionOf(mixed, 'h', 'Conflicted'), { status: 'True', reason: 'ProtocolConflict' });
});

test('HTTPS: a TLS Secret in the Gateway namespace resolves; a missing one is InvalidCertificateRef', async (t) => {
  const secret = await tlsSecret('infra', 'cert');
  const listeners: Listener[] = [
    { name: 'good', protocol: 'HTTPS', port: 443, hostname: 'good.test', tls: { mode: 'Terminate', certificateRefs: [{ name: 'cert' }] } },
    { name: 'missing', protocol: 'HTTPS', port: 443, hostname: 'missing.test', tls: { certificateRefs: [{ name: 'nope' }] } },
    { name: 'none', protocol: 'HTTPS', port: 443, hostname: 'none.test' },
    { name: 'configmap', protocol: 'HTTPS', port: 443, hostname: 'cm.test', tls: { certificateRefs: [{ kind: 'ConfigMap', name: 'cert' }] } },
    { name: 'passthrough', protocol: 'HTTPS', port: 443, hostname: 'pt.test', tls: { mode: 'Passthrough' } },
  ];
  const states = evaluateListeners(gateway(listeners), inputs({ 'infra/cert': secret }));
  t.like(conditionOf(states, 'good', 'ResolvedRefs'), { status: 'True' });
  t.truthy(states[0]!.certificate);
  t.true(states[0]!.usable);
  for (const name of ['missing', 'none', 'configmap']) {
    t.like(conditionOf(states, name, 'ResolvedRefs'), { status: 'False', reason: 'InvalidCertificateRef' }, name);
    t.like(conditionOf(states, name, 'Programmed'), { status: 'False', reason: 'Invalid' }, name);
  }
  t.like(conditionOf(states, 'passthrough', 'Accepted'), { status: 'False', reason: 'UnsupportedValue' });
});

test('HTTPS: a Secret in another namespace needs a ReferenceGrant there', async (t) => {
  const secret = await tlsSecret('certs', 'shared');
  const listener: Listener = { name: 'x', protocol: 'HTTPS', port: 443, hostname: 'x.test', tls: { certificateRefs: [{ name: 'shared', namespace: 'certs' }] } };
  const without = evaluateListeners(gateway([listener]), inputs({ 'certs/shared': secret }));
  t.like(conditionOf(without, 'x', 'ResolvedRefs'), { status: 'False', reason: 'RefNotPermitted' });
  const wrongFrom = grant('certs', [{ group: GW, kind: 'Gateway', namespace: 'elsewhere' }], [{ group: '', kind: 'Secret' }]);
  t.like(conditionOf(evaluateListeners(gateway([listener]), inputs({ 'certs/shared': secret }, [wrongFrom])), 'x', 'ResolvedRefs'), { reason: 'RefNotPermitted' });
  const ok = grant('certs', [{ group: GW, kind: 'Gateway', namespace: 'infra' }], [{ group: '', kind: 'Secret', name: 'shared' }]);
  t.like(conditionOf(evaluateListeners(gateway([listener]), inputs({ 'certs/shared': secret }, [ok])), 'x', 'ResolvedRefs'), { status: 'True' });
});

test('allowedRoutes.kinds: HTTPRoute is supported; another kind is InvalidRouteKinds', (t) => {
  const states = evaluateListeners(gateway([
    { name: 'only-bad', protocol: 'HTTP', port: 80, hostname: 'a.test', allowedRoutes: { kinds: [{ kind: 'TCPRoute' }] } },
    { name: 'mixed', protocol: 'HTTP', port: 80, hostname: 'b.test', allowedRoutes: { kinds: [{ kind: 'HTTPRoute' }, { kind: 'Foo' }] } },
  ]), inputs());
  t.like(conditionOf(states, 'only-bad', 'ResolvedRefs'), { status: 'False', reason: 'InvalidRouteKinds' });
  t.deepEqual(states[0]!.supportedKinds, []);
  t.false(states[0]!.usable);
  t.like(conditionOf(states, 'mixed', 'ResolvedRefs'), { status: 'False', reason: 'InvalidRouteKinds' });
  t.deepEqual(states[1]!.supportedKinds, [{ group: GW, kind: 'HTTPRoute' }]);
  t.true(states[1]!.usable);
});

test('ReferenceGrant decisions: namespace, kind, group and optional name must all match', (t) => {
  const grants = [grant('b', [{ group: GW, kind: 'HTTPRoute', namespace: 'a' }], [{ group: '', kind: 'Service', name: 'svc' }])];
  const lookup = { grantsIn: (ns: string) => grants.filter((g) => g.metadata.namespace === ns) };
  const from = { group: GW, kind: 'HTTPRoute', namespace: 'a' };
  t.true(referenceAllowed(lookup, from, { group: '', kind: 'Service', namespace: 'b', name: 'svc' }));
  t.false(referenceAllowed(lookup, from, { group: '', kind: 'Service', namespace: 'b', name: 'other' }));
  t.false(referenceAllowed(lookup, { ...from, namespace: 'c' }, { group: '', kind: 'Service', namespace: 'b', name: 'svc' }));
  t.false(referenceAllowed(lookup, { ...from, kind: 'Gateway' }, { group: '', kind: 'Service', namespace: 'b', name: 'svc' }));
  t.false(referenceAllowed(lookup, from, { group: '', kind: 'Secret', namespace: 'b', name: 'svc' }));
  // The same namespace needs no grant; a grant lives in the target's namespace.
  t.true(referenceAllowed({ grantsIn: () => [] }, from, { group: '', kind: 'Service', namespace: 'a', name: 'x' }));
  t.false(referenceAllowed(lookup, { ...from, namespace: 'b' }, { group: '', kind: 'Service', namespace: 'a', name: 'svc' }));
});

test('client certificate validation: only on Gateways with their own address; a partly valid CA list serves with the valid CAs', async (t) => {
  const ca = await selfSignedCertificate(['client-ca.test']);
  const secret = await tlsSecret('infra', 's');
  const gw = gateway([
    { name: 'https', protocol: 'HTTPS', port: 443, tls: { certificateRefs: [{ name: 's' }] } },
    { name: 'http', protocol: 'HTTP', port: 80 },
  ]);
  gw.spec.tls = { frontend: { default: { validation: { caCertificateRefs: [{ group: '', kind: 'ConfigMap', name: 'missing' }, { group: '', kind: 'ConfigMap', name: 'ca' }] } } } };
  const withCa: ListenerInputs = {
    ...inputs({ 'infra/s': secret }),
    configMap: (key) => (key === 'infra/ca' ? { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ca', namespace: 'infra' }, data: { 'ca.crt': ca.cert } } : undefined),
  };
  // The shared HTTPS port: refused (a connection there may carry requests for other hosts).
  const shared = evaluateListeners(gw, withCa);
  t.like(conditionOf(shared, 'https', 'Accepted'), { status: 'False', reason: 'UnsupportedValue' });
  t.false(shared[0]!.usable);
  t.like(conditionOf(shared, 'http', 'Accepted'), { status: 'True' });
  // Its own address: the missing ConfigMap is reported, the one that resolves is enforced.
  const own = evaluateListeners(gw, { ...withCa, ports: null });
  t.like(conditionOf(own, 'https', 'Accepted'), { status: 'True' });
  t.like(conditionOf(own, 'https', 'ResolvedRefs'), { status: 'False', reason: 'InvalidCACertificateRef', message: 'ConfigMap infra/missing not found' });
  t.true(own[0]!.usable);
  t.deepEqual(own[0]!.clientValidation, { ca: ca.cert.trim(), mode: 'AllowValidOnly' });
  t.is(own[1]!.clientValidation, null);
  // A mode the spec does not define is refused, not served without validation.
  gw.spec.tls.frontend!.default!.validation!.mode = 'Sometimes';
  t.like(conditionOf(evaluateListeners(gw, { ...withCa, ports: null }), 'https', 'Accepted'), { status: 'False', reason: 'UnsupportedValue' });
});

test('client certificate validation is the port\'s: its CA ConfigMaps are read (and parsed) once per port, not once per HTTPS listener', async (t) => {
  const ca = await selfSignedCertificate(['client-ca.test']);
  const secret = await tlsSecret('infra', 's');
  const https = (name: string, port: number): Listener => ({ name, protocol: 'HTTPS', port, hostname: `${name}.test`, tls: { certificateRefs: [{ name: 's' }] } });
  const gw = gateway([https('a', 443), https('b', 443), https('c', 443), https('d', 8443)]);
  gw.spec.tls = { frontend: { default: { validation: { caCertificateRefs: [{ group: '', kind: 'ConfigMap', name: 'ca' }] } } } };
  const reads: string[] = [];
  const states = evaluateListeners(gw, {
    ...inputs({ 'infra/s': secret }), ports: null,
    configMap: (key) => {
      reads.push(key);
      return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ca', namespace: 'infra' }, data: { 'ca.crt': ca.cert } };
    },
  });
  t.deepEqual(reads, ['infra/ca', 'infra/ca']);
  // Every listener is served with the validation of its port.
  for (const s of states) t.deepEqual(s.clientValidation, { ca: ca.cert.trim(), mode: 'AllowValidOnly' }, s.name);
  t.true(states.every((s) => s.usable));
});
