// HTTPRoute ExtensionRef filters naming switchyard.io Middlewares: the plugin runs in the rule's
// chain like one named in a Route's switchyard.io/middlewares annotation; a Middleware that does
// not resolve makes its rule answer 500 (never skipped) and says why in the route's status. The router runs two
// worker threads here: compiled HTTPRoute data (conditions, filters, Middlewares) crosses to them in messages.
import test from 'ava';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { startBackend, serviceYaml, type Backend } from '../support/backends.ts';
import { request } from '../support/http-client.ts';
import { freePort } from '../support/ports.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const GW = 'gateway.networking.k8s.io/v1';

let router: RouterProcess;
let backend: Backend;
let httpPort: number;

function httpRoute(name: string, host: string, middleware: string): string {
  return JSON.stringify({
    apiVersion: GW, kind: 'HTTPRoute', metadata: { name, namespace: 'apps' },
    spec: {
      parentRefs: [{ name: 'edge' }], hostnames: [host],
      rules: [
        { matches: [{ path: { type: 'PathPrefix', value: '/open' } }], backendRefs: [{ name: 'web', port: 80 }] },
        { filters: [{ type: 'ExtensionRef', extensionRef: { group: 'switchyard.io', kind: 'Middleware', name: middleware } }], backendRefs: [{ name: 'web', port: 80 }] },
      ],
    },
  });
}

test.before(async () => {
  backend = await startBackend('web');
  httpPort = await freePort();
  const file = writeTempFile([
    serviceYaml('web', [backend.port], { namespace: 'apps' }),
    'apiVersion: switchyard.io/v1alpha1\nkind: Middleware\nmetadata: { name: auth, namespace: apps }\nspec: { plugin: api-key, config: { keys: ["gateway-key-1"] } }',
    JSON.stringify({ apiVersion: GW, kind: 'GatewayClass', metadata: { name: 'sy' }, spec: { controllerName: 'switchyard.io/gateway-controller' } }),
    JSON.stringify({ apiVersion: GW, kind: 'Gateway', metadata: { name: 'edge', namespace: 'apps' }, spec: { gatewayClassName: 'sy', listeners: [{ name: 'http', protocol: 'HTTP', port: httpPort }] } }),
    httpRoute('guarded', 'guarded.test', 'auth'),
    httpRoute('ghost', 'ghost.test', 'missing'),
  ].join('\n---\n'));
  router = await startRouter({ args: ['--workers', '2', '--file', file, '--http-port', String(httpPort), '--plugin', path.join(root, 'examples/plugins/api-key.ts')] });
});

test.after.always(async () => {
  await router?.stop();
  await backend?.close();
});

test('a rule with an ExtensionRef Middleware runs its plugin; the route\'s other rules do not', async (t) => {
  t.is((await request(httpPort, { host: 'guarded.test', path: '/private' })).status, 401);
  const allowed = await request(httpPort, { host: 'guarded.test', path: '/private', headers: { 'x-api-key': 'gateway-key-1' } });
  t.is(allowed.status, 200);
  t.is(allowed.json<{ headers: Record<string, string | undefined> }>().headers['x-api-key'], undefined, 'the key never reaches the backend');
  t.is((await request(httpPort, { host: 'guarded.test', path: '/open' })).status, 200);
});

test('an ExtensionRef to a Middleware that does not exist: that rule answers 500 and the route status says why', async (t) => {
  const failing = await request(httpPort, { host: 'ghost.test', path: '/private' });
  t.is(failing.status, 500);
  t.is(failing.headers['x-switchyard-error'], 'SY_MIDDLEWARE_INVALID');
  const status = (await request(router.admin, { path: '/debug/routes' })).json<any>().gatewayAPI;
  const conditions = status.routes.find((r: any) => r.name === 'ghost').parents[0].conditions;
  t.like(conditions.find((c: any) => c.type === 'Accepted'), { status: 'True' }, 'the /open rule is still served');
  const resolved = conditions.find((c: any) => c.type === 'ResolvedRefs');
  t.like(resolved, { status: 'False', reason: 'InvalidMiddleware' });
  t.regex(resolved.message, /middleware "apps\/missing" not found/);
  t.is((await request(httpPort, { host: 'ghost.test', path: '/open' })).status, 200);
});
