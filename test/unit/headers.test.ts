import test from 'ava';
import { upstreamRequestHeaders, clientResponseHeaders, forwardedNode, applyForwardedInPlace, clientAddress, type ForwardedInfo } from '../../src/proxy/headers.ts';

const info: ForwardedInfo = { clientIp: '192.0.2.7', host: 'shop.example.com', port: 80, proto: 'http' };

function asObject(flat: string[]): Record<string, string[] | undefined> {
  const out: Record<string, string[] | undefined> = {};
  for (let i = 0; i < flat.length; i += 2) (out[flat[i]!] ??= []).push(flat[i + 1]!);
  return out;
}

test('hop-by-hop headers and those named by Connection are removed; TE keeps only trailers', (t) => {
  const h = asObject(upstreamRequestHeaders({
    host: 'shop.example.com', connection: 'keep-alive, X-Hop, upgrade', 'x-hop': '1', upgrade: 'h2c', 'keep-alive': 'timeout=5',
    'proxy-connection': 'keep-alive', 'proxy-authorization': 'Basic x', te: 'trailers, deflate', trailer: 'x-sum',
    'transfer-encoding': 'chunked', expect: '100-continue', 'x-keep': 'yes',
  }, 'never', info));
  for (const gone of ['connection', 'x-hop', 'upgrade', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'trailer', 'transfer-encoding', 'expect']) {
    t.is(h[gone], undefined, gone);
  }
  t.deepEqual(h.te, ['trailers']);
  t.deepEqual(h['x-keep'], ['yes']);
  t.deepEqual(h.host, ['shop.example.com']);
});

test('TE without trailers is dropped entirely', (t) => {
  t.is(asObject(upstreamRequestHeaders({ te: 'gzip' }, 'never', info)).te, undefined);
});

test('h2 pseudo-headers are dropped and :authority becomes Host', (t) => {
  const h = asObject(upstreamRequestHeaders({ ':method': 'GET', ':path': '/', ':authority': 'x', ':scheme': 'https' }, 'never', { ...info, host: 'x' }));
  t.deepEqual(Object.keys(h), ['host']);
  t.deepEqual(h.host, ['x']);
});

test('append: client values are kept in front of ours', (t) => {
  const h = asObject(upstreamRequestHeaders({ 'x-forwarded-for': '10.0.0.1, 10.0.0.2', forwarded: 'for=10.0.0.1' }, 'append', info));
  t.deepEqual(h['x-forwarded-for'], ['10.0.0.1, 10.0.0.2, 192.0.2.7']);
  t.deepEqual(h.forwarded, ['for=10.0.0.1, for=192.0.2.7;host=shop.example.com;proto=http']);
  t.deepEqual(h['x-forwarded-proto'], ['http']);
  t.deepEqual(h['x-forwarded-port'], ['80']);
});

test('replace: client values never pass', (t) => {
  const h = asObject(upstreamRequestHeaders({ 'x-forwarded-for': '6.6.6.6', 'x-forwarded-host': 'evil', forwarded: 'for=6.6.6.6' }, 'replace', info));
  t.deepEqual(h['x-forwarded-for'], ['192.0.2.7']);
  t.deepEqual(h['x-forwarded-host'], ['shop.example.com']);
  t.deepEqual(h.forwarded, ['for=192.0.2.7;host=shop.example.com;proto=http']);
});

test('if-none: each header set only when absent', (t) => {
  const h = asObject(upstreamRequestHeaders({ 'x-forwarded-proto': 'https' }, 'if-none', info));
  t.deepEqual(h['x-forwarded-proto'], ['https']);
  t.deepEqual(h['x-forwarded-for'], ['192.0.2.7']);
});

test('never: nothing added, nothing removed', (t) => {
  const h = asObject(upstreamRequestHeaders({ 'x-forwarded-for': '6.6.6.6' }, 'never', info));
  t.deepEqual(h['x-forwarded-for'], ['6.6.6.6']);
  t.is(h.forwarded, undefined);
});

test('Forwarded quotes IPv6 nodes and hosts with a port (RFC 7239)', (t) => {
  t.is(forwardedNode('2001:db8::1'), '"[2001:db8::1]"');
  t.is(forwardedNode('::ffff:192.0.2.1'), '192.0.2.1');
  t.is(forwardedNode('192.0.2.1'), '192.0.2.1');
  const h = asObject(upstreamRequestHeaders({}, 'replace', { clientIp: '2001:db8::1', host: 'shop.example.com:8080', port: 8080, proto: 'https' }));
  t.deepEqual(h.forwarded, ['for="[2001:db8::1]";host="shop.example.com:8080";proto=https']);
});

test('response: hop-by-hop removed, end-to-end kept', (t) => {
  const out = clientResponseHeaders({ connection: 'close, x-internal', 'x-internal': '1', 'keep-alive': 'timeout=5', 'transfer-encoding': 'chunked', 'set-cookie': ['a=1', 'b=2'], 'content-type': 'text/plain' });
  t.deepEqual(out, { 'set-cookie': ['a=1', 'b=2'], 'content-type': 'text/plain' });
});

test('WebSocket: the policy applies in place; IPv4-mapped client addresses are unwrapped', (t) => {
  const headers: Record<string, string | string[] | undefined> = { 'x-forwarded-for': '6.6.6.6' };
  applyForwardedInPlace(headers, 'replace', info);
  t.is(headers['x-forwarded-for'], '192.0.2.7');
  t.is(clientAddress('::ffff:127.0.0.1'), '127.0.0.1');
  t.is(clientAddress('::1'), '::1');
});

test('if-none: a forwarded header the client names in Connection is dropped and set by the router, never left missing', (t) => {
  const out = upstreamRequestHeaders(
    { host: 'a.test', connection: 'X-Forwarded-For, X-Forwarded-Proto', 'x-forwarded-for': '6.6.6.6', 'x-forwarded-proto': 'https' },
    'if-none', { clientIp: '10.1.2.3', host: 'a.test', port: 80, proto: 'http' },
  );
  const headers = new Map<string, string[]>();
  for (let i = 0; i < out.length; i += 2) headers.set(out[i]!, [...(headers.get(out[i]!) ?? []), out[i + 1]!]);
  t.deepEqual(headers.get('x-forwarded-for'), ['10.1.2.3']);
  t.deepEqual(headers.get('x-forwarded-proto'), ['http']);
  const bare = upstreamRequestHeaders({ host: 'a.test', connection: 'X-Forwarded-For' }, 'if-none', { clientIp: '10.1.2.3', host: 'a.test', port: 80, proto: 'http' });
  t.true(bare.includes('x-forwarded-for'));
});
