// A plugin need not have switchyard installed beside it: a lone `.ts` file next to the routes
// file (no package.json, no node_modules) and a `.js` module in a folder of its own both import
// `switchyard` and get the router that loads them.
import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CLI, startRouter, type RouterProcess } from '../support/router-process.ts';
import { runCommand } from '../support/run-command.ts';
import { startBackend, serviceYaml, routeYaml, type Backend } from '../support/backends.ts';
import { request } from '../support/http-client.ts';

const PLUGIN = (name: string, header: string) => `
import { definePlugin, Type } from 'switchyard';

export default definePlugin({
  name: '${name}',
  config: Type.Object({ value: Type.String({ default: '${name}' }) }),
  create(config) {
    return { response(ctx) { ctx.responseHeaders!['${header}'] = config.value; } };
  },
});
`;

let backend: Backend;
let router: RouterProcess;

test.before(async () => {
  backend = await startBackend('app');
  // Outside the repository: nothing named switchyard on the way up from here.
  const dir = mkdtempSync(path.join(tmpdir(), 'sy-lone-plugin-'));
  writeFileSync(path.join(dir, 'lone.ts'), PLUGIN('lone', 'x-lone'));
  const pkg = mkdtempSync(path.join(tmpdir(), 'sy-js-plugin-'));
  writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'js-plugin', type: 'module' }));
  writeFileSync(path.join(pkg, 'plugin.js'), PLUGIN('js', 'x-js').replace('ctx.responseHeaders!', 'ctx.responseHeaders'));
  const routes = path.join(dir, 'routes.yaml');
  writeFileSync(routes, [
    serviceYaml('app', [backend.port]),
    `apiVersion: switchyard.io/v1alpha1
kind: Middleware
metadata: { name: lone, namespace: default }
spec: { plugin: lone }`,
    `apiVersion: switchyard.io/v1alpha1
kind: Middleware
metadata: { name: js, namespace: default }
spec: { plugin: js, config: { value: configured } }`,
    routeYaml('app', 'app.test', 'app', { annotations: { 'switchyard.io/middlewares': 'lone, js' } }),
  ].join('\n---\n'));
  // Relative to the routes file's folder, as an operator would run it there.
  router = await startRouter({ args: ['--file', routes, '--plugin', './lone.ts', '--plugin', path.join(pkg, 'plugin.js')], cwd: dir });
});

test.after.always(async () => {
  await router?.stop();
  await backend?.close();
});

test('both plugins loaded and ran: their import of switchyard resolved to the router', async (t) => {
  const reply = await request(router.http, { host: 'app.test' });
  t.is(reply.status, 200);
  t.is(reply.headers['x-lone'], 'lone');
  t.is(reply.headers['x-js'], 'configured');
});

test('a .ts plugin beside a package.json of "type": "commonjs" (what npm init writes) is refused with the fix, not Node\'s bare syntax error', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sy-cjs-plugin-'));
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'my-plugin', type: 'commonjs' }));
  writeFileSync(path.join(dir, 'stamp.ts'), PLUGIN('stamp', 'x-stamp'));
  writeFileSync(path.join(dir, 'routes.yaml'), serviceYaml('app', [backend.port]));
  const run = await runCommand(process.execPath, [CLI, 'run', '--file', 'routes.yaml', '--plugin', './stamp.ts', '--bind', '127.0.0.1', '--http-port', '0', '--https-port', '0', '--admin-port', '0'], { cwd: dir, timeoutMs: 60_000 });
  t.not(run.status, 0);
  t.true(run.stderr.includes(`plugin ./stamp.ts: cannot load: Cannot use import statement outside a module (${path.join(dir, 'package.json')} has "type": "commonjs", so Node reads stamp.ts as CommonJS: set "type": "module" there, or name the file .mts)`), run.stderr);
});
