// `switchyard autoport` as a real process: it picks a port, renders a template, execs (or spawns)
// a small HTTP server listening on $AUTO_PORT0, and signals and exit codes pass through.

import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { followLogs } from '../support/logged-process.ts';
import { freeBlock, listenOn } from '../support/ports.ts';

const MAIN = fileURLToPath(new URL('../../src/autoport/main.ts', import.meta.url));

// The application: serves its port and pid; on SIGTERM (unless told to ignore it) says so and exits 42.
const APP = `
import http from 'node:http';
const port = Number(process.env.AUTO_PORT0);
const mode = process.argv[2] ?? 'serve';
if (mode === 'exit') process.exit(Number(process.argv[3]));
const server = http.createServer((req, res) => res.end(JSON.stringify({ port, pid: process.pid, ports: [process.env.AUTO_PORT0, process.env.AUTO_PORT1] })));
server.listen(port, '127.0.0.1', () => console.log(JSON.stringify({ listening: port, pid: process.pid })));
if (mode === 'serve') process.on('SIGTERM', () => { console.log(JSON.stringify({ signal: 'SIGTERM' })); process.exit(42); });
`;

interface Run {
  child: ChildProcess;
  lines: Array<Record<string, unknown>>;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitForLine(pred: (l: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
}

// Tests in a file run concurrently: each one kills only what it started, in its own teardown.
function runAutoport(t: { teardown(fn: () => void): void }, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Run {
  const child = spawn(process.execPath, [MAIN, ...args], {
    cwd,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  const output = followLogs(child, 'autoport');
  return {
    child, lines: output.logs, exited: output.exited, stderr: output.stderr,
    // The limit only turns a hang into a failure that shows the output; a loaded machine starts
    // the wrapper and the app slowly (10 s at load 40), so it is far above that.
    waitForLine: (pred, timeoutMs = 60_000) => output.waitForLog(pred, timeoutMs),
  };
}



async function workDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'autoport-e2e-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  await fs.writeFile(path.join(dir, 'app.mjs'), APP);
  await fs.writeFile(path.join(dir, 'app.conf.tmpl'), 'listen 127.0.0.1:${AUTO_PORT0};\nadmin {{ AUTO_PORT1 }};\n');
  return dir;
}

for (const mode of ['exec', 'no-exec'] as const) {
  test(`${mode}: the app listens on the picked port, the template holds it, SIGTERM reaches it and its exit code passes through`, async (t) => {
    const dir = await workDir(t);
    const base = await freeBlock(6);
    const occupied = await listenOn(base); // one taken port in the range: the picker must step over it
    t.teardown(() => { occupied?.close(); });
    const flags = ['--no-report', '--count', '2', '--range', `${base}-${base + 6}`, '--bind-host', '127.0.0.1', '--template', 'app.conf.tmpl:app.conf'];
    if (mode === 'no-exec') flags.push('--no-exec');
    const run = runAutoport(t, [...flags, '--', process.execPath, 'app.mjs'], dir);

    const ready = await run.waitForLine((l) => typeof l.listening === 'number');
    const port = ready.listening as number;
    t.true(port > base && port < base + 6, `port ${port} in (${base}, ${base + 6})`);

    const conf = await fs.readFile(path.join(dir, 'app.conf'), 'utf8');
    const m = /^listen 127\.0\.0\.1:(\d+);\nadmin (\d+);\n$/.exec(conf);
    t.truthy(m, conf);
    t.is(Number(m![1]), port);
    t.not(Number(m![2]), port);

    const res = await fetch(`http://127.0.0.1:${port}/`);
    const body = await res.json() as { port: number; pid: number; ports: string[] };
    t.is(body.port, port);
    t.deepEqual(body.ports, [m![1], m![2]]);
    if (mode === 'exec') t.is(body.pid, run.child.pid!, 'execve: the app is the same process');
    else t.not(body.pid, run.child.pid, 'no-exec: the app is a child');

    run.child.kill('SIGTERM');
    const { code, signal } = await run.exited;
    t.truthy(run.lines.find((l) => l.signal === 'SIGTERM'), 'the app saw SIGTERM');
    t.is(signal, null);
    t.is(code, 42);
  });
}

test('no-exec: an app killed by a signal ends the wrapper with 128 + signal', async (t) => {
  const dir = await workDir(t);
  const base = await freeBlock(3);
  const run = runAutoport(t, ['--no-report', '--no-exec', '--range', `${base}-${base + 3}`, '--bind-host', '127.0.0.1', '--', process.execPath, 'app.mjs', 'die'], dir);
  await run.waitForLine((l) => typeof l.listening === 'number');
  run.child.kill('SIGTERM');
  const { code } = await run.exited;
  t.is(code, 128 + os.constants.signals.SIGTERM);
});

for (const mode of ['exec', 'no-exec'] as const) {
  test(`${mode}: the app's own exit code is the exit code`, async (t) => {
    const dir = await workDir(t);
    const base = await freeBlock(3);
    const flags = ['--no-report', '--range', `${base}-${base + 3}`, '--bind-host', '127.0.0.1'];
    if (mode === 'no-exec') flags.push('--no-exec');
    const run = runAutoport(t, [...flags, '--', process.execPath, 'app.mjs', 'exit', '7'], dir);
    t.is((await run.exited).code, 7);
  });
}

test('environment configures the range and count (DomeOS names); a bare command name is found on PATH', async (t) => {
  const dir = await workDir(t);
  const base = await freeBlock(3);
  const run = runAutoport(t, ['--', 'sh', '-c', 'echo "{\\"ports\\":\\"$AUTO_PORT0 $AUTO_PORT1 $AUTO_PORT2\\"}"'], dir, {
    AUTO_PORT_COUNT: '3', AVAILABLE_PORT_START: String(base), AVAILABLE_PORT_END: String(base + 3), AUTO_PORT_BIND_HOST: '127.0.0.1', AUTO_PORT_REPORT: 'false',
  });
  t.is((await run.exited).code, 0, run.stderr());
  const ports = String(run.lines[0]?.ports).split(' ').map(Number).sort((a, b) => a - b);
  t.deepEqual(ports, [base, base + 1, base + 2]);
});

test('failures: usage exit 2 in one line, exhausted range and unknown variable exit 1, missing command 127', async (t) => {
  const dir = await workDir(t);
  const base = await freeBlock(2);

  const usage = runAutoport(t, ['--count', 'many', '--', 'true'], dir);
  t.is((await usage.exited).code, 2);
  t.is(usage.stderr(), 'switchyard autoport: --count: expected an integer >= 1, got "many"\n');

  const occupied = await listenOn(base);
  t.teardown(() => { occupied?.close(); });
  const exhausted = runAutoport(t, ['--no-report', '--count', '2', '--range', `${base}-${base + 2}`, '--bind-host', '127.0.0.1', '--', 'true'], dir);
  t.is((await exhausted.exited).code, 1);
  t.regex(exhausted.stderr(), /cannot pick 2 free ports/);

  await fs.writeFile(path.join(dir, 'bad.tmpl'), 'port ${AUTO_PORT0} ${NO_SUCH_VAR}\n');
  const unknown = runAutoport(t, ['--no-report', '--range', `${base + 1}-${base + 2}`, '--bind-host', '127.0.0.1', '--template', 'bad.tmpl:bad.conf', '--', 'true'], dir);
  t.is((await unknown.exited).code, 1);
  t.regex(unknown.stderr(), /bad\.tmpl: unknown variable NO_SUCH_VAR/);
  await t.throwsAsync(fs.access(path.join(dir, 'bad.conf')));

  const missing = runAutoport(t, ['--no-report', '--range', `${base + 1}-${base + 2}`, '--bind-host', '127.0.0.1', '--', 'no-such-command-xyz'], dir);
  t.is((await missing.exited).code, 127);
  t.regex(missing.stderr(), /no-such-command-xyz: command not found/);
});
