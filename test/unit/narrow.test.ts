// What the router keeps of an object: the fields it reads, nothing the API server adds for
// its own bookkeeping (managedFields, kubectl's last-applied copy, unused status and spec).

import test from 'ava';
import { LAST_APPLIED_ANNOTATION, RecordSharer, StringInterner, narrowObject } from '../../src/objects/narrow.ts';
import type { EndpointSlice, KubeObject, Route, Service } from '../../src/objects/types.ts';
import { validateObject } from '../../src/objects/validate.ts';

const managedFields = [{ manager: 'kubectl', operation: 'Apply', apiVersion: 'v1', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:ports': {} } } }];

function clusterMetadata(name: string) {
  return {
    name, namespace: 'shop', uid: `uid-${name}`, resourceVersion: '42', generation: 3, creationTimestamp: '2024-05-01T10:00:00Z',
    labels: { app: 'shop', 'kubernetes.io/service-name': 'web' },
    annotations: { [LAST_APPLIED_ANNOTATION]: '{"a":"very long copy"}', 'haproxy.router.openshift.io/timeout': '5s' },
    managedFields, selfLink: `/x/${name}`, finalizers: ['x'],
    ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: 'web', uid: 'u1', controller: true, blockOwnerDeletion: true }],
  };
}

test('a Service keeps metadata and spec the router reads; managedFields, last-applied, uid, timestamps, owners, labels, selector and status go', (t) => {
  const raw = {
    apiVersion: 'v1', kind: 'Service', metadata: clusterMetadata('web'),
    spec: { type: 'ClusterIP', clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'], ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack',
      sessionAffinity: 'None', internalTrafficPolicy: 'Cluster', selector: { app: 'shop' },
      ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP', nodePort: 30080 }] },
    status: { loadBalancer: {} },
  };
  const narrow = narrowObject('Service', raw as unknown as Service);
  t.deepEqual(narrow as unknown, {
    apiVersion: 'v1', kind: 'Service',
    metadata: {
      name: 'web', namespace: 'shop', generation: 3,
      annotations: { 'haproxy.router.openshift.io/timeout': '5s' },
    },
    spec: { type: 'ClusterIP', clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
  });
  t.true(validateObject(narrow).ok);
  t.is(raw.metadata.managedFields, managedFields, 'the input is not modified');
});

test('a Service selector validation would refuse is kept, and refused', (t) => {
  const raw = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'shop' }, spec: { selector: { app: 7 }, ports: [{ port: 80 }] } };
  const narrow = narrowObject('Service', raw as unknown as Service);
  t.deepEqual((narrow.spec as { selector?: unknown }).selector, { app: 7 });
  const verdict = validateObject(narrow);
  t.false(verdict.ok);
  t.regex(JSON.stringify(verdict), /spec\.selector/);
});

test('an EndpointSlice keeps addresses, conditions, targets (without uid), ports and its Service label; zones, hints and other labels go', (t) => {
  const raw = {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: clusterMetadata('web-abc'), addressType: 'IPv4',
    endpoints: [{ addresses: ['10.0.0.7'], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'n1', zone: 'z1',
      hints: { forZones: [{ name: 'z1' }] }, targetRef: { kind: 'Pod', name: 'web-1', namespace: 'shop', uid: 'p1', resourceVersion: '9' } }],
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  };
  const narrow = narrowObject('EndpointSlice', raw as unknown as EndpointSlice);
  t.deepEqual(narrow.endpoints as unknown, [{ addresses: ['10.0.0.7'], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'n1',
    targetRef: { kind: 'Pod', name: 'web-1', namespace: 'shop' } }]);
  t.deepEqual(narrow.ports as unknown, [{ name: 'http', port: 8080, protocol: 'TCP' }]);
  t.deepEqual(narrow.metadata.labels, { 'kubernetes.io/service-name': 'web' });
  t.false('managedFields' in narrow.metadata);
  t.true(validateObject(narrow).ok);
});

