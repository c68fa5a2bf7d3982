// Response bodies reach the client byte for byte, whichever way the proxy writes them: a small
// body that arrives whole (its length is the Content-Length) goes out with the head in one
// write, as a latin1 string (forward.ts); anything else is streamed chunk by chunk. Both paths
// must keep every byte value, keep the framing of the next response on the same connection,
// and never hold back part of a body waiting for the rest.
import test from 'ava';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { startRouter, writeTempFile } from '../support/router-process.ts';
import { startBackend, serviceYaml, routeYaml } from '../support/backends.ts';

const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const UTF8 = Buffer.from('héllo wörld ✓ 🚀 — ünïcödé\n', 'utf8');
const AT_LIMIT = randomBytes(16384);
const OVER_LIMIT = randomBytes(16385);

function get(port: number, path: string, agent: http.Agent, method = 'GET'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http.request({ host: '127.0.0.1', port, path, method, agent, headers: { host: 'bodies.test' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    }).on('error', reject).end();
  });
}

test('bodies arrive byte for byte on one keep-alive connection, whole or in parts', async (t) => {
  const bodies: Record<string, Buffer> = { '/all-bytes': ALL_BYTES, '/utf8': UTF8, '/at-limit': AT_LIMIT, '/over-limit': OVER_LIMIT };
  const backend = await startBackend('bodies', {
    handler: (req, res) => {
      const body = bodies[req.url ?? ''];
      if (body !== undefined) {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
        res.end(req.method === 'HEAD' ? undefined : body);
        return true;
      }
      if (req.url === '/two-writes') {
        // Content-Length covers both parts: the first part alone is not the whole body.
        res.writeHead(200, { 'content-length': ALL_BYTES.length * 2 });
        res.write(ALL_BYTES);
        setImmediate(() => res.end(ALL_BYTES));
        return true;
      }
      if (req.url === '/chunked') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write(UTF8);
        res.end(ALL_BYTES);
        return true;
      }
      return false;
    },
  });
  t.teardown(() => backend.close());
  const file = writeTempFile([serviceYaml('s', [backend.port]), routeYaml('s', 'bodies.test', 's')].join('\n---\n'));
  const router = await startRouter({ args: ['--file', file, '--workers', '0'] });
  t.teardown(() => router.stop());

  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  for (const [path, body] of Object.entries(bodies)) {
    const reply = await get(router.http, path, agent);
    t.is(reply.status, 200, path);
    t.is(reply.headers['content-length'], String(body.length), path);
    t.true(reply.body.equals(body), `${path}: the bytes differ`);
  }
  const head = await get(router.http, '/all-bytes', agent, 'HEAD');
  t.is(head.headers['content-length'], '256');
  t.is(head.body.length, 0);
  const two = await get(router.http, '/two-writes', agent);
  t.true(two.body.equals(Buffer.concat([ALL_BYTES, ALL_BYTES])));
  const chunked = await get(router.http, '/chunked', agent);
  t.true(chunked.body.equals(Buffer.concat([UTF8, ALL_BYTES])));
  // Every exchange above went over the same connection: the framing held between them.
  t.is(backend.requests.length, 7);
});

test('the first part of a body reaches the client before the backend sends the rest', async (t) => {
  let sendRest: (() => void) | null = null;
  const backend = await startBackend('slow', {
    handler: (req, res) => {
      if (req.url !== '/slow') return false;
      res.writeHead(200, { 'content-length': 20 });
      res.write('first-ten!');
      sendRest = () => res.end('second-ten');
      return true;
    },
  });
  t.teardown(() => backend.close());
  const file = writeTempFile([serviceYaml('s', [backend.port]), routeYaml('s', 'bodies.test', 's')].join('\n---\n'));
  const router = await startRouter({ args: ['--file', file, '--workers', '0'] });
  t.teardown(() => router.stop());

  const body = await new Promise<string>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: router.http, path: '/slow', headers: { host: 'bodies.test' }, agent: false }, (res) => {
      let text = '';
      res.setEncoding('latin1');
      res.on('data', (c: string) => {
        text += c;
        // The rest is only sent once the first part has arrived: a proxy holding it would hang here.
        if (text === 'first-ten!') sendRest!();
      });
      res.on('end', () => resolve(text));
      res.on('error', reject);
    }).on('error', reject);
  });
  t.is(body, 'first-ten!second-ten');
});
