// Where the heap goes, per route: reads a V8 heap snapshot (node --heapsnapshot-signal, or
// v8.writeHeapSnapshot) and prints (1) the retained size of each named object that holds a
// large share of the heap — the store, the file source's contributions, the informers' caches,
// the route table, the metric registry — and (2) self size by object type. With --routes N
// every figure is also divided by N, which is how `bench:scale` reports bytes per route. Also
// self size by the property holding each object, and (3) the room arrays keep beyond their
// elements (an array grown by push keeps 17 slots), by the property holding the array.
//
// Usage: node bench/heap-breakdown.ts <file.heapsnapshot> [--routes N] [--top 25]
// Retained sizes come from the dominator tree (Lengauer–Tarjan over strong edges), as in
// Chrome DevTools: an object's retained size is what would be freed if it alone were dropped.

import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] }; node_count: number };
  nodes: ArrayLike<number>;
  edges: ArrayLike<number>;
  strings: string[];
}

/**
 * A snapshot file read without making it one string: a 10k-route heap with distinct endpoints
 * writes a file over V8's longest string (512 MB). The `nodes` and `edges` number arrays are
 * scanned from the bytes into typed arrays; the header and the `strings` array are parsed as JSON.
 */
export function readSnapshot(file: string): Snapshot {
  const buf = readFileSync(file);
  const at = (key: string, from = 0): number => {
    const i = buf.indexOf(`"${key}":`, from, 'latin1');
    if (i < 0) throw new Error(`${file}: no "${key}" in the snapshot`);
    return i;
  };
  const nodesAt = at('nodes');
  const header = JSON.parse(`${buf.toString('utf8', 0, nodesAt).trim().replace(/,$/, '')}}`) as { snapshot: Snapshot['snapshot'] };
  const numbers = (key: string): Float64Array => {
    let i = buf.indexOf(0x5b /* [ */, at(key));
    const out: number[] = [];
    let value = 0;
    let inNumber = false;
    for (i++; i < buf.length; i++) {
      const c = buf[i]!;
      if (c >= 0x30 && c <= 0x39) {
        value = value * 10 + (c - 0x30);
        inNumber = true;
      } else {
        if (inNumber) out.push(value);
        value = 0;
        inNumber = false;
        if (c === 0x5d /* ] */) break;
      }
    }
    return Float64Array.from(out);
  };
  const nodes = numbers('nodes');
  const edges = numbers('edges');
  const stringsAt = buf.indexOf(0x5b, at('strings'));
  const end = buf.lastIndexOf(0x5d /* ] */);
  const strings = JSON.parse(buf.toString('utf8', stringsAt, end + 1)) as string[];
  return { snapshot: header.snapshot, nodes, edges, strings };
}

/** Plain containers: their retained size is reported through whatever named object owns them. */
const GENERIC = new Set(['Object', 'Array', 'Map', 'Set', '(system)', '(object properties)', '(object elements)', 'system / Context',
  '(GC roots)', '', 'Function', 'WeakMap', 'WeakSet', 'Promise', 'Error', 'global', 'Window', 'process', 'Module']);

export interface Breakdown {
  totalBytes: number;
  /** Named objects with the largest retained sizes; `A › B` is a B held inside an A (counted in both). */
  retainers: Array<{ name: string; retained: number; count: number }>;
  /** Self size summed by `type:name` (e.g. `string`, `object:Object`, `array:(object properties)`). */
  bySelf: Array<{ name: string; self: number; count: number }>;
  /** Self size by `what as property of holder`, for the objects' first strong retainer. */
  byProperty: Array<{ name: string; self: number; count: number }>;
  /** Retained size of all instances of a class (a class's instances inside another of its instances counted once). */
  byClass: Array<{ name: string; retained: number; count: number }>;
  /** Unused room in arrays (backing store beyond their elements), by the property holding the array. */
  slack: Array<{ name: string; self: number; count: number }>;
  /** Dominator tree of the objects that hold ≥ 2 % of the heap each. */
  tree: Array<{ depth: number; label: string; retained: number }>;
}

