// The health service follows table deltas (not a proxy's runtimes): probes start for routes with
// a health check, survive a rebuild of their host entry, and stop when the route goes.
import test from 'ava';
import { HealthService } from '../../src/health/health-service.ts';
import { createLogger } from '../../src/log.ts';
import type { CompiledRoute, HealthCheckSpec } from '../../src/table/types.ts';

const check: HealthCheckSpec = { type: 'tcp', intervalMs: 60_000, timeoutMs: 1000, rise: 2, fall: 3 };

function route(key: string, ports: number[], withCheck = true): CompiledRoute {
  return {
    key, kind: 'Route', namespace: 'ns', name: key, host: `${key}.test`, wildcard: false, path: '', match: 'route', tls: null,
    annotations: {}, middlewares: [],
    services: [{ name: 'ns/s', weight: 1, endpoints: ports.map((port) => ({ id: `id-${port}`, address: '127.0.0.1', port, weight: 1, acceptsNew: true })) }],
    policy: {
      balance: 'random', connectTimeoutMs: 1000, serverTimeoutMs: 1000, tunnelTimeoutMs: 1000, healthCheck: withCheck ? check : null, traceSampling: 'default',
    },
    plugins: [],
  };
}

test('probes follow the deltas: start, survive a rebuild, stop on removal', (t) => {
  const health = new HealthService({ logger: createLogger('silent') });
  t.teardown(() => health.stop());
  health.apply({ version: 1, upsert: [{ key: 'a.test', routes: [route('a', [1001, 1002])] }, { key: 'b.test', routes: [route('b', [1003], false)] }], remove: [] });
  t.is(health.probes, 2);
  const first = health.registry.get('id-1001');
  health.apply({ version: 2, upsert: [{ key: 'a.test', routes: [route('a', [1001, 1002, 1004])] }], remove: [] });
  t.is(health.probes, 3);
  t.is(health.registry.get('id-1001'), first, 'a kept endpoint keeps its state (and its probe)');
  health.apply({ version: 3, upsert: [], remove: ['a.test'], defaultBackend: route('d', [1005]) });
  t.is(health.probes, 1);
  t.is(health.registry.get('id-1001'), undefined);
  health.apply({ version: 4, upsert: [], remove: [], defaultBackend: null });
  t.is(health.probes, 0);
});

test('a host whose routes check differently, or not at all, watches each endpoint with its own route check and lets go of all of them', (t) => {
  const health = new HealthService({ logger: createLogger('silent') });
  t.teardown(() => health.stop());
  const http: HealthCheckSpec = { type: 'http', path: '/healthz', intervalMs: 60_000, timeoutMs: 1000, rise: 1, fall: 1 };
  const other = { ...route('b', [2002, 2003]), policy: { ...route('b', []).policy, healthCheck: http } };
  // Equal checks as distinct objects count as differing here: both are watched and both go.
  const same = { ...route('c', [2004]), policy: { ...route('c', []).policy, healthCheck: { ...check } } };
  health.apply({ version: 1, upsert: [{ key: 'x.test', routes: [route('a', [2001, 2002]), other, route('n', [2005], false), same] }], remove: [] });
  t.is(health.probes, 5, 'tcp on 2001, 2002 and 2004 (one loop each), http on 2002 and 2003');
  t.truthy(health.registry.get('id-2002'));
  t.is(health.registry.get('id-2005'), undefined, 'a route without a check watches nothing');
  health.apply({ version: 2, upsert: [{ key: 'x.test', routes: [route('a', [2001])] }], remove: [] });
  t.is(health.probes, 1);
  t.is(health.registry.get('id-2003'), undefined);
  health.apply({ version: 3, upsert: [], remove: ['x.test'] });
  t.is(health.probes, 0);
  t.is(health.registry.size, 0);
});
