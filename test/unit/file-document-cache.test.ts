// The file source re-parses only the documents whose text changed: the cache must give the
// same documents, positions and errors as parsing the whole file, and the same objects back
// for documents that did not change.

import test from 'ava';
import { getHeapSnapshot } from 'node:v8';
import { FILE_LIMITS, FileParseError, parseObjectFile, positionOf, type FileDocument } from '../../src/sources/file-documents.ts';
import { FileDocumentCache, splitDocuments } from '../../src/sources/file-document-cache.ts';
import { narrowObject } from '../../src/objects/narrow.ts';

/** 769 bytes of YAML that expand to 9^9 strings (as in file-yaml-limits.test.ts). */
function aliasBomb(): string {
  const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  const names = 'abcdefghi';
  for (let i = 1; i < names.length; i++) lines.push(`${names[i]}: &${names[i]} [${Array(9).fill(`*${names[i - 1]}`).join(',')}]`);
  return `apiVersion: v1\nkind: Service\nmetadata: { name: bomb, namespace: default }\nspec:\n  bomb:\n${lines.map((l) => `    ${l}`).join('\n')}\n`;
}

function service(i: number): string {
  return `---\napiVersion: v1\nkind: Service\nmetadata: { name: s${i}, namespace: ns }\nspec: { ports: [{ name: http, port: ${80 + i} }] }\n`;
}

/** What the whole-file parser says, with objects narrowed as the cache stores them. */
function whole(text: string): FileDocument[] {
  return parseObjectFile(text).map((d) => (d.result.ok ? { ...d, result: { ...d.result, object: narrowObject(d.result.kind, d.result.object) } } : d));
}

const SHAPES: Record<string, string> = {
  'leading document without marker': 'apiVersion: v1\nkind: Namespace\nmetadata: { name: a }\n---\napiVersion: v1\nkind: Namespace\nmetadata: { name: b }\n',
  'leading comment, empty documents': '# objects\n---\n---\napiVersion: v1\nkind: Namespace\nmetadata: { name: a }\n---\n',
  'content on the marker line': '--- {apiVersion: v1, kind: Namespace, metadata: {name: a}}\n--- {apiVersion: v1, kind: Namespace, metadata: {name: b}}\n',
  'a List between plain documents': `${service(1)}---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata: { name: x }\n- { kind: Nope }\n${service(2)}`,
  'block scalar before a marker': '---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  annotations:\n    note: |\n      text\n---\napiVersion: v1\nkind: Namespace\nmetadata: { name: b }\n',
  'directives: parsed whole': '%YAML 1.2\n---\napiVersion: v1\nkind: Namespace\nmetadata: { name: a }\n...\n',
  'JSON': '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a"}}',
  'empty': '',
};

for (const [name, text] of Object.entries(SHAPES)) {
  test(`same documents and positions as a whole-file parse: ${name}`, (t) => {
    t.deepEqual(new FileDocumentCache().parse(text), whole(text));
  });
}

test('an edit to one document re-parses that piece only and returns the others unchanged', (t) => {
  const cache = new FileDocumentCache();
  const docs = Array.from({ length: 50 }, (_, i) => service(i));
  const first = cache.parse(docs.join(''));
  t.is(cache.parsed, 50);
  docs[20] = service(20).replace('port: 100', 'port: 101');
  const second = cache.parse(docs.join(''));
  t.is(cache.parsed, 1);
  t.is(cache.reused, 49);
  t.deepEqual(second.map(positionOf), first.map(positionOf));
  for (let i = 0; i < 50; i++) {
    if (i === 20) t.not(second[i]!.result, first[i]!.result);
    else t.is((second[i]!.result as { object: unknown }).object, (first[i]!.result as { object: unknown }).object);
  }
  t.deepEqual(second, whole(docs.join('')));
});

test('inserting a document shifts later positions; duplicate documents each get their own position', (t) => {
  const cache = new FileDocumentCache();
  cache.parse(service(1) + service(2));
  const text = service(0) + service(1) + service(1) + service(2);
  const docs = cache.parse(text);
  t.deepEqual(docs.map(positionOf), ['0', '1', '2', '3']);
  t.deepEqual(docs, whole(text));
});

test('a syntax error names the line in the file, not in the piece', (t) => {
  const text = service(1) + service(2) + '---\napiVersion: v1\nkind: Service\nmetadata: { name: x\n';
  const expected = t.throws(() => parseObjectFile(text), { instanceOf: FileParseError });
  const error = t.throws(() => new FileDocumentCache().parse(text), { instanceOf: FileParseError });
  t.is(error!.line, expected!.line);
  t.is(error!.column, expected!.column);
  t.is(error!.reason, expected!.reason);
});

test('the YAML limits still hold piece by piece: an alias bomb in the third document, an oversize file', (t) => {
  const bomb = t.throws(() => new FileDocumentCache().parse(service(1) + service(2) + '---\n' + aliasBomb()), { instanceOf: FileParseError });
  t.regex(bomb!.message, /^document 2 expands to more than/);
  const big = t.throws(() => new FileDocumentCache().parse(service(1) + ' '.repeat(FILE_LIMITS.maxBytes)), { instanceOf: FileParseError });
  t.regex(big!.message, /larger than/);
});

test('splitDocuments cuts only at markers at the start of a line', (t) => {
  const pieces = splitDocuments('a: "---"\n  ---x\n---\nb: 1\n----\n--- \nc: 1');
  t.deepEqual(pieces.map((p) => [p.document, p.offset]), [[0, 0], [1, 16], [2, 30]]);
});

/** Parses two versions of a file through one cache; only the cache (and the number in the comments) outlive the call. */
function parseTwice(cache: FileDocumentCache, n: number): number {
  const file = (edit: number) => Array.from({ length: 20 }, (_, i) => `${service(i === 0 ? 100 + edit : i)}# kept-nowhere-${n}-${i}\n`).join('');
  cache.parse(file(0));
  return cache.parse(file(1)).length;
}

test('the cache keeps no text of the file (its pieces are remembered by digest)', async (t) => {
  const cache = new FileDocumentCache();
  const n = Math.floor(Math.random() * 1e9);
  t.is(parseTwice(cache, n), 20);
  t.is(cache.reused, 19, 'the pieces that did not change were still recognised');
  // A comment is in no parsed object: if its text is in the heap, the file text was kept.
  let snapshot = '';
  for await (const chunk of getHeapSnapshot()) snapshot += String(chunk);
  t.false(snapshot.includes(`kept-nowhere-${n}-`));
  t.is(cache.parse(Array.from({ length: 20 }, (_, i) => service(i + 1)).join('')).length, 20);
});
