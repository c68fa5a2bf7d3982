// PROXY protocol v1/v2 framing and decoding (src/proxy/proxy-protocol.ts): complete headers,
// every prefix of one is "incomplete", and malformed ones are "invalid" with a reason.
import test from 'ava';
import { encodeProxyHeader, parseProxyHeader, V2_MAX, ProxyProtocolGate } from '../../src/proxy/proxy-protocol.ts';
import { Metrics } from '../../src/metrics.ts';

const src4 = { address: '203.0.113.7', port: 51234 };
const dst4 = { address: '198.51.100.1', port: 443 };
const src6 = { address: '2001:db8::7', port: 40000 };
const dst6 = { address: '2001:db8:0:1::1', port: 80 };
const V2_SIG = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

function v2(versionCommand: number, family: number, body: Buffer): Buffer {
  const head = Buffer.alloc(16);
  V2_SIG.copy(head);
  head[12] = versionCommand;
  head[13] = family;
  head.writeUInt16BE(body.length, 14);
  return Buffer.concat([head, body]);
}

for (const version of [1, 2] as const) {
  for (const [name, src, dst] of [['TCP4', src4, dst4], ['TCP6', src6, dst6]] as const) {
    test(`v${version} ${name}: decoded; the request bytes after it are left alone; every prefix is incomplete`, (t) => {
      const header = encodeProxyHeader(version, src, dst);
      const data = Buffer.concat([header, Buffer.from('GET / HTTP/1.1\r\n')]);
      const parsed = parseProxyHeader(data);
      t.deepEqual(parsed, { status: 'ok', length: header.length, header: { version, local: false, source: src, destination: dst } });
      for (let n = 0; n < header.length; n++) t.deepEqual(parseProxyHeader(header.subarray(0, n)), { status: 'incomplete' }, `prefix of ${n} bytes`);
    });
  }
}

test('v1 UNKNOWN and v2 LOCAL/UNSPEC keep the peer address (the balancer\'s own connection)', (t) => {
  t.like(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n')), { status: 'ok', length: 15, header: { local: true, source: null } });
  t.like(parseProxyHeader(Buffer.from('PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n')), { status: 'ok', header: { local: true } });
  t.like(parseProxyHeader(v2(0x20, 0x00, Buffer.alloc(0))), { status: 'ok', length: 16, header: { version: 2, local: true } });
  t.like(parseProxyHeader(v2(0x21, 0x00, Buffer.alloc(0))), { status: 'ok', header: { local: true } });
  // LOCAL with an address block: ignored, consumed.
  t.like(parseProxyHeader(v2(0x20, 0x11, Buffer.alloc(12))), { status: 'ok', length: 28, header: { local: true } });
});

test('v2 TLVs after the addresses are skipped', (t) => {
  const header = encodeProxyHeader(2, src4, dst4);
  const tlv = Buffer.from([0x04, 0x00, 0x03, 0x61, 0x62, 0x63]); // PP2_TYPE_NOOP
  const body = Buffer.concat([header.subarray(16), tlv]);
  const parsed = parseProxyHeader(Buffer.concat([v2(0x21, 0x11, body), Buffer.from('rest')]));
  t.like(parsed, { status: 'ok', length: 16 + body.length, header: { source: src4 } });
});

const invalid: Array<[string, Buffer, RegExp]> = [
  ['no header at all', Buffer.from('GET / HTTP/1.1\r\n'), /no PROXY protocol header/],
  ['a TLS ClientHello', Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05]), /no PROXY protocol header/],
  ['lower case', Buffer.from('proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n'), /no PROXY protocol header/],
  ['v1 without CRLF within 107 bytes', Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`), /longer than 107/],
  ['v1 unknown protocol', Buffer.from('PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n'), /unknown protocol/],
  ['v1 missing a field', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n'), /expected PROXY/],
  ['v1 IPv6 address as TCP4', Buffer.from('PROXY TCP4 ::1 5.6.7.8 1 2\r\n'), /not TCP4/],
  ['v1 bad address', Buffer.from('PROXY TCP4 1.2.3.400 5.6.7.8 1 2\r\n'), /not TCP4/],
  ['v1 port above 65535', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n'), /invalid port/],
  ['v1 port with a leading zero', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n'), /invalid port/],
  ['v1 negative port', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n'), /invalid port/],
  ['v2 version 1', v2(0x11, 0x11, Buffer.alloc(12)), /version 1/],
  ['v2 unknown command', v2(0x22, 0x11, Buffer.alloc(12)), /command 2/],
  ['v2 TCP4 address block too short', v2(0x21, 0x11, Buffer.alloc(8)), /too short for TCP4/],
  ['v2 TCP6 address block too short', v2(0x21, 0x21, Buffer.alloc(12)), /too short for TCP6/],
  ['v2 UDP', v2(0x21, 0x12, Buffer.alloc(12)), /unsupported address family\/protocol 0x12/],
  ['v2 Unix socket', v2(0x21, 0x31, Buffer.alloc(216)), /unsupported/],
];
for (const [name, data, reason] of invalid) {
  test(`invalid: ${name}`, (t) => {
    const parsed = parseProxyHeader(data);
    t.is(parsed.status, 'invalid');
    if (parsed.status === 'invalid') t.regex(parsed.reason, reason);
  });
}

test(`v2 longer than ${V2_MAX} bytes is refused as soon as its length is known`, (t) => {
  const head = v2(0x21, 0x11, Buffer.alloc(0));
  head.writeUInt16BE(V2_MAX, 14);
  t.like(parseProxyHeader(head), { status: 'invalid' });
});

test('trusted peers: CIDRs of both families, IPv4-mapped IPv6 peers, nothing else', (t) => {
  const gate = new ProxyProtocolGate({ trusted: ['10.0.0.0/8', '192.0.2.5', '2001:db8::/32'], headerTimeoutMs: 1000, counter: new Metrics({ defaultMetrics: false }).proxyProtocol });
  t.true(gate.isTrusted('10.1.2.3'));
  t.true(gate.isTrusted('::ffff:10.1.2.3'));
  t.true(gate.isTrusted('192.0.2.5'));
  t.false(gate.isTrusted('192.0.2.6'));
  t.true(gate.isTrusted('2001:db8:1::1'));
  t.false(gate.isTrusted('2001:db9::1'));
  t.false(gate.isTrusted('127.0.0.1'));
  t.false(gate.isTrusted(undefined));
});
