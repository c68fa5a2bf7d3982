// The listener's guard: a request whose handling throws costs that request only — 500 with a
// body, logged with its stack, counted, its in-flight slot given back — and the server keeps serving.
import test from 'ava';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { RequestEntry } from '../../src/proxy/request-entry.ts';
import type { RouterProxy } from '../../src/proxy/router-proxy.ts';
import { Metrics } from '../../src/metrics.ts';
import { createLogger } from '../../src/log.ts';
import { request } from '../support/http-client.ts';

/** Stands in for RouterProxy: counts in flight, and throws on /boom after counting (the leak). */
class ThrowingProxy {
  inFlight = 0;
  abandoned = 0;
  handleRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.inFlight++;
    if (req.url === '/boom') throw new Error('bug in a plugin');
    res.end('fine');
    this.inFlight--;
  }
  handleUpgrade(): void { throw new Error('bug in upgrade'); }
  abandon(count: number): void { this.inFlight -= count; this.abandoned += count; }
}

test('a throw in handleRequest: 500, logged with its stack, counted, in-flight released; next request fine', async (t) => {
  const lines: string[] = [];
  const logger = createLogger('info', new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } }) as never);
  const metrics = new Metrics({ defaultMetrics: false });
  const proxy = new ThrowingProxy();
  const entry = new RequestEntry(proxy as unknown as RouterProxy, { logger, metrics, bodyIdleTimeoutMs: 0 });
  const server = http.createServer((req, res) => entry.handleRequest(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const reply = await request(port, { host: 'a.test', path: '/boom' });
  t.is(reply.status, 500);
  t.is(reply.headers['x-switchyard-error'], 'SY_INTERNAL');
  t.is(proxy.inFlight, 0);
  t.is(proxy.abandoned, 1);
  t.is((await metrics.internalErrors.get()).values.find((v) => v.labels.where === 'request')?.value, 1);
  const line = lines.map((l) => JSON.parse(l) as { msg: string; err?: { stack?: string } }).find((l) => l.msg === 'internal error while handling a request');
  t.regex(line?.err?.stack ?? '', /bug in a plugin/);
  t.is((await request(port, { host: 'a.test', path: '/ok' })).body, 'fine');
});
