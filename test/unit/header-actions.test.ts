import test from 'ava';
import { parseHeaderActions, applyRequestActions, applyActions, renderValue } from '../../src/table/header-actions.ts';

const set = (name: string, value: string) => ({ name, action: { type: 'Set', set: { value } } });
const del = (name: string) => ({ name, action: { type: 'Delete' } });

test('parses Set and Delete with static and dynamic values', (t) => {
  const r = parseHeaderActions({ actions: { request: [set('X-Env', 'prod'), del('X-Debug')], response: [set('X-Frame-Options', 'SAMEORIGIN'), set('X-Echo', 'h=%[req.hdr(Host),lower] s=%[res.hdr(Server)]')] } });
  t.true(r.ok);
  if (!r.ok || r.value === null) return;
  t.deepEqual(r.value.request, [{ name: 'x-env', type: 'set', value: ['prod'] }, { name: 'x-debug', type: 'delete' }]);
  t.deepEqual(r.value.response[1]!.value, ['h=', { from: 'req', header: 'host', lower: true, base64: false }, ' s=', { from: 'res', header: 'server', lower: false, base64: false }]);
});

test('no httpHeaders or no actions: null', (t) => {
  t.deepEqual(parseHeaderActions(undefined), { ok: true, value: null });
  t.deepEqual(parseHeaderActions({}), { ok: true, value: null });
});

test('refuses what OpenShift refuses and what the router owns', (t) => {
  const bad = (actions: unknown) => { const r = parseHeaderActions({ actions }); return r.ok ? 'ok' : r.message; };
  t.regex(bad({ request: [set('Proxy', 'x')] }), /cannot be set or deleted/);
  t.regex(bad({ request: [set('Host', 'x')] }), /cannot be set or deleted/);
  t.regex(bad({ response: [set('Strict-Transport-Security', 'max-age=1')] }), /cannot be set or deleted/);
  t.regex(bad({ response: [del('Set-Cookie')] }), /cannot be set or deleted/);
  t.regex(bad({ request: [set('Transfer-Encoding', 'chunked')] }), /managed by the router/);
  t.regex(bad({ request: [set('X-A', '%[ssl_c_der,base64]')] }), /unsupported dynamic value/);
  t.regex(bad({ request: [set('X-A', '%[res.hdr(Server)]')] }), /only available in response/);
  t.regex(bad({ request: [set('X A', 'v')] }), /header name/);
  t.regex(bad({ request: [set('X-A', 'a\r\nInjected: 1')] }), /single-line/);
  t.regex(bad({ request: [{ name: 'X-A', action: { type: 'Append' } }] }), /Set or Delete/);
  t.regex(bad({ request: [set('X-A', '1'), set('x-a', '2')] }), /appears twice/);
  t.regex(bad({ request: Array.from({ length: 21 }, (_, i) => set(`X-${i}`, 'v')) }), /at most 20/);
});

test('request actions on the flat upstream list; response actions on the header object', (t) => {
  const r = parseHeaderActions({ actions: { request: [set('X-Env', 'prod'), del('X-Debug')], response: [set('X-Served-For', '%[req.hdr(Host),base64]'), del('Server')] } });
  if (!r.ok || r.value === null) return t.fail();
  const flat = applyRequestActions(['host', 'a.test', 'x-debug', '1', 'x-env', 'client'], r.value.request, { host: 'a.test' });
  t.deepEqual(flat, ['host', 'a.test', 'x-env', 'prod']);
  const out: Record<string, string | string[] | number | undefined> = { server: 'nginx', 'content-type': 'text/plain' };
  applyActions(out, r.value.response, { host: 'a.test' }, { server: 'nginx' });
  t.deepEqual(out, { 'content-type': 'text/plain', 'x-served-for': Buffer.from('a.test').toString('base64') });
  t.is(renderValue(['static'], {}, null), 'static');
});
