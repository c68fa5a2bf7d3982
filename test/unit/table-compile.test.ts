import test from 'ava';
import { ingressCandidates, routeCandidate } from '../../src/admission/candidates.ts';
import type { RouteCandidate } from '../../src/admission/types.ts';
import type { RouterConfig } from '../../src/config.ts';
import type { KubeObject } from '../../src/objects/types.ts';
import { ObjectStore } from '../../src/store.ts';
import { compileHostEntry, compileRoute } from '../../src/controller/compile.ts';
import { endpointId, newDeps } from '../../src/controller/compile-endpoints.ts';
import { config, endpoint, ingress, pod, route, service, simpleIngress, slice, tlsSecret } from '../fixtures/table/builders.ts';
import { selfSignedCertificate, type TestCertificate } from '../support/certs.ts';
import { endpointPod } from '../../src/table/types.ts';

// Secret certificates pass extended validation before they are served, so they must be real.
let ext: TestCertificate;
let ext2: TestCertificate;
test.before(async () => {
  [ext, ext2] = await Promise.all([selfSignedCertificate(['x.com']), selfSignedCertificate(['a.com'])]);
});

function storeWith(...objects: KubeObject[]): ObjectStore {
  const store = new ObjectStore();
  for (const o of objects) store.upsert(o.kind as 'Service', o);
  return store;
}

function compile(c: RouteCandidate, store: ObjectStore, cfg: RouterConfig = config()) {
  const deps = newDeps();
  const result = compileRoute(c, store, cfg, deps);
  return { ...result, deps };
}

test('Route: endpoints of spec.to and alternateBackends, weights split, ids stable', (t) => {
  const store = storeWith(
    slice('ns', 'a', [endpoint('10.0.0.1'), endpoint('10.0.0.2')]),
    slice('ns', 'b', [endpoint('10.0.1.1')], [{ port: 9090 }]),
  );
  const r = route('ns', 'r', { host: 'x.com', to: { kind: 'Service', name: 'a', weight: 60 }, alternateBackends: [{ kind: 'Service', name: 'b', weight: 0 }] });
  const { route: compiled, deps } = compile(routeCandidate(r, config()), store);
  t.deepEqual(compiled.services.map((s) => [s.name, s.weight, s.endpoints.map((e) => [e.address, e.port, e.weight])]), [
    ['ns/a', 60, [['10.0.0.1', 8080, 30], ['10.0.0.2', 8080, 30]].sort((x, y) => (endpointId(String(x[0]), 8080) < endpointId(String(y[0]), 8080) ? -1 : 1))],
    ['ns/b', 0, [['10.0.1.1', 9090, 0]]],
  ]);
  t.is(compiled.services[0]!.endpoints.find((e) => e.address === '10.0.0.1')!.id, endpointId('10.0.0.1', 8080));
  t.regex(endpointId('10.0.0.1', 8080), /^[0-9a-f]{16}$/);
  t.deepEqual([...deps.services].sort(), ['ns/a', 'ns/b']);
  t.is(compiled.policy.healthCheck?.type, 'tcp', 'more than one endpoint in total');
  t.is(compiled.host, 'x.com');
  t.is(compiled.match, 'route');
});

test('endpoint conditions: ready/unset used, serving+terminating draining, not-ready skipped; duplicates merged', (t) => {
  const store = storeWith(
    slice('ns', 'svc', [
      endpoint('10.0.0.1'),
      endpoint('10.0.0.2', { conditions: {} }),
      endpoint('10.0.0.3', { conditions: { ready: false, serving: true, terminating: true } }),
      endpoint('10.0.0.4', { conditions: { ready: false } }),
      endpoint('10.0.0.5', { conditions: { ready: false, serving: true, terminating: false } }),
    ]),
    slice('ns', 'svc', [endpoint('10.0.0.1')], [{ port: 8080 }], 'svc-second'),
  );
  const { route: compiled } = compile(routeCandidate(route('ns', 'r', { host: 'x.com' }), config()), store);
  const eps = compiled.services[0]!.endpoints;
  t.deepEqual(eps.map((e) => [e.address, e.acceptsNew]).sort(), [['10.0.0.1', true], ['10.0.0.2', true], ['10.0.0.3', false]]);
  t.true(eps.every((e) => Math.abs(e.weight - 100 / 3) < 1e-9));
});