export function analyse(snapshot: Snapshot, top = 25): Breakdown {
  const { meta } = snapshot.snapshot;
  const nf = meta.node_fields.length;
  const ef = meta.edge_fields.length;
  const nTypeOff = meta.node_fields.indexOf('type');
  const nNameOff = meta.node_fields.indexOf('name');
  const nSizeOff = meta.node_fields.indexOf('self_size');
  const nEdgeCountOff = meta.node_fields.indexOf('edge_count');
  const eTypeOff = meta.edge_fields.indexOf('type');
  const eToOff = meta.edge_fields.indexOf('to_node');
  const nodeTypes = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const weak = edgeTypes.indexOf('weak');
  const shortcut = edgeTypes.indexOf('shortcut');
  const { nodes, edges, strings } = snapshot;
  const count = nodes.length / nf;

  // Edge ranges per node.
  const firstEdge = new Uint32Array(count + 1);
  for (let i = 0, e = 0; i < count; i++) {
    firstEdge[i] = e;
    e += nodes[i * nf + nEdgeCountOff]! * ef;
    firstEdge[i + 1] = e;
  }
  const strong = (e: number) => { const t = edges[e + eTypeOff]; return t !== weak && t !== shortcut; };

  // Predecessors (strong edges only), as CSR.
  const predCount = new Uint32Array(count + 1);
  for (let i = 0; i < count; i++) {
    for (let e = firstEdge[i]!; e < firstEdge[i + 1]!; e += ef) if (strong(e)) predCount[edges[e + eToOff]! / nf]!++;
  }
  const predStart = new Uint32Array(count + 1);
  for (let i = 0; i < count; i++) predStart[i + 1] = predStart[i]! + predCount[i]!;
  const preds = new Uint32Array(predStart[count]!);
  const fill = predStart.slice();
  for (let i = 0; i < count; i++) {
    for (let e = firstEdge[i]!; e < firstEdge[i + 1]!; e += ef) if (strong(e)) preds[fill[edges[e + eToOff]! / nf]!++] = i;
  }

  // Lengauer–Tarjan (simple version with path compression), iterative DFS from node 0.
  const UNSEEN = 0xffffffff;
  const dfnum = new Uint32Array(count).fill(UNSEEN);
  const vertex = new Uint32Array(count);
  const parent = new Uint32Array(count);
  let n = 0;
  {
    const stack = new Uint32Array(count);
    const edgeAt = new Uint32Array(count);
    let sp = 0;
    stack[sp++] = 0; dfnum[0] = n; vertex[n++] = 0; edgeAt[0] = firstEdge[0]!;
    while (sp > 0) {
      const v = stack[sp - 1]!;
      let pushed = false;
      while (edgeAt[v]! < firstEdge[v + 1]!) {
        const e = edgeAt[v]!;
        edgeAt[v] = e + ef;
        if (!strong(e)) continue;
        const w = edges[e + eToOff]! / nf;
        if (dfnum[w] !== UNSEEN) continue;
        dfnum[w] = n; vertex[n++] = w; parent[w] = v; edgeAt[w] = firstEdge[w]!;
        stack[sp++] = w;
        pushed = true;
        break;
      }
      if (!pushed) sp--;
    }
  }
  const semi = new Uint32Array(count);
  const idom = new Uint32Array(count);
  const ancestor = new Uint32Array(count).fill(UNSEEN);
  const best = new Uint32Array(count);
  const samedom = new Uint32Array(count).fill(UNSEEN);
  const bucketHead = new Uint32Array(count).fill(UNSEEN);
  const bucketNext = new Uint32Array(count).fill(UNSEEN);
  for (let i = 0; i < count; i++) { semi[i] = dfnum[i]!; best[i] = i; }
  const path = new Uint32Array(count);
  const ancestorWithLowestSemi = (v: number): number => {
    // Iterative path compression.
    let len = 0;
    let a = v;
    while (ancestor[ancestor[a]!] !== UNSEEN) { path[len++] = a; a = ancestor[a]!; }
    for (let i = len - 1; i >= 0; i--) {
      const x = path[i]!;
      const anc = ancestor[x]!;
      if (semi[best[anc]!]! < semi[best[x]!]!) best[x] = best[anc]!;
      ancestor[x] = ancestor[anc]!;
    }
    return best[v]!;
  };
  for (let i = n - 1; i >= 1; i--) {
    const w = vertex[i]!;
    const p = parent[w]!;
    let s = p;
    for (let k = predStart[w]!; k < predStart[w + 1]!; k++) {
      const v = preds[k]!;
      if (dfnum[v] === UNSEEN) continue;
      const candidate = dfnum[v]! <= dfnum[w]! ? v : ancestorWithLowestSemi(v);
      if (semi[candidate]! < dfnum[s]!) s = vertex[semi[candidate]!]!;
    }
    semi[w] = dfnum[s]!;
    bucketNext[w] = bucketHead[s]!; bucketHead[s] = w;
    ancestor[w] = p;
    for (let v = bucketHead[p]!; v !== UNSEEN; v = bucketNext[v]!) {
      const y = ancestorWithLowestSemi(v);
      if (semi[y] === semi[v]) idom[v] = p; else samedom[v] = y;
    }
    bucketHead[p] = UNSEEN;
  }
  for (let i = 1; i < n; i++) {
    const w = vertex[i]!;
    if (samedom[w] !== UNSEEN) idom[w] = idom[samedom[w]!]!;
  }

  // Retained sizes: add each node's size to its dominator, deepest first.
  const retained = new Float64Array(count);
  for (let i = 0; i < count; i++) retained[i] = nodes[i * nf + nSizeOff]!;
  for (let i = n - 1; i >= 1; i--) { const w = vertex[i]!; retained[idom[w]!]! += retained[w]!; }

  const nameOf = (i: number) => {
    const type = nodeTypes[nodes[i * nf + nTypeOff]!]!;
    const name = strings[nodes[i * nf + nNameOff]!]!;
    return { type, name };
  };
  const isNamed = (i: number) => {
    const { type, name } = nameOf(i);
    return (type === 'object' || type === 'closure') && !GENERIC.has(name) && !name.startsWith('(') && !name.startsWith('system /');
  };

  // Named retainers, largest first; each is labelled with the listed object it sits in, if any.
  const order = Array.from({ length: n - 1 }, (_, i) => vertex[i + 1]!).filter(isNamed);
  order.sort((a, b) => retained[b]! - retained[a]!);
  const threshold = retained[0]! * 0.005;
  const listed = new Map<number, string>();
  const grouped = new Map<string, { retained: number; count: number }>();
  for (const v of order) {
    if (retained[v]! < threshold) break;
    let within: string | undefined;
    for (let d = idom[v]!; d !== 0; d = idom[d]!) if (listed.has(d)) { within = listed.get(d); break; }
    const name = within === undefined ? nameOf(v).name : `${within} › ${nameOf(v).name}`;
    listed.set(v, name);
    const g = grouped.get(name) ?? { retained: 0, count: 0 };
    g.retained += retained[v]!; g.count++;
    grouped.set(name, g);
  }
  const retainers = [...grouped].map(([name, g]) => ({ name, ...g })).slice(0, top);

  // By class: every named instance's retained size, unless an instance of the same class
  // dominates it (a pool's clients are in the pool's figure, not twice in Client's).
  const classes = new Map<string, { retained: number; count: number }>();
  for (let i = 1; i < n; i++) {
    const v = vertex[i]!;
    if (!isNamed(v)) continue;
    const { name } = nameOf(v);
    let nested = false;
    for (let d = idom[v]!; d !== 0 && !nested; d = idom[d]!) nested = isNamed(d) && nameOf(d).name === name;
    const c = classes.get(name) ?? { retained: 0, count: 0 };
    if (!nested) c.retained += retained[v]!;
    c.count++;
    classes.set(name, c);
  }
  const byClass = [...classes].map(([name, c]) => ({ name, ...c })).sort((a, b) => b.retained - a.retained).slice(0, top);

  const self = new Map<string, { self: number; count: number }>();
  for (let i = 0; i < count; i++) {
    const { type, name } = nameOf(i);
    const key = type === 'string' || type === 'concatenated string' || type === 'sliced string' || type === 'number' || type === 'code' ? type
      : `${type}:${name.length > 40 ? name.slice(0, 40) + '…' : name}`;
    const s = self.get(key) ?? { self: 0, count: 0 };
    s.self += nodes[i * nf + nSizeOff]!; s.count++;
    self.set(key, s);
  }
  const bySelf = [...self].map(([name, s]) => ({ name, ...s })).sort((a, b) => b.self - a.self).slice(0, top);
  // The dominator tree down to objects holding at least 2 % of the heap, with the property
  // name through which each is held (when its dominator holds it directly).
  const big = retained[0]! * 0.02;
  const kids = new Map<number, number[]>();
  for (let i = 1; i < n; i++) {
    const w = vertex[i]!;
    if (retained[w]! < big) continue;
    const list = kids.get(idom[w]!) ?? [];
    list.push(w);
    kids.set(idom[w]!, list);
  }
  const eNameOff = meta.edge_fields.indexOf('name_or_index');
  const element = edgeTypes.indexOf('element');
  const hidden = edgeTypes.indexOf('hidden');
  const edgeName = (from: number, to: number): string => {
    for (let e = firstEdge[from]!; e < firstEdge[from + 1]!; e += ef) {
      if (edges[e + eToOff]! / nf !== to) continue;
      const t = edges[e + eTypeOff];
      return t === element || t === hidden ? `[${edges[e + eNameOff]}]` : String(strings[edges[e + eNameOff]!]);
    }
    return '…';
  };
  const tree: Breakdown['tree'] = [];
  const walk = (v: number, depth: number) => {
    for (const w of (kids.get(v) ?? []).sort((a, b) => retained[b]! - retained[a]!)) {
      const { type, name } = nameOf(w);
      tree.push({ depth, label: `${edgeName(idom[w]!, w)}: ${type === 'object' ? name || 'Object' : type}`.slice(0, 60), retained: retained[w]! });
      if (depth < 8) walk(w, depth + 1);
    }
  };
  walk(0, 0);
  // Self size by the property that holds each object (its first strong retainer edge), with the
  // holder's type: `labels ← Object`, `[] ← Array`. Shows which fields of which objects cost.
  const heldBy = new Int32Array(count).fill(-1);
  const holderOf = new Int32Array(count).fill(-1);
  for (let i = 0; i < count; i++) {
    for (let e = firstEdge[i]!; e < firstEdge[i + 1]!; e += ef) {
      if (!strong(e)) continue;
      const w = edges[e + eToOff]! / nf;
      if (heldBy[w] === -1) { heldBy[w] = e; holderOf[w] = i; }
    }
  }
  const property = new Map<string, { self: number; count: number }>();
  for (let i = 0; i < count; i++) {
    const e = heldBy[i]!;
    if (e < 0) continue;
    const t = edges[e + eTypeOff];
    const via = t === element ? '[]' : t === hidden ? '(hidden)' : String(strings[edges[e + eNameOff]!]).slice(0, 24);
    const holder = nameOf(holderOf[i]!);
    const { type, name } = nameOf(i);
    const what = type === 'object' ? name || 'Object' : type;
    const key = `${what.slice(0, 16)} as ${via} of ${(holder.type === 'object' ? holder.name || 'Object' : holder.type).slice(0, 20)}`;
    const p = property.get(key) ?? { self: 0, count: 0 };
    p.self += nodes[i * nf + nSizeOff]!; p.count++;
    property.set(key, p);
  }
  const byProperty = [...property].map(([name, p]) => ({ name, ...p })).sort((a, b) => b.self - a.self).slice(0, top);
  // Room arrays keep beyond their elements: an array's backing store (`elements`) minus a header
  // and 8 bytes per element it holds, by the property that holds the array and that property's
  // holder. An array grown by push keeps room for 17 (152 bytes) whatever it holds.
  const slackBy = new Map<string, { self: number; count: number }>();
  for (let i = 0; i < count; i++) {
    const e = heldBy[i]!;
    // Object elements only (a double array's numbers are not edges); a small-integer array's are
    // not either, so its room is over-counted (the duration series' counts, say): read with care.
    if (e < 0 || nameOf(i).type !== 'array' || nameOf(i).name !== '(object elements)' || edges[e + eTypeOff] === element || String(strings[edges[e + eNameOff]!]) !== 'elements') continue;
    const array = holderOf[i]!;
    const held = (firstEdge[i + 1]! - firstEdge[i]!) / ef;
    const slack = nodes[i * nf + nSizeOff]! - 16 - 8 * held;
    if (held === 0 || slack <= 0 || heldBy[array]! < 0) continue;
    const ae = heldBy[array]!;
    const t = edges[ae + eTypeOff];
    const via = t === element ? '[]' : t === hidden ? '(hidden)' : String(strings[edges[ae + eNameOff]!]).slice(0, 24);
    const holder = nameOf(holderOf[array]!);
    const key = `${via} of ${(holder.type === 'object' ? holder.name || 'Object' : holder.type).slice(0, 24)}`;
    const entry = slackBy.get(key) ?? { self: 0, count: 0 };
    entry.self += slack;
    entry.count++;
    slackBy.set(key, entry);
  }
  const slack = [...slackBy].map(([name, p]) => ({ name, ...p })).sort((a, b) => b.self - a.self).slice(0, top);
  return { totalBytes: retained[0]!, retainers, byClass, bySelf, tree, byProperty, slack };
}

