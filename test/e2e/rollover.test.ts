// Zero-downtime rollover on one set of ports (SO_REUSEPORT): under a continuous bounded load of
// new connections (HTTP and HTTPS) and keep-alive connections (HTTP and HTTPS), start router B on A's ports, wait
// until it is ready, SIGTERM A, wait for A to exit; 20 times, alternating. No request may fail
// and no connection may be reset. Needs net.ipv4.tcp_migrate_req=1 (connections queued on the
// closing listener move to the other one instead of being reset); the test sets it when it can.
import test, { type ExecutionContext } from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { Client } from 'undici';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { startBackend, serviceYaml, routeYaml } from '../support/backends.ts';
import { request } from '../support/http-client.ts';
import { freePort } from '../support/ports.ts';

const MIGRATE_REQ = '/proc/sys/net/ipv4/tcp_migrate_req';
const ROLLOVERS = 20;

function migrateReq(): string {
  try {
    if (readFileSync(MIGRATE_REQ, 'utf8').trim() !== '1') writeFileSync(MIGRATE_REQ, '1');
    return readFileSync(MIGRATE_REQ, 'utf8').trim();
  } catch (err) {
    return (err as Error).message;
  }
}

interface Tally { ok: number; failed: number; resets: number; reasons: Map<string, number> }

/**
 * A request that has not completed after this long counts as lost (reason "timeout"): without a
 * bound, one hung request would hang its load loop, and the test with it, instead of failing it.
 */
const REQUEST_TIMEOUT_MS = 30_000;

function httpsGet(port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, servername: host, headers: { host }, agent: false, rejectUnauthorized: false, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'timeout' })));
    req.end();
  });
}

function errorCode(err: unknown): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string } };
  return e.cause?.code ?? e.code ?? e.message ?? String(err);
}

async function rollovers(t: ExecutionContext, count: number, workers: number): Promise<void> {
  t.timeout(300_000);
  t.is(migrateReq(), '1', `${MIGRATE_REQ} must be 1 (sysctl -w net.ipv4.tcp_migrate_req=1, as root)`);
  const backend = await startBackend('roll');
  t.teardown(() => backend.close());
  const file = writeTempFile([
    serviceYaml('roll', [backend.port]),
    routeYaml('plain', 'roll.test', 'roll'),
    routeYaml('edge', 'roll-tls.test', 'roll', { spec: '  tls: { termination: edge }' }),
  ].join('\n---\n'));
  const httpPort = await freePort();
  const httpsPort = await freePort();
  // A short keep-alive timeout bounds how long a draining router waits for idle connections.
  const start = () => startRouter({ args: ['--file', file, '--http-port', String(httpPort), '--https-port', String(httpsPort), '--client-timeout', '2s', '--drain-timeout', '20s', '--workers', String(workers)], env: { ROUTER_LOG_LEVEL: 'info' } });
  const routers: RouterProcess[] = [await start()];
  t.teardown(async () => { for (const r of routers) await r.stop(); });

  const tally: Tally = { ok: 0, failed: 0, resets: 0, reasons: new Map() };
  const note = (reason: string) => tally.reasons.set(reason, (tally.reasons.get(reason) ?? 0) + 1);
  let running = true;
  const loop = async (send: () => Promise<number>) => {
    while (running) {
      try {
        const status = await send();
        if (status === 200) tally.ok++;
        else { tally.failed++; note(`status ${status}`); }
      } catch (err) {
        const code = errorCode(err);
        if (code === 'ECONNRESET') tally.resets++; else tally.failed++;
        note(code);
      }
    }
  };
  // Keep-alive clients honour the server's Keep-Alive timeout hint (minus 500 ms).
  const keepAlive = Array.from({ length: 3 }, () => new Client(`http://127.0.0.1:${httpPort}`, { keepAliveTimeoutThreshold: 500, pipelining: 1, headersTimeout: REQUEST_TIMEOUT_MS, bodyTimeout: REQUEST_TIMEOUT_MS }));
  const tlsKeepAlive = new Client(`https://127.0.0.1:${httpsPort}`, { keepAliveTimeoutThreshold: 500, pipelining: 1, headersTimeout: REQUEST_TIMEOUT_MS, bodyTimeout: REQUEST_TIMEOUT_MS, connect: { rejectUnauthorized: false, servername: 'roll-tls.test' } });
  t.teardown(() => Promise.all([...keepAlive, tlsKeepAlive].map((c) => c.close())));
  const loops = [
    ...Array.from({ length: 4 }, () => loop(async () => (await request(httpPort, { host: 'roll.test', timeoutMs: REQUEST_TIMEOUT_MS })).status)),
    loop(() => httpsGet(httpsPort, 'roll-tls.test')),
    ...[...keepAlive, tlsKeepAlive].map((client) => loop(async () => {
      const res = await client.request({ path: '/', method: 'GET', headers: { host: client === tlsKeepAlive ? 'roll-tls.test' : 'roll.test' } });
      await res.body.dump();
      return res.statusCode;
    })),
  ];

  const perRollover: number[] = [];
  for (let i = 0; i < count; i++) {
    const before = tally.ok;
    const next = await start(); // resolves on "listening": synced, ready, ports bound
    routers.push(next);
    const old = routers.shift()!;
    const { code } = await old.stop(30_000);
    t.is(code, 0, `rollover ${i + 1}: the old router exits 0`);
    // Traffic went on while the old one drained; the new one serves alone now.
    perRollover.push(tally.ok - before);
  }
  const after = tally.ok;
  // Some requests on the last router alone, so its serving is in the count too.
  // (Bounded: if the loops stall, the counts below fail the test instead of this loop spinning.)
  const giveUp = Date.now() + REQUEST_TIMEOUT_MS;
  while (tally.ok < after + 50 && tally.failed + tally.resets === 0 && Date.now() < giveUp) await new Promise((r) => setTimeout(r, 20));
  running = false;
  await Promise.all(loops);

  t.log(`requests ok ${tally.ok}, failed ${tally.failed}, reset ${tally.resets}; per rollover: ${perRollover.join(' ')}`);
  if (tally.reasons.size > 0) t.log(`errors: ${[...tally.reasons].map(([k, v]) => `${k}×${v}`).join(', ')}`);
  t.is(tally.failed, 0, 'failed requests');
  t.is(tally.resets, 0, 'reset connections');
  t.true(perRollover.every((n) => n > 0), 'traffic flowed during every rollover');
  t.true(tally.ok >= after + 50, 'the last router served on its own');
}

test.serial(`${ROLLOVERS} rollovers on one set of ports under load: 0 failed requests, 0 resets`, (t) => rollovers(t, ROLLOVERS, 0));

test.serial('6 rollovers with --workers 2 (every worker binds the ports itself): 0 failed requests, 0 resets', (t) => rollovers(t, 6, 2));