test('a Route keeps its whole spec and status.ingress (the status writer compares it)', (t) => {
  const spec = { host: 'shop.example.com', path: '/cart', to: { kind: 'Service', name: 'web', weight: 100 }, alternateBackends: [{ kind: 'Service', name: 'b', weight: 1 }],
    port: { targetPort: 'http' }, tls: { termination: 'edge', certificate: 'C', key: 'K', insecureEdgeTerminationPolicy: 'Redirect' }, wildcardPolicy: 'None' };
  const ingress = [{ host: 'shop.example.com', routerName: 'default', conditions: [{ type: 'Admitted', status: 'True' }] }];
  const raw = { apiVersion: 'route.openshift.io/v1', kind: 'Route', metadata: clusterMetadata('shop'), spec, status: { ingress, other: 1 } };
  const narrow = narrowObject('Route', raw as unknown as Route);
  t.deepEqual(narrow.spec as unknown, spec);
  t.deepEqual(narrow.status as unknown, { ingress });
  // Routes are aged (host ownership): their uid and creationTimestamp stay.
  t.like(narrow.metadata, { uid: 'uid-shop', creationTimestamp: '2024-05-01T10:00:00Z' });
});

test('narrowing never makes an invalid object valid', (t) => {
  const bad: KubeObject[] = [
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'x' }, spec: 'not an object' } as unknown as KubeObject,
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'x' }, spec: { ports: [{ name: 'p', port: 'eighty' }] } } as unknown as KubeObject,
    { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'x' }, addressType: 'IPv4', endpoints: [{ addresses: 'nope' }] } as unknown as KubeObject,
    { apiVersion: 'v1', kind: 'Service', metadata: 'nameless' } as unknown as KubeObject,
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'x', labels: { app: 7 } } } as unknown as KubeObject,
    { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'x', labels: { app: ['a'] } }, addressType: 'IPv4' } as unknown as KubeObject,
    { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'x' }, addressType: 'IPv4', endpoints: [{ addresses: ['10.0.0.1'], targetRef: { kind: 'Pod', name: 'p', uid: 5 } }] } as unknown as KubeObject,
  ];
  for (const object of bad) {
    const before = validateObject(object);
    const after = validateObject(narrowObject(object.kind as 'Service' | 'EndpointSlice', object));
    t.false(before.ok);
    t.false(after.ok);
    t.is((after as { error: string }).error, (before as { error: string }).error);
  }
});

test('equal strings from different objects are shared; the interner is bounded', (t) => {
  const interner = new StringInterner(3);
  const a = narrowObject('Service', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'a', namespace: ['sh', 'op'].join('') }, spec: {} }, interner);
  const b = narrowObject('Service', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'b', namespace: ['s', 'hop'].join('') }, spec: {} }, interner);
  t.is(a.metadata.namespace, 'shop');
  t.is(b.metadata.namespace, 'shop');
  t.true(interner.size <= 3);
  for (const s of ['p', 'q', 'r', 's', 't']) t.is(interner.intern(s), s);
  t.true(interner.size <= 3);
});

test('endpoint conditions of the same shape are one shared frozen object; other shapes are kept as they are', (t) => {
  const sliceWith = (conditions: unknown[]) => narrowObject('EndpointSlice', {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 's', namespace: 'ns' }, addressType: 'IPv4',
    endpoints: conditions.map((c, i) => ({ addresses: [`10.0.0.${i}`], conditions: c })),
  } as unknown as EndpointSlice);
  const a = sliceWith([{ ready: true }, { ready: true, zone: 'x' }, { ready: false, serving: true, terminating: true }]).endpoints!;
  const b = sliceWith([{ ready: true }]).endpoints!;
  t.is(a[0]!.conditions, b[0]!.conditions);
  t.is(a[0]!.conditions, a[1]!.conditions, 'fields dropped first, then shared');
  t.true(Object.isFrozen(a[0]!.conditions));
  t.deepEqual(a[2]!.conditions as unknown, { ready: false, serving: true, terminating: true });
  t.not(a[2]!.conditions, a[0]!.conditions);
  const odd = sliceWith([{ ready: 'yes' }]);
  t.deepEqual(odd.endpoints![0]!.conditions as unknown, { ready: 'yes' }, 'not a boolean: kept for validation to refuse');
  t.false(validateObject(odd).ok);
});

