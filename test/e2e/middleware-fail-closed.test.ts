// Middlewares fail closed (issue 19 item 2): a Route, an Ingress or an HTTPRoute rule whose
// Middleware is missing or invalid keeps its host and path and answers 500
// SY_MIDDLEWARE_INVALID — it never falls through to another route (or rule) of the same host,
// whose backend would then serve `/admin` without the policy. Sent through every way in (plain
// HTTP, Upgrade, HTTP/2), with `--workers 0` and `--workers 2`; status and /debug/routes say why;
// once the Middleware is fixed the route runs it.
import test from 'ava';
import http2 from 'node:http2';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { startBackend, serviceYaml, routeYaml, type Backend } from '../support/backends.ts';
import { eventually, rawExchange, request } from '../support/http-client.ts';
import { freePort } from '../support/ports.ts';
import { createCa, issueCertificate, type TestCertificate } from '../support/certs.ts';

const apiKey = fileURLToPath(new URL('../../examples/plugins/api-key.ts', import.meta.url));
const GW = 'gateway.networking.k8s.io/v1';
const MW = 'switchyard.io/middlewares';

let web: Backend;
let ca: TestCertificate;
let tlsSpec: string;

function middleware(keys: string[]): string {
  return `apiVersion: switchyard.io/v1alpha1\nkind: Middleware\nmetadata: { name: auth, namespace: default }\nspec: { plugin: api-key, config: { keys: ${JSON.stringify(keys)} } }`;
}

function ingressYaml(name: string, host: string, path: string, annotations: Record<string, string> = {}): string {
  return JSON.stringify({
    apiVersion: 'networking.k8s.io/v1', kind: 'Ingress',
    metadata: { name, namespace: 'default', annotations },
    spec: { ingressClassName: 'switchyard', rules: [{ host, http: { paths: [{ path, pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } }] },
  });
}

function objects(gatewayPort: number, keys: string[]): string {
  return [
    serviceYaml('web', [web.port]),
    middleware(keys),
    // Over the size cap (256 KiB of JSON): refused with its size, its route fails closed.
    middleware(Array.from({ length: 12_000 }, (_, i) => `huge-key-${String(i).padStart(16, '0')}`)).replace('name: auth', 'name: huge'),
    routeYaml('huge', 'r.test', 'web', { path: '/huge', annotations: { [MW]: 'huge' }, spec: tlsSpec }),
    JSON.stringify({ apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name: 'switchyard' }, spec: { controller: 'switchyard.io/ingress-controller' } }),
    // Route: /admin behind `auth`, and a catch-all of the same host.
    routeYaml('admin', 'r.test', 'web', { path: '/admin', annotations: { [MW]: 'auth' }, spec: tlsSpec }),
    routeYaml('site', 'r.test', 'web', { spec: tlsSpec }),
    routeYaml('ghost', 'r.test', 'web', { path: '/ghost', annotations: { [MW]: 'missing' }, spec: tlsSpec }),
    // Ingress: the same, as two Ingresses of one namespace.
    ingressYaml('ing-admin', 'i.test', '/admin', { [MW]: 'auth' }),
    ingressYaml('ing-site', 'i.test', '/'),
    // HTTPRoute: a rule /admin with an ExtensionRef, and a catch-all rule.
    JSON.stringify({ apiVersion: GW, kind: 'GatewayClass', metadata: { name: 'sy' }, spec: { controllerName: 'switchyard.io/gateway-controller' } }),
    JSON.stringify({ apiVersion: GW, kind: 'Gateway', metadata: { name: 'edge', namespace: 'default' }, spec: { gatewayClassName: 'sy', listeners: [{ name: 'http', protocol: 'HTTP', port: gatewayPort }] } }),
    JSON.stringify({
      apiVersion: GW, kind: 'HTTPRoute', metadata: { name: 'hr', namespace: 'default' },
      spec: {
        parentRefs: [{ name: 'edge' }], hostnames: ['h.test'],
        rules: [
          { matches: [{ path: { type: 'PathPrefix', value: '/admin' } }], filters: [{ type: 'ExtensionRef', extensionRef: { group: 'switchyard.io', kind: 'Middleware', name: 'auth' } }], backendRefs: [{ name: 'web', port: 80 }] },
          { backendRefs: [{ name: 'web', port: 80 }] },
        ],
      },
    }),
  ].join('\n---\n');
}

interface Setup { router: RouterProcess; file: string; gatewayPort: number }
const setups: Record<string, Setup> = {};

test.before(async () => {
  web = await startBackend('web', { websocket: true });
  ca = await createCa('fail-closed CA');
  const cert = await issueCertificate(ca, ['r.test']);
  tlsSpec = `  tls: ${JSON.stringify({ termination: 'edge', certificate: cert.cert, key: cert.key, insecureEdgeTerminationPolicy: 'Allow' })}`;
  await Promise.all((['w0', 'w2'] as const).map(async (w) => {
    const gatewayPort = await freePort();
    // `auth` starts invalid: keys must be at least 8 characters.
    const file = writeTempFile(objects(gatewayPort, ['short']));
    // The Gateway's listener is the router's HTTP port.
    const router = await startRouter({ args: ['--file', file, '--workers', w === 'w0' ? '0' : '2', '--http-port', String(gatewayPort), '--plugin', path.resolve(apiKey)] });
    setups[w] = { router, file, gatewayPort };
  }));
});

test.after.always(async () => {
  await Promise.all(Object.values(setups).map((s) => s.router.stop()));
  await web?.close();
});

function reachedBackend(prefix: string): string[] {
  return web.requests.map((r) => r.url).filter((u) => u.startsWith(prefix));
}

function h2get(router: RouterProcess, path: string): Promise<{ status: number; code: unknown }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`https://127.0.0.1:${router.https}`, { ca: ca.cert, servername: 'r.test' });
    session.on('error', reject);
    const stream = session.request({ ':path': path, ':authority': 'r.test' }, { endStream: true });
    stream.on('response', (h) => { resolve({ status: Number(h[':status']), code: h['x-switchyard-error'] }); session.close(); });
    stream.on('error', reject);
    stream.resume();
  });
}

