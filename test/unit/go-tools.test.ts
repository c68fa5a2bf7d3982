// test/tools/build-go-tool.sh and test/support/go-tools.ts agree on where a tool is cached: a
// complete cached build is reused without Go, at the directory the tests look in.

import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { toolDir } from '../support/go-tools.ts';

const SCRIPT = fileURLToPath(new URL('../tools/build-go-tool.sh', import.meta.url));

test('a cached tool is reused at once, in the directory the tests read', (t) => {
  const root = mkdtempSync(path.join(tmpdir(), 'tools-cache-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const previous = process.env['SWITCHYARD_TOOLS_CACHE'];
  process.env['SWITCHYARD_TOOLS_CACHE'] = root;
  t.teardown(() => { if (previous === undefined) delete process.env['SWITCHYARD_TOOLS_CACHE']; else process.env['SWITCHYARD_TOOLS_CACHE'] = previous; });
  const dir = toolDir('h2spec');
  t.regex(path.basename(dir), /^h2spec-[0-9a-f]{16}$/);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, '.complete'), '');
  // PATH without Go: a cached build needs no toolchain.
  const run = spawnSync('bash', [SCRIPT, 'h2spec'], { encoding: 'utf8', env: { ...process.env, SWITCHYARD_TOOLS_CACHE: root, PATH: '/usr/bin:/bin' } });
  t.is(run.status, 0, run.stderr);
  t.is(run.stdout.trim().split('\n').at(-1), dir);
  t.regex(run.stdout, /cached in/);
});

