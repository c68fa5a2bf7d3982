// The compress plugin on its own (src/plugins/compress.ts): negotiation, what it leaves alone,
// the headers it sets, and bodies that decompress to what went in — gzip, brotli, zstd.
import test from 'ava';
import zlib from 'node:zlib';
import { testPlugin } from '../../src/pipeline/testing.ts';
import compress, { negotiate } from '../../src/plugins/compress.ts';

const JSON_TYPE = { 'content-type': 'application/json; charset=utf-8' };
const body = JSON.stringify(Array.from({ length: 500 }, (_, i) => ({ id: i, name: `item ${i}`, tags: ['a', 'b'] })));

test('negotiate: the client\'s q-values first, then the configured order; q=0 refuses; * and x-gzip', (t) => {
  const all = ['br', 'zstd', 'gzip'] as const;
  t.is(negotiate('gzip, deflate, br', all), 'br');
  t.is(negotiate('gzip;q=1, br;q=0.5', all), 'gzip');
  t.is(negotiate('br;q=0, gzip', all), 'gzip');
  t.is(negotiate('identity', all), null);
  t.is(negotiate('*', all), 'br');
  t.is(negotiate('*;q=0.1, gzip;q=0', all), 'br');
  t.is(negotiate('x-gzip', ['gzip']), 'gzip');
  t.is(negotiate('zstd', ['br', 'gzip']), null, 'only what is offered');
  t.is(negotiate('GZIP;Q=0.5', all), 'gzip');
  t.is(negotiate(undefined, all), null);
  t.is(negotiate('gzip;q=abc', all), null);
});

for (const [encoding, decompress] of [
  ['gzip', zlib.gunzipSync], ['br', zlib.brotliDecompressSync], ['zstd', (zlib as unknown as { zstdDecompressSync(b: Buffer): Buffer }).zstdDecompressSync],
] as const) {
  test(`${encoding}: the body streams through and decompresses to what went in; the headers say so`, async (t) => {
    const h = testPlugin(compress, { encodings: [encoding] });
    const r = await h.request({ headers: { 'accept-encoding': 'gzip, br, zstd' } });
    const headers = await h.response(r, 200, { ...JSON_TYPE, 'content-length': String(body.length), etag: '"v1"', 'accept-ranges': 'bytes', vary: 'Origin' });
    t.is(headers['content-encoding'], encoding);
    t.is(headers['content-length'], undefined);
    t.is(headers['accept-ranges'], undefined);
    t.is(headers.etag, 'W/"v1"');
    t.is(headers.vary, 'Origin, Accept-Encoding');
    const chunks = [body.slice(0, 1000), body.slice(1000, 5000), body.slice(5000)];
    const out = await h.responseBody(r, chunks);
    t.true(out.length < body.length / 3, `compressed to ${out.length} of ${body.length}`);
    t.is(decompress(out).toString(), body);
  });
}

test('left alone: small, other types, already encoded, no-transform, ranges, HEAD, 204/304; Vary only when it could apply', async (t) => {
  const h = testPlugin(compress, { minSize: 2000, contentTypes: ['application/json', 'text/*'] });
  const check = async (request: Parameters<typeof h.request>[0], status: number, headers: Record<string, string>) => {
    const r = await h.request({ headers: { 'accept-encoding': 'gzip' }, ...request });
    const out = await h.response(r, status, { ...headers });
    const passed = (await h.responseBody(r, ['x'.repeat(10)])).toString();
    return { encoding: out['content-encoding'], vary: out.vary, passed };
  };
  const big = { ...JSON_TYPE, 'content-length': '5000' };
  t.is((await check({}, 200, big)).encoding, 'gzip');
  t.is((await check({}, 200, { 'content-type': 'text/csv' })).encoding, 'gzip', 'text/* matches; unknown length is compressed');
  t.like(await check({}, 200, { ...JSON_TYPE, 'content-length': '1999' }), { encoding: undefined, vary: undefined, passed: 'xxxxxxxxxx' });
  t.like(await check({}, 200, { 'content-type': 'image/png', 'content-length': '5000' }), { encoding: undefined, vary: undefined });
  t.is((await check({}, 200, { ...big, 'content-encoding': 'br' })).encoding, 'br');
  t.like(await check({}, 200, { ...big, 'cache-control': 'public, no-transform' }), { encoding: undefined });
  t.like(await check({}, 206, { ...big, 'content-range': 'bytes 0-99/5000' }), { encoding: undefined });
  t.like(await check({ method: 'HEAD' }, 200, big), { encoding: undefined });
  t.like(await check({}, 204, big), { encoding: undefined });
  t.like(await check({}, 304, big), { encoding: undefined });
  t.like(await check({ headers: { 'accept-encoding': 'identity' } }, 200, big), { encoding: undefined, vary: 'Accept-Encoding', passed: 'xxxxxxxxxx' });
  t.like(await check({ headers: {} }, 200, big), { encoding: undefined, vary: 'Accept-Encoding' });
});

test('the config is validated: unknown encodings and malformed media types are refused', (t) => {
  t.throws(() => testPlugin(compress, { encodings: ['deflate'] }), { message: /spec\.config\.encodings/ });
  t.throws(() => testPlugin(compress, { contentTypes: ['json'] }), { message: /spec\.config\.contentTypes\[0\]/ });
  t.throws(() => testPlugin(compress, { gzipLevel: 10 }), { message: /spec\.config\.gzipLevel/ });
});
