// The CBOR watch stream decoder (`application/cbor-seq`, what kube-apiserver answers a watch of a
// custom resource that accepts CBOR behind its CBORServingAndStorage gate): events as
// kube-apiserver writes them (each self-described, tag 55799, on the event and on its object;
// strings as byte strings), split at every byte boundary, many in one chunk, and broken streams,
// which must fail as CborError, never yield a wrong event. test/real/kube-cbor.test.ts reads a
// router's Routes over a real API server's CBOR watch.

import test from 'ava';
import { CborError } from '../../src/kube/cbor-objects.ts';
import { CborWatchEventDecoder } from '../../src/kube/cbor-watch-events.ts';
import type { WatchEvent } from '../../src/kube/watch-events.ts';

/** A CBOR head: major type and argument, in the shortest form (as kube-apiserver's encoder writes). */
function head(major: number, value: number): Buffer {
  const type = major << 5;
  if (value < 24) return Buffer.from([type | value]);
  if (value < 0x100) return Buffer.from([type | 24, value]);
  if (value < 0x10000) { const b = Buffer.alloc(3); b[0] = type | 25; b.writeUInt16BE(value, 1); return b; }
  if (value < 0x100000000) { const b = Buffer.alloc(5); b[0] = type | 26; b.writeUInt32BE(value, 1); return b; }
  const b = Buffer.alloc(9); b[0] = type | 27; b.writeBigUInt64BE(BigInt(value), 1); return b;
}

/**
 * `value` as CBOR, as kube-apiserver writes an Unstructured: strings (and map keys) as byte
 * strings, integers, float64 for fractions; `indefinite` writes arrays and maps with
 * indefinite lengths (another encoder's choice, which a reader must take too).
 */
function cbor(value: unknown, indefinite = false): Buffer {
  if (value === null) return Buffer.from([0xf6]);
  if (value === true) return Buffer.from([0xf5]);
  if (value === false) return Buffer.from([0xf4]);
  if (typeof value === 'string') { const text = Buffer.from(value); return Buffer.concat([head(2, text.length), text]); }
  if (typeof value === 'number') {
    if (Number.isInteger(value)) return value >= 0 ? head(0, value) : head(1, -1 - value);
    const b = Buffer.alloc(9); b[0] = 0xfb; b.writeDoubleBE(value, 1); return b;
  }
  if (Array.isArray(value)) {
    const items = value.map((v) => cbor(v, indefinite));
    return indefinite ? Buffer.concat([Buffer.from([0x9f]), ...items, Buffer.from([0xff])]) : Buffer.concat([head(4, items.length), ...items]);
  }
  const entries = Object.entries(value as object).flatMap(([k, v]) => [cbor(k), cbor(v, indefinite)]);
  return indefinite ? Buffer.concat([Buffer.from([0xbf]), ...entries, Buffer.from([0xff])]) : Buffer.concat([head(5, entries.length / 2), ...entries]);
}

const SELF_DESCRIBED = Buffer.from([0xd9, 0xd9, 0xf7]);

/** One event as kube-apiserver writes it: 55799({type, object: 55799(object)}). */
function event(type: string, object: unknown, indefinite = false): Buffer {
  const encoded = Buffer.concat([SELF_DESCRIBED, cbor(object, indefinite)]);
  return Buffer.concat([SELF_DESCRIBED, head(5, 2), cbor('type'), cbor(type), cbor('object'), encoded]);
}

const route = (name: string, resourceVersion: string) => ({
  apiVersion: 'route.openshift.io/v1', kind: 'Route',
  metadata: { name, namespace: 'app', resourceVersion, labels: {}, annotations: { note: `ü ✓ 水 ${'x'.repeat(300)}` } },
  spec: { host: `${name}.apps.example.com`, to: { kind: 'Service', name: 's', weight: 100 }, port: { targetPort: 8080 }, alternateBackends: [], tls: null, ratio: 0.5, offset: -3 },
});

const EVENTS: Array<[WatchEvent['type'], unknown]> = [
  ['ADDED', route('a', '10')],
  ['MODIFIED', route('b', '11')],
  ['DELETED', route('c', '12')],
  ['BOOKMARK', { apiVersion: 'route.openshift.io/v1', kind: 'Route', metadata: { resourceVersion: '13', annotations: { 'k8s.io/initial-events-end': 'true' } } }],
  ['ERROR', { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'too old resource version: 5 (13)', reason: 'Expired', code: 410 }],
];

function decodeAll(chunks: Buffer[]): WatchEvent[] {
  const decoder = new CborWatchEventDecoder();
  const events = chunks.flatMap((chunk) => [...decoder.push(chunk)]);
  decoder.end();
  return events;
}

test('a CBOR sequence of watch events, in one chunk: each event whole, in the JSON shapes', (t) => {
  const stream = Buffer.concat(EVENTS.map(([type, object]) => event(type, object)));
  const events = decodeAll([stream]);
  t.deepEqual(events, EVENTS.map(([type, object]) => ({ type, object })));
  t.is(events[3]!.object.metadata.annotations['k8s.io/initial-events-end'], 'true');
  t.like(events[4]!.object, { code: 410, reason: 'Expired' });
});

