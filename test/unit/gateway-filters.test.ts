import test from 'ava';
import type { OutgoingHttpHeaders } from 'node:http';
import { modifyPath, modifyRequestHeaders, modifyResponseHeaders, redirectLocation, rewriteHost } from '../../src/gateway/filters.ts';
import type { RedirectSpec } from '../../src/table/types.ts';

test('RequestHeaderModifier: set replaces every value, add appends, remove drops', (t) => {
  const flat = ['host', 'a.test', 'x-set', 'one', 'x-set', 'two', 'x-add', 'first', 'x-remove', 'gone'];
  const out = modifyRequestHeaders(flat, { set: [['x-set', 'new']], add: [['x-add', 'second'], ['x-new', 'v']], remove: ['x-remove'] });
  t.deepEqual(out, ['host', 'a.test', 'x-add', 'first,second', 'x-set', 'new', 'x-new', 'v']);
});

test('ResponseHeaderModifier on the client response headers', (t) => {
  const headers: OutgoingHttpHeaders = { 'x-a': '1', 'x-b': '2', 'x-c': ['3', '4'] };
  modifyResponseHeaders(headers, { set: [['x-a', 'set']], add: [['x-c', '5'], ['x-d', 'new']], remove: ['x-b'] });
  t.deepEqual(headers, { 'x-a': 'set', 'x-c': '3,4,5', 'x-d': 'new' });
});

// The cases of the upstream conformance test httproute-rewrite-path.
const prefixCases: Array<[target: string, prefix: string, replacement: string, expected: string]> = [
  ['/prefix/one/two', '/prefix/one', '/one', '/one/two'],
  ['/strip-prefix/three', '/strip-prefix', '/', '/three'],
  ['/strip-prefix', '/strip-prefix', '/', '/'],
  ['/prefix/rewrite-path-and-modify-headers/one', '/prefix/rewrite-path-and-modify-headers', '/prefix', '/prefix/one'],
  ['/a/b?x=1', '/a', '/z/', '/z/b?x=1'],
  ['/a/', '/a/', '/b', '/b/'],
];
for (const [target, prefix, replacement, expected] of prefixCases) {
  test(`ReplacePrefixMatch ${prefix} → ${replacement}: ${target} becomes ${expected}`, (t) => {
    t.is(modifyPath(target, { type: 'ReplacePrefixMatch', value: replacement }, prefix), expected);
  });
}

test('ReplaceFullPath keeps the query string', (t) => {
  t.is(modifyPath('/full/one/two?q=1', { type: 'ReplaceFullPath', value: '/one' }, '/full/one'), '/one?q=1');
});

function redirect(spec: Partial<RedirectSpec>): RedirectSpec {
  return { scheme: null, hostname: null, port: null, path: null, statusCode: 302, ...spec };
}

test('redirect Location: unset fields keep the request; the scheme decides the port; default ports are left out', (t) => {
  const req = { secure: false, host: 'a.test', port: 8080, target: '/x?y=1' };
  t.is(redirectLocation(redirect({}), req, '/'), 'http://a.test:8080/x?y=1');
  t.is(redirectLocation(redirect({ scheme: 'https' }), req, '/'), 'https://a.test/x?y=1');
  t.is(redirectLocation(redirect({ scheme: 'https', port: 8443 }), req, '/'), 'https://a.test:8443/x?y=1');
  t.is(redirectLocation(redirect({ hostname: 'b.test' }), { ...req, port: 80 }, '/'), 'http://b.test/x?y=1');
  t.is(redirectLocation(redirect({ port: 443, scheme: 'http' }), req, '/'), 'http://a.test:443/x?y=1');
  t.is(redirectLocation(redirect({ path: { type: 'ReplaceFullPath', value: '/new' } }), { ...req, secure: true, port: 443 }, '/'), 'https://a.test/new?y=1');
  t.is(redirectLocation(redirect({ path: { type: 'ReplacePrefixMatch', value: '/v2' } }), { ...req, target: '/old/x' }, '/old'), 'http://a.test:8080/v2/x');
});

test('URLRewrite hostname replaces the Host header (or adds one)', (t) => {
  const flat = ['accept', '*/*', 'host', 'a.test'];
  rewriteHost(flat, 'b.test');
  t.deepEqual(flat, ['accept', '*/*', 'host', 'b.test']);
  const none: string[] = [];
  rewriteHost(none, 'c.test');
  t.deepEqual(none, ['host', 'c.test']);
});
