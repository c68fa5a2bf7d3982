// The command-line contract: bad options exit 2 with one line naming the option; --help lists
// every option; readiness is 503 until the initial load is applied.
import test from 'ava';
import { CLI, startRouter, writeTempFile } from '../support/router-process.ts';
import { OPTIONS } from '../../src/config.ts';
import { runCommand } from '../support/run-command.ts';

// The spawn limits only turn a hang into a failure: on a loaded machine (two CPU hogs beside the
// suite) the CLI gets a small share of a core, so they are far above what it needs idle.
function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  return runCommand(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, timeoutMs: 60_000 });
}

test('unknown flag: exit 2, one line naming it', async (t) => {
  const r = await run(['run', '--no-such-flag']);
  t.is(r.status, 2);
  t.is(r.stderr.trim().split('\n').length, 1);
  t.regex(r.stderr, /--no-such-flag/);
});

test('--help, --version and a bad option answer without loading the router (its modules cost half a CPU-second)', async (t) => {
  const { writeFileSync, mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const path = await import('node:path');
  // Preloaded into the real CLI: names every module of dist/ that gets loaded.
  const preload = path.join(mkdtempSync(path.join(tmpdir(), 'switchyard-loaded-')), 'loaded.mjs');
  writeFileSync(preload, [
    "import { registerHooks } from 'node:module';",
    "registerHooks({ load(url, context, next) { if (url.includes('/dist/')) process.stderr.write(`loaded ${url}\\n`); return next(url, context); } });",
  ].join('\n'));
  for (const args of [['run', '--no-such-flag'], ['--help'], ['--version'], ['--http-port', 'abc']]) {
    const r = await runCommand(process.execPath, ['--import', preload, CLI, ...args], { timeoutMs: 60_000 });
    t.true(r.status === 0 || r.status === 2, `${args.join(' ')}: exit ${r.status}`);
    t.regex(r.stderr, /loaded .*\/dist\/config\.js/, 'the hook sees dist/ modules');
    t.notRegex(r.stderr, /loaded .*\/dist\/(run-router|demo\/demo|autoport\/run-autoport)\.js/, args.join(' '));
  }
});

test('invalid values name the option (flag or environment variable)', async (t) => {
  const r1 = await run(['--http-port', 'abc']);
  t.is(r1.status, 2);
  t.regex(r1.stderr, /--http-port/);
  const r2 = await run([], { ROUTER_LOAD_BALANCE_ALGORITHM: 'fastest' });
  t.is(r2.status, 2);
  t.regex(r2.stderr, /ROUTER_LOAD_BALANCE_ALGORITHM/);
  const r3 = await run(['--route-labels', 'a in (x', '--file', '/dev/null']);
  t.is(r3.status, 2);
  t.regex(r3.stderr, /selector|route-labels/i);
});

test('--help lists every option with its environment variable', async (t) => {
  const r = await run(['--help']);
  t.is(r.status, 0);
  for (const o of OPTIONS) {
    t.true(r.stdout.includes(o.flag), o.flag);
    if (o.env) t.true(r.stdout.includes(o.env), o.env);
  }
});

test('run is the default subcommand; SIGTERM exits 0', async (t) => {
  const file = writeTempFile('apiVersion: v1\nkind: Namespace\nmetadata: { name: empty }\n');
  const router = await startRouter({ args: ['--file', file] });
  const { code } = await router.stop();
  t.is(code, 0);
});

test('a duration above 2^31-1 ms (Node timers overflow) exits 2 naming the option, as flag or env', async (t) => {
  const r1 = await run(['run', '--tunnel-timeout', '30d', '--file', '/dev/null']);
  t.is(r1.status, 2);
  t.regex(r1.stderr, /--tunnel-timeout: duration "30d" is too long/);
  const r2 = await run(['run', '--file', '/dev/null'], { ROUTER_BACKEND_CHECK_INTERVAL: '2147483648' });
  t.is(r2.status, 2);
  t.regex(r2.stderr, /ROUTER_BACKEND_CHECK_INTERVAL: .*too long/);
});

test('a truly uncaught exception is not swallowed: stack on stderr, exit 70 (the supervisor restarts)', async (t) => {
  const { writeFileSync, mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const path = await import('node:path');
  // Preloaded into the real CLI: throws from a timer once the router runs.
  const preload = path.join(mkdtempSync(path.join(tmpdir(), 'switchyard-crash-')), 'crash.mjs');
  writeFileSync(preload, "setTimeout(() => { throw new Error('deliberate bug for the test'); }, 300);\n");
  const file = writeTempFile('');
  const r = await runCommand(process.execPath, ['--import', preload, CLI, 'run', '--file', file, '--bind', '127.0.0.1', '--http-port', '0', '--https-port', '0', '--admin-port', '0', '--workers', '0'], { timeoutMs: 60_000 });
  t.is(r.status, 70);
  t.regex(r.stderr, /fatal uncaught exception \(uncaughtException\): Error: deliberate bug for the test\n\s+at /);
});

test('an unhandled rejection is reported with its stack and the router keeps serving', async (t) => {
  const { writeFileSync, mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const path = await import('node:path');
  const preload = path.join(mkdtempSync(path.join(tmpdir(), 'switchyard-reject-')), 'reject.mjs');
  writeFileSync(preload, "setTimeout(() => { Promise.reject(new Error('leaked rejection for the test')); }, 200);\n");
  const router = await startRouter({ args: ['--file', writeTempFile('')], env: { NODE_OPTIONS: `--import=${preload}` } });
  t.teardown(() => router.stop());
  const { eventually, request } = await import('../support/http-client.ts');
  await eventually(() => /unhandled rejection: Error: leaked rejection for the test\n\s+at /.test(router.stderr()), 10_000);
  t.is((await request(router.admin, { path: '/healthz' })).status, 200);
  t.is(router.child.exitCode, null);
});
