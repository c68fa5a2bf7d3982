// Which HTTP version a backend speaks: the Service port's appProtocol (from the EndpointSlice
// port, or the Service port an Ingress names), the switchyard.io/backend-protocol annotation that
// wins over it, and what an invalid annotation does (InvalidAnnotation).
import test from 'ava';
import { ingressCandidates, routeCandidate } from '../../src/admission/candidates.ts';
import type { KubeObject } from '../../src/objects/types.ts';
import { ObjectStore } from '../../src/store.ts';
import { compileRoute } from '../../src/controller/compile.ts';
import { newDeps } from '../../src/controller/compile-endpoints.ts';
import { parseRouteAnnotations } from '../../src/route-annotations.ts';
import { protocolOfAppProtocol } from '../../src/table/backend-protocol.ts';
import { config, endpoint, route, service, simpleIngress, slice } from '../fixtures/table/builders.ts';

function storeWith(...objects: KubeObject[]): ObjectStore {
  const store = new ObjectStore();
  for (const o of objects) store.upsert(o.kind as 'Service', o);
  return store;
}

test('appProtocol values: the HTTP/2 ones, the HTTP/1.1 ones, and the rest say nothing', (t) => {
  for (const v of ['kubernetes.io/h2c', 'h2c', 'kubernetes.io/h2', 'h2', 'grpc', 'GRPC', 'http2', ' h2c ']) t.is(protocolOfAppProtocol(v), 'http2', v);
  for (const v of ['http', 'HTTP', 'https', 'kubernetes.io/ws', 'kubernetes.io/wss']) t.is(protocolOfAppProtocol(v), 'http1', v);
  for (const v of [undefined, null, '', 'tcp', 'example.com/custom']) t.is(protocolOfAppProtocol(v), null, String(v));
});

test("a Route: the slice port's appProtocol makes its service HTTP/2; none leaves HTTP/1.1", (t) => {
  const store = storeWith(
    slice('ns', 'grpc', [endpoint('10.0.0.1')], [{ name: 'grpc', port: 9000, appProtocol: 'kubernetes.io/h2c' }]),
    slice('ns', 'web', [endpoint('10.0.0.2')], [{ name: 'http', port: 8080 }]),
  );
  const r = route('ns', 'r', { host: 'x.com', to: { kind: 'Service', name: 'grpc' }, alternateBackends: [{ kind: 'Service', name: 'web' }] });
  const compiled = compileRoute(routeCandidate(r, config()), store, config(), newDeps()).route;
  t.deepEqual(compiled.services.map((s) => [s.name, s.protocol]), [['ns/grpc', 'http2'], ['ns/web', undefined]]);
  t.false('protocol' in compiled.services[1]!, 'HTTP/1.1 services carry no field');
});

test('an Ingress: the Service port it names says it when the slice port does not', (t) => {
  const store = storeWith(
    service('ns', 'svc', [{ name: 'grpc', port: 80, targetPort: 9000, appProtocol: 'grpc' }]),
    slice('ns', 'svc', [endpoint('10.0.0.1')], [{ name: 'grpc', port: 9000 }]),
  );
  const [c] = ingressCandidates(simpleIngress('ns', 'i', [{ host: 'x.com', service: 'svc', port: 80 }]));
  t.is(compileRoute(c!, store, config(), newDeps()).route.services[0]!.protocol, 'http2');
});

test('the annotation wins over appProtocol, either way', (t) => {
  const store = storeWith(
    slice('ns', 'plain', [endpoint('10.0.0.1')], [{ port: 9000 }]),
    slice('ns', 'h2', [endpoint('10.0.0.2')], [{ port: 9001, appProtocol: 'h2c' }]),
  );
  const compiled = (service: string, value: string) => compileRoute(routeCandidate(route('ns', 'r', {
    host: 'x.com', to: { kind: 'Service', name: service },
  }, { annotations: { 'switchyard.io/backend-protocol': value } }), config()), store, config(), newDeps()).route.services[0]!.protocol;
  t.is(compiled('plain', 'h2c'), 'http2');
  t.is(compiled('plain', 'grpc'), 'http2');
  t.is(compiled('h2', 'http1'), undefined);
});

test('an invalid annotation value is refused with its name', (t) => {
  const parsed = parseRouteAnnotations({ 'switchyard.io/backend-protocol': 'spdy' });
  t.false(parsed.ok);
  if (!parsed.ok) {
    t.is(parsed.annotation, 'switchyard.io/backend-protocol');
    t.regex(parsed.message, /must be one of http1, h2c, h2, grpc, got "spdy"/);
  }
});
