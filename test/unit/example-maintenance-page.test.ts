// examples/plugins/maintenance-page.ts: a failure phase that retries once, then answers a page.
import test from 'ava';
import { testPlugin } from 'switchyard';
import maintenance from '../../examples/plugins/maintenance-page.ts';

const endpoints = [{ address: '10.0.0.1', port: 80 }, { address: '10.0.0.2', port: 80 }];

test('the first failure asks for another endpoint; the second is answered with the page', async (t) => {
  const h = testPlugin(maintenance, { html: '<h1>Back soon</h1>', retryAfter: 30 }, { endpoints });
  const r = await h.request();
  t.deepEqual(await h.failure(r, { reason: 'connect' }), { answer: null, retry: true });
  const second = await h.failure(r, { reason: 'timeout' });
  t.false(second.retry);
  t.is(second.answer?.status, 503);
  t.is(second.answer?.body, '<h1>Back soon</h1>');
  t.like(second.answer?.headers, { 'retry-after': '30', 'content-type': 'text/html; charset=utf-8' });
});

test('a response that has started is left to the router (cut); endpoint 502s are replaced only when asked', async (t) => {
  const h = testPlugin(maintenance, { html: 'sorry' }, { endpoints });
  const r = await h.request();
  t.deepEqual(await h.failure(r, { reason: 'reset', responseStarted: true }), { answer: null, retry: false });
  const plain = await h.request();
  await h.response(plain, 502);
  t.false(plain.ctx.answered, 'replaceGatewayErrors is off');

  const replacing = testPlugin(maintenance, { html: 'sorry', status: 599, replaceGatewayErrors: true }, { endpoints });
  const replaced = await replacing.request();
  await replacing.response(replaced, 504);
  t.true(replaced.ctx.answered);
});

test('the config is validated as admission would', (t) => {
  t.throws(() => testPlugin(maintenance, { html: '' }), { message: /spec\.config\.html/ });
  t.throws(() => testPlugin(maintenance, { html: 'x', status: 404 }), { message: /spec\.config\.status/ });
});
