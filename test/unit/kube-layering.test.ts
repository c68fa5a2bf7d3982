// The Kubernetes API is reached through one module, src/kube/ (client, resources, informer), used
// by the sources, the status writers and autoport: none of those reaches into another's files
// for it, and kube/ imports nothing above it. Read from the import statements of src/.

import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** Each file (relative to src/) with what it imports: package names, or paths relative to src/. */
function imports(): Map<string, string[]> {
  const result = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, 'utf8');
    const specifiers = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)]
      .map((m) => m[1] ?? m[2]!)
      .map((spec) => (spec.startsWith('.') ? path.relative(SRC, path.resolve(path.dirname(file), spec)) : spec));
    result.set(path.relative(SRC, file), specifiers);
  }
  return result;
}

const graph = imports();

function offenders(from: (file: string) => boolean, to: (target: string) => boolean): string[] {
  return [...graph].flatMap(([file, targets]) => (from(file) ? targets.filter(to).map((t) => `${file} -> ${t}`) : []));
}

test('the import scan sees the kube module and its users', (t) => {
  t.true((graph.get('sources/kubernetes.ts') ?? []).includes('kube/informer.ts'));
  t.true((graph.get('status/leader-election.ts') ?? []).includes('kube/client.ts'));
  t.true((graph.get('autoport/pod-reporter.ts') ?? []).includes('kube/client.ts'));
});

test('only src/kube/ uses the Kubernetes client library', (t) => {
  t.deepEqual(offenders((f) => !f.startsWith('kube/'), (target) => target.startsWith('@kubernetes/')), []);
});

test('status and autoport reach the API through src/kube/, not the sources', (t) => {
  t.deepEqual(offenders((f) => f.startsWith('status/') || f.startsWith('autoport/'), (target) => target.startsWith('sources/')), []);
});

test('src/kube/ imports nothing above it', (t) => {
  // Packages are fine; of src/, only kube/ itself, the object types and the process-wide basics.
  const above = (target: string) => target.endsWith('.ts') && !target.startsWith('kube/') && !target.startsWith('objects/')
    && !['clock.ts', 'log.ts', 'metrics.ts', 'version.ts'].includes(target);
  t.deepEqual(offenders((f) => f.startsWith('kube/'), above), []);
});
