import test from 'ava';
import { validateObject } from '../../src/objects/validate.ts';

const route = (spec: Record<string, unknown>, metadata: Record<string, unknown> = { name: 'web', namespace: 'shop' }) =>
  ({ apiVersion: 'route.openshift.io/v1', kind: 'Route', metadata, spec: { to: { kind: 'Service', name: 'web' }, ...spec } });

const ingress = (spec: Record<string, unknown>) =>
  ({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'web' }, spec });

const service = (spec: Record<string, unknown>) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec });

const slice = (fields: Record<string, unknown>) =>
  ({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'web-abc' }, addressType: 'IPv4', ...fields });

const secret = (fields: Record<string, unknown>) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'tls' }, ...fields });

test('a complete Route is accepted as it is', (t) => {
  const doc = route({
    host: 'www.example.com', path: '/shop', port: { targetPort: 8080 },
    alternateBackends: [{ kind: 'Service', name: 'web-b', weight: 20 }],
    tls: { termination: 'edge', insecureEdgeTerminationPolicy: 'Redirect', certificate: 'PEM', key: 'PEM' },
    wildcardPolicy: 'None',
  });
  const result = validateObject(doc);
  t.true(result.ok);
  if (result.ok) {
    t.is(result.kind, 'Route');
    t.is(result.object as unknown, doc, 'a namespaced object that has its namespace is returned unchanged');
  }
});

test('every kind we read is accepted in its minimal form', (t) => {
  const minimal = [
    route({}),
    ingress({ defaultBackend: { service: { name: 'web', port: { number: 80 } } } }),
    { apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name: 'switchyard' }, spec: { controller: 'switchyard.io/router' } },
    service({ ports: [{ port: 80, targetPort: 'http' }] }),
    slice({ endpoints: null, ports: null }),
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { team: 'a' } } },
    { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-0', annotations: { AUTO_PORT0: '20001' } }, spec: { hostNetwork: true }, status: { podIP: '10.0.0.1' } },
    secret({ type: 'kubernetes.io/tls', data: { 'tls.crt': 'aGVsbG8=', 'tls.key': 'aGk=' } }),
  ];
  for (const doc of minimal) {
    const result = validateObject(doc);
    t.true(result.ok, `${doc.kind}: ${result.ok ? '' : result.error}`);
  }
});