test('labels or annotations left empty (only kubectl\'s last-applied copy) are one shared frozen object', (t) => {
  const svc = (name: string) => narrowObject('Service', {
    apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'ns', annotations: { [LAST_APPLIED_ANNOTATION]: '{}' } }, spec: { ports: [{ port: 80 }] },
  } as unknown as Service);
  const a = svc('a');
  const b = svc('b');
  t.deepEqual(a.metadata.annotations, {});
  t.is(a.metadata.annotations, b.metadata.annotations);
  t.true(Object.isFrozen(a.metadata.annotations));
  t.true(validateObject(a).ok);
});

test('a malformed timestamp or uid on an ageless kind is kept for validation to refuse', (t) => {
  const bad = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'x', namespace: 'ns', creationTimestamp: 'yesterday', uid: 7 }, spec: { ports: [{ port: 80 }] } };
  const narrow = narrowObject('Service', bad as unknown as Service);
  t.like(narrow.metadata as unknown, { creationTimestamp: 'yesterday', uid: 7 });
  t.false(validateObject(narrow).ok);
  const badVersion = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'x', namespace: 'ns', resourceVersion: 12 }, spec: { ports: [{ port: 80 }] } };
  t.like(narrowObject('Service', badVersion as unknown as Service).metadata as unknown, { resourceVersion: 12 });
  t.false(validateObject(narrowObject('Service', badVersion as unknown as Service)).ok);
});

test('equal ports and annotations are one frozen object for every object that has them; different ones are not shared', (t) => {
  const service = (name: string, targetPort: number, timeout: string) => narrowObject('Service', {
    apiVersion: 'v1', kind: 'Service',
    metadata: { name, namespace: 'shop', annotations: { [LAST_APPLIED_ANNOTATION]: `{"name":"${name}"}`, 'haproxy.router.openshift.io/timeout': timeout } },
    spec: { ports: [{ name: 'http', port: 80, targetPort, protocol: 'TCP' }] },
  } as unknown as Service);
  const a = service('a', 8080, '5s');
  const b = service('b', 8080, '5s');
  const c = service('c', 9090, '7s');
  t.is(a.spec!.ports, b.spec!.ports);
  t.is(a.metadata.annotations, b.metadata.annotations);
  t.not(a.spec!.ports, c.spec!.ports);
  t.not(a.metadata.annotations, c.metadata.annotations);
  t.deepEqual(c.spec!.ports as unknown, [{ name: 'http', port: 80, targetPort: 9090, protocol: 'TCP' }]);
  t.deepEqual(c.metadata.annotations, { 'haproxy.router.openshift.io/timeout': '7s' });
  t.true(Object.isFrozen(a.spec!.ports) && Object.isFrozen(a.spec!.ports![0]));
  t.true(validateObject(b).ok);
});

test('RecordSharer: a different, oversized or nested value is not shared; a full table starts over', (t) => {
  const sharer = new RecordSharer(2);
  const x = sharer.share({ a: '1' });
  t.is(sharer.share({ a: '1' }), x);
  t.not(sharer.share({ a: '2' }), x);
  const big = { a: 'x'.repeat(600) };
  t.is(sharer.share(big), big);
  t.false(Object.isFrozen(big));
  const nested = { a: { b: 1 } };
  t.is(sharer.share(nested), nested, 'only flat records');
  sharer.share({ a: '3' });
  t.true(sharer.size <= 2);
});
