// The plain listener's keep-alive idle close (src/proxy/keep-alive-idle.ts), in one process so
// the test can starve it on purpose: a request that already waits in the socket when the
// keep-alive timer fires is served, not lost with the connection.
import test from 'ava';
import net from 'node:net';
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHttpListener } from '../../src/proxy/http-listener.ts';
import { defaultConfig } from '../../src/config.ts';
import { Metrics } from '../../src/metrics.ts';

const KEEP_ALIVE_MS = 200;

async function listener(t: { teardown(fn: () => void): void }) {
  const handler = {
    handleRequest(req: IncomingMessage, res: ServerResponse) { res.end(`served ${req.url}`); },
    handleUpgrade(_req: IncomingMessage, socket: import('node:stream').Duplex) { socket.destroy(); },
  };
  const server = createHttpListener(handler, { ...defaultConfig(), clientTimeout: KEEP_ALIVE_MS }, new Metrics({ defaultMetrics: false }));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => { server.closeAllConnections(); server.close(); });
  return (server.address() as net.AddressInfo).port;
}

/** Reads from `socket` until `pattern` matches what came, or the connection ends. */
function readUntil(socket: net.Socket, pattern: RegExp): Promise<string> {
  return new Promise((resolve) => {
    let data = '';
    const onData = (chunk: Buffer) => {
      data += chunk.toString('latin1');
      if (pattern.test(data)) { socket.off('data', onData); resolve(data); }
    };
    socket.on('data', onData);
    socket.once('close', () => resolve(data));
  });
}

function busyWait(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) { /* the process is starved: no timer, no I/O */ }
}

test('a request already in the socket when the keep-alive timer fires is served, not lost', async (t) => {
  const port = await listener(t);
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, 'connect');
  const first = readUntil(socket, /served \/first/);
  socket.write('GET /first HTTP/1.1\r\nHost: a.test\r\n\r\n');
  t.regex(await first, /^HTTP\/1\.1 200 [^]*served \/first/);
  // The next request goes out at once (the client reuses the connection well within the
  // keep-alive timeout), then the process stalls past it: when it runs again, the timer is due
  // and the request is in the socket.
  const second = readUntil(socket, /served \/second/);
  socket.write('GET /second HTTP/1.1\r\nHost: a.test\r\n\r\n');
  busyWait(KEEP_ALIVE_MS + 2000); // past the timeout and Node's 1 s keepAliveTimeoutBuffer
  t.regex(await second, /^HTTP\/1\.1 200 [^]*served \/second/);
  socket.destroy();
});

test('an idle keep-alive connection is still closed after the keep-alive timeout', async (t) => {
  const port = await listener(t);
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, 'connect');
  const reply = readUntil(socket, /served \/only/);
  socket.write('GET /only HTTP/1.1\r\nHost: a.test\r\n\r\n');
  t.regex(await reply, /served \/only/);
  await once(socket, 'close'); // the server closed it (nothing else would)
  t.pass();
});
