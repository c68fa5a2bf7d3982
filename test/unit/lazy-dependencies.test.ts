// What `import 'switchyard'` loads: not @peculiar/x509, nor the global Reflect polyfill it needs
// (reflect-metadata) — those only when the router generates its own certificate. Checked in a
// fresh process that records every module it loads (module.registerHooks).
import test from 'ava';
import { fileURLToPath } from 'node:url';
import { runCommand } from '../support/run-command.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The last line a fresh Node process running `program` prints. Not execFileSync: the tests of
 * this file run at once, and a blocking call made them wait on each other (58 s at load 40,
 * against a 60 s limit); the limit only catches a hang.
 */
async function output(program: string): Promise<string> {
  const r = await runCommand(process.execPath, ['--input-type=module', '-e', program], { cwd: root, timeoutMs: 180_000 });
  if (r.status !== 0) throw new Error(`exit ${r.status ?? r.signal}: ${r.stderr}`);
  return r.stdout.trim().split('\n').pop()!;
}

async function run(script: string): Promise<{ x509: boolean; reflect: string }> {
  const program = `
import { registerHooks } from 'node:module';
const loaded = [];
registerHooks({ load(url, context, next) { loaded.push(url); return next(url, context); } });
${script}
console.log(JSON.stringify({ x509: loaded.some((u) => u.includes('@peculiar/x509')), reflect: typeof Reflect.getMetadata }));
process.exit(0);`;
  return JSON.parse(await output(program)) as { x509: boolean; reflect: string };
}

test('importing the library loads neither @peculiar/x509 nor reflect-metadata', async (t) => {
  t.deepEqual(await run(`await import('switchyard');`), { x509: false, reflect: 'undefined' });
});

test('they load when the router generates its self-signed default certificate', async (t) => {
  const started = await run(`
const { createRouter, MemorySource } = await import('switchyard');
const router = createRouter({ sources: [new MemorySource()], config: { bind: '127.0.0.1', adminBind: '127.0.0.1', httpPort: 0, httpsPort: 0, adminPort: 0, logLevel: 'silent' } });
await router.start();
await router.stop(true);`);
  t.deepEqual(started, { x509: true, reflect: 'function' });
});

test('the OpenTelemetry SDK loads only when tracing is on (an OTLP endpoint is set)', async (t) => {
  const loads = async (config: string) => {
    const program = `
import { registerHooks } from 'node:module';
const loaded = [];
registerHooks({ load(url, context, next) { loaded.push(url); return next(url, context); } });
const { createRouter, MemorySource } = await import('switchyard');
const router = createRouter({ sources: [new MemorySource()], config: { bind: '127.0.0.1', adminBind: '127.0.0.1', httpPort: 0, httpsPort: 0, adminPort: 0, logLevel: 'silent', ${config} } });
await router.start();
await router.stop(true);
console.log(JSON.stringify(loaded.some((u) => u.includes('@opentelemetry/sdk-trace'))));
process.exit(0);`;
    return JSON.parse(await output(program)) as boolean;
  };
  t.false(await loads(''), 'tracing off: not loaded');
  t.true(await loads(`otlpEndpoint: 'http://127.0.0.1:9'`), 'tracing on: loaded');
});
