// The protobuf reader and the watch frame decoder on what a real server rarely sends: frames split
// at every byte, unknown fields of every wire type, negative int32s, and broken input (a truncated
// frame, a field running past its message, a wrong wire type), which must fail as ProtobufError —
// the informer then restarts the watch — never yield a wrong object. test/real/kube-protobuf.test.ts
// checks the decoders against a real API server.

import test from 'ava';
import { decodeList, decodeStatus } from '../../src/kube/protobuf-objects.ts';
import { ProtobufError, ProtobufReader } from '../../src/kube/protobuf-reader.ts';
import { ProtobufWatchEventDecoder } from '../../src/kube/protobuf-watch-events.ts';

// A protobuf writer for the test's input (the router only reads).
const varint = (n: number | bigint): number[] => {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  do {
    const byte = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v > 0n ? byte | 0x80 : byte);
  } while (v > 0n);
  return out;
};
const tag = (field: number, wire: number) => varint((field << 3) | wire);
const int = (field: number, n: number | bigint) => [...tag(field, 0), ...varint(n)];
const bytes = (field: number, data: number[] | Buffer) => [...tag(field, 2), ...varint(data.length), ...data];
const str = (field: number, s: string) => bytes(field, [...Buffer.from(s)]);
const msg = (field: number, ...fields: number[][]) => bytes(field, fields.flat());
const fixed32 = (field: number) => [...tag(field, 5), 1, 2, 3, 4];
const fixed64 = (field: number) => [...tag(field, 1), 1, 2, 3, 4, 5, 6, 7, 8];

const envelope = (apiVersion: string, kind: string, raw: number[]) =>
  Buffer.from([...Buffer.from('k8s\0', 'latin1'), ...msg(1, str(1, apiVersion), str(2, kind)), ...bytes(2, raw), ...str(4, 'application/vnd.kubernetes.protobuf')]);

/** A Service with unknown fields of every wire type among the known ones. */
const service = (name: string, resourceVersion: string) => [
  ...msg(1, str(1, name), str(3, 'app'), str(6, resourceVersion), fixed64(99), msg(11, str(1, 'tier'), str(2, 'web')), msg(11, str(1, 'team'), str(2, 'shop'))),
  ...msg(2,
    msg(1, str(1, 'http'), str(2, 'TCP'), int(3, 80), msg(4, int(1, 1), str(3, 'web')), fixed32(77)),
    msg(1, int(3, 81), msg(4, int(1, 0), int(2, -1))),
    str(3, 'None'), int(42, 7)),
  ...msg(3, str(1, 'status is skipped')),
];