export function formatBreakdown(b: Breakdown, routes: number): string {
  const per = (bytes: number) => (routes > 0 ? `${(bytes / routes).toFixed(0).padStart(7)}` : '      –');
  const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(1).padStart(7);
  const lines = [`heap: ${mb(b.totalBytes).trim()} MB${routes > 0 ? `, ${(b.totalBytes / routes).toFixed(0)} B per route (${routes} routes)` : ''}`, '',
    '| retained by (named object › inside it)    |    MB | B/route | objects |', '|---|---:|---:|---:|'];
  for (const r of b.retainers) lines.push(`| ${r.name.slice(0, 41).padEnd(41)} | ${mb(r.retained)} | ${per(r.retained)} | ${String(r.count).padStart(7)} |`);
  lines.push('', '| retained by class (all instances)         |    MB | B/route | objects |', '|---|---:|---:|---:|');
  for (const r of b.byClass) lines.push(`| ${r.name.slice(0, 41).padEnd(41)} | ${mb(r.retained)} | ${per(r.retained)} | ${String(r.count).padStart(7)} |`);
  lines.push('', '| dominator tree (≥ 2 % of the heap)                              |    MB | B/route |', '|---|---:|---:|');
  for (const t of b.tree) lines.push(`| ${(' '.repeat(t.depth * 2) + t.label).padEnd(63)} | ${mb(t.retained)} | ${per(t.retained)} |`);
  lines.push('', '| self size by type                         |    MB | B/route |   count |', '|---|---:|---:|---:|');
  for (const s of b.bySelf) lines.push(`| ${s.name.padEnd(41)} | ${mb(s.self)} | ${per(s.self)} | ${String(s.count).padStart(7)} |`);
  lines.push('', '| self size by holder (what as property of whom)                  |    MB | B/route |   count |', '|---|---:|---:|---:|');
  for (const s of b.byProperty) lines.push(`| ${s.name.padEnd(63)} | ${mb(s.self)} | ${per(s.self)} | ${String(s.count).padStart(7)} |`);
  lines.push('', '| unused room in arrays, by the property holding the array          |    MB | B/route |  arrays |', '|---|---:|---:|---:|');
  for (const s of b.slack) lines.push(`| ${s.name.padEnd(63)} | ${mb(s.self)} | ${per(s.self)} | ${String(s.count).padStart(7)} |`);
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const file = args.find((a) => !a.startsWith('--') && !/^\d+$/.test(a));
  if (!file) { console.error('usage: node bench/heap-breakdown.ts <file.heapsnapshot> [--routes N] [--top 25]'); process.exit(2); }
  const flag = (name: string, fallback: number) => { const i = args.indexOf(name); return i >= 0 ? Number(args[i + 1]) : fallback; };
  const snapshot = readSnapshot(file);
  console.log(formatBreakdown(analyse(snapshot, flag('--top', 25)), flag('--routes', 0)));
}
