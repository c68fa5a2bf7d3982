// examples/plugins/api-key.ts, unit-tested with the plugin harness (no router).
import test from 'ava';
import { testPlugin } from 'switchyard';
import apiKey from '../../examples/plugins/api-key.ts';

test('config is validated as admission would: keys required, at least 8 characters', (t) => {
  t.throws(() => testPlugin(apiKey, {}), { message: /spec\.config(\.keys)?: / });
  t.throws(() => testPlugin(apiKey, { keys: ['short'] }), { message: /spec\.config\.keys\[0\]/ });
});

test('no key or a wrong key: 401; a right key (header or bearer) passes and is not forwarded', async (t) => {
  const h = testPlugin(apiKey, { keys: ['correct-horse'] });
  t.is((await h.request()).answer?.status, 401);
  t.is((await h.request({ headers: { 'x-api-key': 'wrong-horse!' } })).answer?.status, 401);
  const ok = await h.request({ headers: { 'x-api-key': 'correct-horse', other: 'kept' } });
  t.is(ok.answer, null);
  t.is(ok.upstreamHeaders['x-api-key'], undefined);
  t.is(ok.upstreamHeaders.other, 'kept');
  const bearer = await h.request({ headers: { authorization: 'Bearer correct-horse' } });
  t.is(bearer.answer, null);
  t.is(bearer.upstreamHeaders.authorization, undefined);
});

test('a custom header name', async (t) => {
  const h = testPlugin(apiKey, { keys: ['correct-horse'], header: 'X-Token' });
  t.is((await h.request({ headers: { 'x-token': 'correct-horse' } })).answer, null);
  t.is((await h.request({ headers: { 'x-api-key': 'correct-horse' } })).answer?.status, 401);
});