test('Route targetPort: by name picks the slice port; by number uses the number; none takes the first', (t) => {
  const ports = [{ name: 'metrics', port: 9100 }, { name: 'http', port: 8080 }];
  const store = storeWith(slice('ns', 'svc', [endpoint('10.0.0.1')], ports));
  const port = (targetPort?: string | number) =>
    compile(routeCandidate(route('ns', 'r', { host: 'x.com', ...(targetPort !== undefined ? { port: { targetPort } } : {}) }), config()), store).route.services[0]!.endpoints.map((e) => e.port);
  t.deepEqual(port('http'), [8080]);
  t.deepEqual(port(7000), [7000]);
  t.deepEqual(port('7001'), [7001]);
  t.deepEqual(port(), [9100]);
  t.deepEqual(port('nope'), []);
});

test('Ingress port: Service port number → its name → the slice port of that name', (t) => {
  const store = storeWith(
    service('ns', 'svc', [{ name: 'web', port: 80, targetPort: 'http' }, { name: 'admin', port: 81, targetPort: 9000 }]),
    slice('ns', 'svc', [endpoint('10.0.0.1')], [{ name: 'admin', port: 9000 }, { name: 'web', port: 8080 }]),
  );
  const ports = (port: number | string) => {
    const [c] = ingressCandidates(simpleIngress('ns', 'i', [{ host: 'x.com', service: 'svc', port }]));
    return compile(c!, store).route.services[0]!.endpoints.map((e) => e.port);
  };
  t.deepEqual(ports(80), [8080]);
  t.deepEqual(ports('admin'), [9000]);
  const missing = compile(ingressCandidates(simpleIngress('ns', 'i', [{ host: 'x.com', service: 'svc', port: 82 }]))[0]!, store);
  t.deepEqual(missing.route.services[0]!.endpoints, []);
  t.deepEqual([...missing.skipped], [['port-not-found', 1]]);
  t.regex(missing.route.notes!.join(), /no port 82/);
});

test('Ingress port: a single unnamed Service port maps by name "" or its numeric targetPort; no Service needs a single-port slice', (t) => {
  const unnamed = storeWith(service('ns', 'svc', [{ port: 80, targetPort: 8080 }]), slice('ns', 'svc', [endpoint('10.0.0.1')], [{ port: 8080 }]));
  const [c] = ingressCandidates(simpleIngress('ns', 'i', [{ host: 'x.com', service: 'svc', port: 80 }]));
  t.deepEqual(compile(c!, unnamed).route.services[0]!.endpoints.map((e) => e.port), [8080]);
  const namedSlicePort = storeWith(service('ns', 'svc', [{ port: 80, targetPort: 8081 }]), slice('ns', 'svc', [endpoint('10.0.0.1')], [{ name: 'x', port: 1 }]));
  t.deepEqual(compile(c!, namedSlicePort).route.services[0]!.endpoints.map((e) => e.port), [8081]);
  const noService = storeWith(slice('ns', 'svc', [endpoint('10.0.0.1')], [{ port: 8080 }]));
  t.deepEqual(compile(c!, noService).route.services[0]!.endpoints.map((e) => e.port), [8080]);
  const noServiceTwoPorts = storeWith(slice('ns', 'svc', [endpoint('10.0.0.1')], [{ name: 'a', port: 1 }, { name: 'b', port: 2 }]));
  t.deepEqual(compile(c!, noServiceTwoPorts).route.services[0]!.endpoints, [], 'never guesses between ports');
});

test('autoport: the port comes from the pod annotation; pods without it are skipped and reported', (t) => {
  const ref = (name: string) => ({ targetRef: { kind: 'Pod', name, namespace: 'ns' } });
  const store = storeWith(
    slice('ns', 'svc', [endpoint('10.0.0.1', ref('p1')), endpoint('10.0.0.2', ref('p2')), endpoint('10.0.0.3', ref('p3')), endpoint('10.0.0.4', ref('gone')), endpoint('10.0.0.5')]),
    pod('ns', 'p1', { AUTO_PORT0: '20001' }),
    pod('ns', 'p2', {}),
    pod('ns', 'p3', { AUTO_PORT0: 'http' }),
  );
  const r = route('ns', 'r', { host: 'x.com' }, { annotations: { 'switchyard.io/target-port-annotation': 'AUTO_PORT0' } });
  const { route: compiled, skipped, deps } = compile(routeCandidate(r, config()), store);
  t.deepEqual(compiled.services[0]!.endpoints.map((e) => [e.address, e.port, endpointPod(compiled.services[0]!, e)]), [['10.0.0.1', 20001, 'ns/p1']]);
  t.deepEqual(Object.fromEntries(skipped), { 'annotation-missing': 1, 'annotation-invalid': 1, 'pod-missing': 2 });
  t.is(compiled.notes!.length, 4);
  t.deepEqual([...deps.pods].sort(), ['ns/gone', 'ns/p1', 'ns/p2', 'ns/p3']);
});

