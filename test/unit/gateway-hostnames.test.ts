import test from 'ava';
import { hostnameMatches, intersectHostname, routeHostsOnListener, validHostname } from '../../src/gateway/hostnames.ts';

test('a wildcard is a suffix match of any depth, never the bare domain', (t) => {
  t.true(hostnameMatches('*.example.com', 'a.example.com'));
  t.true(hostnameMatches('*.example.com', 'a.b.example.com'));
  t.false(hostnameMatches('*.example.com', 'example.com'));
  t.false(hostnameMatches('*.example.com', 'aexample.com'));
  t.true(hostnameMatches('a.example.com', 'a.example.com'));
  t.false(hostnameMatches('a.example.com', 'b.example.com'));
});

// The examples of the HTTPRoute spec.hostnames documentation.
const cases: Array<[listener: string, route: string, expected: string | null]> = [
  ['test.example.com', 'test.example.com', 'test.example.com'],
  ['test.example.com', '*.example.com', 'test.example.com'],
  ['test.example.com', 'other.example.com', null],
  ['*.example.com', '*.example.com', '*.example.com'],
  ['*.example.com', 'test.example.com', 'test.example.com'],
  ['*.example.com', 'foo.test.example.com', 'foo.test.example.com'],
  ['*.example.com', '*.test.example.com', '*.test.example.com'],
  ['*.test.example.com', '*.example.com', '*.test.example.com'],
  ['*.example.com', 'example.com', null],
  ['*.example.com', 'test.example.net', null],
  ['', 'a.example.com', 'a.example.com'],
  ['a.example.com', '', 'a.example.com'],
];
for (const [listener, route, expected] of cases) {
  test(`intersection of listener "${listener}" and route "${route}" is ${expected === null ? 'empty' : `"${expected}"`}`, (t) => {
    t.is(intersectHostname(listener, route), expected);
  });
}

test('route hosts on a listener: non-matching names are ignored; none left means no attachment', (t) => {
  t.deepEqual(routeHostsOnListener('*.example.com', ['test.example.com', 'test.example.net']), ['test.example.com']);
  t.deepEqual(routeHostsOnListener('*.example.com', ['x.example.net']), []);
  t.deepEqual(routeHostsOnListener('', []), ['']);
  t.deepEqual(routeHostsOnListener('a.example.com', []), ['a.example.com']);
  t.deepEqual(routeHostsOnListener('a.example.com', ['*.example.com', 'a.example.com']), ['a.example.com']);
});

test('valid hostnames: RFC 1123, optional leading wildcard label, no IP address', (t) => {
  t.true(validHostname('a.example.com'));
  t.true(validHostname('*.example.com'));
  t.false(validHostname('a.*.example.com'));
  t.false(validHostname('1.2.3.4'));
  t.false(validHostname('Upper.example.com'));
  t.false(validHostname(''));
});
