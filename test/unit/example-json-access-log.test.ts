// examples/plugins/json-access-log.ts: one JSON line per exchange.
import test from 'ava';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eventually } from '../support/http-client.ts';
import { testPlugin } from 'switchyard';
import accessLog from '../../examples/plugins/json-access-log.ts';

test('writes route, request, status, outcome and endpoint after the exchange', async (t) => {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'sy-log-')), 'a.log');
  const h = testPlugin(accessLog, { path: file }, { route: { namespace: 'shop', name: 'web' }, endpoints: [{ address: '10.1.1.1', port: 8080 }] });
  const r = await h.request({ method: 'POST', url: '/cart?x=1', clientAddress: '192.0.2.7' });
  h.choose(r, h.candidates[0]!);
  await h.log(r, 201);
  const r2 = await h.request({ url: '/gone' });
  await h.log(r2, 499, 'client-closed');
  // The file stream is the plugin's own: wait until both lines are on disk.
  const lines = await eventually(() => {
    const l = readFileSync(file, 'utf8').trim().split('\n').filter(Boolean);
    return l.length === 2 ? l : null;
  }, 3000, 10);
  const [a, b] = lines!.map((l) => JSON.parse(l) as Record<string, unknown>);
  t.like(a, { route: 'shop/web', method: 'POST', path: '/cart?x=1', status: 201, outcome: 'forwarded', endpoint: '10.1.1.1:8080', client: '192.0.2.7' });
  t.like(b, { path: '/gone', status: 499, outcome: 'client-closed', endpoint: null });
});