test('events split at every byte boundary, and one byte at a time, give the same events', (t) => {
  for (const indefinite of [false, true]) {
    const stream = Buffer.concat(EVENTS.map(([type, object]) => event(type, object, indefinite)));
    const whole = decodeAll([stream]);
    t.is(whole.length, EVENTS.length);
    for (let cut = 0; cut <= stream.length; cut++) {
      const events = decodeAll([stream.subarray(0, cut), stream.subarray(cut)]);
      if (JSON.stringify(events) !== JSON.stringify(whole)) return t.fail(`split at ${cut} (indefinite: ${indefinite})`);
    }
    // Three pieces: a head cut, then its argument cut again (the carried head spans chunks).
    for (let cut = 1; cut + 2 <= stream.length; cut += 7) {
      const events = decodeAll([stream.subarray(0, cut), stream.subarray(cut, cut + 1), stream.subarray(cut + 1)]);
      if (JSON.stringify(events) !== JSON.stringify(whole)) return t.fail(`three pieces at ${cut} (indefinite: ${indefinite})`);
    }
    t.deepEqual(decodeAll([...stream].map((b) => Buffer.from([b]))), whole);
  }
});

test('each event is yielded as soon as its last byte arrives, not later', (t) => {
  const first = event(...EVENTS[0]!);
  const second = event(...EVENTS[1]!);
  const decoder = new CborWatchEventDecoder();
  t.deepEqual([...decoder.push(first.subarray(0, first.length - 1))], []);
  t.deepEqual([...decoder.push(Buffer.concat([first.subarray(first.length - 1), second.subarray(0, 5)]))].map((e) => e.type), ['ADDED']);
  t.deepEqual([...decoder.push(second.subarray(5))].map((e) => e.type), ['MODIFIED']);
  decoder.end();
});

test('long strings and 8-byte lengths across chunks', (t) => {
  const big = { metadata: { name: 'big', annotations: { blob: 'y'.repeat(70_000) } } };
  const stream = Buffer.concat([event('ADDED', big), event('DELETED', { metadata: { name: 'big' } })]);
  const chunks: Buffer[] = [];
  for (let at = 0; at < stream.length; at += 1000) chunks.push(stream.subarray(at, at + 1000));
  t.deepEqual(decodeAll(chunks).map((e) => [e.type, e.object.metadata.name, e.object.metadata.annotations?.blob?.length]), [['ADDED', 'big', 70_000], ['DELETED', 'big', undefined]]);
  // A string whose length is written in 8 bytes (another encoder may): 0x5b + 8-byte length.
  const long = Buffer.concat([Buffer.from([0xa2]), cbor('type'), cbor('ADDED'), cbor('object'), Buffer.from([0xa1]), cbor('k'), Buffer.from([0x5b, 0, 0, 0, 0, 0, 0, 0, 3]), Buffer.from('abc')]);
  t.deepEqual(decodeAll([...long].map((b) => Buffer.from([b]))), [{ type: 'ADDED', object: { k: 'abc' } }]);
});

test('broken streams fail as errors, never as events', (t) => {
  const good = event(...EVENTS[0]!);
  const cut = new CborWatchEventDecoder();
  t.deepEqual([...cut.push(good.subarray(0, good.length - 3))], []);
  t.throws(() => cut.end(), { instanceOf: CborError, message: /ended inside an event/ });
  const cutHead = new CborWatchEventDecoder();
  t.deepEqual([...cutHead.push(good.subarray(0, 1))], []); // the first byte of the tag's 3-byte head
  t.throws(() => cutHead.end(), { instanceOf: CborError, message: /ended inside an event/ });
  for (const [input, message] of [
    ['ff', /break outside/], // a break with nothing open
    ['1c', /reserved/], // reserved additional information
    ['1f', /indefinite length on major type 0/],
    ['5b 00 00 01 00 00 00 00 00', /a string of \d+ bytes/], // 1 TiB announced: refused at once, nothing buffered
    ['9b 00 00 01 00 00 00 00 00', /a container of/],
    ['a0', /not an event/], // an empty map
    ['a2 44 74797065 44 4e4f5045 46 6f626a656374 a0', /watch event of type "NOPE"/],
  ] as const) {
    t.throws(() => decodeAll([Buffer.from(input.replace(/\s+/g, ''), 'hex')]), { message }, input);
  }
  t.throws(() => decodeAll([Buffer.from([...Array(2000).fill(0x81), 0x01])]), { instanceOf: CborError, message: /deeply/ });
});

test('memory is bounded by one event: a stream of 80 MB in small events goes through, one event past 64 MiB is refused', (t) => {
  // The decoder refuses to hold more than 64 MiB of one event; a stream that kept completed
  // events' bytes would cross that too.
  const one = event('ADDED', route('a', '1'));
  const chunk = Buffer.concat(Array.from({ length: 8 }, () => one));
  const decoder = new CborWatchEventDecoder();
  let count = 0;
  let bytes = 0;
  while (bytes < 80 * 2 ** 20) {
    count += [...decoder.push(chunk)].length;
    bytes += chunk.length;
  }
  decoder.end();
  t.is(count, 8 * Math.ceil(80 * 2 ** 20 / chunk.length));
  // One event that never ends: an indefinite-length array of zeros, 1 MiB at a time.
  const endless = new CborWatchEventDecoder();
  t.deepEqual([...endless.push(Buffer.concat([Buffer.from([0xa2]), cbor('type'), cbor('ADDED'), cbor('object'), Buffer.from([0x9f])]))], []);
  const zeros = Buffer.alloc(2 ** 20);
  t.throws(() => { for (let i = 0; i < 70; i++) [...endless.push(zeros)]; }, { instanceOf: CborError, message: /watch event of more than 67108864 bytes/ });
});