const frame = (type: string, object: Buffer) => {
  const event = Buffer.from([...str(1, type), ...msg(2, bytes(1, object))]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(event.length);
  return Buffer.concat([length, event]);
};

test('watch frames split at every byte give the same events', (t) => {
  const stream = Buffer.concat([
    frame('ADDED', envelope('v1', 'Service', service('a', '10'))),
    frame('MODIFIED', envelope('v1', 'Service', service('b', '11'))),
    frame('BOOKMARK', envelope('v1', 'Service', msg(1, str(6, '12'), msg(12, str(1, 'k8s.io/initial-events-end'), str(2, 'true'))))),
    frame('ERROR', envelope('v1', 'Status', [...str(2, 'Failure'), ...str(3, 'too old resource version'), ...str(4, 'Expired'), ...int(6, 410)])),
  ]);
  const whole = [...new ProtobufWatchEventDecoder('Service').push(stream)];
  t.deepEqual(whole.map((e) => e.type), ['ADDED', 'MODIFIED', 'BOOKMARK', 'ERROR']);
  t.deepEqual(whole[0]!.object, {
    metadata: { name: 'a', namespace: 'app', resourceVersion: '10', labels: { tier: 'web', team: 'shop' } },
    spec: { ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 'web' }, { port: 81, targetPort: -1 }], clusterIP: 'None' },
  });
  t.deepEqual(whole[2]!.object.metadata, { resourceVersion: '12', annotations: { 'k8s.io/initial-events-end': 'true' } });
  t.like(whole[3]!.object, { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' });
  for (let cut = 1; cut < stream.length; cut++) {
    const decoder = new ProtobufWatchEventDecoder('Service');
    const events = [...decoder.push(stream.subarray(0, cut)), ...decoder.push(stream.subarray(cut))];
    decoder.end();
    if (JSON.stringify(events) !== JSON.stringify(whole)) return t.fail(`split at ${cut}`);
  }
  const decoder = new ProtobufWatchEventDecoder('Service');
  const oneByOne = [...stream].flatMap((b) => [...decoder.push(Buffer.from([b]))]);
  t.deepEqual(oneByOne, whole);
});

test('a list: items and the continue token, in the JSON shapes', (t) => {
  const list = envelope('v1', 'ServiceList', [...msg(1, str(2, '99'), str(3, 'next-page')), ...msg(2, service('a', '1')), ...msg(2, service('b', '2'))]);
  const { metadata, items } = decodeList('Service', list);
  t.deepEqual(metadata, { resourceVersion: '99', continue: 'next-page' });
  t.deepEqual(items.map((i: any) => i.metadata.name), ['a', 'b']);
  t.throws(() => decodeList('EndpointSlice', list), { instanceOf: ProtobufError, message: /expected a EndpointSliceList, the server sent ServiceList/ });
  t.throws(() => decodeList('Service', Buffer.from('{"kind":"ServiceList"}')), { instanceOf: ProtobufError, message: /envelope/ });
});

test('an EndpointSlice: JSON nulls for absent lists, pointer fields kept when empty', (t) => {
  const slice = envelope('discovery.k8s.io/v1', 'EndpointSliceList', [...msg(2,
    msg(1, str(1, 's-1')), str(4, 'IPv4'),
    msg(2, str(1, '203.0.113.1'), msg(2, int(1, 1), int(3, 0)), str(6, 'node-1'), msg(4, str(1, 'Pod'), str(3, 'p'), str(4, ''))),
    msg(2, str(1, '203.0.113.2')),
    msg(3, str(1, ''), int(3, 8080))),
    ...msg(2, msg(1, str(1, 'empty')), str(4, 'IPv4'))]);
  const [withEndpoints, empty] = decodeList('EndpointSlice', slice).items;
  t.deepEqual(withEndpoints, {
    metadata: { name: 's-1' }, addressType: 'IPv4',
    endpoints: [
      { addresses: ['203.0.113.1'], conditions: { ready: true, terminating: false }, nodeName: 'node-1', targetRef: { kind: 'Pod', name: 'p' } },
      { addresses: ['203.0.113.2'], conditions: {} },
    ],
    ports: [{ name: '', port: 8080 }],
  });
  t.deepEqual(empty, { metadata: { name: 'empty' }, addressType: 'IPv4', endpoints: null, ports: null });
});

test('broken input fails as ProtobufError', (t) => {
  const good = frame('ADDED', envelope('v1', 'Service', service('a', '1')));
  const truncated = new ProtobufWatchEventDecoder('Service');
  t.deepEqual([...truncated.push(good.subarray(0, good.length - 3))], []);
  t.throws(() => truncated.end(), { instanceOf: ProtobufError, message: /ended inside a frame/ });
  // A field whose length runs past its message (the frame's own length is right).
  const event = Buffer.from([...str(1, 'ADDED'), ...tag(2, 2), ...varint(200), 1, 2, 3]);
  const overlong = Buffer.concat([Buffer.from([0, 0, 0, event.length]), event]);
  t.throws(() => [...new ProtobufWatchEventDecoder('Service').push(overlong)], { instanceOf: ProtobufError, message: /runs past the message/ });
  // A string field sent as a varint.
  t.throws(() => decodeStatus(envelope('v1', 'Status', int(3, 5))), { instanceOf: ProtobufError, message: /wire type 0, expected 2/ });
  t.throws(() => [...new ProtobufWatchEventDecoder('Service').push(frame('SOMETHING', envelope('v1', 'Service', [])))], { message: /watch event of type "SOMETHING"/ });
  const huge = Buffer.alloc(8);
  huge.writeUInt32BE(2 ** 31);
  t.throws(() => [...new ProtobufWatchEventDecoder('Service').push(huge)], { message: /watch frame of 2147483648 bytes/ });
});

test('varints: int32 negatives from ten bytes, large uints', (t) => {
  const r = new ProtobufReader(Buffer.from([...int(1, -5), ...int(2, 2 ** 40), ...int(3, 300)]));
  t.true(r.next());
  t.is(r.int32(), -5);
  t.true(r.next());
  t.is(r.uint(), 2 ** 40);
  t.true(r.next());
  t.is(r.int32(), 300);
  t.false(r.next());
});
