// What `import 'switchyard'` loads: not @peculiar/x509, nor the global Reflect polyfill it needs
// (reflect-metadata) — those only when the router generates its own certificate. Checked in a
// fresh process that records every module it loads (module.registerHooks).
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

function run(script: string): { x509: boolean; reflect: string } {
  const program = `
import { registerHooks } from 'node:module';
const loaded = [];
registerHooks({ load(url, context, next) { loaded.push(url); return next(url, context); } });
${script}
console.log(JSON.stringify({ x509: loaded.some((u) => u.includes('@peculiar/x509')), reflect: typeof Reflect.getMetadata }));
process.exit(0);`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', program], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  return JSON.parse(out.trim().split('\n').pop()!) as { x509: boolean; reflect: string };
}

test('importing the library loads neither @peculiar/x509 nor reflect-metadata', (t) => {
  t.deepEqual(run(`await import('switchyard');`), { x509: false, reflect: 'undefined' });
});

test('they load when the router generates its self-signed default certificate', (t) => {
  const started = run(`
const { createRouter, MemorySource } = await import('switchyard');
const router = createRouter({ sources: [new MemorySource()], config: { bind: '127.0.0.1', adminBind: '127.0.0.1', httpPort: 0, httpsPort: 0, adminPort: 0, logLevel: 'silent' } });
await router.start();
await router.stop(true);`);
  t.deepEqual(started, { x509: true, reflect: 'function' });
});

test('the OpenTelemetry SDK loads only when tracing is on (an OTLP endpoint is set)', (t) => {
  const loads = (config: string) => {
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
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', program], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    return JSON.parse(out.trim().split('\n').pop()!) as boolean;
  };
  t.false(loads(''), 'tracing off: not loaded');
  t.true(loads(`otlpEndpoint: 'http://127.0.0.1:9'`), 'tracing on: loaded');
});
