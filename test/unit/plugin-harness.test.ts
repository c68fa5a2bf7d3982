// testPlugin (src/pipeline/testing.ts): a plugin's phases driven without a router, bodies included.
import test from 'ava';
import { testPlugin, definePlugin, Type } from 'switchyard';
import bodyCheck from '../fixtures/plugins/body-check.ts';
import shout from '../fixtures/plugins/shout.ts';

test('a request body reaches readBody; what it refuses is answered, what it accepts is forwarded', async (t) => {
  const h = testPlugin(bodyCheck, { limit: 64 });
  const refused = await h.request({ method: 'POST', body: 'this is forbidden' });
  t.is(refused.answer?.status, 422);
  t.is(refused.answer?.body, 'refused 17 bytes\n');
  const accepted = await h.request({ method: 'POST', body: ['fine ', 'and ', 'chunked'] });
  t.is(accepted.answer, null);
  t.is(accepted.upstreamBody?.toString(), 'fine and chunked');
  const large = await h.request({ method: 'POST', body: 'x'.repeat(65) });
  t.regex(String(large.error), /larger than 64 bytes/);
});

test('requestBody and responseBody phases run chunk by chunk, their state in ctx.local', async (t) => {
  const h = testPlugin(shout, {});
  const r = await h.request({ method: 'POST', body: ['abc', 'def'] });
  t.is(r.upstreamBody?.toString(), 'ABCDEF');
  const headers = await h.response(r, 200, { 'content-length': '2' });
  t.is(headers['content-length'], undefined);
  t.is((await h.responseBody(r, ['ok', '!'])).toString(), 'OK!\n[up 6 down 3 chunks 2]');
});

test('a failure phase: its answer and its retry request', async (t) => {
  const plugin = definePlugin({
    name: 'decides',
    config: Type.Object({}),
    create: () => ({
      failure(ctx) {
        if (ctx.failure!.reason === 'connect') ctx.retry();
        else ctx.respond(502, `gave up after ${ctx.failure!.attempt}`);
      },
    }),
  });
  const h = testPlugin(plugin, {}, { endpoints: [{ port: 1 }, { port: 2 }] });
  const r = await h.request();
  t.deepEqual(await h.failure(r), { answer: null, retry: true });
  t.like(await h.failure(r, { reason: 'timeout' }), { answer: { status: 502, body: 'gave up after 2', headers: null }, retry: false });
});
