// The CBOR decoder (custom resources as kube-apiserver sends them behind its CBORServingAndStorage
// gate): RFC 8949's examples (Appendix A), strings as byte strings (kube-apiserver's encoding),
// indefinite lengths, []byte tags, and broken input, which must fail as CborError, never yield a
// wrong object. test/real/kube-cbor.test.ts reads Routes from a real API server with the gate on.

import test from 'ava';
import { CborError, decodeCbor, isCbor } from '../../src/kube/cbor-objects.ts';

const hex = (h: string) => Buffer.from(h.replace(/\s+/g, ''), 'hex');

test('RFC 8949 Appendix A: integers, floats, simple values, strings, arrays and maps', (t) => {
  const cases: Array<[string, unknown]> = [
    ['00', 0], ['17', 23], ['1818', 24], ['1903e8', 1000], ['1a000f4240', 1000000], ['1b000000e8d4a51000', 1000000000000],
    ['20', -1], ['3863', -100], ['3903e7', -1000],
    ['f90000', 0], ['f93c00', 1], ['f93e00', 1.5], ['f97bff', 65504], ['f90001', 5.960464477539063e-8], ['f9c400', -4],
    ['fa47c35000', 100000], ['fb3ff199999999999a', 1.1], ['f97c00', Infinity], ['f9fc00', -Infinity],
    ['f4', false], ['f5', true], ['f6', null], ['f7', null],
    ['60', ''], ['6161', 'a'], ['6449455446', 'IETF'], ['62225c', '"\\'], ['62c3bc', 'ü'], ['63e6b0b4', '水'],
    ['80', []], ['83010203', [1, 2, 3]], ['8301820203820405', [1, [2, 3], [4, 5]]],
    ['a0', {}], ['a26161016162820203', { a: 1, b: [2, 3] }], ['826161a161626163', ['a', { b: 'c' }]],
    ['7f657374726561646d696e67ff', 'streaming'], ['9fff', []], ['9f018202039f0405ffff', [1, [2, 3], [4, 5]]],
    ['bf61610161629f0203ffff', { a: 1, b: [2, 3] }], ['c074323031332d30332d32315432303a30343a30305a', '2013-03-21T20:04:00Z'],
  ];
  for (const [input, expected] of cases) t.deepEqual(decodeCbor(hex(input)), expected, input);
  t.true(Number.isNaN(decodeCbor(hex('f97e00'))));
});

test('kube-apiserver\'s encoding: self-described, strings (and map keys) as byte strings, read as UTF-8 text', (t) => {
  // 55799 { h'kind': h'Route', h'spec': { h'host': h'a.example.com', h'port': 8080 }, h'ünï': h'水' }
  const item = hex(`d9d9f7 a3 44 6b696e64 45 526f757465 44 73706563 a2 44 686f7374 4d 612e6578616d706c652e636f6d 44 706f7274 191f90
    45 c3bc6ec3af 43 e6b0b4`);
  t.deepEqual(decodeCbor(item), { kind: 'Route', spec: { host: 'a.example.com', port: 8080 }, 'ünï': '水' });
  // An indefinite-length byte string, in chunks.
  t.is(decodeCbor(hex('5f 42 6162 41 63 ff')), 'abc');
});

test('a []byte tagged with its JSON encoding (21 base64url, 22 base64, 23 base16) reads as that text', (t) => {
  t.is(decodeCbor(hex('d6 43 fbff00')), Buffer.from([0xfb, 0xff, 0x00]).toString('base64'));
  t.is(decodeCbor(hex('d5 43 fbff00')), Buffer.from([0xfb, 0xff, 0x00]).toString('base64url'));
  t.is(decodeCbor(hex('d7 43 fbff00')), 'fbff00');
});

test('`__proto__` is an own key, as JSON.parse makes it, never the prototype', (t) => {
  // { "__proto__": { "polluted": true } }
  const value = decodeCbor(hex('a1 49 5f5f70726f746f5f5f a1 48 706f6c6c75746564 f5')) as Record<string, unknown>;
  t.deepEqual(Object.keys(value), ['__proto__']);
  t.is(Object.getPrototypeOf(value), Object.prototype);
  t.is((value as { polluted?: unknown }).polluted, undefined);
  t.deepEqual(value, JSON.parse('{"__proto__":{"polluted":true}}'));
});

test('broken input fails as CborError', (t) => {
  for (const input of [
    '', '19 03', '44 6b69', '83 01 02', 'a1 61 61', '9f 01', '7f 61 61', // truncated
    '5f 61 61 ff', // a text chunk in a byte string
    '1c', 'fc', // reserved additional information
    'a1 01 02', // a map key that is not a string
    '9b 00 00 00 01 00 00 00 00', // a length far past the input
    '01 02', // bytes after the item
  ]) {
    t.throws(() => decodeCbor(hex(input)), { instanceOf: CborError }, input);
  }
  t.throws(() => decodeCbor(Buffer.from([...Array(2000).fill(0x81), 0x01])), { instanceOf: CborError, message: /deeply/ });
});

test('isCbor reads the Content-Type', (t) => {
  t.true(isCbor('application/cbor'));
  t.true(isCbor('application/cbor; charset=binary'));
  t.false(isCbor('application/json'));
  t.true(isCbor('application/cbor-seq'), 'a watch\'s answer (RFC 8742)');
  t.false(isCbor('application/cbor-seqx'));
  t.false(isCbor(undefined));
});
