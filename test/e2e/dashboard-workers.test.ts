// With --workers, the dashboard's figures cover every worker: per-route requests come from the
// merged registry (as /metrics), and so do an endpoint's in-flight requests and ejections.
import test from 'ava';
import type http from 'node:http';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { startBackend, serviceYaml, routeYaml, type Backend } from '../support/backends.ts';
import { request, eventually } from '../support/http-client.ts';

const USER = 'ops';
const PASS = 'w0rkers';
const auth = { authorization: `Basic ${Buffer.from(`${USER}:${PASS}`).toString('base64')}` };

let router: RouterProcess;
let backend: Backend;
/** Responses the backend holds until the test releases them (path /hold). */
const held: http.ServerResponse[] = [];

interface Row { key: string; stats: { requests: number; rate: number } | null; backends: Array<{ endpoints: Array<{ name: string; inFlight: number }> }> }
async function shopRow(): Promise<Row> {
  const reply = await request(router.admin, { path: '/dashboard/routes.json?q=shop', headers: auth });
  return reply.json<{ items: Row[] }>().items.find((r) => r.key === 'Route/store/shop')!;
}

test.before(async () => {
  backend = await startBackend('shop', {
    handler: (req, res) => {
      if (req.url !== '/hold') return false;
      held.push(res);
      return true;
    },
  });
  const file = writeTempFile([serviceYaml('shop', [backend.port], { namespace: 'store' }), routeYaml('shop', 'shop.example.test', 'shop', { namespace: 'store' })].join('\n---\n'));
  router = await startRouter({ args: ['--file', file, '--workers', '2', '--access-log'], env: { STATS_USERNAME: USER, STATS_PASSWORD: PASS, ROUTER_LOG_LEVEL: 'info' } });
});

test.after.always(async () => {
  for (const res of held) res.end();
  await router?.stop();
  await backend?.close();
});

test.serial('request counts over the last minute add up every worker', async (t) => {
  // The first figures need two samples; from then on the window starts before the traffic below.
  await eventually(async () => (await shopRow()).stats !== null || undefined, 15_000);
  const before = (await shopRow()).stats!.requests;
  const sent = 40;
  for (let i = 0; i < sent; i++) t.is((await request(router.http, { host: 'shop.example.test', path: `/n${i}` })).status, 200);
  const workers = () => new Set(router.logs.filter((l) => l.access === true && String(l.path).startsWith('/n')).map((l) => l.worker));
  await eventually(() => workers().size === 2 || undefined, 10_000).catch(() => {}); // access lines are written asynchronously
  t.is(workers().size, 2, 'both workers served some of the requests');
  await eventually(async () => (await shopRow()).stats!.requests === before + sent || undefined, 15_000);
  t.is((await shopRow()).stats!.requests, before + sent);
});

test.serial('an endpoint\'s in-flight requests are summed over the workers', async (t) => {
  const pending = Array.from({ length: 6 }, () => request(router.http, { host: 'shop.example.test', path: '/hold', timeoutMs: 60_000 }));
  await eventually(() => (held.length === 6 ? true : undefined), 15_000);
  const endpoint = `127.0.0.1:${backend.port}`;
  const inFlight = async () => (await shopRow()).backends[0]!.endpoints.find((e) => e.name === endpoint)!.inFlight;
  await eventually(async () => ((await inFlight()) === 6 ? true : undefined), 15_000);
  t.is(await inFlight(), 6);
  for (const res of held.splice(0)) res.end('done');
  await Promise.all(pending);
  await eventually(async () => ((await inFlight()) === 0 ? true : undefined), 15_000);
  t.is(await inFlight(), 0);
});