test('TLS: Route inline certificate, externalCertificate Secret (data and stringData), reencrypt server name', (t) => {
  const store = storeWith(tlsSecret('ns', 'ext', ext.cert, ext.key), tlsSecret('ns', 'ext2', ext2.cert, ext2.key, 'stringData'), tlsSecret('ns', 'bad', 'CERT', 'KEY'));
  const tls = (spec: object) => compile(routeCandidate(route('ns', 'r', { host: 'x.com', tls: spec as never }), config()), store);
  t.deepEqual(tls({ termination: 'edge', certificate: 'C', key: 'K', caCertificate: 'CA', insecureEdgeTerminationPolicy: 'Redirect' }).route.tls, {
    termination: 'edge', insecurePolicy: 'Redirect', certificate: { cert: 'C', key: 'K', ca: 'CA' }, destinationCA: null,
  });
  const fromSecret = tls({ termination: 'edge', externalCertificate: { name: 'ext' } });
  t.deepEqual(fromSecret.route.tls!.certificate, { cert: ext.cert, key: ext.key });
  t.deepEqual([...fromSecret.deps.secrets], ['ns/ext']);
  t.deepEqual(tls({ termination: 'edge', externalCertificate: { name: 'ext2' } }).route.tls!.certificate, { cert: ext2.cert, key: ext2.key });
  const bad = tls({ termination: 'edge', externalCertificate: { name: 'bad' } });
  t.is(bad.route.tls!.certificate, null, 'a Secret failing extended validation is never handed to the listener');
  t.regex(bad.route.notes!.join(), /secret ns\/bad is not a valid certificate: tls\.crt: no PEM certificate.*default certificate/);
  const missing = tls({ termination: 'edge', externalCertificate: { name: 'nope' } });
  t.is(missing.route.tls!.certificate, null);
  t.regex(missing.route.notes!.join(), /ns\/nope not found/);
  t.deepEqual(tls({ termination: 'reencrypt', destinationCACertificate: 'DCA' }).route.tls, {
    termination: 'reencrypt', insecurePolicy: 'None', certificate: null, destinationCA: 'DCA', serverName: 'svc.ns.svc',
  });
  const passthrough = tls({ termination: 'passthrough' });
  t.false(passthrough.route.plugins.some((p) => p.plugin === 'sticky-cookie'), 'no cookie on a passthrough route');
  t.deepEqual(passthrough.route.plugins.find((p) => p.plugin === 'tls-insecure-policy')?.config, { termination: 'passthrough', insecurePolicy: 'None' });
});

test('TLS: Ingress hosts in spec.tls terminate at the edge with the Secret; others are plain', (t) => {
  const store = storeWith(tlsSecret('ns', 'a-tls', ext2.cert, ext2.key));
  const ing = ingress('ns', 'i', {
    tls: [{ hosts: ['a.com'], secretName: 'a-tls' }, { hosts: ['c.com'], secretName: 'missing' }],
    rules: ['a.com', 'b.com', 'c.com'].map((host) => ({ host, http: { paths: [{ path: '/', pathType: 'Prefix' as const, backend: { service: { name: 's', port: { number: 80 } } } }] } })),
  });
  const [a, b, c] = ingressCandidates(ing).map((cand) => compile(cand, store).route);
  t.deepEqual(a!.tls, { termination: 'edge', insecurePolicy: 'Redirect', certificate: { cert: ext2.cert, key: ext2.key }, destinationCA: null });
  t.is(b!.tls, null);
  t.is(c!.tls!.certificate, null);
  t.regex(c!.notes!.join(), /missing not found/);
});