for (const w of ['w0', 'w2'] as const) {
  const label = w === 'w0' ? '--workers 0' : '--workers 2';

  test.serial(`${label}: an invalid or missing Middleware answers 500 on its path through every way in, never the catch-all`, async (t) => {
    const { router, gatewayPort } = setups[w]!;
    const tag = `/admin/${w}`;
    for (const [port, host] of [[router.http, 'r.test'], [router.http, 'i.test'], [gatewayPort, 'h.test']] as const) {
      const reply = await request(port, { host, path: `${tag}/plain` });
      t.is(reply.status, 500, `${host} plain`);
      t.is(reply.headers['x-switchyard-error'], 'SY_MIDDLEWARE_INVALID', host);
      const upgrade = await rawExchange(port, `GET ${tag}/ws HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`);
      t.regex(upgrade, /^HTTP\/1\.1 500 [^]*X-Switchyard-Error: SY_MIDDLEWARE_INVALID/i, `${host} upgrade`);
    }
    t.like(await h2get(router, `${tag}/h2`), { status: 500, code: 'SY_MIDDLEWARE_INVALID' });
    const ghost = await request(router.http, { host: 'r.test', path: '/ghost/x' });
    t.is(ghost.status, 500, 'a missing Middleware too');
    t.is((await request(router.http, { host: 'r.test', path: '/huge/x' })).status, 500, 'a config over the size cap too');
    t.deepEqual(reachedBackend('/huge'), []);
    t.deepEqual(reachedBackend(tag), [], 'nothing under /admin reached the backend');
    t.deepEqual(reachedBackend('/ghost'), []);
    // The rest of each host is served.
    t.is((await request(router.http, { host: 'r.test', path: '/public' })).status, 200);
    t.is((await request(router.http, { host: 'i.test', path: '/public' })).status, 200);
    t.is((await request(gatewayPort, { host: 'h.test', path: '/public' })).status, 200);
  });

  test.serial(`${label}: status and /debug/routes say why`, async (t) => {
    const { router } = setups[w]!;
    const debug = (await request(router.admin, { path: '/debug/routes' })).json<any>();
    const admission = new Map<string, any>(debug.admission.map((a: any) => [a.key, a]));
    for (const key of ['Route/default/admin', 'Ingress/default/ing-admin']) {
      t.like(admission.get(key), { admitted: false, reason: 'InvalidMiddleware' }, key);
      t.regex(admission.get(key).message, /middleware "default\/auth": spec\.config\.keys\[0\].*answers 500 SY_MIDDLEWARE_INVALID/, key);
    }
    t.regex(admission.get('Route/default/ghost').message, /"default\/missing" not found/);
    t.regex(admission.get('Route/default/huge').message, /middleware "default\/huge": spec\.config is \d+ bytes of JSON, more than the 262144 a Middleware config may have/);
    t.like(admission.get('Route/default/site'), { admitted: true });
    const served = debug.hosts.flatMap((h: any) => h.routes).find((r: any) => r.key === 'Route/default/admin');
    t.regex(served.middlewareError, /spec\.config\.keys\[0\]/, 'the compiled route keeps its path and says why');
    const hr = debug.gatewayAPI.routes.find((r: any) => r.name === 'hr');
    const conditions = hr.parents[0].conditions;
    t.like(conditions.find((c: any) => c.type === 'Accepted'), { status: 'True' });
    const resolved = conditions.find((c: any) => c.type === 'ResolvedRefs');
    t.like(resolved, { status: 'False', reason: 'InvalidMiddleware' });
    t.regex(resolved.message, /default\/auth/);
  });
}

test.serial('once the Middleware is fixed, the routes run it (both routers)', async (t) => {
  for (const w of ['w0', 'w2'] as const) {
    const { router, file, gatewayPort } = setups[w]!;
    writeFileSync(file, objects(gatewayPort, ['fixed-key-1']));
    for (const [port, host] of [[router.http, 'r.test'], [router.http, 'i.test'], [gatewayPort, 'h.test']] as const) {
      await eventually(async () => (await request(port, { host, path: '/admin/fixed' })).status === 401, 10_000);
      const ok = await request(port, { host, path: '/admin/fixed', headers: { 'x-api-key': 'fixed-key-1' } });
      t.is(ok.status, 200, `${w} ${host}`);
    }
    const debug = (await request(router.admin, { path: '/debug/routes' })).json<any>();
    t.like(debug.admission.find((a: any) => a.key === 'Route/default/admin'), { admitted: true });
  }
});
