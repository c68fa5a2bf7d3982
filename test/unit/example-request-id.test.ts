// examples/plugins/request-id.ts: an id per request, upstream and on the response.
import test from 'ava';
import { testPlugin } from 'switchyard';
import requestId from '../../examples/plugins/request-id.ts';

test('a fresh UUID per request, sent upstream and echoed on the response', async (t) => {
  const h = testPlugin(requestId);
  const a = await h.request();
  const b = await h.request({ headers: { 'x-request-id': 'client-chosen' } });
  t.regex(a.upstreamHeaders['x-request-id']!, /^[0-9a-f-]{36}$/);
  t.not(a.upstreamHeaders['x-request-id'], b.upstreamHeaders['x-request-id']);
  t.not(b.upstreamHeaders['x-request-id'], 'client-chosen', 'incoming ids are not trusted by default');
  t.is((await h.response(a, 200))['x-request-id'], a.upstreamHeaders['x-request-id']);
});

test('trustIncoming keeps a well-formed client id and replaces a malformed one', async (t) => {
  const h = testPlugin(requestId, { trustIncoming: true, header: 'X-Correlation-Id' });
  t.is((await h.request({ headers: { 'x-correlation-id': 'abc-123' } })).upstreamHeaders['x-correlation-id'], 'abc-123');
  t.regex((await h.request({ headers: { 'x-correlation-id': 'bad value\u0001' } })).upstreamHeaders['x-correlation-id']!, /^[0-9a-f-]{36}$/);
});
