// `npm run bench:middleware`: what a large Middleware config costs the router (issue 19 item 6).
// One Middleware (examples/plugins/api-key.ts) with MW_CONFIG_KB of keys, used by MW_ROUTES
// routes of one Service, beside another tenant's route; the router (dist/cli.js, or BENCH_CLI)
// reads it from a file. Printed: start-up to "listening", then for an EndpointSlice change (the
// file rewritten with one more endpoint) the time until the table update is applied, the table
// update's own duration (switchyard_table_update_duration_seconds) and the other tenant's worst
// request latency meanwhile (a request every 5 ms). One run on one machine; nothing asserts.
//
// Env: MW_CONFIG_KB (default 670), MW_ROUTES (default 300), MW_WORKERS (default 0), MW_CHANGES (3).

import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { startRouter, writeTempFile } from '../test/support/router-process.ts';
import { startBackend, serviceYaml, routeYaml } from '../test/support/backends.ts';
import { metricValue, metricsText, request } from '../test/support/http-client.ts';

const CONFIG_KB = Number(process.env.MW_CONFIG_KB ?? 670);
const ROUTES = Number(process.env.MW_ROUTES ?? 300);
const WORKERS = process.env.MW_WORKERS ?? '0';
const CHANGES = Number(process.env.MW_CHANGES ?? 3);
const apiKey = fileURLToPath(new URL('../examples/plugins/api-key.ts', import.meta.url));

function objects(ports: number[], keys: string[]): string {
  const docs = [serviceYaml('web', ports), serviceYaml('other', [ports[0]!]), routeYaml('other', 'other.test', 'other'),
    `apiVersion: switchyard.io/v1alpha1\nkind: Middleware\nmetadata: { name: big, namespace: default }\nspec:\n  plugin: api-key\n  config: ${JSON.stringify({ keys })}`];
  for (let i = 0; i < ROUTES; i++) docs.push(routeYaml(`r${i}`, `r${i}.mw.test`, 'web', { annotations: { 'switchyard.io/middlewares': 'big' } }));
  return docs.join('\n---\n');
}

let stopping = false;

async function main(): Promise<void> {
  const backends = await Promise.all([startBackend('a'), startBackend('b'), startBackend('c'), startBackend('d'), startBackend('e')]);
  const keys: string[] = [];
  let size = 0;
  for (let i = 0; size < CONFIG_KB * 1024; i++) {
    const key = `key-${String(i).padStart(26, '0')}`;
    keys.push(key);
    size += key.length + 3;
  }
  const file = writeTempFile(objects([backends[0]!.port], keys));
  const started = performance.now();
  const router = await startRouter({
    args: ['--file', file, '--workers', WORKERS, '--plugin', path.resolve(apiKey), '--backend-check-interval', '1h'],
    env: { ROUTER_LOG_LEVEL: 'info' }, timeoutMs: 600_000,
    ...(process.env.BENCH_CLI ? { cli: process.env.BENCH_CLI } : {}),
  });
  const loadSeconds = (performance.now() - started) / 1000;
  void router.exited.then((e) => { if (!stopping) console.error("router exited", e, router.stderr().slice(-3000)); });
  const rows: string[] = [];
  try {
    for (let change = 1; change <= CHANGES; change++) {
      const before = await metricsText(router.admin);
      const updates = metricValue(before, 'switchyard_table_updates_total') ?? 0;
      const durationSum = metricValue(before, 'switchyard_table_update_duration_seconds_sum') ?? 0;
      // The other tenant: one request after another, each timed.
      let worst = 0;
      let probing = true;
      const probe = (async () => {
        while (probing) {
          const t0 = performance.now();
          await request(router.http, { host: 'other.test', timeoutMs: 60_000 });
          worst = Math.max(worst, performance.now() - t0);
          await new Promise((r) => setTimeout(r, 5));
        }
      })();
      const t0 = performance.now();
      writeFileSync(file, objects(backends.slice(0, 1 + (change % backends.length)).map((b) => b.port), keys));
      let after = before;
      while ((metricValue(after, 'switchyard_table_updates_total') ?? 0) <= updates) {
        await new Promise((r) => setTimeout(r, 20));
        after = await metricsText(router.admin);
      }
      const applied = performance.now() - t0;
      // Workers apply the delta after the primary: a request to a route of the changed Service shows it is in.
      const ports = new Set(backends.slice(0, 1 + (change % backends.length)).map((b) => b.name));
      for (let i = 0; i < 50; i++) {
        const reply = await request(router.http, { host: 'r0.mw.test', headers: { 'x-api-key': keys[0]! }, timeoutMs: 60_000 });
        if (ports.size === 1 || reply.headers['x-backend'] !== backends[0]!.name) break;
      }
      const served = performance.now() - t0;
      probing = false;
      await probe;
      const tableSeconds = (metricValue(after, 'switchyard_table_update_duration_seconds_sum') ?? 0) - durationSum;
      rows.push(`| EndpointSlice change ${change} | ${applied.toFixed(0)} | ${served.toFixed(0)} | ${(tableSeconds * 1000).toFixed(0)} | ${worst.toFixed(1)} |`);
    }
  } catch (err) {
    console.error('bench failed:', (err as Error).message, 'router exit code', router.child.exitCode, router.child.signalCode, router.stderr().slice(-2000));
    throw err;
  } finally {
    stopping = true;
    await router.stop(60_000);
    await Promise.all(backends.map((b) => b.close()));
  }
  console.log(`\nMiddleware config ${CONFIG_KB} KB (${keys.length} keys) on ${ROUTES} routes, --workers ${WORKERS}, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`start-up to "listening": ${loadSeconds.toFixed(2)} s`);
  console.log('| event | table updated (ms) | served by a route of it (ms) | table update duration (ms) | other tenant worst latency (ms) |');
  console.log('|---|---|---|---|---|');
  for (const row of rows) console.log(row);
}

await main();