test('a namespaced object without a namespace lands in default; cluster-scoped kinds get none', (t) => {
  const doc = service({});
  const result = validateObject(doc);
  t.true(result.ok);
  if (result.ok) t.is(result.object.metadata.namespace, 'default');
  t.is((doc.metadata as { namespace?: string }).namespace, undefined, 'the input is not mutated');
  const ns = validateObject({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
  t.true(ns.ok);
  if (ns.ok) t.is(ns.object.metadata.namespace, undefined);
});

test('kinds switchyard does not read are ignored, not errors', (t) => {
  for (const doc of [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'x' } },
    { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' } },
  ]) {
    const result = validateObject(doc);
    t.false(result.ok);
    if (!result.ok) {
      t.true(result.ignored);
      t.is(result.kind, doc.kind);
      t.is(result.name, 'x');
    }
  }
});

test('creationTimestamp may be a string or a Date, but must be a time', (t) => {
  t.true(validateObject(route({}, { name: 'a', creationTimestamp: '2024-05-01T10:00:00Z' })).ok);
  t.true(validateObject(route({}, { name: 'a', creationTimestamp: new Date() })).ok);
  const bad = validateObject(route({}, { name: 'a', creationTimestamp: 'yesterday' }));
  t.false(bad.ok);
  if (!bad.ok) t.is(bad.field, 'metadata.creationTimestamp');
});

const rejected: Array<[string, unknown, string]> = [
  ['not an object', 'hello', 'document: must be an object with apiVersion and kind'],
  ['an array', [1, 2], 'document: must be an object with apiVersion and kind'],
  ['no apiVersion', { kind: 'Route', metadata: { name: 'a' } }, 'apiVersion: required string'],
  ['no kind', { apiVersion: 'v1', metadata: { name: 'a' } }, 'kind: required string'],
  ['old Route group', { ...route({}), apiVersion: 'v1' }, 'apiVersion: Route must be route.openshift.io/v1'],
  ['beta Ingress', { ...ingress({}), apiVersion: 'extensions/v1beta1' }, 'apiVersion: Ingress must be networking.k8s.io/v1'],
  ['no metadata', { apiVersion: 'v1', kind: 'Service', spec: {} }, 'metadata: required object'],
  ['no name', route({}, { namespace: 'shop' }), 'metadata.name: required string'],
  ['empty name', route({}, { name: '' }), 'metadata.name: required string'],
  ['upper-case name', route({}, { name: 'Web' }), 'metadata.name: must be a DNS-1123 subdomain'],
  ['dotted Service name', { ...service({}), metadata: { name: 'a.b' } }, 'metadata.name: must be a DNS-1123 label'],
  ['bad namespace', route({}, { name: 'a', namespace: 'Shop_1' }), 'metadata.namespace: must be a DNS-1123 label'],
  ['numeric annotation', route({}, { name: 'a', annotations: { 'haproxy.router.openshift.io/timeout': 5 } }),
    'metadata.annotations[haproxy.router.openshift.io/timeout]: must be a string'],
  ['Route without to', { ...route({}), spec: {} }, 'spec.to: required object'],
  ['Route to without name', route({ to: { kind: 'Service' } }), 'spec.to.name: required string'],
  ['Route to a Deployment', route({ to: { kind: 'Deployment', name: 'x' } }), 'spec.to.kind: must be Service'],
  ['weight above 256', route({ to: { name: 'web', weight: 300 } }), 'spec.to.weight: integer 0-256'],
  ['fractional weight', route({ to: { name: 'web', weight: 1.5 } }), 'spec.to.weight: integer 0-256'],
  ['alternate weight as string', route({ alternateBackends: [{ name: 'b', weight: '10' }] }), 'spec.alternateBackends[0].weight: integer 0-256'],
  ['alternate without name', route({ alternateBackends: [{ name: 'b' }, { weight: 1 }] }), 'spec.alternateBackends[1].name: required string'],
  ['host as number', route({ host: 42 }), 'spec.host: must be a string'],
  ['targetPort 0', route({ port: { targetPort: 0 } }), 'spec.port.targetPort: required: a port name or an integer 1-65535'],
  ['tls termination unknown', route({ tls: { termination: 'simple' } }), 'spec.tls.termination: must be edge, passthrough or reencrypt'],
  ['tls termination missing', route({ tls: {} }), 'spec.tls.termination: required: edge, passthrough or reencrypt'],
  ['insecure policy unknown', route({ tls: { termination: 'edge', insecureEdgeTerminationPolicy: 'Deny' } }),
    'spec.tls.insecureEdgeTerminationPolicy: must be None, Allow or Redirect'],
  ['wildcard policy unknown', route({ wildcardPolicy: 'All' }), 'spec.wildcardPolicy: must be None or Subdomain'],
  ['Ingress pathType', ingress({ rules: [{ host: 'a.com', http: { paths: [
    { path: '/', pathType: 'Prefix', backend: { service: { name: 'a', port: { number: 80 } } } },
    { path: '/b', pathType: 'Regex', backend: { service: { name: 'b', port: { number: 80 } } } },
  ] } }] }), 'spec.rules[0].http.paths[1].pathType: must be Exact, Prefix or ImplementationSpecific'],
  ['Ingress pathType missing', ingress({ rules: [{ http: { paths: [{ path: '/', backend: { service: { name: 'a', port: { number: 80 } } } }] } }] }),
    'spec.rules[0].http.paths[0].pathType: required: Exact, Prefix or ImplementationSpecific'],
  ['Ingress paths not an array', ingress({ rules: [{ http: { paths: {} } }] }), 'spec.rules[0].http.paths: required array'],
  ['Ingress backend port missing', ingress({ defaultBackend: { service: { name: 'a', port: {} } } }), 'spec.defaultBackend.service.port: name or number required'],
  ['Ingress backend port too big', ingress({ defaultBackend: { service: { name: 'a', port: { number: 70000 } } } }),
    'spec.defaultBackend.service.port.number: integer 1-65535'],
  ['Ingress backend empty', ingress({ defaultBackend: {} }), 'spec.defaultBackend: service or resource required'],
  ['Ingress tls hosts', ingress({ tls: [{ hosts: 'a.com' }] }), 'spec.tls[0].hosts: must be an array of strings'],
  ['Service port out of range', service({ ports: [{ port: 80 }, { port: 65536 }] }), 'spec.ports[1].port: integer 1-65535'],
  ['Service port missing', service({ ports: [{ name: 'http' }] }), 'spec.ports[0].port: required integer 1-65535'],
  ['Service port as string', service({ ports: [{ port: '80' }] }), 'spec.ports[0].port: integer 1-65535'],
  ['Service without spec', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'a' } }, 'spec: required object'],
  ['slice addressType', slice({ addressType: 'IPX' }), 'addressType: must be IPv4, IPv6 or FQDN'],
  ['slice addresses', slice({ endpoints: [{ addresses: ['10.0.0.1'] }, { addresses: ['10.0.0.2'] }, { addresses: [10] }] }),
    'endpoints[2].addresses: required array of strings'],
  ['slice addresses missing', slice({ endpoints: [{ conditions: { ready: true } }] }), 'endpoints[0].addresses: required array of strings'],
  ['slice ready as string', slice({ endpoints: [{ addresses: ['10.0.0.1'], conditions: { ready: 'yes' } }] }),
    'endpoints[0].conditions.ready: must be true or false'],
  ['slice port', slice({ ports: [{ port: -1 }] }), 'ports[0].port: integer 1-65535'],
  ['pod hostNetwork', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { hostNetwork: 'yes' } }, 'spec.hostNetwork: must be true or false'],
  ['secret base64', secret({ data: { 'tls.crt': 'aGVsbG8=', 'tls.key': 'not base64!' } }), 'data[tls.key]: must be valid base64'],
  ['secret base64 length', secret({ data: { a: 'aGVsbG8' } }), 'data[a]: must be valid base64'],
  ['secret value not string', secret({ data: { a: 5 } }), 'data[a]: must be a string'],
];

