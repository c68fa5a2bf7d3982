import test from 'ava';
import { matchesPath, normalizeHost, pathEnd, pathMatcher } from '../../src/table/match.ts';
import type { PathMatch } from '../../src/table/types.ts';

function matches(match: PathMatch, rule: string, target: string): boolean {
  const m = pathMatcher({ path: rule, match });
  return matchesPath(m.kind, m.pattern, target, pathEnd(target));
}

test('normalizeHost: case, port, IPv6 port, one trailing dot', (t) => {
  t.is(normalizeHost('Foo.Example.COM'), 'foo.example.com');
  t.is(normalizeHost('foo.com:8080'), 'foo.com');
  t.is(normalizeHost('foo.com.'), 'foo.com');
  t.is(normalizeHost('foo.com.:443'), 'foo.com');
  t.is(normalizeHost('foo.com..'), 'foo.com.');
  t.is(normalizeHost('[::1]:8080'), '[::1]');
  t.is(normalizeHost('[::1]'), '[::1]');
  t.is(normalizeHost(''), '');
});

const table: Array<[PathMatch, string, string, boolean]> = [
  // Route-style
  ['route', '', '/anything', true],
  ['route', '/', '/anything', true],
  ['route', '/sub', '/sub', true],
  ['route', '/sub', '/sub/', true],
  ['route', '/sub', '/sub/x', true],
  ['route', '/sub', '/subpar', false],
  ['route', '/sub', '/su', false],
  ['route', '/sub', '/sub?x=1', true],
  ['route', '/sub', '/subpar?x=/', false],
  ['route', '/sub/', '/sub/', true],
  ['route', '/sub/', '/sub/x', true],
  ['route', '/sub/', '/sub', false],
  ['route', '/sub/', '/sub?a=/', false],
  // Exact
  ['exact', '/foo', '/foo', true],
  ['exact', '/foo', '/foo?q', true],
  ['exact', '/foo', '/foo/', false],
  ['exact', '/foo', '/FOO', false],
  ['exact', '/foo', '/fo', false],
  // Prefix by path element, trailing slash ignored
  ['prefix', '/', '/x', true],
  ['prefix', '/aaa/bbb/', '/aaa/bbb', true],
  ['prefix', '/aaa/bbb/', '/aaa/bbb/ccc', true],
  ['prefix', '/aaa/bbb/', '/aaa/bbbxyz', false],
  ['prefix', '/aaa/bbb', '/aaa/bbb/', true],
  ['prefix', '/aaa/bbb', '/aaa/bbb', true],
  ['prefix', '/aaa/bbb', '/aaa/bb', false],
  ['prefix', '/aaa/bbb', '/AAA/bbb', false],
  ['prefix', '/foo', '/foo?bar', true],
];

for (const [match, rule, target, expected] of table) {
  test(`${match} "${rule}" vs "${target}" → ${expected}`, (t) => {
    t.is(matches(match, rule, target), expected);
  });
}
