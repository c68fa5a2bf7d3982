// End to end: Ingress rules without `host` (Kubernetes: they apply to every Host). A real
// router process serving a file, real backends, real HTTP and HTTPS clients. Matching order:
// exact host → wildcard one label up → rules without host (by path) → spec.defaultBackend → 404.
import test from 'ava';
import { writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AdmissionResult } from '../../src/table/types.ts';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { startBackend, serviceYaml, routeYaml, type Backend } from '../support/backends.ts';
import { request, eventually } from '../support/http-client.ts';

let router: RouterProcess;
let file: string;
const backends: Record<string, Backend> = {};

interface Path { path: string; pathType: 'Exact' | 'Prefix'; service: string }

function ingressDoc(ns: string, name: string, second: number, options: { host?: string; paths?: Path[]; defaultService?: string; className?: string }): string {
  const backend = (service: string) => `{ service: { name: ${service}, port: { name: http } } }`;
  const lines = [
    'apiVersion: networking.k8s.io/v1',
    'kind: Ingress',
    `metadata: { name: ${name}, namespace: ${ns}, creationTimestamp: "2024-01-01T00:00:0${second}Z" }`,
    'spec:',
    `  ingressClassName: ${options.className ?? 'switchyard'}`,
  ];
  if (options.defaultService) lines.push(`  defaultBackend: ${backend(options.defaultService)}`);
  if (options.paths) {
    lines.push('  rules:', options.host ? `    - host: "${options.host}"` : '    -', '      http:', '        paths:');
    for (const p of options.paths) lines.push(`          - { path: ${p.path}, pathType: ${p.pathType}, backend: ${backend(p.service)} }`);
  }
  return lines.join('\n');
}

function services(): string[] {
  return [
    serviceYaml('svc-a', [backends.a!.port], { namespace: 'team-a' }),
    serviceYaml('svc-c', [backends.c!.port], { namespace: 'team-a' }),
    serviceYaml('svc-f', [backends.f!.port], { namespace: 'team-a' }),
    serviceYaml('svc-b', [backends.b!.port], { namespace: 'team-b' }),
    serviceYaml('svc-d', [backends.d!.port], { namespace: 'team-b' }),
    serviceYaml('svc-g', [backends.g!.port], { namespace: 'team-b' }),
    serviceYaml('svc-e', [backends.e!.port]),
  ];
}

function objects(options: { withOld: boolean; withDefault: boolean }): string {
  return [
    ...services(),
    ...(options.withOld ? [ingressDoc('team-a', 'catch-old', 1, { paths: [{ path: '/api', pathType: 'Prefix', service: 'svc-a' }, { path: '/exact', pathType: 'Exact', service: 'svc-c' }] })] : []),
    // Same path and pathType as catch-old from another namespace: the younger is rejected.
    ingressDoc('team-b', 'catch-young', 2, { paths: [{ path: '/api', pathType: 'Prefix', service: 'svc-b' }] }),
    // Other paths, or the same path with another pathType, coexist across namespaces.
    ingressDoc('team-b', 'catch-other', 3, { paths: [{ path: '/web', pathType: 'Prefix', service: 'svc-d' }, { path: '/exact', pathType: 'Prefix', service: 'svc-d' }] }),
    ingressDoc('team-b', 'wild', 4, { host: '*.wild.example.com', paths: [{ path: '/api', pathType: 'Prefix', service: 'svc-g' }] }),
    ingressDoc('team-b', 'nginx-catch', 5, { className: 'nginx', paths: [{ path: '/nginx', pathType: 'Prefix', service: 'svc-d' }] }),
    ...(options.withDefault ? [ingressDoc('team-a', 'fallback', 6, { defaultService: 'svc-f' })] : []),
    routeYaml('www', 'www.example.com', 'svc-e', { path: '/only' }),
    routeYaml('api', 'api.example.com', 'svc-e'),
  ].join('\n---\n');
}

test.before(async () => {
  for (const name of ['a', 'b', 'c', 'd', 'e', 'f', 'g']) backends[name] = await startBackend(name);
  file = writeTempFile(objects({ withOld: true, withDefault: true }));
  // --allowed-domains: rules without host have no domain to check and are admitted anyway.
  router = await startRouter({ args: ['--file', file, '--allow-wildcard-routes', '--allowed-domains', 'example.com'] });
});

test.after.always(async () => {
  await router?.stop();
  await Promise.all(Object.values(backends).map((b) => b.close()));
});

async function backendFor(host: string, path: string): Promise<string> {
  const reply = await request(router.http, { host, path });
  return reply.status === 200 ? String(reply.headers['x-backend']) : `status ${reply.status}`;
}

function httpsBackendFor(serverName: string, host: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: router.https, path, servername: serverName, headers: { host }, rejectUnauthorized: false, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? String(res.headers['x-backend']) : `status ${res.statusCode}`));
    });
    req.setTimeout(5000, () => req.destroy(new Error('https request timed out')));
    req.on('error', reject);
    req.end();
  });
}

