// switchyard as a library: an embedded router fed by the in-memory source, with a plugin
// object passed in by the program; and the npm package installed into an empty folder,
// imported by a TypeScript file that type-checks.
import test from 'ava';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRouter, definePlugin, MemorySource, Type } from 'switchyard';
import { startBackend } from '../support/backends.ts';
import { request, eventually } from '../support/http-client.ts';
import { runCommand, type CommandOptions } from '../support/run-command.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));

const stamp = definePlugin({
  name: 'stamp',
  config: Type.Object({ value: Type.String() }),
  create: (config) => ({ response(ctx) { ctx.responseHeaders!['x-stamp'] = config.value; } }),
});

function service(name: string, port: number): unknown[] {
  return [
    { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'demo' }, spec: { ports: [{ name: 'http', port: 80 }] } },
    {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4',
      metadata: { name: `${name}-1`, namespace: 'demo', labels: { 'kubernetes.io/service-name': name } },
      ports: [{ name: 'http', port }], endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
    },
  ];
}

function route(name: string, host: string, annotations: Record<string, string> = {}): unknown {
  return { apiVersion: 'route.openshift.io/v1', kind: 'Route', metadata: { name, namespace: 'demo', annotations }, spec: { host, to: { kind: 'Service', name: 'web' } } };
}

test('embedded router: in-memory source, a plugin object, live changes, inspect, stop', async (t) => {
  const backend = await startBackend('web');
  t.teardown(() => backend.close());
  const source = new MemorySource([...service('web', backend.port), route('home', 'home.test')]);
  const router = createRouter({
    config: { bind: '127.0.0.1', adminBind: '127.0.0.1', httpPort: 0, httpsPort: 0, adminPort: 0, logLevel: 'silent' },
    sources: [source],
    plugins: [stamp],
  });
  const ports = await router.start();
  t.teardown(() => router.stop(true));
  t.is((await request(ports.http, { host: 'home.test' })).status, 200);

  source.apply({ apiVersion: 'switchyard.io/v1alpha1', kind: 'Middleware', metadata: { name: 'stamp', namespace: 'demo' }, spec: { plugin: 'stamp', config: { value: 'v1' } } });
  source.apply(route('stamped', 'stamped.test', { 'switchyard.io/middlewares': 'stamp' }));
  const reply = await eventually(async () => { const r = await request(ports.http, { host: 'stamped.test' }); return r.status === 200 ? r : null; }, 3000);
  t.is(reply!.headers['x-stamp'], 'v1');

  const table = router.inspect();
  t.deepEqual(table.hosts.map((h) => h.host).sort(), ['home.test', 'stamped.test']);
  const [compiled] = table.hosts.find((h) => h.host === 'stamped.test')!.routes[0]!.middlewares;
  t.like(compiled, { name: 'demo/stamp', plugin: 'stamp' });
  t.is(typeof compiled!.version, 'string', 'the config identity');
  t.true(table.admission.every((a) => a.admitted));

  source.apply(route('bad', 'bad.test', { 'switchyard.io/middlewares': 'nope' }));
  t.like(router.inspect().admission.find((a) => a.name === 'bad'), { admitted: false, reason: 'InvalidMiddleware' });
  t.throws(() => source.apply({ apiVersion: 'v1', kind: 'Service', metadata: {} }), { message: /memory source/ });

  source.delete('Route', 'demo', 'home');
  t.is((await request(ports.http, { host: 'home.test' })).status, 404);
});

/** Runs a command (without blocking the embedded router's test beside it); its stdout, or throws with its output. */
async function mustRun(file: string, args: string[], options: CommandOptions): Promise<string> {
  const r = await runCommand(file, args, options);
  if (r.status !== 0) throw new Error(`${file} ${args.join(' ')}: exit ${r.status ?? r.signal ?? r.error?.message}\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

test('npm pack: installed into an empty folder, imported by a TypeScript file that type-checks and runs', async (t) => {
  // npm pack and install take a minute or more on a loaded machine: say so, or ava's 90 s
  // inactivity timeout ends the run when nothing else finishes meanwhile.
  t.timeout(600_000, 'npm pack, install, type-check and run');
  const work = mkdtempSync(path.join(tmpdir(), 'sy-pack-'));
  await mustRun('npm', ['pack', '--pack-destination', work, '--silent'], { cwd: root });
  const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'))!;
  const app = path.join(work, 'app');
  mkdirSync(app, { recursive: true });
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  await mustRun('npm', ['install', path.join(work, tarball), '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--omit=dev', '--silent'], { cwd: app, timeoutMs: 240_000 });
  writeFileSync(path.join(app, 'plugin.ts'), `
import { definePlugin, Type, testPlugin, createRouter, MemorySource, type PluginContext } from 'switchyard';

const plugin = definePlugin({
  name: 'hello',
  config: Type.Object({ greeting: Type.String({ default: 'hi' }) }),
  create(config) {
    const greeting: string = config.greeting;
    return { request(ctx: PluginContext) { if (ctx.url === '/hello') ctx.respond(200, greeting); } };
  },
});
const harness = testPlugin(plugin, {});
const result = await harness.request({ url: '/hello' });
if (result.answer?.status !== 200 || result.answer.body !== 'hi') throw new Error('unexpected: ' + JSON.stringify(result.answer));
const router = createRouter({ sources: [new MemorySource()], config: { logLevel: 'silent' } });
void router;
console.log('ok');
`);
  writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { target: 'es2023', module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, skipLibCheck: false, types: ['node'], typeRoots: [path.join(root, 'node_modules/@types')] },
    files: ['plugin.ts'],
  }));
  const tsc = path.join(root, 'node_modules/.bin/tsc');
  const typecheck = await runCommand(tsc, ['-p', 'tsconfig.json'], { cwd: app });
  if (typecheck.status !== 0) {
    t.fail(`type-check failed: ${typecheck.stdout}${typecheck.stderr}`);
    return;
  }
  const out = await mustRun(process.execPath, ['plugin.ts'], { cwd: app });
  t.is(out.trim(), 'ok');
});

test('embedded router with the Kubernetes source (ClusterSource) against an API server', async (t) => {
  const { FakeApiServer } = await import('../support/fake-apiserver.ts');
  const { ClusterSource } = await import('switchyard');
  const { createLogger } = await import('../../src/log.ts');
  const api = await FakeApiServer.start();
  t.teardown(() => api.close());
  const backend = await startBackend('web');
  t.teardown(() => backend.close());
  for (const object of service('web', backend.port)) api.create(object as never);
  api.create(route('home', 'home.test') as never);
  const router = createRouter({
    config: { bind: '127.0.0.1', adminBind: '127.0.0.1', httpPort: 0, httpsPort: 0, adminPort: 0, logLevel: 'silent' },
    sources: [new ClusterSource({ config: { kubeconfig: api.kubeconfigPath }, logger: createLogger('silent') })],
  });
  const ports = await router.start();
  t.teardown(() => router.stop(true));
  t.is((await request(ports.http, { host: 'home.test' })).status, 200);
  api.create(route('other', 'other.test') as never);
  await eventually(async () => (await request(ports.http, { host: 'other.test' })).status === 200, 5000);
  t.pass();
});
