// YAML bounds of the file source (issue 10): an alias bomb ("billion laughs"), too many aliases
// and oversize files are refused as a parse error of that file, without expanding anything.
import test from 'ava';
import { FILE_LIMITS, FileParseError, parseObjectFile } from '../../src/sources/file-documents.ts';

/** 769 bytes of YAML that expand to 9^9 (387 million) strings. */
export function aliasBomb(): string {
  const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  const names = 'abcdefghi';
  for (let i = 1; i < names.length; i++) lines.push(`${names[i]}: &${names[i]} [${Array(9).fill(`*${names[i - 1]}`).join(',')}]`);
  return `apiVersion: v1\nkind: Service\nmetadata: { name: bomb, namespace: default }\nspec:\n  bomb:\n${lines.map((l) => `    ${l}`).join('\n')}\n`;
}

test('an alias bomb is a parse error naming the expansion, not hundreds of millions of nodes', (t) => {
  const error = t.throws(() => parseObjectFile(aliasBomb()), { instanceOf: FileParseError });
  t.regex(error!.message, /expands to more than 2000000 nodes through aliases/);
});

test('more aliases per document than the limit is a parse error', (t) => {
  const refs = Array(FILE_LIMITS.maxAliases + 1).fill('*x').join(',');
  const error = t.throws(() => parseObjectFile(`anchor: &x 1\nrefs: [${refs}]\n`), { instanceOf: FileParseError });
  t.regex(error!.message, /maxAliases/);
});

test('a few aliases are fine', (t) => {
  const docs = parseObjectFile('apiVersion: v1\nkind: Namespace\nmetadata: &m { name: team-a }\n---\napiVersion: v1\nkind: Namespace\nmetadata: { name: team-b, labels: { copy: x } }\n');
  t.is(docs.length, 2);
  t.true(docs.every((d) => d.result.ok));
});

test('a file over the size limit is refused before parsing', (t) => {
  const error = t.throws(() => parseObjectFile(' '.repeat(FILE_LIMITS.maxBytes + 1)), { instanceOf: FileParseError });
  t.regex(error!.message, /larger than/);
});
