// The proxy's per-route runtime keeps what a route needs at once (its members, acquired from
// the endpoint registry) and makes the rest — balancer, plugin chain — on the first request:
// most routes of a large table see none for a long time. State is still taken over from the
// previous runtime of the route, and a Middleware's plugin is still created when the route is
// applied. Asserted on structure (instances in the heap, shared objects), never on time.

import test from 'ava';
import { queryObjects } from 'node:v8';
import { Type } from 'typebox';
import { routeCandidate } from '../../src/admission/candidates.ts';
import { compileRoute } from '../../src/controller/compile.ts';
import { newDeps } from '../../src/controller/compile-endpoints.ts';
import { EndpointRegistry } from '../../src/health/endpoint-registry.ts';
import { silentLogger } from '../../src/log.ts';
import { Metrics } from '../../src/metrics.ts';
import { RouteChain } from '../../src/pipeline/chain.ts';
import { definePlugin } from '../../src/pipeline/define-plugin.ts';
import { PluginRegistry } from '../../src/pipeline/plugin-registry.ts';
import { MiddlewareFailures } from '../../src/proxy/middleware-failures.ts';
import { RouteRuntime, type RuntimeDeps } from '../../src/proxy/route-runtime.ts';
import { LimitTable } from '../../src/shared-memory/limit-table.ts';
import { ObjectStore } from '../../src/store.ts';
import type { CompiledRoute } from '../../src/table/types.ts';
import { config, endpoint, route, slice } from '../fixtures/table/builders.ts';

let created = 0;
const counting = definePlugin({ name: 'counting', config: Type.Object({}), create: () => { created++; return {}; } });

function deps(): RuntimeDeps {
  const metrics = new Metrics({ defaultMetrics: false });
  return { registry: new EndpointRegistry(), metrics, logger: silentLogger, plugins: new PluginRegistry([counting]), failures: new MiddlewareFailures(silentLogger, metrics), limits: LimitTable.create() };
}

function compiled(name: string, annotations: Record<string, string> = {}): CompiledRoute {
  const store = new ObjectStore();
  store.upsert('EndpointSlice', slice('ns', 'svc', [endpoint('10.0.0.1'), endpoint('10.0.0.2'), endpoint('10.0.0.3')]));
  return compileRoute(routeCandidate(route('ns', name, { host: `${name}.example.com` }, { annotations }), config()), store, config(), newDeps()).route;
}

test('no balancer or plugin chain until the first request asks for one; members at once', (t) => {
  const d = deps();
  const before = queryObjects(RouteChain, { format: 'count' });
  const runtimes = Array.from({ length: 50 }, (_, i) => new RouteRuntime(compiled(`r${i}`), d, undefined));
  t.is(queryObjects(RouteChain, { format: 'count' }) - before, 0, 'no chain made by the table change');
  t.is(runtimes[0]!.members.length, 3, 'members acquired at once (the health checks follow them)');
  t.is(d.registry.size, 3);
  for (const r of runtimes) t.true(r.chain instanceof RouteChain);
  t.is(queryObjects(RouteChain, { format: 'count' }) - before, 50, 'one chain per runtime asked');
  t.is(runtimes[0]!.chain, runtimes[0]!.chain, 'made once');
});

test('the balancer rotation is taken over from a previous runtime that served', (t) => {
  const d = deps();
  const r = compiled('rr', { 'haproxy.router.openshift.io/balance': 'roundrobin' });
  const served = new RouteRuntime(r, d, undefined);
  const twin = new RouteRuntime(r, d, undefined);
  served.balancer.pick('1.1.1.1', 0);
  twin.balancer.pick('1.1.1.1', 0);
  const successor = new RouteRuntime(r, d, served);
  t.is(successor.balancer.pick('1.1.1.1', 0)!.endpoint.id, twin.balancer.pick('1.1.1.1', 0)!.endpoint.id);
});

test('a Middleware plugin is created when the route is applied, and kept by its successor', (t) => {
  const d = deps();
  const r = { ...compiled('mw'), middlewares: [{ name: 'ns/m', plugin: 'counting', config: {}, version: 'v1' }] };
  created = 0;
  const first = new RouteRuntime(r, d, undefined);
  t.is(created, 1, 'created before any request');
  new RouteRuntime(r, d, first);
  t.is(created, 1, 'the successor took the instance over');
});

test('routes that do not reencrypt share one empty pool map', (t) => {
  const d = deps();
  const a = new RouteRuntime(compiled('a'), d, undefined);
  const b = new RouteRuntime(compiled('b'), d, undefined);
  t.is(a.tlsPools, b.tlsPools);
  t.is(a.tlsPools.size, 0);
});

test('routes with the same policies share the links (and single-link phase lists) of shared plugin instances; their own stay their own', (t) => {
  const d = deps();
  const a = new RouteRuntime(compiled('a'), d, undefined).chain;
  const b = new RouteRuntime(compiled('b'), d, undefined).chain;
  t.deepEqual(a.names(), ['forwarded-headers', 'sticky-cookie', 'balancer', 'upstream-retry']);
  t.deepEqual(b.names(), a.names());
  t.is(a.links[0], b.links[0], 'forwarded-headers: one instance per policy, one link');
  t.is(a.links[3], b.links[3], 'upstream-retry: one instance, one link');
  t.is(a.upstreamRequest, b.upstreamRequest, 'the upstreamRequest list (forwarded-headers only) is one list');
  t.is(a.failure, b.failure);
  t.not(a.links[1], b.links[1], 'stickiness has the route\'s cookie name');
  t.not(a.links[2], b.links[2], 'the balancer is the route\'s');
  t.not(a.selectEndpoint, b.selectEndpoint);
  t.not(a.response, b.response, 'a list whose only link is the route\'s own is its own');
  // Another policy is another instance, and another link.
  const never = new RouteRuntime(compiled('c', { 'haproxy.router.openshift.io/set-forwarded-headers': 'never' }), d, undefined).chain;
  t.not(never.links[0], a.links[0]);
  t.not(never.links[0]!.phases, a.links[0]!.phases);
});
