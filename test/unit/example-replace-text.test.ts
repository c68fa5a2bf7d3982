// examples/plugins/replace-text.ts: a responseBody phase rewriting streamed text.
import test from 'ava';
import { testPlugin } from 'switchyard';
import replaceText from '../../examples/plugins/replace-text.ts';

test('every match is replaced, also one split across chunks; Content-Length goes', async (t) => {
  const h = testPlugin(replaceText, { from: 'internal.svc', to: 'shop.example.com' });
  const r = await h.request();
  const headers = await h.response(r, 200, { 'content-type': 'text/html', 'content-length': '61' });
  t.is(headers['content-length'], undefined);
  const body = await h.responseBody(r, ['<a href="https://internal.svc/a">x</a> <a href="//inter', 'nal.svc/b">y</a> internal.sv']);
  t.is(body.toString(), '<a href="https://shop.example.com/a">x</a> <a href="//shop.example.com/b">y</a> internal.sv');
});

test('binary, compressed and HEAD responses pass untouched', async (t) => {
  const h = testPlugin(replaceText, { from: 'a', to: 'b' });
  const image = await h.request();
  const headers = await h.response(image, 200, { 'content-type': 'image/png', 'content-length': '3' });
  t.is(headers['content-length'], '3');
  t.is((await h.responseBody(image, ['aaa'])).toString(), 'aaa');
  const gzipped = await h.request();
  await h.response(gzipped, 200, { 'content-type': 'text/plain', 'content-encoding': 'gzip' });
  t.is((await h.responseBody(gzipped, ['aaa'])).toString(), 'aaa');
  const head = await h.request({ method: 'HEAD' });
  await h.response(head, 200, { 'content-type': 'text/plain' });
  t.is((await h.responseBody(head, ['aaa'])).toString(), 'aaa');
});
