import test from 'ava';
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { parseClientHello, looksLikeHttp, normalizeServerName } from '../../src/proxy/tls/client-hello.ts';

/** Capture the real ClientHello node's TLS client sends (read on a raw TCP server). */
async function captureClientHello(options: tls.ConnectionOptions): Promise<Buffer> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  try {
    const captured = new Promise<Buffer>((resolve, reject) => {
      server.once('connection', (socket) => {
        let data = Buffer.alloc(0);
        socket.on('data', (chunk: Buffer) => {
          data = Buffer.concat([data, chunk]);
          if (parseClientHello(data).status !== 'incomplete') {
            socket.destroy();
            resolve(data);
          }
        });
        socket.on('error', reject);
      });
    });
    const client = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...options });
    client.on('error', () => {}); // the capture server hangs up mid-handshake
    const hello = await captured;
    client.destroy();
    return hello;
  } finally {
    server.close();
  }
}

test('SNI (normalised) and ALPN from a real ClientHello', async (t) => {
  const hello = await captureClientHello({ servername: 'Foo.Example.COM.', ALPNProtocols: ['h2', 'http/1.1'] });
  const result = parseClientHello(hello);
  t.is(result.status, 'ok');
  if (result.status !== 'ok') return;
  t.is(result.hello.serverName, 'foo.example.com');
  t.deepEqual(result.hello.alpn, ['h2', 'http/1.1']);
});

test('no SNI when the client connects by IP', async (t) => {
  const hello = await captureClientHello({});
  const result = parseClientHello(hello);
  t.is(result.status, 'ok');
  if (result.status === 'ok') t.is(result.hello.serverName, null);
});

test('a ClientHello fed one byte at a time is incomplete until its last byte', async (t) => {
  const hello = await captureClientHello({ servername: 'split.example.com' });
  for (let i = 0; i < hello.length; i++) {
    t.is(parseClientHello(hello.subarray(0, i)).status, 'incomplete', `prefix of ${i} bytes`);
  }
  const result = parseClientHello(hello);
  t.is(result.status === 'ok' && result.hello.serverName, 'split.example.com');
});

test('a ClientHello fragmented over several TLS records', async (t) => {
  const hello = await captureClientHello({ servername: 'records.example.com', ALPNProtocols: ['http/1.1'] });
  const payload = hello.subarray(5, 5 + hello.readUInt16BE(3));
  const records: Buffer[] = [];
  for (let i = 0; i < payload.length; i += 7) {
    const part = payload.subarray(i, i + 7);
    const header = Buffer.from([22, 3, 1, 0, 0]);
    header.writeUInt16BE(part.length, 3);
    records.push(header, part);
  }
  const fragmented = Buffer.concat(records);
  t.is(parseClientHello(fragmented.subarray(0, fragmented.length - 1)).status, 'incomplete');
  const result = parseClientHello(fragmented);
  t.is(result.status, 'ok');
  if (result.status === 'ok') {
    t.is(result.hello.serverName, 'records.example.com');
    t.deepEqual(result.hello.alpn, ['http/1.1']);
  }
});

test('plain HTTP is not TLS and looks like HTTP', (t) => {
  const data = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  t.is(parseClientHello(data).status, 'not-tls');
  t.true(looksLikeHttp(data));
  t.false(looksLikeHttp(Buffer.from([0, 1, 2, 3, 4])));
  t.is(parseClientHello(Buffer.from([0x16, 0x02])).status, 'not-tls'); // SSL 2 era versions
});

test('oversized, empty and non-ClientHello records are invalid', (t) => {
  t.is(parseClientHello(Buffer.from([22, 3, 1, 0xff, 0xff])).status, 'invalid');
  t.is(parseClientHello(Buffer.from([22, 3, 1, 0, 0])).status, 'invalid');
  // a ServerHello (type 2) where a ClientHello belongs
  t.is(parseClientHello(Buffer.from([22, 3, 1, 0, 4, 2, 0, 0, 0])).status, 'invalid');
  // an alert record in the middle of a fragmented ClientHello
  t.is(parseClientHello(Buffer.from([22, 3, 1, 0, 4, 1, 0, 1, 0, 21, 3, 3, 0, 2, 2, 40])).status, 'invalid');
  // a ClientHello claiming to be 16 MB
  t.is(parseClientHello(Buffer.from([22, 3, 1, 0, 4, 1, 0xff, 0xff, 0xff])).status, 'invalid');
});

test('truncated fields inside a complete ClientHello are invalid, never a throw', async (t) => {
  const hello = await captureClientHello({ servername: 'fuzz.example.com' });
  // declare a shorter handshake body than the record carries: every field overruns
  for (const cut of [10, 40, 50, 80]) {
    const copy = Buffer.from(hello);
    copy.writeUIntBE(cut, 6, 3);
    const status = parseClientHello(copy).status;
    t.true(status === 'invalid' || status === 'ok', `cut at ${cut}: ${status}`);
  }
  // deterministic byte flips anywhere in the message
  let seed = 12345;
  const random = (): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  for (let i = 0; i < 2000; i++) {
    const copy = Buffer.from(hello);
    const flips = 1 + Math.floor(random() * 4);
    for (let f = 0; f < flips; f++) copy[Math.floor(random() * copy.length)] = Math.floor(random() * 256);
    t.notThrows(() => parseClientHello(copy));
  }
});

test('server names are normalised like Host headers', (t) => {
  t.is(normalizeServerName('WWW.Example.com.'), 'www.example.com');
  t.is(normalizeServerName('bad name'), null);
  t.is(normalizeServerName('*.example.com'), null);
  t.is(normalizeServerName(''), null);
});
