import test from 'ava';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { canExecve, resolveCommand } from '../../src/autoport/exec-command.ts';
import { EXIT_COMMAND_NOT_FOUND } from '../../src/autoport/autoport-errors.ts';

async function binDirs(t: { teardown(fn: () => Promise<void>): void }): Promise<{ root: string; first: string; second: string }> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'autoport-path-'));
  t.teardown(() => fs.rm(root, { recursive: true, force: true }));
  const first = path.join(root, 'first');
  const second = path.join(root, 'second');
  await fs.mkdir(first);
  await fs.mkdir(second);
  return { root, first, second };
}

test('Node 24 has process.execve', (t) => {
  t.true(canExecve());
});

test('a bare name is looked up on PATH in order; non-executable files and directories are passed over', async (t) => {
  const { first, second } = await binDirs(t);
  await fs.writeFile(path.join(first, 'app'), '#!/bin/sh\n', { mode: 0o644 }); // not executable
  await fs.mkdir(path.join(first, 'tool'));                                    // a directory
  await fs.writeFile(path.join(second, 'app'), '#!/bin/sh\n', { mode: 0o755 });
  await fs.writeFile(path.join(second, 'tool'), '#!/bin/sh\n', { mode: 0o755 });
  const PATH = [first, second].join(path.delimiter);
  t.is(resolveCommand('app', PATH), path.join(second, 'app'));
  t.is(resolveCommand('tool', PATH), path.join(second, 'tool'));
});

test('a name with a slash is taken relative to the working directory, not searched', async (t) => {
  const { root, second } = await binDirs(t);
  await fs.writeFile(path.join(second, 'app'), '#!/bin/sh\n', { mode: 0o755 });
  t.is(resolveCommand('./second/app', '', root), path.join(second, 'app'));
  t.throws(() => resolveCommand('./app', second, root), { message: /\.\/app: not an executable file/ });
});

test('a command that cannot be found exits 127 with its name', (t) => {
  const err = t.throws(() => resolveCommand('surely-not-installed-xyz', '/nonexistent'), { message: 'surely-not-installed-xyz: command not found on PATH' });
  t.is((err as { exitCode?: number }).exitCode, EXIT_COMMAND_NOT_FOUND);
});