test('host entry: most specific first, Exact beats Prefix on a tie, Prefix trailing slash ignored', (t) => {
  const ing = ingress('ns', 'i', {
    rules: [{
      host: 'x.com', http: {
        paths: [
          { path: '/', pathType: 'Prefix', backend: { service: { name: 's', port: { number: 80 } } } },
          { path: '/aaa/bbb/', pathType: 'Prefix', backend: { service: { name: 's', port: { number: 80 } } } },
          { path: '/aaa/bbb', pathType: 'Exact', backend: { service: { name: 's', port: { number: 80 } } } },
          { path: '/aaa/bbb/c', pathType: 'ImplementationSpecific', backend: { service: { name: 's', port: { number: 80 } } } },
        ],
      },
    }],
  });
  const { entry } = compileHostEntry('x.com', ingressCandidates(ing), new ObjectStore(), config());
  t.deepEqual(entry!.routes.map((r) => [r.path, r.match]), [['/aaa/bbb/c', 'prefix'], ['/aaa/bbb', 'exact'], ['/aaa/bbb/', 'prefix'], ['/', 'prefix']]);
  t.is(compileHostEntry('y.com', [], new ObjectStore(), config()).entry, null);
});

test('wildcard route compiles under *.domain with host = the served domain', (t) => {
  const c = routeCandidate(route('ns', 'w', { host: 'www.foo.com', wildcardPolicy: 'Subdomain' }), config());
  const { entry } = compileHostEntry('*.foo.com', [c], new ObjectStore(), config());
  t.is(entry!.key, '*.foo.com');
  t.is(entry!.routes[0]!.host, 'foo.com');
  t.true(entry!.routes[0]!.wildcard);
});

test('compiled routes share what is the same for all: the TCP check, the policy, no annotations, no Middlewares (frozen)', (t) => {
  const store = storeWith(slice('ns', 'svc', [endpoint('10.0.0.1'), endpoint('10.0.0.2')]));
  const a = compile(routeCandidate(route('ns', 'a', { host: 'a.com' }), config()), store).route;
  const b = compile(routeCandidate(route('ns', 'b', { host: 'b.com' }), config()), store).route;
  t.is(a.policy.healthCheck?.type, 'tcp');
  t.is(a.policy.healthCheck, b.policy.healthCheck, 'one TCP check object for every route with the same interval');
  t.true(Object.isFrozen(a.policy.healthCheck));
  t.is(a.policy, b.policy, 'one policy object for every route with the same settings');
  t.true(Object.isFrozen(a.policy));
  t.is(a.annotations, b.annotations);
  t.deepEqual(a.annotations, {});
  t.true(Object.isFrozen(a.annotations));
  t.is(a.middlewares, b.middlewares);
  t.true(Object.isFrozen(a.middlewares));
  t.not(a.plugins, b.plugins, 'the built-in policies are per route (the sticky cookie name is)');
  t.is(a.plugins.find((p) => p.plugin === 'forwarded-headers')?.config, b.plugins.find((p) => p.plugin === 'forwarded-headers')?.config, 'one forwarded-headers config for every route with the same policy');
  // A route with its own settings gets its own objects, with what it says.
  const annotations = { 'switchyard.io/health-check-path': '/healthz', 'haproxy.router.openshift.io/timeout': '5s' };
  const c = compile(routeCandidate(route('ns', 'c', { host: 'c.com' }, { annotations }), config()), store).route;
  t.deepEqual(c.annotations, annotations);
  t.is(c.policy.healthCheck?.type, 'http');
  t.not(c.policy.healthCheck, a.policy.healthCheck);
  t.not(c.policy, a.policy);
  t.is(c.policy.serverTimeoutMs, 5000);
  const slow = compile(routeCandidate(route('ns', 'd', { host: 'd.com' }, { annotations: { 'router.openshift.io/haproxy.health.check.interval': '30s' } }), config()), store).route;
  t.is(slow.policy.healthCheck?.intervalMs, 30_000);
  t.not(slow.policy.healthCheck, a.policy.healthCheck);
});

test('an endpoint names its Pod as namespace/name, in the Service\'s namespace or another', (t) => {
  const ref = (name: string, namespace: string) => ({ targetRef: { kind: 'Pod', name, namespace } });
  const store = storeWith(service('ns', 'svc', [{ port: 80, targetPort: 8080 }]),
    slice('ns', 'svc', [endpoint('10.0.0.1', ref('p1', 'ns')), endpoint('10.0.0.2', ref('p2', 'other')), endpoint('10.0.0.3')], [{ port: 8080 }]));
  const { route: compiled } = compile(routeCandidate(route('ns', 'r', { host: 'x.com' }), config()), store);
  const s = compiled.services[0]!;
  t.deepEqual(s.endpoints.map((e) => [e.address, endpointPod(s, e)]).sort(), [['10.0.0.1', 'ns/p1'], ['10.0.0.2', 'other/p2'], ['10.0.0.3', undefined]]);
});
