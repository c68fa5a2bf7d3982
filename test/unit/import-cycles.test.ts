// The import graph of src/ has no cycle — type-only imports, re-exports and dynamic import()
// included — and the layering rules that keep it so hold: Gateway API evaluation (gateway/) and
// admission (admission/) are siblings that import nothing of each other; the table imports
// nothing of the rest; the plugin API (pipeline/) and the built-in plugins (plugins/) import
// nothing of the proxy.
import test from 'ava';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const src = fileURLToPath(new URL('../../src/', import.meta.url));
const IMPORT = /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? files(full) : full.endsWith('.ts') ? [full] : [];
  });
}

/** module (relative to src/) → the src modules it imports. */
function graph(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const file of files(src)) {
    const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
    const deps = new Set<string>();
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2]!;
      if (spec.startsWith('.')) deps.add(path.relative(src, path.resolve(path.dirname(file), spec)));
    }
    out.set(path.relative(src, file), [...deps]);
  }
  return out;
}

/** Strongly connected components of more than one module, or a module importing itself (Tarjan). */
function cycles(g: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of g.get(v) ?? []) {
      if (!g.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) {
        low.set(v, Math.min(low.get(v)!, idx.get(w)!));
      }
    }
    if (low.get(v) === idx.get(v)) {
      const component: string[] = [];
      let w: string;
      do { w = stack.pop()!; on.delete(w); component.push(w); } while (w !== v);
      if (component.length > 1 || (g.get(v) ?? []).includes(v)) found.push(component.sort());
    }
  };
  for (const v of g.keys()) if (!idx.has(v)) visit(v);
  return found;
}

test('the import graph of src/ has no cycle', (t) => {
  const g = graph();
  t.true(g.size > 100, `read ${g.size} modules`);
  t.deepEqual(cycles(g), []);
});

test('the graph check finds a cycle when there is one', (t) => {
  t.deepEqual(cycles(new Map([['a.ts', ['b.ts']], ['b.ts', ['c.ts']], ['c.ts', ['a.ts']], ['d.ts', ['a.ts']]])), [['a.ts', 'b.ts', 'c.ts']]);
});

const imports = (g: Map<string, string[]>, from: string, to: string): string[] =>
  [...g].filter(([m]) => m.startsWith(from)).flatMap(([m, deps]) => deps.filter((d) => d.startsWith(to)).map((d) => `${m} → ${d}`));

test('layering: gateway/ and admission/ import nothing of each other; table/ nothing of the rest; pipeline/ nothing of the proxy', (t) => {
  const g = graph();
  t.deepEqual(imports(g, 'gateway/', 'admission/'), []);
  t.deepEqual(imports(g, 'admission/', 'gateway/'), []);
  t.deepEqual([...g].filter(([m]) => m.startsWith('table/')).flatMap(([m, deps]) => deps.filter((d) => !d.startsWith('table/')).map((d) => `${m} → ${d}`)), []);
  t.deepEqual(imports(g, 'pipeline/', 'proxy/'), []);
  t.deepEqual(imports(g, 'plugins/', 'proxy/'), []);
});