for (const [name, doc, error] of rejected) {
  test(`rejects ${name}`, (t) => {
    const result = validateObject(doc);
    t.false(result.ok);
    if (result.ok) return;
    t.falsy(result.ignored);
    t.true(result.error.startsWith(error), `got "${result.error}"`);
    if (result.field !== undefined) t.true(error.startsWith(`${result.field}: `), `field ${result.field}`);
  });
}

test('errors carry the kind and name for logging, never the offending value', (t) => {
  const result = validateObject(secret({ metadata: { name: 'tls', namespace: 'shop' }, data: { 'tls.key': '-----BEGIN PRIVATE KEY-----' } }));
  t.false(result.ok);
  if (result.ok) return;
  t.is(result.kind, 'Secret');
  t.is(result.name, 'tls');
  t.is(result.field, 'data[tls.key]');
  t.false(result.error.includes('PRIVATE'));
});

test('base64 with line breaks is accepted, as the API server decodes it', (t) => {
  t.true(validateObject(secret({ data: { 'tls.crt': 'aGVs\nbG8=' } })).ok);
});

test('null in nullable places is accepted', (t) => {
  t.true(validateObject(route({ tls: null })).ok);
  t.true(validateObject(slice({ endpoints: [{ addresses: ['10.0.0.1'], conditions: { ready: null, serving: true } }], ports: [{ port: null, name: '' }] })).ok);
  t.true(validateObject(route({}, { name: 'a', namespace: null, labels: null })).ok);
});
