// Tenants cannot take another namespace's host: the oldest route's namespace owns it, newer
// routes from other namespaces are rejected with HostAlreadyClaimed — even for a more specific
// path or through a wildcard — unless --disable-namespace-ownership-check allows other paths.
import test from 'ava';
import { startRouter, writeTempFile } from '../support/router-process.ts';
import { startBackend, serviceYaml } from '../support/backends.ts';
import { request } from '../support/http-client.ts';

function route(ns: string, name: string, host: string, service: string, created: string, extra = ''): string {
  return `apiVersion: route.openshift.io/v1
kind: Route
metadata: { name: ${name}, namespace: ${ns}, creationTimestamp: "${created}" }
spec:
  host: ${host}
  to: { kind: Service, name: ${service} }${extra}`;
}

async function setup(t: import('ava').ExecutionContext, args: string[]) {
  const owner = await startBackend('owner');
  const intruder = await startBackend('intruder');
  t.teardown(async () => { await owner.close(); await intruder.close(); });
  const file = writeTempFile([
    serviceYaml('app', [owner.port], { namespace: 'team-a' }),
    serviceYaml('app', [intruder.port], { namespace: 'team-b' }),
    route('team-a', 'shop', 'shop.example.com', 'app', '2026-01-01T00:00:00Z'),
    route('team-b', 'steal', 'shop.example.com', 'app', '2026-02-01T00:00:00Z'),
    route('team-b', 'steal-admin', 'shop.example.com', 'app', '2026-02-01T00:00:01Z', '\n  path: /admin'),
    route('team-b', 'steal-wild', 'www.example.com', 'app', '2026-02-01T00:00:02Z', '\n  wildcardPolicy: Subdomain'),
  ].join('\n---\n'));
  const router = await startRouter({ args: ['--file', file, '--allow-wildcard-routes', ...args] });
  t.teardown(() => router.stop());
  const admission = (await request(router.admin, { path: '/debug/routes' })).json<{ admission: Array<{ key: string; admitted: boolean; reason?: string }> }>().admission;
  const byKey = (key: string) => admission.find((r) => r.key === key);
  return { router, byKey };
}

test('by default another namespace gets nothing on an owned host or its domain', async (t) => {
  const { router, byKey } = await setup(t, []);
  for (const path of ['/', '/admin', '/admin/users']) {
    t.is((await request(router.http, { host: 'shop.example.com', path })).headers['x-backend'], 'owner', path);
  }
  t.is(byKey('Route/team-b/steal')?.reason, 'HostAlreadyClaimed');
  t.is(byKey('Route/team-b/steal-admin')?.reason, 'HostAlreadyClaimed');
  t.is(byKey('Route/team-b/steal-wild')?.reason, 'HostAlreadyClaimed');
  t.is(byKey('Route/team-a/shop')?.admitted, true);
});

test('--disable-namespace-ownership-check: other paths may be shared, the same path still may not', async (t) => {
  const { router, byKey } = await setup(t, ['--disable-namespace-ownership-check']);
  t.is((await request(router.http, { host: 'shop.example.com', path: '/' })).headers['x-backend'], 'owner');
  t.is((await request(router.http, { host: 'shop.example.com', path: '/admin' })).headers['x-backend'], 'intruder');
  t.is(byKey('Route/team-b/steal')?.reason, 'HostAlreadyClaimed');
  t.is(byKey('Route/team-b/steal-admin')?.admitted, true);
});
