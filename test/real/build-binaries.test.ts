// test/k8s/build-binaries.sh: the cache is keyed by the versions test/k8s/tools/go.mod pins, a
// complete cached set is reused without building, and the harness looks where the script writes.

import test from 'ava';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BINARIES, binaryDir } from '../support/real-apiserver.ts';

const SCRIPT = fileURLToPath(new URL('../k8s/build-binaries.sh', import.meta.url));

test('a cached set is reused at once, in the directory the harness reads', (t) => {
  const root = mkdtempSync(path.join(tmpdir(), 'k8s-cache-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const previous = process.env['SWITCHYARD_K8S_CACHE'];
  process.env['SWITCHYARD_K8S_CACHE'] = root;
  t.teardown(() => { if (previous === undefined) delete process.env['SWITCHYARD_K8S_CACHE']; else process.env['SWITCHYARD_K8S_CACHE'] = previous; });
  const dir = binaryDir();
  t.regex(path.basename(dir), /^k8s-v1\.\d+\.\d+-etcd-v3\.\d+\.\d+$/);
  mkdirSync(dir, { recursive: true });
  for (const b of BINARIES) {
    writeFileSync(path.join(dir, b), '#!/bin/sh\n');
    chmodSync(path.join(dir, b), 0o755);
  }
  // PATH without Go: a cached set needs no toolchain.
  const run = spawnSync('bash', [SCRIPT], { encoding: 'utf8', env: { ...process.env, SWITCHYARD_K8S_CACHE: root, PATH: '/usr/bin:/bin' } });
  t.is(run.status, 0, run.stderr);
  t.is(run.stdout.trim().split('\n').at(-1), dir);
  t.regex(run.stdout, /cached in/);
});
