// haproxy.router.openshift.io/rate-limit-connections* per client address, end to end.
import test from 'ava';
import { startRouter, writeTempFile } from '../support/router-process.ts';
import { startBackend, serviceYaml, routeYaml } from '../support/backends.ts';
import { request, eventually, metricsText, metricValue } from '../support/http-client.ts';

const ON = 'haproxy.router.openshift.io/rate-limit-connections';

test('rate-http and concurrent-tcp: over the limit is 429, others unaffected, slots come back', async (t) => {
  const backend = await startBackend('b');
  t.teardown(() => backend.close());
  const file = writeTempFile([
    serviceYaml('b', [backend.port]),
    routeYaml('rate', 'rate.test', 'b', { annotations: { [ON]: 'true', [`${ON}.rate-http`]: '5' } }),
    routeYaml('conc', 'conc.test', 'b', { annotations: { [ON]: 'true', [`${ON}.concurrent-tcp`]: '1' } }),
    routeYaml('off', 'off.test', 'b', { annotations: { [`${ON}.rate-http`]: '1' } }),
  ].join('\n---\n'));
  const router = await startRouter({ args: ['--file', file, '--workers', '0'] });
  t.teardown(() => router.stop());

  const statuses: number[] = [];
  for (let i = 0; i < 7; i++) statuses.push((await request(router.http, { host: 'rate.test' })).status);
  t.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429]);
  const limited = await request(router.http, { host: 'rate.test' });
  t.is(limited.body, 'Too many requests\n');
  // Without rate-limit-connections: "true" the limits do not apply (as OpenShift).
  for (let i = 0; i < 3; i++) t.is((await request(router.http, { host: 'off.test' })).status, 200);

  const slow = request(router.http, { host: 'conc.test', path: '/?delay=800' });
  await eventually(() => backend.requests.some((r) => r.url === '/?delay=800'), 3000);
  t.is((await request(router.http, { host: 'conc.test' })).status, 429);
  t.is((await slow).status, 200);
  t.is((await request(router.http, { host: 'conc.test' })).status, 200, 'the slot came back');
  const text = await metricsText(router.admin);
  t.is(metricValue(text, 'switchyard_http_requests_total', { route: 'default/rate', code_class: '4xx' }), 3);
});
