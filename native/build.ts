// Builds native/malloc-trim.c into dist/native/malloc-trim.node with the system's C compiler
// (part of `npm run build`). Optional: without a compiler, or off glibc Linux, it says so and
// the router runs without it (src/malloc-trim.ts does nothing then).

import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.join(here, '..', 'dist', 'native', 'malloc-trim.node');
const glibc = process.platform === 'linux' && typeof (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime === 'string';

if (!glibc) {
  console.error('native/build.ts: not glibc Linux: no malloc-trim module (the router runs without it)');
} else {
  mkdirSync(path.dirname(out), { recursive: true });
  const cc = process.env.CC ?? 'cc';
  const run = spawnSync(cc, ['-shared', '-fPIC', '-O2', '-fvisibility=hidden', '-o', out, path.join(here, 'malloc-trim.c')], { stdio: 'inherit' });
  if (run.error || run.status !== 0) {
    console.error(`native/build.ts: ${cc} failed (${run.error?.message ?? `exit ${run.status}`}): no malloc-trim module (the router runs without it)`);
  }
}
