// Route spec.httpHeaders.actions end to end: request headers set/deleted before the endpoint,
// response headers set/deleted before the client; invalid actions reject the route with a reason.
import test from 'ava';
import { startRouter, writeTempFile } from '../support/router-process.ts';
import { startBackend, serviceYaml, routeYaml } from '../support/backends.ts';
import { request } from '../support/http-client.ts';

test('set and delete request and response headers; forbidden headers are rejected', async (t) => {
  const backend = await startBackend('b', {
    handler: (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', server: 'backend/1.0', 'x-powered-by': 'php' });
      res.end(JSON.stringify({ headers: req.headers }));
      return true;
    },
  });
  t.teardown(() => backend.close());
  const file = writeTempFile([
    serviceYaml('b', [backend.port]),
    routeYaml('hdr', 'hdr.test', 'b', { spec: `  httpHeaders:
    actions:
      request:
        - { name: X-Env, action: { type: Set, set: { value: prod } } }
        - { name: X-Debug, action: { type: Delete } }
        - { name: X-Original-Host, action: { type: Set, set: { value: "%[req.hdr(Host),lower]" } } }
      response:
        - { name: X-Frame-Options, action: { type: Set, set: { value: SAMEORIGIN } } }
        - { name: X-Powered-By, action: { type: Delete } }
        - { name: X-Upstream-Server, action: { type: Set, set: { value: "was %[res.hdr(Server)]" } } }` }),
    routeYaml('bad', 'bad.test', 'b', { spec: `  httpHeaders:
    actions:
      response:
        - { name: Set-Cookie, action: { type: Delete } }` }),
  ].join('\n---\n'));
  const router = await startRouter({ args: ['--file', file, '--workers', '0'] });
  t.teardown(() => router.stop());

  const reply = await request(router.http, { host: 'HDR.test', headers: { 'x-debug': '1', 'x-env': 'client' } });
  t.is(reply.status, 200);
  const upstream = reply.json<{ headers: Record<string, string | undefined> }>().headers;
  t.is(upstream['x-env'], 'prod');
  t.is(upstream['x-debug'], undefined);
  t.is(upstream['x-original-host'], 'hdr.test');
  t.is(reply.headers['x-frame-options'], 'SAMEORIGIN');
  t.is(reply.headers['x-powered-by'], undefined);
  t.is(reply.headers['x-upstream-server'], 'was backend/1.0');

  t.is((await request(router.http, { host: 'bad.test' })).status, 404);
  const debug = (await request(router.admin, { path: '/debug/routes' })).json<{ admission: Array<{ key: string; admitted: boolean; reason?: string; message?: string }> }>();
  const bad = debug.admission.find((r) => r.key === 'Route/default/bad');
  t.is(bad?.admitted, false);
  t.is(bad?.reason, 'RouteNotAdmitted');
  t.regex(bad?.message ?? '', /Set-Cookie/);
});