interface DebugRoutes { hosts: Array<{ host: string; routes: Array<{ key: string; host: string; path: string; match: string; tls: unknown }> }>; admission: AdmissionResult[] }

async function debugRoutes(): Promise<DebugRoutes> {
  return (await request(router.admin, { path: '/debug/routes' })).json() as DebugRoutes;
}

test.serial('rules without host serve any Host by path: longest match, Exact beats Prefix on a tie', async (t) => {
  t.is(await backendFor('anything.test', '/api'), 'a');
  t.is(await backendFor('10.1.2.3:8080', '/api/v1?x=1'), 'a');
  t.is(await backendFor('other.example.org', '/web/page'), 'd');
  t.is(await backendFor('x', '/exact'), 'c');
  t.is(await backendFor('x', '/exact/below'), 'd');
  t.is(await backendFor('x', '/apix'), 'f', 'Prefix matches by path element');
});

test.serial('exact host, then the wildcard one label up, then rules without host, then the default backend', async (t) => {
  t.is(await backendFor('api.example.com', '/api'), 'e', 'an exact host wins');
  t.is(await backendFor('www.example.com', '/only/x'), 'e');
  t.is(await backendFor('www.example.com', '/api'), 'status 404', 'a host owned by another namespace: no rule without host, no default backend of others');
  t.is(await backendFor('x.wild.example.com', '/api'), 'g', 'the wildcard wins over rules without host');
  t.is(await backendFor('x.wild.example.com', '/web'), 'd', 'rules without host of the namespace owning the wildcard');
  t.is(await backendFor('x.wild.example.com', '/exact'), 'd', 'team-a\'s Exact /exact is skipped under team-b\'s wildcard');
  t.is(await backendFor('nowhere.test', '/nothing'), 'f', 'spec.defaultBackend serves what nothing else matches');
  t.is(await backendFor('nowhere.test', '/nginx'), 'f', 'an Ingress of another class is not served');
});

test.serial('over HTTPS, rules without host are served with the default certificate, by Host', async (t) => {
  t.is(await httpsBackendFor('anything.test', 'anything.test', '/api'), 'a');
  t.is(await httpsBackendFor('other.example.com', 'other.example.com', '/web'), 'd');
  t.is(await httpsBackendFor('www.example.com', 'www.example.com', '/web'), 'status 404', 'an owned host stays its owner\'s over HTTPS too');
});

test.serial('/debug/routes shows the "*" slot and the conflict; deleting the owner promotes the younger; no default → 404', async (t) => {
  const debug = await debugRoutes();
  const slot = debug.hosts.find((h) => h.host === '*');
  t.truthy(slot, 'the slot of rules without host is listed');
  t.deepEqual(slot!.routes.map((r) => [r.key, r.host, r.path, r.match, r.tls]), [
    ['Ingress/team-a/catch-old/0/1', '', '/exact', 'exact', null],
    ['Ingress/team-b/catch-other/0/1', '', '/exact', 'prefix', null],
    ['Ingress/team-a/catch-old/0/0', '', '/api', 'prefix', null],
    ['Ingress/team-b/catch-other/0/0', '', '/web', 'prefix', null],
  ]);
  const young = debug.admission.find((r) => r.key === 'Ingress/team-b/catch-young')!;
  t.false(young.admitted);
  t.is(young.reason, 'HostAlreadyClaimed');
  t.regex(young.message!, /ingress team-a\/catch-old already serves path "\/api" \(Prefix\) for requests of any host/);
  t.true(debug.admission.find((r) => r.key === 'Ingress/team-b/catch-other')!.admitted);
  t.is(debug.admission.find((r) => r.key === 'Ingress/team-b/nginx-catch'), undefined, 'not our class: no status');

  writeFileSync(file, objects({ withOld: false, withDefault: false }));
  await eventually(async () => (await backendFor('anything.test', '/api')) === 'b', 5000, 25);
  t.is(await backendFor('anything.test', '/exact'), 'd');
  t.is(await backendFor('anything.test', '/nothing'), 'status 404');
  t.true((await debugRoutes()).admission.find((r) => r.key === 'Ingress/team-b/catch-young')!.admitted);
  t.is(router.child.exitCode, null);
});

test('--disable-namespace-ownership-check: rules without host of any namespace serve paths an owned host does not route', async (t) => {
  const own = writeTempFile(objects({ withOld: true, withDefault: true }));
  const open = await startRouter({ args: ['--file', own, '--allow-wildcard-routes', '--disable-namespace-ownership-check'] });
  t.teardown(() => open.stop());
  const reply = await request(open.http, { host: 'x.wild.example.com', path: '/exact' });
  t.is(reply.headers['x-backend'], 'c');
  t.is((await request(open.http, { host: 'www.example.com', path: '/web' })).headers['x-backend'], 'd');
});
